"""The committed aerich migrations are the models: nothing to generate, and they build an
empty database from scratch."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tortoise.context import TortoiseContext

from api import db
from api.settings import MIGRATIONS_DIR, Settings

EXPECTED_TABLES = {
    "users",
    "refresh_tokens",
    "user_tokens",
    "events",
    "event_stats",
    "failed_events",
    "patterns",
    "suggestions",
    "workflows",
    "workflow_steps",
    "workflow_runs",
    "step_runs",
    "audit_log",
    "feature_flags",
    "event_imports",
    "aerich",
}


async def test_committed_migrations_match_the_models(settings: Settings, tmp_path: Path) -> None:
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, location)
    with TortoiseContext():
        async with db.migration_command(settings, location) as command:
            await command.init(offline=True)
            generated = await command.migrate("drift_check", no_input=True, offline=True)
    assert generated == "", (
        f"the models differ from the committed migrations; generated {generated}: run "
        "`aerich migrate --name <change>` and commit the file"
    )


@pytest.fixture
async def empty_database(settings: Settings):
    name = f"pulse_empty_{uuid.uuid4().hex[:8]}"
    admin = await db.connect(settings, _with_database(settings.database_dsn, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(settings.database_dsn, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


async def test_upgrade_builds_an_empty_database(settings: Settings, empty_database: str) -> None:
    target = settings.model_copy(update={"database_url": empty_database})
    conn = await db.connect(target)
    try:
        assert await db.pending_migrations(conn) == db.migration_files()
        applied = await db.upgrade(target)
        assert applied == db.migration_files()
        assert await db.pending_migrations(conn) == []
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert EXPECTED_TABLES <= tables
        indexes = {
            r["indexdef"]
            for r in await conn.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'events'")
        }
        assert any(
            '("user_id", "occurred_at", "id")' in ix or "(user_id, occurred_at, id)" in ix
            for ix in indexes
        ), indexes
        assert any("UNIQUE" in ix and "client_id" in ix for ix in indexes), indexes
        # A second upgrade is a no-op.
        assert await db.upgrade(target) == []
    finally:
        await conn.close()

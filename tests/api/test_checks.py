"""Production refuses each unsafe configuration, with a message naming it — through the
checks, `python -m api check`, and the start of the API and the worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from api import checks, db
from api.app import create_app
from api.embedded import free_port
from api.settings import Settings
from tests.support import env_with, run_cli

SECRET = "s" * 48


def production(settings: Settings, **change: object) -> Settings:
    values: dict[str, object] = {
        "environment": "production",
        "secret_key": SECRET,
        "database_url": settings.database_dsn,
        "redis_url": settings.redis_dsn,
        "cors_origins": ["https://app.example"],
        "sentry_dsn": None,
        "smtp_url": "smtp://127.0.0.1:2525",
    }
    return settings.model_copy(update={**values, **change})


def production_env(settings: Settings, **change: str | None) -> dict[str, str]:
    values: dict[str, str | None] = {
        "ENVIRONMENT": "production",
        "SECRET_KEY": SECRET,
        "JWT_KEYS": None,
        "DATABASE_URL": settings.database_dsn,
        "REDIS_URL": settings.redis_dsn,
        "CORS_ORIGINS": "https://app.example",
        "SENTRY_DSN": None,
        "SMTP_URL": "smtp://127.0.0.1:2525",
    }
    return env_with(**{**values, **change})


@pytest.fixture
async def unmigrated_url(settings: Settings) -> AsyncIterator[str]:
    name = f"pulse_unmigrated_{uuid.uuid4().hex[:8]}"
    admin_url = urlsplit(settings.database_dsn)._replace(path="/postgres").geturl()
    admin = await db.connect(settings, admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(settings.database_dsn)._replace(path=f"/{name}").geturl()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_safe_production_configuration_passes(settings: Settings) -> None:
    assert await checks.production_problems(production(settings)) == []


async def test_unreachable_database_is_named(settings: Settings) -> None:
    url = f"postgres://postgres@127.0.0.1:{free_port()}/pulse"
    problems = await checks.production_problems(production(settings, database_url=url))
    assert len(problems) == 1 and problems[0].startswith("database unreachable at"), problems


async def test_unreachable_redis_is_named(settings: Settings) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    problems = await checks.production_problems(production(settings, redis_url=url))
    assert len(problems) == 1 and problems[0].startswith("Redis unreachable at"), problems


async def test_pending_migrations_are_named(settings: Settings, unmigrated_url: str) -> None:
    problems = await checks.production_problems(production(settings, database_url=unmigrated_url))
    assert len(problems) == 1 and "migration(s) not applied" in problems[0], problems


async def test_pending_migrations_refuse_start_in_any_environment(
    settings: Settings, unmigrated_url: str
) -> None:
    development = settings.model_copy(update={"database_url": unmigrated_url})
    with pytest.raises(checks.StartupRefused, match="migration"):
        await checks.enforce_startup(development, process="API")


async def test_the_api_lifespan_refuses_an_unsafe_production_start(settings: Settings) -> None:
    app = create_app(production(settings, cors_origins=["*"]))
    with pytest.raises(checks.StartupRefused, match=r"CORS_ORIGINS must list origins"):
        async with app.router.lifespan_context(app):
            pass


def test_missing_sentry_dsn_in_production_is_a_warning(settings: Settings) -> None:
    assert checks.warnings_for(production(settings)) == [
        "SENTRY_DSN is not set: errors will only reach the logs"
    ]
    assert checks.warnings_for(production(settings, sentry_dsn="https://k@sentry.example/1")) == []


def test_private_webhook_targets_in_production_are_a_warning(settings: Settings) -> None:
    notes = checks.warnings_for(
        production(settings, sentry_dsn="https://k@sentry.example/1", webhook_allow_private=True)
    )
    assert notes == [
        "WEBHOOK_ALLOW_PRIVATE is on: workflows may send requests to internal addresses"
    ]


async def test_an_upload_dir_that_cannot_be_written_is_named(
    settings: Settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    problems = await checks.production_problems(
        production(settings, upload_dir=blocker / "uploads")
    )
    assert len(problems) == 1 and problems[0].startswith(f"UPLOAD_DIR {blocker / 'uploads'}")
    created = tmp_path / "new" / "uploads"
    assert await checks.production_problems(production(settings, upload_dir=created)) == []
    assert created.is_dir()


def test_check_command_passes_a_safe_configuration(settings: Settings) -> None:
    result = run_cli("check", env=production_env(settings))
    assert result.returncode == 0, result.stderr
    assert "fit for production" in result.stderr
    assert "SENTRY_DSN is not set" in result.stderr


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY or JWT_KEYS must be set"),
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY is a known default value"),
        ({"SECRET_KEY": "too-short"}, "SECRET_KEY is shorter than 32 bytes"),
        ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS must list origins explicitly"),
        ({"REDIS_URL": None}, "REDIS_URL must be set"),
        ({"SMTP_URL": None}, "SMTP_URL must be set"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "Redis unreachable"),
        ({"DATABASE_URL": "postgres://postgres@127.0.0.1:1/pulse"}, "database unreachable"),
    ],
)
def test_check_command_names_each_problem(
    settings: Settings, change: dict[str, str | None], reason: str
) -> None:
    result = run_cli("check", env=production_env(settings, **change))
    assert result.returncode == 1
    assert reason in result.stderr


def test_check_command_reports_malformed_settings(settings: Settings) -> None:
    result = run_cli("check", env=production_env(settings, DB_POOL_MAX="many"))
    assert result.returncode == 2
    assert "DB_POOL_MAX: Input should be a valid integer" in result.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_unsafe_production(settings: Settings, command: str) -> None:
    result = run_cli(command, env=production_env(settings, SECRET_KEY="changeme"))
    assert result.returncode == 1
    assert f"refusing to start the {'API' if command == 'serve' else 'worker'} (production)" in (
        result.stderr
    )
    assert "SECRET_KEY is a known default value" in result.stderr


def test_serve_refuses_pending_migrations(settings: Settings, unmigrated_url: str) -> None:
    result = run_cli(
        "serve",
        "--port",
        str(free_port()),
        env=env_with(ENVIRONMENT="development", DATABASE_URL=unmigrated_url),
    )
    assert result.returncode == 1
    assert "migration(s) not applied" in result.stderr

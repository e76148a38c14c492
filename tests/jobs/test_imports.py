"""The import job in real arq workers: exactly once through a `kill -9`, waiting (not lost)
while the `uploads` kill switch is off, and failing cleanly on an unreadable file."""

from __future__ import annotations

import io
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from api.runtime import Runtime
from api.services import imports
from api.settings import Settings, load_settings
from models.imports import EventImport
from models.users import User
from tests.factories import make_user
from tests.jobs.conftest import StartWorker, eventually
from tests.schema.test_imports import event_line, jsonl
from tests.support import GraphQLClient


class Upload:
    """A file as the web layer hands it to the service."""

    def __init__(self, content: bytes) -> None:
        self.buffer = io.BytesIO(content)

    async def read(self, size: int = -1) -> bytes:
        return self.buffer.read(size)


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def settings(upload_dir: Path) -> Settings:
    return load_settings(_env_file=None, upload_dir=upload_dir)


@pytest.fixture
async def runtime(api: GraphQLClient, settings: Settings) -> AsyncIterator[Runtime]:
    # `api` is here for its lifespan: the ORM of this process.
    rt = Runtime.create(settings)
    yield rt
    await rt.close()


@pytest.fixture
async def user(api: GraphQLClient) -> User:
    return await make_user()


@pytest.fixture
def worker(start_worker: StartWorker, upload_dir: Path) -> StartWorker:
    def start(**env: str | None) -> Any:
        return start_worker(UPLOAD_DIR=str(upload_dir), **env)

    return start


async def _create(rt: Runtime, user: User, content: bytes) -> EventImport:
    return await imports.create_import(rt, user, Upload(content), "e.jsonl", "text/plain")


async def _state(import_id: object) -> EventImport:
    return await EventImport.get(id=import_id)


async def test_a_worker_killed_mid_import_stores_every_line_exactly_once(
    runtime: Runtime, user: User, pg: asyncpg.Connection, worker: StartWorker
) -> None:
    total = 2000
    # No clientId: only the committed offset keeps a redone batch from storing twice.
    lines = [event_line(i, clientId=None, data={"path": f"f{i}.py", "n": i}) for i in range(total)]
    row = await _create(runtime, user, jsonl(lines))
    batch = {"IMPORT_BATCH_ROWS": "20"}
    # The job outlives the killed worker in Redis and comes back after its timeout (+10 s).
    first = worker(WORKER_JOB_TIMEOUT="3", **batch)

    async def started() -> bool:
        return (await _state(row.id)).processed_rows > 0

    await eventually(started, interval=0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    at_kill = await _state(row.id)
    assert at_kill.processed_rows < total, "the import finished before the kill"
    assert await pg.fetchval("SELECT count(*) FROM events") == at_kill.accepted

    worker(WORKER_JOB_TIMEOUT="60", **batch)

    async def completed() -> bool:
        return (await _state(row.id)).status == "completed"

    await eventually(completed, timeout=90)
    done = await _state(row.id)
    assert (done.total_rows, done.processed_rows, done.accepted) == (total, total, total)
    assert (done.duplicates, done.rejected) == (0, 0)
    stored = await pg.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT data->>'n') AS lines,"
        " count(*) FILTER (WHERE import_job_id = $1) AS linked FROM events",
        row.id,
    )
    assert dict(stored) == {"n": total, "lines": total, "linked": total}


async def test_an_import_waits_while_uploads_are_off_and_runs_once_they_are_on(
    runtime: Runtime, user: User, pg: asyncpg.Connection, worker: StartWorker
) -> None:
    row = await _create(runtime, user, jsonl([event_line(i) for i in range(10)]))
    held = worker(FEATURE_FLAGS="uploads=off")

    async def skipped() -> bool:
        return "waits: uploads is turned off" in held.log.read_text()  # type: ignore[attr-defined]

    await eventually(skipped)
    assert (await _state(row.id)).status == "pending"
    assert await pg.fetchval("SELECT count(*) FROM events") == 0
    held.send_signal(signal.SIGTERM)
    held.wait(30)

    worker()  # its start-up sweep queues the import again

    async def completed() -> bool:
        return (await _state(row.id)).status == "completed"

    await eventually(completed)
    assert await pg.fetchval("SELECT count(*) FROM events") == 10


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.unlink(), "cannot be read"),
        (lambda path: path.write_bytes(b"\x00\x01garbage\n"), "Not JSON Lines"),
    ],
    ids=["file gone", "file replaced by garbage"],
)
async def test_an_unreadable_file_fails_the_import_with_the_reason(
    runtime: Runtime,
    user: User,
    pg: asyncpg.Connection,
    worker: StartWorker,
    upload_dir: Path,
    damage: Any,
    message: str,
) -> None:
    # No worker yet: the file is damaged before the job reads it.
    row = await _create(runtime, user, jsonl([event_line(1)]))
    damage(upload_dir / row.storage_path)
    worker()

    async def failed() -> bool:
        return (await _state(row.id)).status == "failed"

    await eventually(failed)
    state = await _state(row.id)
    assert state.error is not None and message in state.error
    assert state.finished_at is not None
    assert await pg.fetchval("SELECT count(*) FROM events") == 0


async def test_rejected_lines_are_kept_once_and_capped(
    runtime: Runtime, user: User, worker: StartWorker, settings: Settings
) -> None:
    bad = imports.MAX_KEPT_REJECTIONS + 5
    lines: list[Any] = ["{broken"] * bad + [event_line(1)]
    row = await _create(runtime, user, jsonl(lines))
    worker(IMPORT_BATCH_ROWS="100")

    async def completed() -> bool:
        return (await _state(row.id)).status == "completed"

    await eventually(completed)
    state = await _state(row.id)
    assert (state.rejected, state.accepted) == (bad, 1)
    kept = imports.rejections(settings, state, 10_000)
    assert [r.line for r in kept] == list(range(1, imports.MAX_KEPT_REJECTIONS + 1))
    assert {r.reason for r in kept} == {"INVALID_JSON"}
    assert json.dumps([r.line for r in imports.rejections(settings, state, 2)]) == "[1, 2]"

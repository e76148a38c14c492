from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.services import retention
from models.events import DeadLetterStatus, Event, FailedEvent
from models.imports import EventImport, ImportStatus
from models.workflows import RunStatus, RunTrigger, StepRun, Workflow, WorkflowRun
from tests.factories import make_user
from tests.support import GraphQLClient


async def test_prune_removes_only_old_finished_history(api: GraphQLClient, tmp_path: Path) -> None:
    user = await make_user()
    workflow = await Workflow.create(user=user, name="w", secret="s" * 32)
    old = datetime.now(UTC) - timedelta(days=100)
    kept_running = await WorkflowRun.create(
        workflow=workflow, user=user, trigger=RunTrigger.MANUAL, status=RunStatus.RUNNING
    )
    old_done = await WorkflowRun.create(
        workflow=workflow, user=user, trigger=RunTrigger.MANUAL, status=RunStatus.SUCCEEDED
    )
    recent = await WorkflowRun.create(
        workflow=workflow, user=user, trigger=RunTrigger.MANUAL, status=RunStatus.FAILED
    )
    await StepRun.create(run=old_done, position=0, connector="log")
    await WorkflowRun.filter(id__in=[kept_running.id, old_done.id]).update(created_at=old)
    event = await Event.create(user=user, kind="k", source="s", occurred_at=old)
    letters = {}
    for status in (DeadLetterStatus.RESOLVED, DeadLetterStatus.OPEN):
        letters[status] = await FailedEvent.create(
            event=event,
            user=user,
            payload={},
            error="e",
            attempts=1,
            status=status,
            first_failed_at=old,
            last_failed_at=old,
            resolved_at=old,
        )
    result = await retention.prune(
        runs_older_than=timedelta(days=90),
        dead_letters_older_than=timedelta(days=30),
        imports_older_than=timedelta(days=30),
        upload_dir=tmp_path,
    )
    assert result == {"workflow_runs": 1, "dead_letters": 1, "imports": 0, "upload_folders": 0}
    assert {r.id for r in await WorkflowRun.all()} == {kept_running.id, recent.id}
    assert await StepRun.all().count() == 0
    assert [f.status for f in await FailedEvent.all()] == [DeadLetterStatus.OPEN]


async def test_prune_removes_old_finished_imports_and_their_files(
    api: GraphQLClient, tmp_path: Path
) -> None:
    user = await make_user()
    old = datetime.now(UTC) - timedelta(days=40)
    folder = tmp_path / str(user.id)
    folder.mkdir()
    imports = {}
    for name, status, finished in (
        ("old_failed", ImportStatus.FAILED, old),
        ("old_done", ImportStatus.COMPLETED, old),
        ("recent_done", ImportStatus.COMPLETED, datetime.now(UTC)),
        ("processing", ImportStatus.PROCESSING, None),
    ):
        import_id = uuid.uuid4()
        imports[name] = await EventImport.create(
            id=import_id,
            user=user,
            filename="e.jsonl",
            content_type="application/x-ndjson",
            size_bytes=1,
            sha256="0" * 64,
            storage_path=f"{user.id}/{import_id}.jsonl",
            status=status,
            finished_at=finished,
        )
        (folder / f"{import_id}.jsonl").write_text("{}\n")
        (folder / f"{import_id}.rejections.jsonl").write_text("{}\n")
    event = await Event.create(
        user=user, kind="k", source="s", occurred_at=old, import_job=imports["old_done"]
    )
    day_old = time.time() - 2 * 24 * 3600
    orphan = tmp_path / str(uuid.uuid4())  # a deleted user's folder
    orphan.mkdir()
    (orphan / "x.jsonl").write_text("{}\n")
    fresh_orphan = tmp_path / str(uuid.uuid4())  # too new to judge: an upload in progress
    fresh_orphan.mkdir()
    abandoned = folder / "gone.part"
    abandoned.write_text("{")
    for path in (orphan, abandoned, folder):
        os.utime(path, (day_old, day_old))
    (tmp_path / "not-a-user").mkdir()

    result = await retention.prune(
        runs_older_than=timedelta(days=90),
        dead_letters_older_than=timedelta(days=30),
        imports_older_than=timedelta(days=30),
        upload_dir=tmp_path,
    )
    assert result["imports"] == 2 and result["upload_folders"] == 1
    assert {i.id for i in await EventImport.all()} == {
        imports["recent_done"].id,
        imports["processing"].id,
    }
    remaining = {path.name for path in folder.iterdir()}
    assert remaining == {
        f"{imports[name].id}{suffix}"
        for name in ("recent_done", "processing")
        for suffix in (".jsonl", ".rejections.jsonl")
    }
    assert not orphan.exists() and fresh_orphan.exists() and (tmp_path / "not-a-user").exists()
    await event.refresh_from_db()
    assert event.import_job_id is None  # type: ignore[attr-defined]  # the event stays

"""The import job: the file's lines in batches, each batch's events, counts and offset in
one transaction (see the package docstring for why that makes it exactly once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from api.resilience import flags
from api.runtime import Runtime
from api.services import events, pubsub
from api.services.imports.lines import (
    Rejection,
    UnreadableFile,
    count_rows,
    keep,
    kept_lines,
    parse_line,
    paths,
    rows,
)
from models.imports import EventImport, ImportStatus
from models.users import User

logger = logging.getLogger(__name__)

IMPORTS_TOPIC = "imports"
FINISHED = frozenset({ImportStatus.COMPLETED, ImportStatus.FAILED})


def view(row: EventImport) -> dict[str, Any]:
    """What `importProgress` subscribers receive (times as ISO 8601)."""

    def time(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": str(row.id),
        "user_id": str(row.user_id),  # type: ignore[attr-defined]
        "filename": row.filename,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "status": row.status.value,
        "total_rows": row.total_rows,
        "processed_rows": row.processed_rows,
        "accepted": row.accepted,
        "duplicates": row.duplicates,
        "rejected": row.rejected,
        "error": row.error,
        "created_at": time(row.created_at),
        "started_at": time(row.started_at),
        "finished_at": time(row.finished_at),
    }


async def _publish(rt: Runtime, row: EventImport) -> None:
    await pubsub.publish(rt, row.user_id, IMPORTS_TOPIC, view(row))  # type: ignore[attr-defined]


async def _allowed(rt: Runtime, import_id: str) -> bool:
    for name in (flags.UPLOADS, flags.INGESTION):
        if not await rt.flags.enabled(name):
            logger.warning("import %s waits: %s is turned off", import_id, name)
            return False
    return True


async def _transition(
    rt: Runtime, import_id: uuid.UUID, status: ImportStatus, **changes: Any
) -> EventImport | None:
    """Move an unfinished import to `status` (with `changes`) under its row lock."""
    async with in_transaction("default"):
        row = await EventImport.filter(id=import_id).select_for_update().first()
        if row is None or row.status in FINISHED:
            return None
        row.status = status
        for name, value in changes.items():
            setattr(row, name, value)
        await row.save()
    await _publish(rt, row)
    return row


async def fail(rt: Runtime, import_id: str, error: str) -> None:
    """End an unfinished import as FAILED with `error` (the lines stored so far stay)."""
    await _transition(
        rt, uuid.UUID(import_id), ImportStatus.FAILED, error=error, finished_at=_now()
    )


async def run_import(rt: Runtime, import_id: str) -> ImportStatus | None:
    """Import (or go on importing) one file; the import's status afterwards, or None when it
    must wait (a kill switch is off, another worker moved it on) or does not exist."""
    try:
        key = uuid.UUID(import_id)
    except ValueError:
        return None
    row = await EventImport.get_or_none(id=key)
    if row is None or row.status in FINISHED:
        return row.status if row is not None else None
    if not await _allowed(rt, import_id):
        return None
    user = await User.get_or_none(id=row.user_id)  # type: ignore[attr-defined]
    if user is None:
        return None
    try:
        data_path, rejections_path = paths(rt.settings.upload_dir, row.storage_path)
        total = await asyncio.to_thread(count_rows, data_path)
    except UnreadableFile as error:
        await _transition(rt, key, ImportStatus.FAILED, error=str(error), finished_at=_now())
        return ImportStatus.FAILED
    if row.status == ImportStatus.PENDING:
        started = await _transition(
            rt, key, ImportStatus.PROCESSING, total_rows=total, started_at=_now()
        )
        if started is None:
            return None
        row = started
    kept = await asyncio.to_thread(kept_lines, rejections_path)
    offset = row.processed_rows
    size = rt.settings.import_batch_rows
    with contextlib.closing(rows(data_path)) as lines:
        for _ in range(offset):
            next(lines, None)
        while batch := [item for _, item in zip(range(size), lines, strict=False)]:
            if not await _allowed(rt, import_id):
                return None
            stored = await _store_batch(rt, user, key, offset, batch, rejections_path, kept)
            if stored is None:
                logger.warning("import %s moved on elsewhere; this job stops", import_id)
                return None
            offset = stored.processed_rows
    finished = await _transition(rt, key, ImportStatus.COMPLETED, finished_at=_now())
    if finished is None:
        return None
    await asyncio.to_thread(data_path.unlink, missing_ok=True)
    return ImportStatus.COMPLETED


async def _store_batch(
    rt: Runtime,
    user: User,
    import_id: uuid.UUID,
    offset: int,
    batch: list[tuple[int, bytes]],
    rejections_path: Path,
    kept: set[int],
) -> EventImport | None:
    """Store one batch and move the offset on, in one transaction; None when the import is
    not where this job thinks it is (then nothing is written)."""
    drafts: list[events.EventDraft] = []
    lines: list[int] = []
    found: list[Rejection] = []
    for number, raw in batch:
        parsed = parse_line(raw, number)
        if isinstance(parsed, Rejection):
            found.append(parsed)
        else:
            drafts.append(parsed)
            lines.append(number)
    async with in_transaction("default"):
        row = await EventImport.filter(id=import_id).select_for_update().first()
        if row is None or row.status != ImportStatus.PROCESSING or row.processed_rows != offset:
            return None
        ingested = await events.ingest(user, drafts, import_id=import_id)
        for result in ingested.results:
            if result.status == events.IngestStatus.ACCEPTED:
                row.accepted += 1
            elif result.status == events.IngestStatus.DUPLICATE:
                row.duplicates += 1
            else:
                assert result.reason is not None
                found.append(Rejection(lines[result.index], result.reason.value))
        row.rejected += len(found)
        row.processed_rows = offset + len(batch)
        # Kept before the commit: a crash in between redoes the batch, whose lines are then
        # found already kept.
        found.sort(key=lambda r: r.line)
        await asyncio.to_thread(keep, rejections_path, kept, found)
        await row.save(update_fields=["accepted", "duplicates", "rejected", "processed_rows"])
    await events.announce(rt, user, ingested.stored)
    await _publish(rt, row)
    return row


def _now() -> datetime:
    return datetime.now(UTC)

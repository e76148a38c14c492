"""Event file imports: an uploaded JSON Lines file becomes events, in the background, through
the same ingestion as `recordEvents` (api/services/events.py).

    importEvents ──> file streamed to UPLOAD_DIR/<user id>/<import id>.jsonl (size cap,
                     sha256, UTF-8 check) + EventImport row PENDING ──> arq `import_events`
    import_events ──> PROCESSING; per batch of IMPORT_BATCH_ROWS lines, ONE transaction:
                      lock the row, check its offset, insert the good lines (linked to the
                      import), add the counts, move `processed_rows` on ──commit──> the
                      pipeline and live subscribers; at the end COMPLETED (the file is
                      deleted). An unreadable file: FAILED with the reason.

**Exactly once.** A batch's events and the offset that says they are done commit together,
so after a crash (even `kill -9`) the job arq runs again starts after the last committed
batch: no line is stored twice or lost. A job that finds the offset moved (another worker
got there first) stops. Lines with a `clientId` are also deduplicated as in `recordEvents`.

**Format.** JSON Lines: one object per line with the field names of `EventInput` (`kind`,
`source`, `occurredAt`, `durationMs`, `data`, `clientId`); blank lines are ignored and are
not rows. A JSON array is refused at upload (it cannot be read a batch at a time). A line
that is not such an object is rejected with a reason (`INVALID_JSON`, `INVALID_INPUT`,
`LINE_TOO_LONG`, or the reasons of `recordEvents`); good lines go in regardless. The first
`MAX_KEPT_REJECTIONS` rejected lines are kept (line number, reason, message) in
`<import id>.rejections.jsonl` beside the file; the counts are always complete.

**Kill switches.** `uploads` off: the mutation answers FEATURE_DISABLED and keeps nothing.
`uploads` or `ingestion` off: the job stops between batches and leaves the import as it is;
the `sweep_imports` cron queues unfinished imports again every minute.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import hashlib
import logging
import os
import re
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import orjson
from tortoise.transactions import in_transaction

from api.resilience import flags
from api.runtime import Runtime
from api.services import events, pubsub
from api.services.errors import ValidationFailed
from api.settings import Settings
from models.imports import EventImport, ImportStatus
from models.users import User

logger = logging.getLogger(__name__)

IMPORT_JOB = "import_events"
IMPORTS_TOPIC = "imports"
CHUNK_BYTES = 64 * 1024
MAX_LINE_BYTES = 64 * 1024
MAX_KEPT_REJECTIONS = 1000
FINISHED = frozenset({ImportStatus.COMPLETED, ImportStatus.FAILED})
FIELDS = frozenset({"kind", "source", "occurredAt", "durationMs", "data", "clientId"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Readable(Protocol):
    """An uploaded file as the web layer hands it over (Starlette's UploadFile is one)."""

    async def read(self, size: int = -1) -> bytes: ...


class UnreadableFile(Exception):
    """The stored file cannot be imported at all; the import fails with this message."""


@dataclass(frozen=True)
class Rejection:
    """A line that did not become an event: its 1-based line number in the file and why."""

    line: int
    reason: str
    message: str | None = None


def job_id(import_id: uuid.UUID | str) -> str:
    return f"import:{import_id}"


# ---- upload -----------------------------------------------------------------------------


def _clean_name(filename: str | None) -> str:
    """The client's file name, kept only as a label: never part of a path."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = _CONTROL.sub("", name).strip()[:255]
    return name or "upload.jsonl"


def _paths(settings: Settings, storage_path: str) -> tuple[Path, Path]:
    """(data file, rejections file) of an import, refusing anything outside UPLOAD_DIR."""
    root = settings.upload_dir.resolve()
    data = (root / storage_path).resolve()
    if not data.is_relative_to(root):
        raise UnreadableFile("The stored file path is outside the upload folder.")
    return data, data.with_name(data.stem + ".rejections.jsonl")


def _check_start(head: bytes) -> None:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if not start:
        raise ValidationFailed("The file holds no events.", "file")
    if start == b"[":
        raise ValidationFailed(
            "Expected JSON Lines (one event object per line), not a JSON array.", "file"
        )
    if start != b"{":
        raise ValidationFailed(
            "Expected JSON Lines: each line one JSON object with the fields of EventInput.",
            "file",
        )


async def _save(file: Readable, target: Path, limit: int) -> tuple[int, str, bytes]:
    """Copy `file` to `target` chunk by chunk: (size, sha256, first bytes). Refuses, before
    writing past it, a file over `limit` bytes, and anything that is not UTF-8 text."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    head = b""
    with await asyncio.to_thread(target.open, "xb") as handle:
        while chunk := await file.read(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise ValidationFailed(f"The file is over the limit of {limit} bytes.", "file")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                raise ValidationFailed("The file is not UTF-8 text.", "file") from None
            if b"\x00" in chunk:
                raise ValidationFailed("The file is not text (it holds NUL bytes).", "file")
            if len(head) < MAX_LINE_BYTES:
                head += chunk[: MAX_LINE_BYTES - len(head)]
            digest.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ValidationFailed("The file is not UTF-8 text.", "file") from None
    return size, digest.hexdigest(), head


async def create_import(
    rt: Runtime, user: User, file: Readable, filename: str | None, content_type: str | None
) -> EventImport:
    """Store an uploaded file under a name of our own and queue its import. Nothing is kept
    when the file is refused (too large, not UTF-8 JSON Lines, empty)."""
    await rt.flags.require(flags.UPLOADS)
    limit = rt.settings.max_upload_bytes
    declared = getattr(file, "size", None)
    if isinstance(declared, int) and declared > limit:
        raise ValidationFailed(f"The file is over the limit of {limit} bytes.", "file")
    import_id = uuid.uuid4()
    storage_path = f"{user.id}/{import_id}.jsonl"
    target, _ = _paths(rt.settings, storage_path)
    partial = target.with_suffix(".part")
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    try:
        size, sha256, head = await _save(file, partial, limit)
        _check_start(head)
        await asyncio.to_thread(partial.rename, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    try:
        row = await EventImport.create(
            id=import_id,
            user=user,
            filename=_clean_name(filename),
            content_type=_CONTROL.sub("", content_type or "")[:100] or "application/octet-stream",
            size_bytes=size,
            sha256=sha256,
            storage_path=storage_path,
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    await enqueue(rt, row)
    return row


async def enqueue(rt: Runtime, row: EventImport) -> bool:
    """Queue the import's job (one job id per import: a queued or running job is not
    doubled). A Redis outage is not the upload's failure: the sweep queues it later."""
    try:
        await rt.redis.enqueue_job(IMPORT_JOB, str(row.id), _job_id=job_id(row.id))
    except Exception as error:
        logger.warning("could not queue import %s (%s); the sweep will", row.id, error)
        return False
    return True


async def requeue_unfinished(rt: Runtime) -> int:
    """Queue every import not yet finished (a job lost with Redis, skipped by a kill switch,
    or timed out); those whose job is queued or running are left alone by `enqueue`."""
    rows = await EventImport.filter(
        status__in=[ImportStatus.PENDING, ImportStatus.PROCESSING]
    ).limit(500)
    for row in rows:
        await enqueue(rt, row)
    return len(rows)


# ---- reading lines ----------------------------------------------------------------------


def parse_line(raw: bytes, line: int) -> events.EventDraft | Rejection:
    """One line of an import as an event draft, or why it is not one. The checks of
    `recordEvents` (api/services/events.py `check`) come after, in `ingest`."""
    if len(raw) > MAX_LINE_BYTES:
        return Rejection(line, "LINE_TOO_LONG", f"Lines are limited to {MAX_LINE_BYTES} bytes.")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return Rejection(line, "INVALID_JSON", str(error)[:200])
    if not isinstance(value, dict):
        return Rejection(line, "INVALID_INPUT", "Expected a JSON object.")
    unknown = sorted(set(value) - FIELDS)
    if unknown:
        return Rejection(line, "INVALID_INPUT", f"Unknown field {unknown[0]!r}.")
    for name in ("kind", "source", "occurredAt"):
        if not isinstance(value.get(name), str):
            return Rejection(line, "INVALID_INPUT", f"{name}: expected a string.")
    try:
        occurred_at = datetime.fromisoformat(value["occurredAt"])
    except ValueError:
        return Rejection(line, "INVALID_INPUT", "occurredAt: expected an ISO 8601 date-time.")
    duration = value.get("durationMs")
    if duration is not None and (not isinstance(duration, int) or isinstance(duration, bool)):
        return Rejection(line, "INVALID_INPUT", "durationMs: expected an integer.")
    client_id = value.get("clientId")
    if client_id is not None and not isinstance(client_id, str):
        return Rejection(line, "INVALID_INPUT", "clientId: expected a string.")
    return events.EventDraft(
        kind=value["kind"],
        source=value["source"],
        occurred_at=occurred_at,
        duration_ms=duration,
        data=value.get("data"),
        client_id=client_id,
    )


def _rows(path: Path) -> Generator[tuple[int, bytes], None, None]:
    """(line number, content) of every non-blank line; blank lines are not rows."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            content = raw.rstrip(b"\r\n")
            if number == 1:
                content = content.removeprefix(b"\xef\xbb\xbf")
            if content.strip():
                yield number, content


def _count_rows(path: Path) -> int:
    try:
        with contextlib.closing(_rows(path)) as rows:
            first = next(rows, None)
        if first is None or not first[1].lstrip().startswith(b"{"):
            raise UnreadableFile("Not JSON Lines: the first line is not a JSON object.")
        return sum(1 for _ in _rows(path))
    except OSError as error:
        raise UnreadableFile(f"The uploaded file cannot be read: {error.strerror}.") from None


def _kept_lines(path: Path) -> set[int]:
    try:
        with path.open("rb") as handle:
            return {int(orjson.loads(raw)["line"]) for raw in handle if raw.strip()}
    except FileNotFoundError:
        return set()


def _keep(path: Path, kept: set[int], found: list[Rejection]) -> None:
    """Append the batch's rejections not kept yet (a batch redone after a crash finds its
    lines already there), up to MAX_KEPT_REJECTIONS; written before the batch commits."""
    new = [r for r in found if r.line not in kept][: max(0, MAX_KEPT_REJECTIONS - len(kept))]
    if not new:
        return
    with path.open("ab") as handle:
        for rejection in new:
            handle.write(orjson.dumps(rejection.__dict__) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    kept.update(r.line for r in new)


def rejections(settings: Settings, row: EventImport, first: int) -> list[Rejection]:
    """The kept rejected lines of an import, in line order (at most `first`)."""
    try:
        _, path = _paths(settings, row.storage_path)
        with path.open("rb") as handle:
            found = {
                item["line"]: Rejection(item["line"], item["reason"], item.get("message"))
                for item in map(orjson.loads, filter(bytes.strip, handle))
            }
    except (FileNotFoundError, UnreadableFile):
        return []
    return [found[line] for line in sorted(found)[: max(0, first)]]


# ---- the job ----------------------------------------------------------------------------


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
        data_path, rejections_path = _paths(rt.settings, row.storage_path)
        total = await asyncio.to_thread(_count_rows, data_path)
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
    kept = await asyncio.to_thread(_kept_lines, rejections_path)
    offset = row.processed_rows
    size = rt.settings.import_batch_rows
    with contextlib.closing(_rows(data_path)) as lines:
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
        await asyncio.to_thread(_keep, rejections_path, kept, found)
        await row.save(update_fields=["accepted", "duplicates", "rejected", "processed_rows"])
    await events.announce(rt, user, ingested.stored)
    await _publish(rt, row)
    return row


def _now() -> datetime:
    return datetime.now(UTC)

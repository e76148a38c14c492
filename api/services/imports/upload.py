"""Receiving an import: the uploaded file stored under a name of our own, its row, its job."""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import logging
import re
import uuid
from pathlib import Path, PurePosixPath
from typing import Protocol

from api.resilience import flags
from api.runtime import Runtime
from api.services.errors import ValidationFailed
from api.services.imports.lines import MAX_LINE_BYTES, paths
from models.imports import EventImport, ImportStatus
from models.users import User

logger = logging.getLogger(__name__)

IMPORT_JOB = "import_events"
CHUNK_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Readable(Protocol):
    """An uploaded file as the web layer hands it over (Starlette's UploadFile is one)."""

    async def read(self, size: int = -1) -> bytes: ...


def job_id(import_id: uuid.UUID | str) -> str:
    return f"import:{import_id}"


# ---- upload -----------------------------------------------------------------------------


def _clean_name(filename: str | None) -> str:
    """The client's file name, kept only as a label: never part of a path."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = _CONTROL.sub("", name).strip()[:255]
    return name or "upload.jsonl"


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
    target, _ = paths(rt.settings.upload_dir, storage_path)
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

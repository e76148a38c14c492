"""Reading an import's file: its rows, one line as an event draft (or why not), and the
rejected lines kept beside the file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from api.services import events
from api.settings import Settings
from models.imports import EventImport

MAX_LINE_BYTES = 64 * 1024
MAX_KEPT_REJECTIONS = 1000
FIELDS = frozenset({"kind", "source", "occurredAt", "durationMs", "data", "clientId"})


class UnreadableFile(Exception):
    """The stored file cannot be imported at all; the import fails with this message."""


@dataclass(frozen=True)
class Rejection:
    """A line that did not become an event: its 1-based line number in the file and why."""

    line: int
    reason: str
    message: str | None = None


def paths(upload_dir: Path, storage_path: str) -> tuple[Path, Path]:
    """(data file, rejections file) of an import, refusing anything outside UPLOAD_DIR."""
    root = upload_dir.resolve()
    data = (root / storage_path).resolve()
    if not data.is_relative_to(root):
        raise UnreadableFile("The stored file path is outside the upload folder.")
    return data, data.with_name(data.stem + ".rejections.jsonl")


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


def rows(path: Path) -> Generator[tuple[int, bytes], None, None]:
    """(line number, content) of every non-blank line; blank lines are not rows."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            content = raw.rstrip(b"\r\n")
            if number == 1:
                content = content.removeprefix(b"\xef\xbb\xbf")
            if content.strip():
                yield number, content


def count_rows(path: Path) -> int:
    try:
        with contextlib.closing(rows(path)) as found:
            first = next(found, None)
        if first is None or not first[1].lstrip().startswith(b"{"):
            raise UnreadableFile("Not JSON Lines: the first line is not a JSON object.")
        return sum(1 for _ in rows(path))
    except OSError as error:
        raise UnreadableFile(f"The uploaded file cannot be read: {error.strerror}.") from None


def kept_lines(path: Path) -> set[int]:
    try:
        with path.open("rb") as handle:
            return {int(orjson.loads(raw)["line"]) for raw in handle if raw.strip()}
    except FileNotFoundError:
        return set()


def keep(path: Path, kept: set[int], found: list[Rejection]) -> None:
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
        _, path = paths(settings.upload_dir, row.storage_path)
        with path.open("rb") as handle:
            found = {
                item["line"]: Rejection(item["line"], item["reason"], item.get("message"))
                for item in map(orjson.loads, filter(bytes.strip, handle))
            }
    except (FileNotFoundError, UnreadableFile):
        return []
    return [found[line] for line in sorted(found)[: max(0, first)]]

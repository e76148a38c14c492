"""Event ingestion: per-item validation, idempotency by `client_id`, one bulk insert.

Every item gets its own result, in input order: ACCEPTED (stored, committed before we
answer), DUPLICATE (the same `client_id` is already stored for this user: the original is
returned and nothing is written) or REJECTED (with a reason code). Bad items never block good
ones. Stored rows carry `dispatched_at = NULL` until the background pipeline takes them.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from api.resilience import flags
from api.runtime import Runtime
from api.services import pipeline, pubsub
from api.services.errors import ValidationFailed
from models.events import Event
from models.users import User

MAX_BATCH = 1000
MAX_DATA_BYTES = 16 * 1024
MAX_FUTURE = timedelta(minutes=5)
MAX_AGE = timedelta(days=365)
MAX_DURATION_MS = 7 * 24 * 3600 * 1000
MAX_CLIENT_ID = 128
NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class IngestStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"


class Reason(StrEnum):
    """Why an item was rejected: stable codes clients can branch on."""

    INVALID_KIND = "INVALID_KIND"
    INVALID_SOURCE = "INVALID_SOURCE"
    OCCURRED_IN_FUTURE = "OCCURRED_IN_FUTURE"
    OCCURRED_TOO_LONG_AGO = "OCCURRED_TOO_LONG_AGO"
    INVALID_DURATION = "INVALID_DURATION"
    INVALID_DATA = "INVALID_DATA"
    DATA_TOO_LARGE = "DATA_TOO_LARGE"
    INVALID_CLIENT_ID = "INVALID_CLIENT_ID"


@dataclass(frozen=True)
class EventDraft:
    kind: str
    source: str
    occurred_at: datetime
    duration_ms: int | None = None
    data: Any = None
    client_id: str | None = None


@dataclass(frozen=True)
class IngestResult:
    index: int
    status: IngestStatus
    event: Event | None = None
    reason: Reason | None = None


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


def check(draft: EventDraft, now: datetime) -> tuple[Reason | None, str | None]:
    """(reason, encoded data): the reason is None when the item is fine. A time without an
    offset is taken as UTC."""
    if not NAME_RE.match(draft.kind):
        return Reason.INVALID_KIND, None
    if not NAME_RE.match(draft.source):
        return Reason.INVALID_SOURCE, None
    occurred = draft.occurred_at
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    if occurred > now + MAX_FUTURE:
        return Reason.OCCURRED_IN_FUTURE, None
    if occurred < now - MAX_AGE:
        return Reason.OCCURRED_TOO_LONG_AGO, None
    if draft.duration_ms is not None and not 0 <= draft.duration_ms <= MAX_DURATION_MS:
        return Reason.INVALID_DURATION, None
    if draft.client_id is not None and (
        not draft.client_id or len(draft.client_id) > MAX_CLIENT_ID or "\x00" in draft.client_id
    ):
        return Reason.INVALID_CLIENT_ID, None
    encoded = None
    if draft.data is not None:
        # PostgreSQL's jsonb refuses \u0000 and JSON has no NaN/Infinity.
        if _has_nul(draft.data) or _has_non_finite(draft.data):
            return Reason.INVALID_DATA, None
        try:
            encoded = json.dumps(draft.data, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            return Reason.INVALID_DATA, None
        if len(encoded.encode()) > MAX_DATA_BYTES:
            return Reason.DATA_TOO_LARGE, None
    return None, encoded


_INSERT = """
INSERT INTO events (id, user_id, kind, source, occurred_at, duration_ms, data, client_id,
                    seq, import_job_id, created_at, dispatched_at)
SELECT t.id, $1, t.kind, t.source, t.occurred_at, t.duration_ms, t.data::jsonb, t.client_id,
       t.seq, $10::uuid, now(), now()
FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::int[], $7::text[],
            $8::text[], $9::bigint[])
     AS t(id, kind, source, occurred_at, duration_ms, data, client_id, seq)
ON CONFLICT (user_id, client_id) DO NOTHING
RETURNING id, created_at
"""


@dataclass(frozen=True)
class Ingested:
    """What `ingest` did: one result per item, and the events it stored (in id order)."""

    results: list[IngestResult]
    stored: list[Event]


async def record_events(rt: Runtime, user: User, drafts: list[EventDraft]) -> list[IngestResult]:
    """Validate, insert the good items in one statement, hand them to the pipeline, report
    each item. Rows are committed before this returns, whatever happens to the hand-off."""
    await rt.flags.require(flags.INGESTION)
    if len(drafts) > MAX_BATCH:
        raise ValidationFailed(f"At most {MAX_BATCH} events per call.", "inputs")
    # One transaction: the user's row, locked to number the events, stays locked until
    # they are committed (see `ingest`).
    async with in_transaction("default"):
        ingested = await ingest(user, drafts)
    await announce(rt, user, ingested.stored)
    return ingested.results


async def ingest(
    user: User, drafts: list[EventDraft], *, import_id: uuid.UUID | None = None
) -> Ingested:
    """Validate and insert the good items in one statement; nothing else. Inside the
    caller's transaction when there is one (an import commits its progress with the rows);
    call `announce` with `stored` once the rows are committed. `import_id` links the rows to
    the import they came from."""
    now = datetime.now(UTC)
    results: list[IngestResult | None] = [None] * len(drafts)
    pending: list[tuple[int, EventDraft, str | None]] = []
    first_with_client_id: dict[str, int] = {}
    repeats: dict[int, int] = {}  # index → index of the same client_id earlier in this batch
    for index, draft in enumerate(drafts):
        reason, encoded = check(draft, now)
        if reason is not None:
            results[index] = IngestResult(index, IngestStatus.REJECTED, reason=reason)
        elif draft.client_id is not None and draft.client_id in first_with_client_id:
            repeats[index] = first_with_client_id[draft.client_id]
        else:
            if draft.client_id is not None:
                first_with_client_id[draft.client_id] = index
            if draft.occurred_at.tzinfo is None:
                draft = replace(draft, occurred_at=draft.occurred_at.replace(tzinfo=UTC))
            pending.append((index, draft, encoded))

    conn = connections.get("default")
    stored: dict[int, Event] = {}
    if pending:
        # The user's next numbers (models/events.py `seq`). The row lock this takes lasts
        # until the caller's transaction commits, so numbers follow commit order: a later
        # number is never visible before an earlier one. Taken before the ids, so that a
        # user's ids follow the same order. Must run inside a transaction.
        counter = await conn.execute_query_dict(
            "UPDATE users SET event_seq = event_seq + $2 WHERE id = $1 RETURNING event_seq",
            [user.id, len(pending)],
        )
        top = counter[0]["event_seq"]
        seqs = list(range(top - len(pending) + 1, top + 1))
        # Ids first, so each inserted row maps back to its item whatever order RETURNING uses.
        id_rows = await conn.execute_query_dict(
            "SELECT nextval(pg_get_serial_sequence('events', 'id')) AS id "
            "FROM generate_series(1, $1)",
            [len(pending)],
        )
        ids = [row["id"] for row in id_rows]
        # execute_query_dict: tortoise's execute_query drops RETURNING rows of an INSERT.
        inserted = await conn.execute_query_dict(
            _INSERT,
            [
                user.id,
                ids,
                [d.kind for _, d, _ in pending],
                [d.source for _, d, _ in pending],
                [d.occurred_at for _, d, _ in pending],
                [d.duration_ms for _, d, _ in pending],
                [encoded for _, _, encoded in pending],
                [d.client_id for _, d, _ in pending],
                seqs,
                import_id,
            ],
        )
        created = {row["id"]: row["created_at"] for row in inserted}
        for event_id, seq, (index, draft, _) in zip(ids, seqs, pending, strict=True):
            if event_id in created:
                stored[index] = Event(
                    id=event_id,
                    user_id=user.id,
                    kind=draft.kind,
                    source=draft.source,
                    occurred_at=draft.occurred_at,
                    duration_ms=draft.duration_ms,
                    data=draft.data,
                    client_id=draft.client_id,
                    seq=seq,
                    import_job_id=import_id,
                    created_at=created[event_id],
                )
                stored[index]._saved_in_db = True
                results[index] = IngestResult(index, IngestStatus.ACCEPTED, event=stored[index])

    conflicting = [d.client_id for i, d, _ in pending if i not in stored and d.client_id]
    originals: dict[str, Event] = {}
    if conflicting:
        rows = await Event.filter(user=user, client_id__in=conflicting)
        originals = {row.client_id: row for row in rows if row.client_id}
    for index, draft, _ in pending:
        if index not in stored:
            # Only a client_id can conflict; the original may (rarely) be deleted meanwhile.
            original = originals.get(draft.client_id or "")
            results[index] = IngestResult(index, IngestStatus.DUPLICATE, event=original)
    for index, earlier in repeats.items():
        first = results[earlier]
        assert first is not None
        results[index] = IngestResult(index, IngestStatus.DUPLICATE, event=first.event)
    accepted = sorted(stored.values(), key=lambda event: event.id)
    return Ingested([r for r in results if r is not None], accepted)


async def announce(rt: Runtime, user: User, stored: list[Event]) -> None:
    """Hand committed events to the pipeline and to live subscribers (never raises for an
    outage: the sweeper and the subscribers' resume path catch up)."""
    if stored:
        await pipeline.dispatch(rt, [event.id for event in stored])
        await pubsub.publish(rt, user.id, EVENTS_TOPIC, {"events": [message(e) for e in stored]})


EVENTS_TOPIC = "events"


def message(event: Event) -> dict[str, Any]:
    """What subscribers of `eventRecorded` receive for one event."""
    return {
        "id": event.id,
        "user_id": str(event.user_id),  # type: ignore[attr-defined]
        "kind": event.kind,
        "source": event.source,
        "occurred_at": event.occurred_at.isoformat(),
        "duration_ms": event.duration_ms,
        "data": event.data,
        "client_id": event.client_id,
        "created_at": event.created_at.isoformat(),
        "seq": event.seq,
    }

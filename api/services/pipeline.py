"""The event pipeline: what happens to an accepted event after it is stored.

    API: INSERT (committed) ──dispatch──> arq `process_event_batch(ids)` ──> processed_at set
                 │ Redis down: dispatched_at stays NULL        │ an item fails: retried with
                 v                                             v backoff + jitter, then
    sweeper cron: re-dispatches rows never handed over        dead-lettered (failed_events)
                  (or handed over long ago and still not done)

Processing an event (enrichment + rolling per-user aggregates) and marking it processed
happen in one transaction under a row lock, so a job that runs twice (arq may) changes
nothing the second time. Dead letters keep the payload, the error, the attempts and the
history of earlier failures; replay is idempotent.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from tortoise.transactions import in_transaction

from api.runtime import Runtime
from models.events import DeadLetterStatus, Event, FailedEvent

logger = logging.getLogger(__name__)

BATCH_JOB = "process_event_batch"
RETRY_JOB = "retry_event"
BACKOFF_CAP_SECONDS = 300.0
SWEEP_BATCH = 1000


class EnrichmentError(Exception):
    """The event's data cannot be read the way its kind requires."""


def backoff_seconds(attempt: int, base: float) -> float:
    """Exponential backoff with jitter ("equal jitter": half fixed, half random), capped."""
    ceiling = min(BACKOFF_CAP_SECONDS, base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


# ---- dispatch --------------------------------------------------------------------------


async def dispatch(rt: Runtime, event_ids: list[int]) -> bool:
    """Hand stored events to the worker. They were inserted as dispatched (saving a write on
    the hot path); if Redis refuses, they are marked undispatched again for the sweeper, which
    also finds them if even that fails (a dispatched event unprocessed for too long). Never
    raises: the events are already safely stored."""
    if not event_ids:
        return True
    try:
        await rt.redis.enqueue_job(
            BATCH_JOB, event_ids, _job_id=f"events:{event_ids[0]}:{event_ids[-1]}:{len(event_ids)}"
        )
    except Exception as error:
        logger.warning("could not dispatch %d events (%s); the sweeper will", len(event_ids), error)
        try:
            await Event.filter(id__in=event_ids).update(dispatched_at=None)
        except Exception:
            logger.exception("could not mark events undispatched; the sweeper finds them later")
        return False
    return True


_SWEEP = """
WITH stale AS (
    SELECT e.id FROM events e
    WHERE e.processed_at IS NULL
      AND (e.dispatched_at IS NULL OR e.dispatched_at < $1)
      AND NOT EXISTS (
          SELECT 1 FROM failed_events f WHERE f.event_id = e.id AND f.status <> 'resolved')
    ORDER BY e.id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE events SET dispatched_at = now() FROM stale WHERE events.id = stale.id
RETURNING events.id
"""


async def sweep(rt: Runtime) -> int:
    """Re-dispatch events that were committed but never (or long ago, in vain) handed to a
    job. SKIP LOCKED lets several workers sweep at once without taking the same rows. The
    re-dispatch delay (PIPELINE_REDISPATCH_SECONDS) must exceed a job's timeout, so a job
    that is merely slow is not doubled."""
    total = 0
    while True:
        cutoff = datetime.now(UTC) - timedelta(seconds=rt.settings.pipeline_redispatch_seconds)
        async with in_transaction("default") as conn:
            rows = await conn.execute_query_dict(_SWEEP, [cutoff, SWEEP_BATCH])
            ids = sorted(row["id"] for row in rows)
            if ids:
                # Enqueue inside the transaction: if Redis is down the marks roll back.
                # A fresh job id per sweep: arq refuses an id whose result it still keeps, and
                # the same rows may need sweeping again (their first job's worker died).
                await rt.redis.enqueue_job(
                    BATCH_JOB, ids, _job_id=f"sweep:{ids[0]}:{len(ids)}:{uuid.uuid4().hex}"
                )
        total += len(ids)
        if len(ids) < SWEEP_BATCH:
            return total


# ---- processing ------------------------------------------------------------------------


def enrich(event: Event) -> dict[str, Any]:
    """Derived facts about an event, stored under `data._derived`.

    Kinds with a known shape are checked: `file.*` events need a string `path`, `git.*`
    events a string `repo` when they have one. A malformed event raises `EnrichmentError`.
    """
    data = event.data if isinstance(event.data, dict) else {}
    derived: dict[str, Any] = {
        "hour": event.occurred_at.astimezone(UTC).hour,
        "weekday": event.occurred_at.astimezone(UTC).isoweekday(),
    }
    if event.kind.startswith("file."):
        path = data.get("path")
        if not isinstance(path, str) or not path:
            raise EnrichmentError(f"{event.kind} needs a string data.path, got {path!r}")
        derived["extension"] = PurePosixPath(path).suffix.lower() or None
        derived["directory"] = str(PurePosixPath(path).parent)
    if event.kind.startswith("git.") and "repo" in data:
        if not isinstance(data["repo"], str):
            raise EnrichmentError(f"{event.kind} needs a string data.repo")
        derived["repo"] = data["repo"]
    return derived


_AGGREGATE = """
INSERT INTO event_stats (user_id, day, kind, source, count, total_duration_ms, updated_at)
VALUES ($1, $2, $3, $4, 1, $5, now())
ON CONFLICT (user_id, day, kind, source) DO UPDATE
SET count = event_stats.count + 1,
    total_duration_ms = event_stats.total_duration_ms + EXCLUDED.total_duration_ms,
    updated_at = now()
"""


async def process_one(event_id: int) -> bool:
    """Process one event exactly once. False when it was already processed (or is being
    processed by someone else right now)."""
    async with in_transaction("default") as conn:
        event = (
            await Event.filter(id=event_id, processed_at__isnull=True)
            .select_for_update(skip_locked=True)
            .first()
        )
        if event is None:
            return False
        derived = enrich(event)
        data = dict(event.data) if isinstance(event.data, dict) else {"value": event.data}
        data["_derived"] = derived
        await conn.execute_query(
            _AGGREGATE,
            [
                event.user_id,  # type: ignore[attr-defined]
                event.occurred_at.astimezone(UTC).date(),
                event.kind,
                event.source,
                event.duration_ms or 0,
            ],
        )
        await Event.filter(id=event.id).update(data=data, processed_at=datetime.now(UTC))
    return True


@dataclass
class BatchOutcome:
    processed: int = 0
    skipped: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    touched_users: set[Any] | None = None


async def process_batch(
    rt: Runtime, event_ids: list[int], attempt: int = 1, round_key: str = "first"
) -> BatchOutcome:
    """Process each event on its own: one failing item never stops the others. `round_key`
    tells retries of a replay apart from those of the first pass (their job ids differ)."""
    outcome = BatchOutcome(touched_users=set())
    for event_id in event_ids:
        try:
            done = await process_one(event_id)
        except Exception as error:
            await _failed(rt, event_id, attempt, round_key, error, outcome)
            continue
        if done:
            outcome.processed += 1
        else:
            outcome.skipped += 1
    if outcome.processed:
        rows = await Event.filter(id__in=event_ids).distinct().values_list("user_id", flat=True)
        outcome.touched_users = set(rows)
    return outcome


async def _failed(
    rt: Runtime,
    event_id: int,
    attempt: int,
    round_key: str,
    error: Exception,
    outcome: BatchOutcome,
) -> None:
    limit = rt.settings.pipeline_max_attempts
    if attempt < limit:
        delay = backoff_seconds(attempt, rt.settings.pipeline_backoff_seconds)
        logger.warning(
            "event %s failed (attempt %d/%d): %s; retrying in %.1fs",
            event_id,
            attempt,
            limit,
            error,
            delay,
        )
        try:
            job = await rt.redis.enqueue_job(
                RETRY_JOB,
                event_id,
                attempt + 1,
                round_key,
                _job_id=f"event-retry:{event_id}:{round_key}:{attempt + 1}",
                _defer_by=delay,
            )
        except Exception:
            logger.exception("could not schedule a retry of event %s; dead-lettering", event_id)
        else:
            # None: that retry already exists (this job ran twice); it will do the work.
            if job is not None:
                outcome.retrying += 1
            return
    await dead_letter(event_id, attempt, error)
    outcome.dead_lettered += 1


async def dead_letter(event_id: int, attempts: int, error: Exception) -> FailedEvent | None:
    """Record the failure; a replayed item that fails again reopens its dead letter, with the
    earlier failure kept in `history`."""
    now = datetime.now(UTC)
    message = f"{type(error).__name__}: {error}"[:4000]
    async with in_transaction("default"):
        event = await Event.get_or_none(id=event_id)
        if event is None:
            return None
        existing = await FailedEvent.filter(event_id=event_id).select_for_update().first()
        if existing is not None:
            existing.history = [
                *existing.history,
                {
                    "error": existing.error,
                    "attempts": existing.attempts,
                    "failed_at": existing.last_failed_at.isoformat(),
                },
            ]
            existing.error = message
            existing.attempts = existing.attempts + attempts
            existing.status = DeadLetterStatus.OPEN
            existing.last_failed_at = now
            await existing.save()
            logger.error("event %s failed again after replay: %s", event_id, message)
            return existing
        payload = {
            "event_id": event.id,
            "kind": event.kind,
            "source": event.source,
            "occurred_at": event.occurred_at.isoformat(),
            "duration_ms": event.duration_ms,
            "data": event.data,
            "client_id": event.client_id,
        }
        letter = await FailedEvent.create(
            event=event,
            user_id=event.user_id,  # type: ignore[attr-defined]
            payload=payload,
            error=message,
            attempts=attempts,
            first_failed_at=now,
            last_failed_at=now,
        )
    logger.error("event %s dead-lettered after %d attempts: %s", event_id, attempts, message)
    return letter


async def replay(rt: Runtime, letter_ids: list[int]) -> list[FailedEvent]:
    """Put open dead letters back through the pipeline. Idempotent: a letter already being
    replayed or resolved is left alone."""
    now = datetime.now(UTC)
    async with in_transaction("default"):
        letters = await FailedEvent.filter(
            id__in=letter_ids, status=DeadLetterStatus.OPEN
        ).select_for_update()
        for letter in letters:
            letter.status = DeadLetterStatus.REPLAYING
            letter.replayed_at = now
            await letter.save(update_fields=["status", "replayed_at", "updated_at"])
    for letter in letters:
        event_id = letter.event_id  # type: ignore[attr-defined]
        try:
            round_key = f"replay-{letter.id}-{int(now.timestamp() * 1000)}"
            await rt.redis.enqueue_job(
                RETRY_JOB, event_id, 1, round_key, _job_id=f"event-retry:{event_id}:{round_key}:1"
            )
        except Exception:
            logger.exception("could not queue the replay of dead letter %s", letter.id)
            await FailedEvent.filter(id=letter.id).update(status=DeadLetterStatus.OPEN)
    return list(letters)


async def resolve_replayed(event_id: int) -> None:
    await FailedEvent.filter(event_id=event_id, status=DeadLetterStatus.REPLAYING).update(
        status=DeadLetterStatus.RESOLVED, resolved_at=datetime.now(UTC)
    )

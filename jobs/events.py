"""Event pipeline jobs: batches, per-item retries, and the sweeper."""

from __future__ import annotations

import logging
from typing import Any

from api.runtime import Runtime
from api.services import pipeline

logger = logging.getLogger(__name__)

ANALYZE_JOB = "analyze_patterns"


def _runtime(ctx: dict[str, Any]) -> Runtime:
    runtime = ctx["runtime"]
    assert isinstance(runtime, Runtime)
    return runtime


async def _wake_analysis(rt: Runtime, user_ids: set[Any] | None) -> None:
    """Queue an analysis a little later; more events meanwhile find the job already queued
    under the same id and join it (debounce)."""
    for user_id in user_ids or ():
        await rt.redis.enqueue_job(
            ANALYZE_JOB,
            str(user_id),
            _job_id=f"patterns:{user_id}",
            _defer_by=rt.settings.analysis_debounce_seconds,
        )


async def process_event_batch(ctx: dict[str, Any], event_ids: list[int]) -> dict[str, int]:
    rt = _runtime(ctx)
    outcome = await pipeline.process_batch(rt, event_ids)
    await _wake_analysis(rt, outcome.touched_users)
    return {
        "processed": outcome.processed,
        "skipped": outcome.skipped,
        "retrying": outcome.retrying,
        "dead_lettered": outcome.dead_lettered,
    }


async def retry_event(
    ctx: dict[str, Any], event_id: int, attempt: int, round_key: str = "first"
) -> dict[str, int]:
    rt = _runtime(ctx)
    replay = round_key.startswith("replay-")
    outcome = await pipeline.process_batch(rt, [event_id], attempt=attempt, round_key=round_key)
    if replay and outcome.processed:
        await pipeline.resolve_replayed(event_id)
    elif replay and not outcome.retrying and not outcome.dead_lettered:
        # Already processed by someone else: nothing left to replay.
        await pipeline.resolve_replayed(event_id)
    await _wake_analysis(rt, outcome.touched_users)
    return {"processed": outcome.processed, "dead_lettered": outcome.dead_lettered}


async def sweep_events(ctx: dict[str, Any]) -> int:
    swept = await pipeline.sweep(_runtime(ctx))
    if swept:
        logger.warning("sweeper re-dispatched %d events", swept)
    return swept

"""Pattern analysis jobs: per user (debounced after new events) and nightly for everyone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.runtime import Runtime
from api.services import analysis


async def analyze_patterns(ctx: dict[str, Any], user_id: str) -> dict[str, int]:
    runtime = ctx["runtime"]
    assert isinstance(runtime, Runtime)
    return await analysis.analyze_user(runtime, user_id)


async def analyze_everyone(ctx: dict[str, Any]) -> int:
    """Nightly: every user with events in the last day gets a fresh analysis."""
    runtime = ctx["runtime"]
    assert isinstance(runtime, Runtime)
    users = await analysis.users_with_recent_events(datetime.now(UTC) - timedelta(days=1))
    for user_id in users:
        await runtime.redis.enqueue_job(
            "analyze_patterns", str(user_id), _job_id=f"patterns:{user_id}"
        )
    return len(users)

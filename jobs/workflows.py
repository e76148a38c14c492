"""Workflow jobs: executing runs."""

from __future__ import annotations

from typing import Any

from api.runtime import Runtime
from api.services import execution, scheduler


async def execute_workflow_run(ctx: dict[str, Any], run_id: str) -> str | None:
    runtime = ctx["runtime"]
    assert isinstance(runtime, Runtime)
    status = await execution.execute_run(runtime, run_id)
    return status.value if status is not None else None


async def dispatch_workflows(ctx: dict[str, Any]) -> dict[str, int]:
    """Every minute: due slots become runs (see api/services/scheduler.py)."""
    runtime = ctx["runtime"]
    assert isinstance(runtime, Runtime)
    tick = await scheduler.dispatch_due(runtime)
    requeued = await scheduler.requeue_stale(runtime)
    return {
        "queued": len(tick.queued),
        "missed": len(tick.missed),
        "skipped": len(tick.skipped),
        "requeued": requeued,
    }

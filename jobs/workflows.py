"""Workflow jobs: executing runs."""

from __future__ import annotations

from typing import Any

from api.runtime import Runtime
from api.services import execution


async def execute_workflow_run(ctx: dict[str, Any], run_id: str) -> str | None:
    runtime = ctx["runtime"]
    assert isinstance(runtime, Runtime)
    status = await execution.execute_run(runtime, run_id)
    return status.value if status is not None else None

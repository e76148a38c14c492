"""Event file import jobs: one import per job, and the sweep that queues unfinished ones."""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry

from api.resilience.breaker import is_connection_error
from api.runtime import Runtime
from api.services import imports
from models.imports import ImportStatus

logger = logging.getLogger(__name__)


def _runtime(ctx: dict[str, Any]) -> Runtime:
    runtime = ctx["runtime"]
    assert isinstance(runtime, Runtime)
    return runtime


async def import_events(ctx: dict[str, Any], import_id: str) -> str | None:
    """Import one uploaded file (resuming after the last committed batch)."""
    rt = _runtime(ctx)
    try:
        status = await imports.run_import(rt, import_id)
    except Exception as error:
        if is_connection_error(error):
            # The database will be back: the import resumes where it stopped.
            raise Retry(defer=min(60, 5 * int(ctx.get("job_try", 1)))) from error
        logger.exception("import %s failed", import_id)
        await imports.fail(rt, import_id, f"Internal error ({type(error).__name__}).")
        return ImportStatus.FAILED.value
    return status.value if status is not None else None


async def sweep_imports(ctx: dict[str, Any]) -> int:
    """Every minute: queue imports not finished whose job is gone."""
    return await imports.requeue_unfinished(_runtime(ctx))

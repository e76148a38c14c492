"""`log`: records a message (in the step's output and the worker log)."""

from __future__ import annotations

import logging
from typing import Any

from api.connectors.base import StepContext

logger = logging.getLogger(__name__)


async def execute(ctx: StepContext, config: dict[str, Any]) -> str:
    message = str(config["message"])
    logger.info("workflow %s run %s: %s", ctx.workflow_id, ctx.run_id, message)
    return message

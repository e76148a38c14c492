"""`delay`: waits, checking for cancellation every second so a cancel is never stuck
behind a long wait."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from api.connectors.base import StepContext, StepFailed


async def execute(ctx: StepContext, config: dict[str, Any]) -> str:
    seconds = float(config["seconds"])
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(1.0, left))
        if await ctx.cancel_requested():
            raise StepFailed("cancelled during the delay")
    return f"waited {seconds:g}s"

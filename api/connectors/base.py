"""What every connector gets and may raise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from api.settings import Settings


class StepFailed(Exception):
    """The step did not do its job; the message is shown to the workflow's owner."""


@dataclass(frozen=True)
class StepContext:
    settings: Settings
    run_id: str
    workflow_id: str
    position: int
    # Signs webhook deliveries (HMAC-SHA256) unless the step has its own secret.
    workflow_secret: str
    # True once the owner asked to cancel the run; long steps (delay) poll it.
    cancel_requested: Callable[[], Awaitable[bool]]

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of this step of this run: receivers dedupe on it."""
        return f"{self.run_id}:{self.position}"


class Executor(Protocol):
    async def __call__(self, ctx: StepContext, config: dict[str, Any]) -> str: ...

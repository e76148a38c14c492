"""What a workflow step can do. Each connector declares its config as a pydantic model; the
registry validates a step's config before it is stored (and executes it in the worker)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from api.connectors import delay, email, log, webhook
from api.connectors.base import Executor
from api.connectors.configs import DelayConfig, EmailConfig, LogConfig, WebhookConfig
from api.services.errors import ValidationFailed
from api.settings import get_settings

CONFIGS: dict[str, type[BaseModel]] = {
    "log": LogConfig,
    "webhook": WebhookConfig,
    "email": EmailConfig,
    "delay": DelayConfig,
}
EXECUTORS: dict[str, Executor] = {
    "log": log.execute,
    "webhook": webhook.execute,
    "email": email.execute,
    "delay": delay.execute,
}


def validate_step(connector: str, config: Any, field: str) -> dict[str, Any]:
    """The normalised config of a step, or `ValidationFailed` naming what is wrong."""
    model = CONFIGS.get(connector)
    if model is None:
        known = ", ".join(sorted(CONFIGS))
        raise ValidationFailed(f"Unknown connector {connector!r}; use one of: {known}.", field)
    if not isinstance(config, dict):
        raise ValidationFailed("A step's config must be a JSON object.", f"{field}.config")
    try:
        return model.model_validate(config).model_dump(mode="json", exclude_none=True)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ValidationFailed(f"{where}: {message}", f"{field}.config") from None


async def check_step_targets(
    steps: list[tuple[str, dict[str, Any]]], *, allow_private: bool | None = None
) -> None:
    """Refuse webhook steps aimed at our own network (see api/connectors/webhook.py), as
    `ValidationFailed` on the step's config. `allow_private` defaults to the setting."""
    if allow_private is None:
        allow_private = get_settings().webhook_private_targets_allowed
    if allow_private:
        return
    for i, (connector, config) in enumerate(steps):
        if connector == "webhook":
            problem = await webhook.target_problem(str(config["url"]))
            if problem is not None:
                raise ValidationFailed(f"url: {problem}", f"steps.{i}.config")

"""`email`: one plain-text email over SMTP_URL."""

from __future__ import annotations

from typing import Any

import aiosmtplib

from api.connectors.base import StepContext, StepFailed
from api.services.mailer import MailNotConfigured, send_email


async def execute(ctx: StepContext, config: dict[str, Any]) -> str:
    try:
        reply = await send_email(
            ctx.settings, to=config["to"], subject=config["subject"], body=config["body"]
        )
    except (OSError, aiosmtplib.SMTPException, MailNotConfigured) as error:
        raise StepFailed(f"email to {config['to']} failed: {error}") from error
    return f"sent to {config['to']}: {reply}"

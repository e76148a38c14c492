"""The email job: delivery with retries and exponential backoff."""

from __future__ import annotations

import logging
from typing import Any

import aiosmtplib
from arq import Retry

from api.services.mailer import send_email as deliver
from api.settings import get_settings

logger = logging.getLogger(__name__)

# Worker-wide max_tries bounds the attempts; this is the delay before the next one.
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0


def backoff(attempt: int) -> float:
    return float(min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1)))


async def send_email(ctx: dict[str, Any], to: str, subject: str, body: str) -> str:
    """Deliver one email. Transient SMTP failures (server down, 4xx replies) are retried with
    backoff; a permanent refusal (5xx) is not, since sending again cannot succeed."""
    attempt = int(ctx.get("job_try", 1))
    try:
        return await deliver(get_settings(), to=to, subject=subject, body=body)
    except aiosmtplib.SMTPResponseException as error:
        if 500 <= error.code < 600:
            logger.error("email to %s refused permanently: %s", to, error)
            raise
        logger.warning("email to %s deferred (attempt %d): %s", to, attempt, error)
        raise Retry(defer=backoff(attempt)) from error
    except (OSError, aiosmtplib.SMTPException) as error:
        logger.warning("email to %s failed (attempt %d): %s", to, attempt, error)
        raise Retry(defer=backoff(attempt)) from error

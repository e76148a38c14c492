"""Outgoing email over SMTP (`SMTP_URL`). Without SMTP_URL outside production the message is
logged instead, so links (verification, reset) stay usable in development."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from api.settings import Settings

logger = logging.getLogger(__name__)

SENDER = "Pulse <no-reply@pulse.invalid>"


class MailNotConfigured(Exception):
    """Production has no SMTP_URL, so mail cannot be sent."""


async def send_email(settings: Settings, *, to: str, subject: str, body: str) -> str:
    """Send one plain-text email; returns the server's reply (or "logged")."""
    if not settings.smtp_url:
        if settings.is_production:
            raise MailNotConfigured("SMTP_URL is not set")
        logger.info("email (not sent: SMTP_URL unset) to=%s subject=%s\n%s", to, subject, body)
        return "logged"
    parts = urlsplit(settings.smtp_url)
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    errors, reply = await aiosmtplib.send(
        message,
        hostname=parts.hostname,
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=parts.scheme == "smtps",
        start_tls=None,
        timeout=15,
    )
    if errors:
        raise aiosmtplib.SMTPRecipientsRefused(
            [
                aiosmtplib.SMTPRecipientRefused(code, msg, rcpt)
                for rcpt, (code, msg) in errors.items()
            ]
        )
    return reply

from __future__ import annotations

import logging

import pytest

from api.services.mailer import MailNotConfigured, send_email
from api.settings import Settings
from tests.smtp_sink import SmtpSink


async def test_without_smtp_in_development_the_message_is_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    dev = settings.model_copy(update={"environment": "development", "smtp_url": None})
    with caplog.at_level(logging.INFO, logger="api.services.mailer"):
        assert (
            await send_email(dev, to="a@example.com", subject="S", body="link: http://x/t")
            == "logged"
        )
    assert "link: http://x/t" in caplog.text


async def test_production_without_smtp_refuses(settings: Settings) -> None:
    prod = settings.model_copy(update={"environment": "production", "smtp_url": None})
    with pytest.raises(MailNotConfigured):
        await send_email(prod, to="a@example.com", subject="S", body="B")


async def test_mail_reaches_a_real_smtp_server(settings: Settings) -> None:
    sink = SmtpSink().start()
    try:
        configured = settings.model_copy(update={"smtp_url": sink.url})
        await send_email(configured, to="a@example.com", subject="Hi", body="Body")
        assert sink.wait_for(1)[0]["Subject"] == "Hi"
    finally:
        sink.stop()

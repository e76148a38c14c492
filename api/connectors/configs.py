"""The config each connector accepts (see API.md: Connectors' config)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.services.validation import validate_email

MAX_WEBHOOK_BODY_BYTES = 16 * 1024


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class LogConfig(_Config):
    message: str = Field(min_length=1, max_length=2000)

    _check = field_validator("message")(_no_nul)


class WebhookConfig(_Config):
    url: str = Field(max_length=2000)
    secret: str | None = Field(default=None, min_length=16, max_length=256)
    body: Any = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(_no_nul(value))
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("expected an absolute http(s) URL")
        return value

    @field_validator("body")
    @classmethod
    def _small_json(cls, value: Any) -> Any:
        if value is not None and len(json.dumps(value).encode()) > MAX_WEBHOOK_BODY_BYTES:
            raise ValueError(f"at most {MAX_WEBHOOK_BODY_BYTES} bytes of JSON")
        return value


class EmailConfig(_Config):
    to: str
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)

    @field_validator("to")
    @classmethod
    def _email(cls, value: str) -> str:
        from api.services.errors import ValidationFailed

        try:
            return validate_email(value)
        except ValidationFailed as error:
            raise ValueError(error.message) from None

    _check = field_validator("subject", "body")(_no_nul)


class DelayConfig(_Config):
    seconds: int = Field(ge=0, le=3600)

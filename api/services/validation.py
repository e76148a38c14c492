"""Input checks shared by services."""

from __future__ import annotations

import re

from api.services.errors import ValidationFailed

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def check_text(value: str, field: str) -> None:
    """PostgreSQL refuses NUL in text; refusing it here gives a typed error, not a 500."""
    if "\x00" in value:
        raise ValidationFailed("Must not contain NUL characters.", field)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def validate_email(email: str) -> str:
    check_text(email, "email")
    normalised = normalise_email(email)
    if len(normalised) > 254 or not _EMAIL_RE.match(normalised):
        raise ValidationFailed("Enter a valid email address.", "email")
    return normalised

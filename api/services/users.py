"""Accounts: registration, email verification, password reset and change, admins.

Emailed tokens are single-use secrets stored hashed (`UserToken`). Requests that name an email
(`resend_verification`, `request_password_reset`) answer the same whether or not the address
has an account, and are rate limited per address and per client IP.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.auth import passwords
from api.auth.tokens import hash_secret, new_secret
from api.resilience import rate_limit
from api.runtime import Runtime
from api.services import sessions
from api.services.errors import AuthFailed, ValidationFailed
from api.services.validation import check_text, validate_email
from models.users import Role, TokenPurpose, User, UserToken

logger = logging.getLogger(__name__)

VERIFY_EMAIL_TTL = timedelta(hours=24)
RESET_PASSWORD_TTL = timedelta(hours=1)
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _validate_password(password: str, *, field: str, email: str = "", username: str = "") -> None:
    check_text(password, field)
    problem = passwords.password_problem(password, email=email, username=username)
    if problem:
        raise ValidationFailed(problem, field)


async def register(
    rt: Runtime, *, email: str, username: str, password: str, client_ip: str
) -> User:
    email = validate_email(email)
    check_text(username, "username")
    username = username.strip()
    if not _USERNAME_RE.match(username):
        raise ValidationFailed(
            "Username must be 3–32 letters, digits, dots, dashes or underscores.", "username"
        )
    _validate_password(password, field="password", email=email, username=username)
    await rt.limiter.hit(rate_limit.REGISTRATIONS_PER_IP, "register", client_ip)
    password_hash = await passwords.hash_password_async(password)
    try:
        async with in_transaction("default"):
            user = await User.create(email=email, username=username, password_hash=password_hash)
            token = await _new_token(user, TokenPurpose.VERIFY_EMAIL, VERIFY_EMAIL_TTL)
    except IntegrityError:
        raise ValidationFailed("This email is already registered.", "email") from None
    await _send_verification(rt, user, token)
    return user


async def _new_token(user: User, purpose: TokenPurpose, ttl: timedelta) -> str:
    """A fresh single-use token; earlier unused ones of the same purpose stop working."""
    await UserToken.filter(user=user, purpose=purpose, used_at__isnull=True).update(used_at=_now())
    secret = new_secret()
    await UserToken.create(
        user=user, purpose=purpose, token_hash=hash_secret(secret), expires_at=_now() + ttl
    )
    return secret


async def _enqueue_email(rt: Runtime, to: str, subject: str, body: str) -> None:
    try:
        await rt.redis.enqueue_job("send_email", to, subject, body)
    except Exception:
        # The account change is committed; the user can ask for the mail again.
        logger.exception("could not queue email to %s", to)


async def _send_verification(rt: Runtime, user: User, token: str) -> None:
    link = f"{rt.settings.public_url}/verify-email?token={token}"
    body = (
        f"Hello {user.username},\n\nConfirm your email address for Pulse:\n\n{link}\n\n"
        "The link is valid for 24 hours. If you did not sign up, ignore this email.\n"
    )
    await _enqueue_email(rt, user.email, "Confirm your email for Pulse", body)


async def _consume_token(token: str, purpose: TokenPurpose) -> User:
    """Mark a token used and return its user; distinct codes for unknown/used/expired."""
    check_text(token, "token")
    row = (
        await UserToken.filter(token_hash=hash_secret(token), purpose=purpose)
        .select_for_update()
        .first()
    )
    if row is None:
        raise AuthFailed("TOKEN_INVALID", "This link is not valid; request a new one.")
    if row.used_at is not None:
        raise AuthFailed("TOKEN_USED", "This link was already used; request a new one.")
    if row.expires_at <= _now():
        raise AuthFailed("TOKEN_EXPIRED", "This link has expired; request a new one.")
    row.used_at = _now()
    await row.save(update_fields=["used_at"])
    return await User.get(id=row.user_id)  # type: ignore[attr-defined]


async def verify_email(token: str) -> User:
    async with in_transaction("default"):
        user = await _consume_token(token, TokenPurpose.VERIFY_EMAIL)
        if not user.is_verified:
            user.is_verified = True
            await user.save(update_fields=["is_verified", "updated_at"])
    return user


async def resend_verification(rt: Runtime, email: str, client_ip: str) -> None:
    """Send a new verification link if the account exists and is unverified; silent either
    way, so the answer tells nothing about which emails have accounts."""
    email = validate_email(email)
    await rt.limiter.hit(rate_limit.VERIFICATION_MAIL_PER_EMAIL, "verify", email)
    await rt.limiter.hit(rate_limit.MAIL_REQUESTS_PER_IP, "mail", client_ip)
    user = await User.get_or_none(email=email)
    if user is None or user.is_verified:
        return
    token = await _new_token(user, TokenPurpose.VERIFY_EMAIL, VERIFY_EMAIL_TTL)
    await _send_verification(rt, user, token)


async def request_password_reset(rt: Runtime, email: str, client_ip: str) -> None:
    email = validate_email(email)
    await rt.limiter.hit(rate_limit.PASSWORD_RESET_PER_EMAIL, "reset", email)
    await rt.limiter.hit(rate_limit.MAIL_REQUESTS_PER_IP, "mail", client_ip)
    user = await User.get_or_none(email=email)
    if user is None or not user.is_active:
        return
    token = await _new_token(user, TokenPurpose.RESET_PASSWORD, RESET_PASSWORD_TTL)
    link = f"{rt.settings.public_url}/reset-password?token={token}"
    body = (
        f"Hello {user.username},\n\nSomeone asked to reset your Pulse password. To choose a "
        f"new one, open:\n\n{link}\n\nThe link is valid for one hour and works once. If it "
        "was not you, ignore this email: your password is unchanged.\n"
    )
    await _enqueue_email(rt, user.email, "Reset your Pulse password", body)


async def reset_password(token: str, new_password: str) -> User:
    """Set a new password through an emailed link; signs the user out everywhere."""
    async with in_transaction("default"):
        user = await _consume_token(token, TokenPurpose.RESET_PASSWORD)
        _validate_password(
            new_password, field="newPassword", email=user.email, username=user.username
        )
        await _set_password(user, new_password)
        # Proving control of the mailbox also verifies it.
        user.is_verified = True
        await user.save(update_fields=["is_verified", "updated_at"])
        await sessions.revoke_all(user, "password_reset")
    return user


async def change_password(user: User, current_password: str, new_password: str) -> User:
    check_text(current_password, "currentPassword")
    if not await passwords.verify_password_async(user.password_hash, current_password):
        raise AuthFailed("INVALID_CREDENTIALS", "The current password is wrong.")
    _validate_password(new_password, field="newPassword", email=user.email, username=user.username)
    async with in_transaction("default"):
        await _set_password(user, new_password)
        await sessions.revoke_all(user, "password_change")
    return user


async def _set_password(user: User, password: str) -> None:
    user.password_hash = await passwords.hash_password_async(password)
    # Access tokens issued before this instant stop working (see api/auth/backend.py).
    user.password_changed_at = _now()
    await user.save(update_fields=["password_hash", "password_changed_at", "updated_at"])


async def create_admin(email: str, password: str | None, username: str | None = None) -> User:
    """Promote an existing account, or create a verified admin account."""
    email = validate_email(email)
    user = await User.get_or_none(email=email)
    if user is not None:
        user.role = Role.ADMIN
        await user.save(update_fields=["role", "updated_at"])
        return user
    if password is None:
        raise ValidationFailed("A password is needed to create a new account.", "password")
    name = username or email.split("@")[0]
    _validate_password(password, field="password", email=email, username=name)
    return await User.create(
        email=email,
        username=name,
        password_hash=await passwords.hash_password_async(password),
        role=Role.ADMIN,
        is_verified=True,
    )

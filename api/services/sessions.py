"""Sessions: login, refresh-token rotation with reuse detection, logout.

Refresh tokens are opaque and stored hashed. Each login starts a *family*; every rotation
retires the presented token and issues its child in the same family. Presenting a retired
token again means it leaked (or a client misbehaved): the whole family is revoked
(RFC 9700 §4.14.2). Rotation locks the token's row, so of two concurrent uses exactly one
rotates; the other sees a retired token.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from api.auth import passwords
from api.auth.tokens import hash_secret, new_secret, password_version
from api.runtime import Runtime
from api.services.errors import AuthFailed
from api.services.validation import check_text, normalise_email
from models.users import RefreshToken, User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


def _now() -> datetime:
    return datetime.now(UTC)


async def issue_pair(
    rt: Runtime, user: User, *, family_id: uuid.UUID | None = None, parent_id: int | None = None
) -> TokenPair:
    """A new access token and a refresh token in `family_id` (a new family when None)."""
    secret = new_secret()
    await RefreshToken.create(
        user=user,
        token_hash=hash_secret(secret),
        family_id=family_id or uuid.uuid4(),
        parent_id=parent_id,
        expires_at=_now() + timedelta(seconds=rt.settings.refresh_token_ttl),
    )
    access = rt.keys.issue(user.id, password_version(user.password_changed_at))
    return TokenPair(access, secret, rt.settings.access_token_ttl, user)


async def login(rt: Runtime, *, email: str, password: str, client_ip: str) -> TokenPair:
    """Check the credentials; one generic error for a wrong email or password."""
    check_text(email, "email")
    check_text(password, "password")
    email = normalise_email(email)
    wait = await rt.throttle.wait_seconds(email, client_ip)
    if wait:
        raise AuthFailed(
            "TOO_MANY_ATTEMPTS", f"Too many failed sign-ins; try again in {wait} seconds."
        )
    user = await User.get_or_none(email=email)
    if user is None:
        await passwords.burn_verification_time_async(password)
        ok = False
    else:
        ok = await passwords.verify_password_async(user.password_hash, password)
        ok = ok and user.is_active
    if not ok or user is None:
        await rt.throttle.record_failure(email, client_ip)
        raise AuthFailed("INVALID_CREDENTIALS", "Wrong email or password.")
    await rt.throttle.record_success(email, client_ip)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password_async(password)
    user.last_login_at = _now()
    await user.save(update_fields=["password_hash", "last_login_at", "updated_at"])
    return await issue_pair(rt, user)


async def refresh(rt: Runtime, token: str) -> TokenPair:
    """Rotate a refresh token. A retired token revokes its family and fails."""
    check_text(token, "token")
    digest = hash_secret(token)
    reused_family: uuid.UUID | None = None
    async with in_transaction("default"):
        row = await RefreshToken.filter(token_hash=digest).select_for_update().first()
        if row is None:
            raise AuthFailed("TOKEN_INVALID", "Unknown refresh token.")
        if row.revoked_at is not None:
            raise AuthFailed("TOKEN_REVOKED", "This session was signed out; sign in again.")
        if row.rotated_at is not None:
            reused_family = row.family_id
            await _revoke_family(row.family_id, "reuse")
        elif row.expires_at <= _now():
            raise AuthFailed("TOKEN_EXPIRED", "This session expired; sign in again.")
        else:
            row.rotated_at = _now()
            await row.save(update_fields=["rotated_at"])
            user = await User.get(id=row.user_id)  # type: ignore[attr-defined]
            if not user.is_active:
                raise AuthFailed("TOKEN_REVOKED", "This account is disabled.")
            return await issue_pair(rt, user, family_id=row.family_id, parent_id=row.id)
    # Outside the transaction: the revocation above is committed before we answer.
    logger.warning("refresh token reuse detected; family %s revoked", reused_family)
    raise AuthFailed("TOKEN_REUSED", "This refresh token was already used; sign in again.")


async def _revoke_family(family_id: uuid.UUID, reason: str) -> int:
    return await RefreshToken.filter(family_id=family_id, revoked_at__isnull=True).update(
        revoked_at=_now(), revoked_reason=reason
    )


async def logout(token: str) -> bool:
    """Revoke the family of this refresh token; False when the token is unknown."""
    row = await RefreshToken.get_or_none(token_hash=hash_secret(token))
    if row is None:
        return False
    await _revoke_family(row.family_id, "logout")
    return True


async def revoke_all(user: User, reason: str) -> int:
    """Sign the user out everywhere (password reset or change)."""
    return await RefreshToken.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=_now(), revoked_reason=reason
    )

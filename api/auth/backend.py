"""Who is calling: the one code path that turns a bearer token into a user, used for HTTP
requests and for the websocket `connection_init` payload alike."""

from __future__ import annotations

import logging
import uuid

from api.auth.tokens import MAX_TOKEN_LENGTH, InvalidToken, KeySet, password_version
from api.services.errors import Unauthenticated
from models.users import User

logger = logging.getLogger(__name__)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` value; None when there is none.
    A value that is present but not a bearer token is an authentication failure."""
    if authorization is None or authorization == "":
        return None
    if len(authorization) > MAX_TOKEN_LENGTH + 16:
        raise Unauthenticated("Invalid authorization header.")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Expected 'Authorization: Bearer <access token>'.")
    return token.strip()


async def authenticate(keys: KeySet, authorization: str | None) -> User | None:
    """The user an access token names: None when anonymous, `Unauthenticated` when the token
    is bad, expired, for a missing or disabled account, or older than a password change."""
    token = bearer_token(authorization)
    if token is None:
        return None
    try:
        claims = keys.verify(token)
    except InvalidToken as error:
        logger.info("rejected access token: %s", error)
        if error.expired:
            raise Unauthenticated("Access token expired; refresh it.") from None
        raise Unauthenticated("Invalid access token.") from None
    user = await _load_user(claims.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("Invalid access token.")
    if claims.password_version != password_version(user.password_changed_at):
        raise Unauthenticated("Access token predates a password change; sign in again.")
    return user


async def _load_user(user_id: uuid.UUID) -> User | None:
    return await User.get_or_none(id=user_id)

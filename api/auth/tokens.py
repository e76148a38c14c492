"""Access tokens (JWT, HS256 through joserfc) with a rotating key set, and the opaque secrets
used for refresh and emailed tokens.

Keys come from `Settings.signing_keys`: the first signs, all of them verify. Rotating means
putting a new key first and keeping the old one until every token it signed has expired
(ACCESS_TOKEN_TTL); removing a key rejects its tokens at once.

Verification is deliberately narrow: before any cryptography the header must be exactly what
we issue (alg HS256, a known kid, typ JWT, nothing else), so `alg: none`, algorithm confusion,
`jwk`/`jku`/`x5u` key injection, `crit` extensions and odd `kid` values never reach a key
lookup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey

from api.settings import Settings

ALGORITHM = "HS256"
ACCESS_TYPE = "access"
# Generous for any real token (~400 bytes); bounds the work an attacker can make us do.
MAX_TOKEN_LENGTH = 4096
CLOCK_LEEWAY_SECONDS = 30
_ALLOWED_HEADER = {"alg", "kid", "typ"}


class InvalidToken(Exception):
    """The token is not one we issued, or no longer valid. `reason` is for logs only."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    issued_at: int
    expires_at: int
    key_id: str
    # When the password was last changed (epoch µs, 0 = never): a token minted before a
    # password change carries an older value and stops working at once.
    password_version: int


class KeySet:
    """The signing keys of one configuration, current key first."""

    def __init__(self, settings: Settings) -> None:
        self._keys = {
            kid: OctKey.import_key(secret.encode()) for kid, secret in settings.signing_keys
        }
        self.current_kid = settings.signing_keys[0][0]
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl = settings.access_token_ttl

    def issue(self, user_id: uuid.UUID, password_version: int, *, now: int | None = None) -> str:
        issued = int(time.time()) if now is None else now
        claims = {
            "sub": str(user_id),
            "pwv": password_version,
            "iat": issued,
            "exp": issued + self.ttl,
            "iss": self.issuer,
            "aud": self.audience,
            "typ": ACCESS_TYPE,
            "jti": uuid.uuid4().hex,
        }
        header = {"alg": ALGORITHM, "kid": self.current_kid}
        return jwt.encode(header, claims, self._keys[self.current_kid], algorithms=[ALGORITHM])

    def verify(self, token: str, *, now: int | None = None) -> AccessClaims:
        """The claims of a valid access token; `InvalidToken` for anything else."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token too long")
        header = _unverified_header(token)
        if set(header) - _ALLOWED_HEADER:
            raise InvalidToken(
                f"unexpected header parameters {sorted(set(header) - _ALLOWED_HEADER)}"
            )
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("unexpected algorithm")
        if header.get("typ", "JWT") != "JWT":
            raise InvalidToken("unexpected typ header")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise InvalidToken("unknown key id")
        try:
            decoded = jwt.decode(token, self._keys[kid], algorithms=[ALGORITHM])
        except (JoseError, ValueError) as error:
            raise InvalidToken(f"signature or payload: {type(error).__name__}") from None
        return self._validate_claims(decoded.claims, kid, now)

    def _validate_claims(self, claims: dict[str, Any], kid: str, now: int | None) -> AccessClaims:
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            typ={"essential": True, "value": ACCESS_TYPE},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            expired = isinstance(error, ExpiredTokenError)
            raise InvalidToken(f"claims: {error}", expired=expired) from None
        current = int(time.time()) if now is None else now
        if claims["iat"] > current + CLOCK_LEEWAY_SECONDS:
            raise InvalidToken("issued in the future")
        try:
            user_id = uuid.UUID(str(claims["sub"]))
        except ValueError:
            raise InvalidToken("malformed subject") from None
        version = claims.get("pwv", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise InvalidToken("malformed password version")
        return AccessClaims(user_id, int(claims["iat"]), int(claims["exp"]), kid, version)


def password_version(changed_at: datetime | None) -> int:
    return 0 if changed_at is None else int(changed_at.timestamp() * 1_000_000)


def _unverified_header(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a compact JWS")
    try:
        padded = parts[0] + "=" * (-len(parts[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (UnicodeError, binascii.Error, ValueError):
        raise InvalidToken("malformed header") from None
    if not isinstance(header, dict):
        raise InvalidToken("malformed header")
    return header


def new_secret() -> str:
    """An opaque, unguessable token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """What we store instead of an opaque token: a leaked table grants nothing."""
    return hashlib.sha256(secret.encode()).hexdigest()

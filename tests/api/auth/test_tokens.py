"""Access tokens under attack, sent for real over HTTP: every forged, stale or malformed
token gets 401 with the code UNAUTHENTICATED, never a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.settings import Settings
from models.users import User
from tests.factories import ME, REFRESH, login, make_user, token_for
from tests.support import GraphQLClient


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _claims(settings: Settings, user: User, **change: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": str(user.id),
        "iat": now,
        "exp": now + 600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "typ": "access",
    }
    claims.update(change)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(
    settings: Settings, header: dict[str, Any], claims: dict[str, Any], secret: bytes | None = None
) -> str:
    """HMAC-SHA256 by hand, so no library safeguard stops us from forging anything."""
    kid, current = settings.signing_keys[0]
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid, **header})}.{_b64(claims)}"
    key = secret if secret is not None else current.encode()
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def _assert_unauthenticated(api: GraphQLClient, authorization: str) -> None:
    response = await api.post(ME, headers={"Authorization": authorization})
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].startswith("Bearer")


Forge = Callable[[Settings, User], str]


def _alg_none(settings: Settings, user: User) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(settings, user))}."


def _hs256_with_public_key(settings: Settings, user: User) -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _sign(settings, {}, _claims(settings, user), secret=pem)


def _with_kid(kid: str) -> Forge:
    return lambda s, u: _sign(s, {"kid": kid}, _claims(s, u))


def _with_header(**header: Any) -> Forge:
    return lambda s, u: _sign(s, header, _claims(s, u))


def _with_claims(**change: Any) -> Forge:
    return lambda s, u: _sign(s, {}, _claims(s, u, **change))


def _wrong_secret(settings: Settings, user: User) -> str:
    return _sign(settings, {}, _claims(settings, user), secret=b"x" * 48)


NOW = int(time.time())
FORGERIES: dict[str, Forge] = {
    "alg none": _alg_none,
    "HS256 signed with a public key": _hs256_with_public_key,
    "wrong secret": _wrong_secret,
    "unknown kid": _with_kid("retired-2019"),
    "path in kid": _with_kid("../../../../etc/passwd"),
    "SQL in kid": _with_kid("' OR '1'='1'; DROP TABLE users; --"),
    "jwk header": _with_header(jwk={"kty": "oct", "k": _b64(b"attacker-key-attacker-key-123456")}),
    "jku header": _with_header(jku="http://127.0.0.1:9/keys.json"),
    "x5u header": _with_header(x5u="http://127.0.0.1:9/cert.pem"),
    "unknown crit header": _with_header(crit=["exp-ext"], **{"exp-ext": 1}),
    "missing exp": _with_claims(exp=None),
    "expired": _with_claims(iat=NOW - 3600, exp=NOW - 1800),
    "nbf in the future": _with_claims(nbf=NOW + 3600),
    "iat in the future": _with_claims(iat=NOW + 3600, exp=NOW + 7200),
    "wrong iss": _with_claims(iss="https://evil.example"),
    "wrong aud": _with_claims(aud="another-service"),
    "wrong typ": _with_claims(typ="refresh"),
    "missing sub": _with_claims(sub=None),
    "sub not a uuid": _with_claims(sub="1 OR 1=1"),
    "sub of nobody": _with_claims(sub=str(uuid.uuid4())),
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
async def test_forged_and_stale_tokens_are_refused(
    api: GraphQLClient, settings: Settings, forge: Forge
) -> None:
    user = await make_user()
    await _assert_unauthenticated(api, f"Bearer {forge(settings, user)}")


async def test_a_genuine_token_is_accepted(api: GraphQLClient, settings: Settings) -> None:
    user = await make_user()
    token = _sign(settings, {}, _claims(settings, user))
    data = await api.gql(ME, token=token)
    assert data["me"] == {
        "id": str(user.id),
        "email": user.email,
        "role": "USER",
        "isVerified": True,
    }


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic YWRhOnB3",
        "Bearer",
        "Bearer  x y",
        "Token abc",
        "Bearer not.a.jwt",
        "Bearer a.b",
        "Bearer " + "A" * 5000,
    ],
)
async def test_malformed_authorization_headers(api: GraphQLClient, authorization: str) -> None:
    await _assert_unauthenticated(api, authorization)


async def test_a_one_megabyte_authorization_header(api: GraphQLClient) -> None:
    response = await api.post(ME, headers={"Authorization": "Bearer " + "a" * (1024 * 1024)})
    # Refused by length before any parsing.
    assert response.status_code == 401, response.status_code
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_refresh_token_is_not_an_access_token(api: GraphQLClient) -> None:
    await make_user()
    pair = await login(api, "ada@example.com")
    await _assert_unauthenticated(api, f"Bearer {pair['refreshToken']}")


async def test_an_access_token_is_not_a_refresh_token(api: GraphQLClient) -> None:
    await make_user()
    pair = await login(api, "ada@example.com")
    result = (await api.gql(REFRESH, {"token": pair["accessToken"]}))["refreshToken"]
    assert result == {
        "__typename": "AuthError",
        "code": "TOKEN_INVALID",
        "message": "Unknown refresh token.",
    }


async def test_anonymous_requests_still_work(api: GraphQLClient) -> None:
    assert (await api.gql(ME)) == {"me": None}


async def test_tokens_of_a_disabled_account_stop_working(api: GraphQLClient) -> None:
    user = await make_user()
    token = await token_for(api, user.email)
    user.is_active = False
    await user.save()
    await _assert_unauthenticated(api, f"Bearer {token}")

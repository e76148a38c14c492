"""Registration, verification, password reset and change — through GraphQL."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from api.auth.tokens import hash_secret, new_secret
from models.users import TokenPurpose, User, UserToken
from tests.factories import ME, PASSWORD, REFRESH, login, make_user, token_for
from tests.support import GraphQLClient

REGISTER = """
mutation($email: String!, $username: String!, $password: String!) {
  register(input: {email: $email, username: $username, password: $password}) {
    __typename
    ... on User { id email username isVerified role }
    ... on ValidationError { code message field }
  }
}
"""
VERIFY = """mutation($t: String!) { verifyEmail(token: $t) {
  __typename ... on User { isVerified } ... on AuthError { code message } } }"""
RESET = """mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) {
  __typename ... on User { id } ... on AuthError { code message }
  ... on ValidationError { code field message } } }"""
CHANGE = """mutation($c: String!, $n: String!) {
  changePassword(currentPassword: $c, newPassword: $n) {
  __typename ... on User { id } ... on AuthError { code } ... on ValidationError { field } } }"""
RESEND = "mutation($e: String!) { resendVerification(email: $e) }"
REQUEST_RESET = "mutation($e: String!) { requestPasswordReset(email: $e) }"


async def _register(api: GraphQLClient, **values: str) -> dict[str, Any]:
    variables = {"email": "ada@example.com", "username": "ada", "password": PASSWORD, **values}
    result = (await api.gql(REGISTER, variables))["register"]
    assert isinstance(result, dict)
    return result


async def test_register_creates_an_unverified_user(
    api: GraphQLClient, pg: asyncpg.Connection
) -> None:
    result = await _register(api, email="  Ada@Example.COM ")
    assert result["__typename"] == "User"
    assert result["email"] == "ada@example.com"
    assert result["isVerified"] is False and result["role"] == "USER"
    row = await pg.fetchrow("SELECT password_hash FROM users")
    assert row["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    tokens = await pg.fetch("SELECT purpose, expires_at - created_at AS ttl FROM user_tokens")
    assert [(t["purpose"], t["ttl"].total_seconds()) for t in tokens] == [
        ("verify_email", pytest.approx(24 * 3600, abs=5))
    ]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"email": "a\x00@example.com"}, "email", "NUL"),
        ({"username": "x"}, "username", "3–32"),
        ({"username": "bad name!"}, "username", "3–32"),
        ({"password": "short1"}, "password", "at least 10"),
        ({"password": "p" * 129}, "password", "at most 128"),
        ({"password": "password123"}, "password", "too common"),
        ({"password": "ada@example.com"}, "password", "email or username"),
        ({"password": "secret\x00secret"}, "password", "NUL"),
    ],
)
async def test_register_refuses_bad_input_and_writes_nothing(
    api: GraphQLClient, pg: asyncpg.Connection, values: dict[str, str], field: str, message: str
) -> None:
    result = await _register(api, **values)
    assert result["__typename"] == "ValidationError"
    assert result["field"] == field and message in result["message"]
    assert await pg.fetchval("SELECT count(*) FROM users") == 0


async def test_email_is_unique_case_insensitively(
    api: GraphQLClient, pg: asyncpg.Connection
) -> None:
    assert (await _register(api))["__typename"] == "User"
    again = await _register(api, email="ADA@example.com", username="ada2")
    assert again["__typename"] == "ValidationError" and again["field"] == "email"
    assert await pg.fetchval("SELECT count(*) FROM users") == 1


async def _token(user: User, purpose: TokenPurpose, *, expired: bool = False) -> str:
    from datetime import UTC, datetime, timedelta

    secret = new_secret()
    delta = timedelta(hours=-1 if expired else 1)
    await UserToken.create(
        user=user,
        purpose=purpose,
        token_hash=hash_secret(secret),
        expires_at=datetime.now(UTC) + delta,
    )
    return secret


async def test_verify_email_is_single_use_with_distinct_codes(api: GraphQLClient) -> None:
    user = await make_user(verified=False)
    token = await _token(user, TokenPurpose.VERIFY_EMAIL)
    assert (await api.gql(VERIFY, {"t": token}))["verifyEmail"] == {
        "__typename": "User",
        "isVerified": True,
    }
    used = (await api.gql(VERIFY, {"t": token}))["verifyEmail"]
    assert used["code"] == "TOKEN_USED"
    expired = await _token(user, TokenPurpose.VERIFY_EMAIL, expired=True)
    assert (await api.gql(VERIFY, {"t": expired}))["verifyEmail"]["code"] == "TOKEN_EXPIRED"
    assert (await api.gql(VERIFY, {"t": "made-up"}))["verifyEmail"]["code"] == "TOKEN_INVALID"
    # A reset token is not a verification token.
    reset = await _token(user, TokenPurpose.RESET_PASSWORD)
    assert (await api.gql(VERIFY, {"t": reset}))["verifyEmail"]["code"] == "TOKEN_INVALID"


async def test_reset_password_codes_and_effects(api: GraphQLClient, pg: asyncpg.Connection) -> None:
    user = await make_user()
    session = await login(api, user.email)
    expired = await _token(user, TokenPurpose.RESET_PASSWORD, expired=True)
    assert (await api.gql(RESET, {"t": expired, "p": "brand-new-pass-42"}))["resetPassword"][
        "code"
    ] == "TOKEN_EXPIRED"
    assert (await api.gql(RESET, {"t": "unknown", "p": "brand-new-pass-42"}))["resetPassword"][
        "code"
    ] == "TOKEN_INVALID"

    token = await _token(user, TokenPurpose.RESET_PASSWORD)
    weak = (await api.gql(RESET, {"t": token, "p": "short"}))["resetPassword"]
    assert weak == {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "field": "newPassword",
        "message": "Password must be at least 10 characters.",
    }
    # A refused new password does not burn the link.
    done = (await api.gql(RESET, {"t": token, "p": "brand-new-pass-42"}))["resetPassword"]
    assert done["__typename"] == "User"
    assert (await api.gql(RESET, {"t": token, "p": "another-pass-4242"}))["resetPassword"][
        "code"
    ] == "TOKEN_USED"

    # Signed out everywhere; the old password is gone, the new one works.
    assert (await api.gql(REFRESH, {"token": session["refreshToken"]}))["refreshToken"][
        "code"
    ] == "TOKEN_REVOKED"
    assert (await api.post(ME, token=session["accessToken"])).status_code == 401
    assert (await login(api, user.email))["code"] == "INVALID_CREDENTIALS"
    assert (await login(api, user.email, "brand-new-pass-42"))["__typename"] == "AuthPayload"


async def test_change_password_needs_the_current_one(api: GraphQLClient) -> None:
    user = await make_user()
    session = await login(api, user.email)
    token = session["accessToken"]
    wrong = await api.gql(CHANGE, {"c": "not-it-at-all-1", "n": "brand-new-pass-42"}, token=token)
    assert wrong["changePassword"] == {"__typename": "AuthError", "code": "INVALID_CREDENTIALS"}
    weak = await api.gql(CHANGE, {"c": PASSWORD, "n": "password123"}, token=token)
    assert weak["changePassword"] == {"__typename": "ValidationError", "field": "newPassword"}
    done = await api.gql(CHANGE, {"c": PASSWORD, "n": "brand-new-pass-42"}, token=token)
    assert done["changePassword"]["__typename"] == "User"
    assert (await api.gql(REFRESH, {"token": session["refreshToken"]}))["refreshToken"][
        "code"
    ] == "TOKEN_REVOKED"
    assert await token_for(api, user.email, "brand-new-pass-42")


async def test_change_password_requires_sign_in(api: GraphQLClient) -> None:
    response = await api.post(CHANGE, {"c": "a", "n": "b"})
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("mutation", [RESEND, REQUEST_RESET])
async def test_email_requests_answer_the_same_whether_or_not_the_account_exists(
    api: GraphQLClient, pg: asyncpg.Connection, mutation: str
) -> None:
    await make_user(verified=False)
    name = "resendVerification" if mutation == RESEND else "requestPasswordReset"
    known = await api.gql(mutation, {"e": "ada@example.com"})
    unknown = await api.gql(mutation, {"e": "nobody@example.com"})
    malformed = await api.gql(mutation, {"e": "nonsense"})
    assert known == unknown == malformed == {name: True}
    assert await pg.fetchval("SELECT count(*) FROM user_tokens") == 1


@pytest.mark.parametrize("mutation", [RESEND, REQUEST_RESET])
async def test_email_requests_are_rate_limited_per_email(api: GraphQLClient, mutation: str) -> None:
    for _ in range(3):
        await api.gql(mutation, {"e": "someone@example.com"})
    response = await api.post(mutation, {"e": "someone@example.com"})
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    # Another address is not affected.
    await api.gql(mutation, {"e": "other@example.com"})

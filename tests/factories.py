"""Factories for test data: real rows through the real code paths."""

from __future__ import annotations

from typing import Any

from api.auth.passwords import hash_password
from models.users import Role, User
from tests.support import GraphQLClient

PASSWORD = "correct-horse-battery-9"

LOGIN = """
mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    __typename
    ... on AuthPayload { accessToken refreshToken expiresIn user { id email role } }
    ... on AuthError { code message }
    ... on ValidationError { code message field }
  }
}
"""

REFRESH = """
mutation($token: String!) {
  refreshToken(token: $token) {
    __typename
    ... on AuthPayload { accessToken refreshToken expiresIn user { id } }
    ... on AuthError { code message }
  }
}
"""

ME = "{ me { id email role isVerified } }"


async def make_user(
    email: str = "ada@example.com",
    password: str = PASSWORD,
    *,
    role: Role = Role.USER,
    verified: bool = True,
    username: str | None = None,
) -> User:
    return await User.create(
        email=email,
        username=username or email.split("@")[0],
        password_hash=hash_password(password),
        role=role,
        is_verified=verified,
    )


async def login(api: GraphQLClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    data = await api.gql(LOGIN, {"email": email, "password": password})
    result = data["login"]
    assert isinstance(result, dict)
    return result


async def token_for(api: GraphQLClient, email: str, password: str = PASSWORD) -> str:
    result = await login(api, email, password)
    assert result["__typename"] == "AuthPayload", result
    return str(result["accessToken"])

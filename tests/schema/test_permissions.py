"""Roles: admin-only fields refuse users (FORBIDDEN) and anonymous callers; `create-admin`
makes the first admin."""

from __future__ import annotations

from models.users import Role, User
from tests.factories import make_user, token_for
from tests.support import GraphQLClient, env_with, run_cli

USERS = """{ users(first: 2) {
  edges { cursor node { email role } } pageInfo { hasNextPage endCursor } } }"""


async def test_admins_list_users_with_a_cursor(api: GraphQLClient) -> None:
    await make_user("root@example.com", role=Role.ADMIN)
    for name in ("b", "c", "d"):
        await make_user(f"{name}@example.com")
    token = await token_for(api, "root@example.com")
    first = (await api.gql(USERS, token=token))["users"]
    assert [e["node"]["email"] for e in first["edges"]] == ["root@example.com", "b@example.com"]
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    query = """query($a: String) { users(first: 5, after: $a) {
      edges { node { email } } pageInfo { hasNextPage } } }"""
    rest = (await api.gql(query, {"a": after}, token=token))["users"]
    assert [e["node"]["email"] for e in rest["edges"]] == ["c@example.com", "d@example.com"]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_a_garbage_cursor_is_a_clear_error(api: GraphQLClient) -> None:
    await make_user("root@example.com", role=Role.ADMIN)
    token = await token_for(api, "root@example.com")
    query = 'query { users(after: "not-a-cursor") { edges { cursor } } }'
    body = (await api.post(query, token=token)).json()
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert body["errors"][0]["message"] == "Invalid cursor."


async def test_users_and_anonymous_callers_are_refused(api: GraphQLClient) -> None:
    await make_user()
    token = await token_for(api, "ada@example.com")
    as_user = (await api.post(USERS, token=token)).json()
    assert as_user["data"] is None
    assert as_user["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = (await api.post(USERS)).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_create_admin_creates_then_promotes(api: GraphQLClient) -> None:
    result = run_cli(
        "create-admin",
        "Boss@Example.com",
        "--password-stdin",
        env=env_with(),
        input="a-strong-admin-pass-1\n",
    )
    assert result.returncode == 0, result.stderr
    assert "boss@example.com is now an admin (new account)" in result.stderr
    boss = await User.get(email="boss@example.com")
    assert boss.role == Role.ADMIN and boss.is_verified
    assert await token_for(api, "boss@example.com", "a-strong-admin-pass-1")

    await make_user("later@example.com")
    promoted = run_cli("create-admin", "later@example.com", env=env_with())
    assert promoted.returncode == 0, promoted.stderr
    assert (await User.get(email="later@example.com")).role == Role.ADMIN

    weak = run_cli(
        "create-admin", "x@example.com", "--password-stdin", env=env_with(), input="short\n"
    )
    assert weak.returncode == 2 and "at least 10 characters" in weak.stderr

"""Login, refresh rotation with reuse detection, logout, throttling — through GraphQL."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from redis.asyncio import Redis

from api.auth import passwords
from api.auth.throttle import LoginThrottle
from api.resilience.latch import OPEN_SECONDS
from api.settings import Settings
from models.users import User
from tests.factories import LOGIN, ME, PASSWORD, REFRESH, login, make_user
from tests.support import GraphQLClient

LOGOUT = "mutation($t: String!) { logout(refreshToken: $t) }"


async def _refresh(api: GraphQLClient, token: str) -> dict[str, Any]:
    result = (await api.gql(REFRESH, {"token": token}))["refreshToken"]
    assert isinstance(result, dict)
    return result


async def test_login_returns_tokens_with_the_documented_lifetimes(api: GraphQLClient) -> None:
    user = await make_user()
    result = await login(api, "ADA@example.com ")  # emails are case- and space-insensitive
    assert result["__typename"] == "AuthPayload"
    assert result["expiresIn"] == 900
    assert result["user"] == {"id": str(user.id), "email": "ada@example.com", "role": "USER"}
    me = await api.gql(ME, token=result["accessToken"])
    assert me["me"]["id"] == str(user.id)


async def test_wrong_password_and_unknown_email_get_the_same_error(api: GraphQLClient) -> None:
    await make_user()
    wrong = await login(api, "ada@example.com", "not-the-password-1")
    unknown = await login(api, "nobody@example.com", "not-the-password-1")
    assert (
        wrong
        == unknown
        == {
            "__typename": "AuthError",
            "code": "INVALID_CREDENTIALS",
            "message": "Wrong email or password.",
        }
    )


async def test_unknown_email_does_the_hashing_work_too(
    api: GraphQLClient, monkeypatch: Any
) -> None:
    calls: list[str] = []
    real = passwords.verify_password

    def counting(stored_hash: str, password: str) -> bool:
        calls.append(stored_hash)
        return real(stored_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    await login(api, "nobody@example.com", "whatever-password-1")
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    api: GraphQLClient, pg: asyncpg.Connection
) -> None:
    await make_user()
    first = await login(api, "ada@example.com")
    second = await _refresh(api, first["refreshToken"])
    third = await _refresh(api, second["refreshToken"])
    assert third["__typename"] == "AuthPayload"

    # The first token was retired by rotation; presenting it again is a replay.
    replay = await _refresh(api, first["refreshToken"])
    assert replay["code"] == "TOKEN_REUSED"
    # Every token of the family is now dead, including the newest one.
    assert (await _refresh(api, third["refreshToken"]))["code"] == "TOKEN_REVOKED"
    rows = await pg.fetch("SELECT revoked_at, revoked_reason FROM refresh_tokens")
    assert len(rows) == 3 and all(r["revoked_reason"] == "reuse" for r in rows)
    # Another login (another family) is untouched.
    other = await login(api, "ada@example.com")
    assert (await _refresh(api, other["refreshToken"]))["__typename"] == "AuthPayload"


async def test_two_concurrent_uses_of_one_token_exactly_one_succeeds(api: GraphQLClient) -> None:
    await make_user()
    pair = await login(api, "ada@example.com")
    results = await asyncio.gather(*[_refresh(api, pair["refreshToken"]) for _ in range(5)])
    kinds = sorted(r["__typename"] for r in results)
    assert kinds.count("AuthPayload") == 1, results
    assert {r.get("code") for r in results if r["__typename"] == "AuthError"} <= {
        "TOKEN_REUSED",
        "TOKEN_REVOKED",
    }


async def test_expired_refresh_token(api: GraphQLClient, pg: asyncpg.Connection) -> None:
    await make_user()
    pair = await login(api, "ada@example.com")
    await pg.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
    assert (await _refresh(api, pair["refreshToken"]))["code"] == "TOKEN_EXPIRED"


async def test_logout_revokes_the_family(api: GraphQLClient) -> None:
    await make_user()
    pair = await login(api, "ada@example.com")
    rotated = await _refresh(api, pair["refreshToken"])
    assert (await api.gql(LOGOUT, {"t": pair["refreshToken"]}))["logout"] is True
    assert (await _refresh(api, rotated["refreshToken"]))["code"] == "TOKEN_REVOKED"
    assert (await api.gql(LOGOUT, {"t": "no-such-token"}))["logout"] is False


async def test_repeated_failures_slow_down(api: GraphQLClient) -> None:
    await make_user()
    codes = [(await login(api, "ada@example.com", f"wrong-password-{n}"))["code"] for n in range(4)]
    # Three free failures; then the next attempt must wait (1 s, then 2 s, 4 s, …).
    assert codes == ["INVALID_CREDENTIALS"] * 3 + ["TOO_MANY_ATTEMPTS"]
    blocked = await login(api, "ada@example.com", PASSWORD)  # even the right password
    assert blocked["code"] == "TOO_MANY_ATTEMPTS"
    assert "try again in 1 seconds" in blocked["message"]
    await asyncio.sleep(1.1)
    assert (await login(api, "ada@example.com"))["__typename"] == "AuthPayload"
    # Success clears the account's counter.
    assert (await login(api, "ada@example.com", "wrong-again-1"))["code"] == "INVALID_CREDENTIALS"


async def test_many_failures_lock_the_account_for_a_while(
    api: GraphQLClient, settings: Settings
) -> None:
    await make_user()
    throttle = LoginThrottle(Redis.from_url(settings.redis_dsn))
    for _ in range(10):
        await throttle.record_failure("ada@example.com", "203.0.113.9")  # another client IP
    await throttle.redis.aclose()
    locked = await login(api, "ada@example.com")
    assert locked["code"] == "TOO_MANY_ATTEMPTS"
    seconds = int(locked["message"].split("try again in ")[1].split()[0])
    assert 14 * 60 < seconds <= 15 * 60


async def test_lock_applies_to_unknown_emails_alike(api: GraphQLClient) -> None:
    for n in range(4):
        await login(api, "ghost@example.com", f"wrong-password-{n}")
    assert (await login(api, "ghost@example.com", PASSWORD))["code"] == "TOO_MANY_ATTEMPTS"


async def test_login_rehashes_when_parameters_were_raised(api: GraphQLClient) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    user = await make_user()
    await User.filter(id=user.id).update(password_hash=weak)
    assert (await login(api, "ada@example.com"))["__typename"] == "AuthPayload"
    stored = (await User.get(id=user.id)).password_hash
    assert stored != weak and "m=19456,t=2,p=1" in stored


async def test_login_rejects_nul_bytes_with_a_typed_error(api: GraphQLClient) -> None:
    result = (await api.gql(LOGIN, {"email": "ada\x00@example.com", "password": "x"}))["login"]
    assert result["__typename"] == "ValidationError"


async def test_login_fails_closed_when_redis_is_down(settings: Settings, tmp_path: Any) -> None:
    from api.app import create_app
    from api.embedded import EmbeddedRedis
    from tests.support import serve_app

    redis = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    private = settings.model_copy(update={"redis_url": redis.url})
    try:
        async with serve_app(create_app(private)) as url:
            client = GraphQLClient(url)
            await make_user()
            assert (await login(client, "ada@example.com"))["__typename"] == "AuthPayload"
            redis.kill()
            response = await client.post(LOGIN, {"email": "ada@example.com", "password": PASSWORD})
            body = response.json()
            assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
            assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert "Unexpected" not in body["errors"][0]["message"]
            # A Redis outage is not a database outage: the database breaker stays closed,
            # however many sign-ins fail meanwhile.
            for _ in range(2 * private.breaker_failure_threshold):
                again = await client.post(LOGIN, {"email": "ada@example.com", "password": PASSWORD})
                assert again.status_code == 503
                assert again.json()["errors"][0]["message"] == "Sign-in is temporarily unavailable."
            metrics = (await client.http.get("/metrics")).text
            assert "pulse_db_breaker_state 0.0" in metrics
            redis.start()
            await asyncio.sleep(OPEN_SECONDS + 0.5)  # Redis failed moments ago: tried again after
            assert (await login(client, "ada@example.com"))["__typename"] == "AuthPayload"
            await client.aclose()
    finally:
        redis.stop()


async def test_many_failures_from_one_ip_slow_down_every_account_it_tries(
    api: GraphQLClient, settings: Settings
) -> None:
    await make_user()
    throttle = LoginThrottle(Redis.from_url(settings.redis_dsn))
    for n in range(20):  # spread over many accounts: no single account is throttled
        await throttle.record_failure(f"user{n}@example.com", "127.0.0.1")
    await throttle.redis.aclose()
    assert (await login(api, "ada@example.com"))["code"] == "TOO_MANY_ATTEMPTS"

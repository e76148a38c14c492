"""Global, cost-based rate limiting: shared by two real API processes, per user or per
client IP (from the trusted proxy header only), and a per-instance fallback when Redis is
down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.embedded import EmbeddedRedis
from api.settings import Settings
from tests.factories import make_user, token_for
from tests.support import GraphQLClient, api_processes, env_with, serve_app

ME = "{ me { id } }"  # costs 2: `me` and `id`
REGISTER = """mutation { register(input: {email: "ada@example.com", username: "ada",
  password: "a-long-password-1"}) { __typename } }"""
LOGIN = """mutation { login(email: "ada@example.com", password: "a-long-password-1") {
  ... on AuthPayload { accessToken } } }"""


@pytest.fixture
def two_instances(tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = env_with(RATE_LIMIT_USER="20/minute", RATE_LIMIT_ANONYMOUS="1000/minute")
    with api_processes(2, env=env, logs=tmp_path) as (a, b):
        yield a, b


async def test_the_limit_holds_across_two_instances(two_instances: tuple[str, str]) -> None:
    a, b = (GraphQLClient(url) for url in two_instances)
    try:
        await a.gql(REGISTER)
        token = (await a.gql(LOGIN))["login"]["accessToken"]
        statuses = []
        for i in range(16):  # alternate instances: 16 × cost 2 = 32 > 20
            response = await (a if i % 2 else b).post(ME, token=token)
            statuses.append(response.status_code)
            if response.status_code == 429:
                body = response.json()
                assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
                assert int(response.headers["retry-after"]) >= 1
        # 10 operations fit in 20 units whichever instance served them; then 429.
        assert statuses[:10] == [200] * 10 and set(statuses[10:]) == {429}, statuses
    finally:
        await a.aclose()
        await b.aclose()


async def test_anonymous_callers_are_limited_per_trusted_client_ip(settings: Settings) -> None:
    limited = settings.model_copy(
        update={"rate_limit_anonymous": "6/minute", "client_ip_header": "X-Forwarded-For"}
    )
    async with serve_app(create_app(limited)) as url:
        client = GraphQLClient(url)
        try:

            def ip(address: str) -> dict[str, str]:
                return {"X-Forwarded-For": f"198.51.100.7, {address}"}

            codes = [
                (await client.post(ME, headers=ip("203.0.113.1"))).status_code for _ in range(4)
            ]
            assert codes == [200, 200, 200, 429]
            # Another client (as the trusted proxy says) has its own budget.
            assert (await client.post(ME, headers=ip("203.0.113.2"))).status_code == 200
        finally:
            await client.aclose()


async def test_redis_down_falls_back_to_a_per_instance_limit(
    settings: Settings, tmp_path: Path
) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    private = settings.model_copy(update={"redis_url": redis.url, "rate_limit_user": "8/minute"})
    try:
        async with serve_app(create_app(private)) as url:
            client = GraphQLClient(url)
            await make_user()
            token = await token_for(client, "ada@example.com")
            redis.kill()
            codes = [(await client.post(ME, token=token)).status_code for _ in range(5)]
            assert codes == [200, 200, 200, 200, 429]  # reads go on, still limited
            await client.aclose()
    finally:
        redis.stop()

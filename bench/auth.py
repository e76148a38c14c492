"""Login latency: the argon2id hash alone, and a full `login` mutation over HTTP."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from api.app import create_app
from api.auth import passwords
from api.settings import Settings
from models.users import User
from tests.support import serve_app

LOGIN = """mutation($e: String!, $p: String!) { login(email: $e, password: $p) {
  __typename ... on AuthPayload { accessToken } } }"""
PASSWORD = "benchmark-password-42"


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


async def run(settings: Settings, rounds: int = 40) -> list[tuple[str, str, str]]:
    hashing = []
    stored = passwords.hash_password(PASSWORD)
    for _ in range(rounds):
        start = time.perf_counter()
        passwords.verify_password(stored, PASSWORD)
        hashing.append(time.perf_counter() - start)

    logins = []
    async with serve_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        await User.create(email="bench@example.com", username="bench", password_hash=stored)
        variables = {"e": "bench@example.com", "p": PASSWORD}
        for _ in range(rounds):
            start = time.perf_counter()
            response = await client.post("/graphql", json={"query": LOGIN, "variables": variables})
            logins.append(time.perf_counter() - start)
            assert response.json()["data"]["login"]["__typename"] == "AuthPayload"

        # Concurrent logins: hashing runs off the event loop, on both cores.
        concurrency, total = 8, rounds
        started = time.perf_counter()

        async def one() -> None:
            await client.post("/graphql", json={"query": LOGIN, "variables": variables})

        for _ in range(total // concurrency):
            await asyncio.gather(*[one() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started

    rows = []
    for name, samples in (
        ("argon2id verify (m=19 MiB, t=2, p=1)", hashing),
        ("login mutation over HTTP", logins),
    ):
        p50, p95 = _ms(samples)
        rows.append((name, f"p50 {p50:.1f} ms", f"p95 {p95:.1f} ms"))
    rows.append(
        (f"login mutation, {concurrency} concurrent", f"{total / elapsed:.0f} logins/s", "")
    )
    return rows

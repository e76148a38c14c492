"""Subscription fan-out: 1,000 websocket subscribers of `eventRecorded` on a real API process,
events published through Redis, against a raw `websockets` server broadcasting the same
messages from the same Redis channel to the same number of clients, in the same run.

Reported: delivered events/s at full speed (ours and raw, and the ratio), then p50/p99
publish-to-receive latency at 20 % of our maximum rate.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import websockets
from redis.asyncio import Redis

from api import db
from api.auth.passwords import hash_password
from api.embedded import free_port
from api.settings import Settings
from models.users import User

SUBSCRIBERS = 1000
BURST = 200  # events published back to back for the throughput figure
LATENCY_SECONDS = 3.0
ROOT = Path(__file__).resolve().parent.parent
QUERY = "subscription { eventRecorded { id data } }"

RAW_SERVER = textwrap.dedent("""
    import asyncio, sys, websockets
    from redis.asyncio import Redis
    clients = set()
    async def handler(ws):
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)
    async def main(port, redis_url, channel):
        pubsub = Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)
        async with websockets.serve(handler, "127.0.0.1", port):
            async for message in pubsub.listen():
                websockets.broadcast(clients, message["data"].decode())
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
""")


def _message(event_id: int, user_id: str) -> str:
    """An `eventRecorded` message as ingestion publishes it; ids are also the per-user
    numbers (`seq`), so the bench's events follow each other with no gap."""
    now = time.time()
    return json.dumps(
        {
            "events": [
                {
                    "id": event_id,
                    "user_id": user_id,
                    "kind": "bench.tick",
                    "source": "bench",
                    "occurred_at": "2026-01-01T00:00:00+00:00",
                    "duration_ms": None,
                    "data": {"t": now},
                    "client_id": None,
                    "created_at": "2026-01-01T00:00:00+00:00",
                    "seq": event_id,
                }
            ]
        }
    )


class Fleet:
    """Many websocket clients; records when each message arrived and how late it was."""

    def __init__(self) -> None:
        self.received = 0
        self.latencies: list[float] = []
        self.sockets: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def _read(self, ws: Any, graphql: bool) -> None:
        # The clients are the bottleneck of both sides' figures, so they read the send time
        # with string operations rather than parsing each message (the same for both).
        try:
            async for raw in ws:
                if graphql and '"type":"next"' not in raw:
                    if '"ping"' in raw:
                        await ws.send('{"type":"pong"}')
                    continue
                at = raw.rindex('"t":') + 4
                sent = float(raw[at : raw.index("}", at)])
                self.received += 1
                self.latencies.append(time.time() - sent)
        except websockets.ConnectionClosed:
            pass

    async def connect_graphql(self, url: str, token: str) -> None:
        async def one() -> None:
            ws = await websockets.connect(
                url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                max_queue=None,
            )
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
            self.sockets.append(ws)
            self.tasks.append(asyncio.create_task(self._read(ws, True)))

        for start in range(0, SUBSCRIBERS, 100):
            await asyncio.gather(*[one() for _ in range(min(100, SUBSCRIBERS - start))])

    async def connect_raw(self, url: str) -> None:
        async def one() -> None:
            ws = await websockets.connect(url, max_queue=None)
            self.sockets.append(ws)
            self.tasks.append(asyncio.create_task(self._read(ws, False)))

        for start in range(0, SUBSCRIBERS, 100):
            await asyncio.gather(*[one() for _ in range(min(100, SUBSCRIBERS - start))])

    async def close(self) -> None:
        await asyncio.gather(*[ws.close() for ws in self.sockets], return_exceptions=True)
        for task in self.tasks:
            task.cancel()

    def reset(self) -> None:
        self.received = 0
        self.latencies = []


async def _burst(redis: Redis, channel: str, fleet: Fleet, user_id: str) -> float:
    """Deliveries per second with BURST events published as fast as Redis takes them."""
    fleet.reset()
    expected = BURST * SUBSCRIBERS
    started = time.perf_counter()
    for i in range(BURST):
        await redis.publish(channel, _message(i + 1, user_id))
    deadline = started + 120
    while fleet.received < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    return fleet.received / (time.perf_counter() - started)


async def _paced(
    redis: Redis, channel: str, fleet: Fleet, user_id: str, rate: float
) -> list[float]:
    """Latencies with events published at `rate` per second for LATENCY_SECONDS."""
    fleet.reset()
    count = max(1, int(rate * LATENCY_SECONDS))
    interval = 1 / rate
    started = time.perf_counter()
    for i in range(count):
        await redis.publish(channel, _message(BURST + 1 + i, user_id))
        await asyncio.sleep(max(0.0, started + (i + 1) * interval - time.perf_counter()))
    deadline = time.perf_counter() + 30
    while fleet.received < count * SUBSCRIBERS and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    return fleet.latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else float("nan")


async def run(settings: Settings) -> list[tuple[str, str, str]]:
    await db.init_orm(settings)
    user = await User.create(
        email="fanout@example.com",
        username="fanout",
        password_hash=hash_password("benchmark-password-1"),
    )
    await db.close_orm()
    channel = f"pulse:user:{user.id}:events"
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_dsn,
        "REDIS_URL": settings.redis_dsn,
        "LOG_LEVEL": "WARNING",
        "WS_MAX_CONNECTIONS_PER_USER": str(SUBSCRIBERS + 10),
        "ENVIRONMENT": "test",
    }
    api_port, raw_port = free_port(), free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "api", "serve", "--port", str(api_port)], env=env, cwd=ROOT
    )
    raw = subprocess.Popen(
        [sys.executable, "-c", RAW_SERVER, str(raw_port), settings.redis_dsn, channel],
        env=env,
        cwd=ROOT,
    )
    redis = Redis.from_url(settings.redis_dsn)
    rows: list[tuple[str, str, str]] = []
    try:
        await asyncio.sleep(3)
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as client:
            login = await client.post(
                "/graphql",
                json={
                    "query": (
                        'mutation { login(email: "fanout@example.com",'
                        ' password: "benchmark-password-1")'
                        " { ... on AuthPayload { accessToken } } }"
                    )
                },
            )
            token = login.json()["data"]["login"]["accessToken"]

        ours = Fleet()
        await ours.connect_graphql(f"ws://127.0.0.1:{api_port}/graphql", token)
        await asyncio.sleep(1)
        our_rate = await _burst(redis, channel, ours, str(user.id))
        paced = our_rate / SUBSCRIBERS * 0.2
        our_latency = await _paced(redis, channel, ours, str(user.id), paced)
        await ours.close()

        baseline = Fleet()
        await baseline.connect_raw(f"ws://127.0.0.1:{raw_port}")
        await asyncio.sleep(1)
        raw_rate = await _burst(redis, channel, baseline, str(user.id))
        raw_latency = await _paced(redis, channel, baseline, str(user.id), paced)
        await baseline.close()

        rows = [
            (
                f"fan-out to {SUBSCRIBERS} subscribers, ours",
                f"{our_rate:.0f} deliveries/s",
                f"ratio to raw {our_rate / raw_rate:.2f} (target ≥ 0.3)",
            ),
            (
                f"fan-out to {SUBSCRIBERS} subscribers, raw websockets",
                f"{raw_rate:.0f} deliveries/s",
                "websockets.broadcast of the same Redis messages",
            ),
            (
                f"fan-out latency at {paced:.1f} events/s (20 % of max), ours",
                f"p50 {_pct(our_latency, 0.5):.1f} ms",
                f"p99 {_pct(our_latency, 0.99):.1f} ms (target < 50)",
            ),
            (
                f"fan-out latency at {paced:.1f} events/s, raw",
                f"p50 {_pct(raw_latency, 0.5):.1f} ms",
                f"p99 {_pct(raw_latency, 0.99):.1f} ms",
            ),
        ]
    finally:
        await redis.aclose()
        for process in (api, raw):
            process.send_signal(signal.SIGTERM)
        for process in (api, raw):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    return rows

"""GraphQL against hand-written baselines, in one run on the same database:

- nested reads (`events` with each event's user; `workflows` with steps, runs and step runs)
  against `bench/raw.py`, the same answers from asyncpg + orjson, served by the same kind of
  uvicorn server in this process and called by the same httpx client;
- `recordEvents` with 1,000 events against an asyncpg `copy_records_to_table` of the same
  1,000 rows.

The answers are checked (same JSON from both read servers, every ingested event ACCEPTED);
speed is only reported.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from arq.constants import default_queue_name, job_key_prefix
from redis.asyncio import Redis

from api import db
from api.app import create_app
from api.auth import passwords
from api.settings import Settings
from bench.raw import create_raw_app
from models.users import User
from models.workflows import (
    RunStatus,
    RunTrigger,
    StepRun,
    StepStatus,
    Workflow,
    WorkflowRun,
    WorkflowStep,
)
from tests.support import serve_app

PASSWORD = "benchmark-password-42"
LOGIN = """mutation($e: String!, $p: String!) { login(email: $e, password: $p) {
  __typename ... on AuthPayload { accessToken } } }"""
EVENTS_QUERY = """{ events(first: 50) { edges { cursor node {
  id kind source occurredAt durationMs data clientId createdAt user { id email } } } } }"""
WORKFLOWS_QUERY = """{ workflows(first: 20) { edges { node { id name
  steps { id connector config }
  runs(first: 10) { edges { node { id status stepRuns { id status output } } } } } } } }"""
RECORD_EVENTS = """mutation($inputs: [EventInput!]!) { recordEvents(inputs: $inputs) {
  accepted duplicates rejected results { index status reason event { id } } } }"""

SEEDED_EVENTS = 5000
WORKFLOWS, STEPS, RUNS = 20, 3, 12  # runs per workflow: more than a page of 10
BATCH = 1000
WARMUP, REQUESTS, CONCURRENCY, SEQUENTIAL = 20, 200, 8, 50
INGEST_WARMUP, INGEST_ROUNDS = 1, 6
KINDS = ("file.modified", "command.run", "test.passed", "build.finished")
SOURCES = ("editor", "shell", "ci")
COPY_COLUMNS = [
    "user_id",
    "kind",
    "source",
    "occurred_at",
    "duration_ms",
    "data",
    "client_id",
    "created_at",
]

Row = tuple[str, str, str]


async def _seed_events(settings: Settings, user_id: uuid.UUID) -> None:
    conn = await db.connect(settings)
    try:
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "events",
            columns=COPY_COLUMNS,
            records=[
                (
                    user_id,
                    KINDS[i % len(KINDS)],
                    SOURCES[i % len(SOURCES)],
                    now - timedelta(minutes=7 * i, microseconds=i),
                    (i * 37) % 5000,
                    orjson.dumps({"path": f"src/pkg/{i % 97}.py", "lines": i % 400}).decode(),
                    f"seed-{i}" if i % 2 else None,
                    now,
                )
                for i in range(SEEDED_EVENTS)
            ],
        )
        await conn.execute("ANALYZE events")
    finally:
        await conn.close()


async def _seed_workflows(user: User) -> None:
    workflows = [
        Workflow(user=user, name=f"workflow {w}", secret=uuid.uuid4().hex) for w in range(WORKFLOWS)
    ]
    await Workflow.bulk_create(workflows)
    connectors = ("webhook", "log", "email")
    steps = [
        WorkflowStep(
            workflow_id=w.id,
            position=p,
            connector=connectors[p % 3],
            config={"url": f"https://hooks.example.com/{w.name}/{p}", "retries": 3},
        )
        for w in workflows
        for p in range(STEPS)
    ]
    await WorkflowStep.bulk_create(steps)
    runs = [
        WorkflowRun(
            workflow_id=w.id, user=user, trigger=RunTrigger.MANUAL, status=RunStatus.SUCCEEDED
        )
        for w in workflows
        for _ in range(RUNS)
    ]
    await WorkflowRun.bulk_create(runs)
    await StepRun.bulk_create(
        [
            StepRun(
                run_id=run.id,
                position=p,
                connector=connectors[p % 3],
                status=StepStatus.SUCCEEDED,
                output=f"step {p} delivered: 200 OK in {10 + p} ms",
            )
            for run in runs
            for p in range(STEPS)
        ]
    )


def _batch(tag: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "kind": KINDS[i % len(KINDS)],
            "source": SOURCES[i % len(SOURCES)],
            "occurredAt": (now - timedelta(seconds=1 + i * 613)).isoformat(),
            "durationMs": (i * 37) % 5000,
            "data": {"path": f"src/pkg/{i % 97}.py", "lines": i % 400},
            "clientId": f"{tag}-{i}",
        }
        for i in range(BATCH)
    ]


def _copy_records(user_id: uuid.UUID, tag: str) -> list[tuple[Any, ...]]:
    created = datetime.now(UTC)
    return [
        (
            user_id,
            item["kind"],
            item["source"],
            datetime.fromisoformat(item["occurredAt"]),
            item["durationMs"],
            orjson.dumps(item["data"]).decode(),
            item["clientId"],
            created,
        )
        for item in _batch(tag)
    ]


def _graphql_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({"query": query, "variables": variables or {}})


async def _throughput(call: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """(requests/s at CONCURRENCY in flight, sequential p50 in ms), after a warm-up."""
    for _ in range(WARMUP):
        await call()
    samples = []
    for _ in range(SEQUENTIAL):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)

    async def worker() -> None:
        for _ in range(REQUESTS // CONCURRENCY):
            await call()

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(CONCURRENCY)])
    rate = (REQUESTS // CONCURRENCY) * CONCURRENCY / (time.perf_counter() - start)
    return rate, statistics.median(samples) * 1000


def _request(
    client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        response = await client.request(method, path, **kwargs)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")

    return call


async def _drop_jobs(settings: Settings, job_ids: list[str]) -> None:
    """Remove the pipeline jobs recordEvents enqueued (no worker runs here): left in Redis,
    they would be picked up by the next benchmark's worker."""
    if not job_ids:
        return
    redis = Redis.from_url(settings.redis_dsn)
    try:
        await redis.zrem(default_queue_name, *job_ids)
        await redis.delete(*[job_key_prefix + job_id for job_id in job_ids])
    finally:
        await redis.aclose()


def _ratio_row(name: str, ours: float, raw: float, unit: str, detail: str, target: float) -> Row:
    return (name, f"{ours:,.0f} {unit}", f"{detail}; ours/raw {ours / raw:.2f} (target ≥ {target})")


async def _reads(client: httpx.AsyncClient, raw_client: httpx.AsyncClient, token: str) -> list[Row]:
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    floor, floor_p50 = await _throughput(_request(raw_client, "GET", "/ping"))
    rows = [
        (
            "HTTP floor: httpx → uvicorn, constant body",
            f"{floor:,.0f} req/s",
            f"p50 {floor_p50:.2f} ms; req/s = {REQUESTS} requests, {CONCURRENCY} in flight; "
            "client and servers share this process",
        )
    ]
    reads = (
        ("events(first: 50) › user", EVENTS_QUERY, "/events?first=50"),
        (
            "workflows(20) › steps, runs(10) › stepRuns",
            WORKFLOWS_QUERY,
            "/workflows?first=20&runs=10",
        ),
    )
    for name, query, raw_path in reads:
        body = _graphql_body(query)
        ours_answer = (await client.post("/graphql", content=body, headers=auth)).json()
        raw_bytes = (await raw_client.get(raw_path, headers=auth)).content
        if ours_answer != orjson.loads(raw_bytes):
            raise RuntimeError(f"{name}: the raw endpoint answers differently")
        ours, ours_p50 = await _throughput(
            _request(client, "POST", "/graphql", content=body, headers=auth)
        )
        raw, raw_p50 = await _throughput(_request(raw_client, "GET", raw_path, headers=auth))
        rows.append(
            _ratio_row(f"{name}: GraphQL", ours, raw, "req/s", f"p50 {ours_p50:.1f} ms", 0.3)
        )
        rows.append(
            (
                f"{name}: raw asyncpg + orjson",
                f"{raw:,.0f} req/s",
                f"p50 {raw_p50:.1f} ms; same JSON, {len(raw_bytes):,} bytes",
            )
        )
    return rows


async def _ingest(
    settings: Settings, client: httpx.AsyncClient, token: str, user_id: uuid.UUID
) -> list[Row]:
    """recordEvents, then COPY of the same rows; fresh client ids every round (all ACCEPTED)."""
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    tag = uuid.uuid4().hex[:8]
    rounds = range(INGEST_WARMUP + INGEST_ROUNDS)
    job_ids: list[str] = []
    timings = []
    try:
        for r, body in enumerate(
            [_graphql_body(RECORD_EVENTS, {"inputs": _batch(f"gql-{tag}-{r}")}) for r in rounds]
        ):
            start = time.perf_counter()
            response = await client.post("/graphql", content=body, headers=auth)
            elapsed = time.perf_counter() - start
            payload = response.json()["data"]["recordEvents"]
            if payload["accepted"] != BATCH:
                raise RuntimeError(f"recordEvents accepted {payload['accepted']} of {BATCH}")
            ids = sorted(int(item["event"]["id"]) for item in payload["results"])
            job_ids.append(f"events:{ids[0]}:{ids[-1]}:{len(ids)}")
            if r >= INGEST_WARMUP:
                timings.append(elapsed)
    finally:
        await _drop_jobs(settings, job_ids)

    conn = await db.connect(settings)
    copy_timings = []
    try:
        for r, records in enumerate([_copy_records(user_id, f"copy-{tag}-{r}") for r in rounds]):
            start = time.perf_counter()
            await conn.copy_records_to_table("events", columns=COPY_COLUMNS, records=records)
            if r >= INGEST_WARMUP:
                copy_timings.append(time.perf_counter() - start)
    finally:
        await conn.close()

    ours = BATCH * len(timings) / sum(timings)
    copy = BATCH * len(copy_timings) / sum(copy_timings)
    return [
        _ratio_row(
            f"recordEvents, {BATCH:,} events: GraphQL",
            ours,
            copy,
            "events/s",
            f"p50 {statistics.median(timings) * 1000:.0f} ms a batch",
            0.25,
        ),
        (
            f"same {BATCH:,} rows: asyncpg copy_records_to_table",
            f"{copy:,.0f} events/s",
            f"p50 {statistics.median(copy_timings) * 1000:.1f} ms a batch",
        ),
    ]


async def run(settings: Settings) -> list[Row]:
    # One user sends every request here: lift its operation-cost rate limit out of the way
    # (the limiter still runs and is measured, it just never refuses).
    settings = settings.model_copy(update={"rate_limit_user": "1000000000/minute"})
    async with (
        serve_app(create_app(settings)) as url,
        serve_app(create_raw_app(settings)) as raw_url,
        httpx.AsyncClient(base_url=url, timeout=60) as client,
        httpx.AsyncClient(base_url=raw_url, timeout=60) as raw_client,
    ):
        user = await User.create(
            email="reader@example.com",
            username="reader",
            password_hash=passwords.hash_password(PASSWORD),
        )
        await _seed_events(settings, user.id)
        await _seed_workflows(user)
        login = await client.post(
            "/graphql", json={"query": LOGIN, "variables": {"e": user.email, "p": PASSWORD}}
        )
        token = login.json()["data"]["login"]["accessToken"]
        rows = await _reads(client, raw_client, token)
        rows += await _ingest(settings, client, token, user.id)
    return rows

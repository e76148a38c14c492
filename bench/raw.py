"""The baseline for the read benchmarks: the same two GraphQL reads written by hand as a plain
Starlette app (asyncpg pool, orjson), answering the same JSON for the same rows.

It authenticates the same bearer token with the same key set and checks that the account is
active (in the SQL, through the join), then runs the minimal SQL for each answer: one
statement for an events page joined with its user; four for the workflows page (workflows,
their steps, a window of runs per workflow, the step runs of those runs).
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.auth.tokens import InvalidToken, KeySet
from api.settings import Settings

_EVENTS = """
SELECT e.id, e.kind, e.source, e.occurred_at, e.duration_ms, e.data, e.client_id,
       e.created_at, u.id AS user_id, u.email
FROM events e JOIN users u ON u.id = e.user_id
WHERE e.user_id = $1 AND u.is_active
ORDER BY e.occurred_at, e.id
LIMIT $2
"""

_WORKFLOWS = """
SELECT w.id, w.name
FROM workflows w JOIN users u ON u.id = w.user_id
WHERE w.user_id = $1 AND u.is_active
ORDER BY w.created_at, w.id
LIMIT $2
"""

_STEPS = """
SELECT id, workflow_id, connector, config FROM workflow_steps
WHERE workflow_id = ANY($1::uuid[]) ORDER BY workflow_id, position
"""

_RUNS = """
SELECT id, workflow_id, status FROM (
  SELECT r.id, r.workflow_id, r.status, r.created_at, row_number() OVER (
    PARTITION BY r.workflow_id ORDER BY r.created_at DESC, r.id DESC) AS n
  FROM workflow_runs r WHERE r.workflow_id = ANY($1::uuid[])
) AS page WHERE n <= $2
ORDER BY workflow_id, created_at DESC, id DESC
"""

_STEP_RUNS = """
SELECT id, run_id, status, output FROM step_runs
WHERE run_id = ANY($1::uuid[]) ORDER BY run_id, position
"""

_UNAUTHENTICATED = orjson.dumps(
    {"data": None, "errors": [{"message": "Invalid access token.", "extensions": {}}]}
)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _cursor(values: list[Any]) -> str:
    # The same bytes the API encodes: compact JSON of the sort key, base64url without padding.
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _size(request: Request, name: str, default: int) -> int:
    return max(0, min(int(request.query_params.get(name, default)), 100))


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


def create_raw_app(settings: Settings) -> Starlette:
    """The baseline app; its pool has the same bounds as the API's."""
    keys = KeySet(settings)
    state: dict[str, asyncpg.Pool] = {}

    def user_id(request: Request) -> UUID | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            return keys.verify(token.strip()).user_id
        except InvalidToken:
            return None

    async def ping(request: Request) -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    async def events(request: Request) -> Response:
        uid = user_id(request)
        if uid is None:
            return Response(_UNAUTHENTICATED, status_code=401, media_type="application/json")
        rows = await state["pool"].fetch(_EVENTS, uid, _size(request, "first", 50))
        edges = [
            {
                "cursor": _cursor([r["occurred_at"], r["id"]]),
                "node": {
                    "id": str(r["id"]),
                    "kind": r["kind"],
                    "source": r["source"],
                    "occurredAt": r["occurred_at"],
                    "durationMs": r["duration_ms"],
                    "data": r["data"],
                    "clientId": r["client_id"],
                    "createdAt": r["created_at"],
                    "user": {"id": str(r["user_id"]), "email": r["email"]},
                },
            }
            for r in rows
        ]
        return _json({"data": {"events": {"edges": edges}}})

    async def workflows(request: Request) -> Response:
        uid = user_id(request)
        if uid is None:
            return Response(_UNAUTHENTICATED, status_code=401, media_type="application/json")
        first, runs_first = _size(request, "first", 50), _size(request, "runs", 50)
        async with state["pool"].acquire() as conn:
            rows = await conn.fetch(_WORKFLOWS, uid, first)
            workflow_ids = [r["id"] for r in rows]
            steps = await conn.fetch(_STEPS, workflow_ids)
            runs = await conn.fetch(_RUNS, workflow_ids, runs_first)
            step_runs = await conn.fetch(_STEP_RUNS, [r["id"] for r in runs])
        steps_of: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
        for s in steps:
            steps_of[s["workflow_id"]].append(
                {"id": str(s["id"]), "connector": s["connector"], "config": s["config"]}
            )
        step_runs_of: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
        for sr in step_runs:
            step_runs_of[sr["run_id"]].append(
                {"id": str(sr["id"]), "status": sr["status"].upper(), "output": sr["output"]}
            )
        runs_of: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
        for run in runs:
            runs_of[run["workflow_id"]].append(
                {
                    "node": {
                        "id": str(run["id"]),
                        "status": run["status"].upper(),
                        "stepRuns": step_runs_of[run["id"]],
                    }
                }
            )
        edges = [
            {
                "node": {
                    "id": str(r["id"]),
                    "name": r["name"],
                    "steps": steps_of[r["id"]],
                    "runs": {"edges": runs_of[r["id"]]},
                }
            }
            for r in rows
        ]
        return _json({"data": {"workflows": {"edges": edges}}})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(
            settings.database_dsn,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            init=_init_connection,
        )
        try:
            yield
        finally:
            await state["pool"].close()

    return Starlette(
        routes=[
            Route("/ping", ping),
            Route("/events", events),
            Route("/workflows", workflows),
        ],
        lifespan=lifespan,
    )

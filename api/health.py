"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise import Tortoise

from api import db
from api.metrics import REGISTRY, STATE
from api.resilience.breaker import BreakerState

CHECK_TIMEOUT = 2.0


async def healthz(request: Request) -> Response:
    """The process is alive and its event loop answers."""
    return JSONResponse({"status": "ok"})


async def _check_database() -> str | None:
    conn = Tortoise.get_connection("default")
    async with conn.acquire_connection() as raw:
        pending = await db.pending_migrations(raw)
    if pending:
        return f"{len(pending)} migration(s) not applied"
    return None


async def _check_redis(request: Request) -> str | None:
    await request.app.state.runtime.redis.ping()
    return None


async def readyz(request: Request) -> Response:
    """200 only when the database, Redis and migrations are fine; else 503 naming what is
    wrong. Each check is bounded so a hung dependency cannot hang the probe."""
    checks: dict[str, Any] = {}
    failing: list[str] = []
    for name, check in (("database", _check_database()), ("redis", _check_redis(request))):
        try:
            problem = await asyncio.wait_for(check, CHECK_TIMEOUT)
        except TimeoutError:
            problem = f"no answer within {CHECK_TIMEOUT:.0f}s"
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
        if problem is not None and name == "database" and "migration" in problem:
            checks["migrations"] = problem
            failing.append("migrations")
            checks[name] = "ok"
        elif problem is not None:
            checks[name] = problem
            failing.append(name)
        else:
            checks[name] = "ok"
    request.app.state.redis_up = "redis" not in failing
    if "database" not in failing and "migrations" not in checks:
        checks["migrations"] = "ok"
    breaker = request.app.state.runtime.breaker
    checks["breaker"] = breaker.state.name.lower()
    pool = STATE.pool_stats()
    if pool is not None:
        checks["pool"] = {"in_use": pool[0], "size": pool[1]}
    if breaker.state == BreakerState.OPEN:
        failing.append("breaker")
    status = 503 if failing else 200
    body = {"status": "unavailable" if failing else "ok", "failing": failing, "checks": checks}
    return JSONResponse(body, status_code=status)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

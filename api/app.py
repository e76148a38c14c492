"""The ASGI application: middleware, routes and the lifespan of shared resources."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sentry_sdk
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool
from sentry_sdk.integrations.strawberry import StrawberryIntegration
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from tortoise import Tortoise

from api import checks, db, health, metrics
from api.logs import configure_logging
from api.middleware import MetricsMiddleware, RequestIdMiddleware
from api.settings import Settings, get_settings
from schema import build_schema
from schema.context import Context

logger = logging.getLogger(__name__)


class PulseGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app with our typed context."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(production=settings.is_production),
            graphql_ide=None if settings.is_production else "graphiql",
            # The legacy graphql-ws protocol has had auth-bypass advisories: not offered.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.settings = settings

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        return Context(
            request=request,
            response=response,
            settings=self.settings,
            request_id=request.scope.get("state", {}).get("request_id", ""),
        )


def _pool_stats() -> tuple[int, int] | None:
    if not Tortoise.is_inited():
        return None
    pool = getattr(Tortoise.get_connection("default"), "_pool", None)
    if pool is None:
        return None
    size = pool.get_size()
    return size - pool.get_idle_size(), size


def init_sentry(settings: Settings) -> None:
    if settings.sentry_dsn:
        sentry_sdk.init(
            dsn=settings.sentry_dsn,
            environment=settings.environment,
            # Our resolvers are async; the default assumption (sync) is wrong for us.
            integrations=[StrawberryIntegration(async_execution=True)],
        )


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app. Nothing touches the network until the lifespan starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await checks.enforce_startup(settings, process="API")
        await db.init_orm(settings)
        # Built without a ping, so a Redis outage at start-up delays jobs instead of the API.
        redis = ArqRedis(
            connection_pool=ConnectionPool.from_url(
                settings.redis_dsn, socket_connect_timeout=2, socket_timeout=5
            )
        )
        app.state.redis = redis
        app.state.redis_up = None
        metrics.STATE.pool_stats = _pool_stats
        metrics.STATE.redis_up = lambda: app.state.redis_up
        logger.info("API started (%s)", settings.environment)
        try:
            yield {}
        finally:
            await redis.aclose()
            # A pool passed in explicitly is not closed by aclose().
            await redis.connection_pool.disconnect()
            await db.close_orm()
            logger.info("API stopped")

    graphql = PulseGraphQL(settings)
    app = Starlette(
        routes=[
            Route("/healthz", health.healthz),
            Route("/readyz", health.readyz),
            Route("/metrics", health.metrics),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(MetricsMiddleware),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"],
                max_age=600,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app


def app_factory() -> Starlette:
    """Entry point for `uvicorn --factory api.app:app_factory`."""
    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.json_logs)
    init_sentry(settings)
    return create_app(settings)

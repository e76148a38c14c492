"""The ASGI application: middleware, routes and the lifespan of shared resources."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import sentry_sdk
from redis.exceptions import RedisError
from sentry_sdk.integrations.strawberry import StrawberryIntegration
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType
from tortoise import Tortoise

from api import checks, db, health, metrics
from api.auth.backend import authenticate, bearer_token
from api.auth.tokens import InvalidToken
from api.fanout import SharedStreams
from api.logs import configure_logging
from api.middleware import (
    BodySizeLimitMiddleware,
    CsrfMiddleware,
    MetricsMiddleware,
    RequestIdMiddleware,
)
from api.realtime import Broker
from api.resilience.breaker import is_connection_error
from api.resilience.cache import cacheable, mark_stale
from api.resilience.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyError,
    is_mutation,
    request_identity,
)
from api.runtime import Runtime
from api.services.errors import PulseError, ServiceUnavailable, Unauthenticated
from api.settings import Settings, get_settings
from api.websocket import PulseTransportWS
from schema import build_schema
from schema.context import Context

logger = logging.getLogger(__name__)


def graphql_error_response(error: PulseError, status: int) -> JSONResponse:
    """A GraphQL-shaped error body for failures found before the operation runs."""
    headers = {}
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = {
        "data": None,
        "errors": [{"message": error.message, "extensions": {"code": error.code}}],
    }
    return JSONResponse(body, status_code=status, headers=headers)


class PulseGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app with our typed context. The caller is authenticated before the
    operation runs: a bad token is a 401, not a field error."""

    graphql_transport_ws_handler_class = PulseTransportWS

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(production=settings.is_production),
            graphql_ide=None if settings.is_production else "graphiql",
            # The legacy graphql-ws protocol has had auth-bypass advisories: not offered.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            # Browsers' cross-site websockets carry cookies; only our SPA origins may connect.
            allowed_origins=settings.cors_origins,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            # `importEvents(file: Upload!)`; CsrfMiddleware requires the preflight header.
            multipart_uploads_enabled=True,
        )
        self.settings = settings
        # Open sockets per user on this instance (a cap against one client hogging it).
        self.sockets_per_user: Counter[object] = Counter()
        self.shared_streams = SharedStreams(self.encode_json_string)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Set by on_ws_connect once the socket is authenticated and counted.
            counted = scope.get("state", {}).get("counted_user")
            if counted is not None:
                self.sockets_per_user[counted] -= 1
                if self.sockets_per_user[counted] <= 0:
                    del self.sockets_per_user[counted]

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate, then run the operation behind the database breaker, within the
        request deadline (which also bounds waiting for a pooled connection)."""
        runtime: Runtime = scope["app"].state.runtime
        breaker = runtime.breaker
        headers = Headers(scope=scope)
        upload = headers.get("content-type", "").split(";")[0].strip().lower() == (
            "multipart/form-data"
        )
        if upload and "idempotency-key" not in headers:
            # Not cacheable, and nothing else needs its bytes: the file streams on to the
            # multipart parser (which spools it to disk) instead of being held here too.
            body = b""
        else:
            body, receive = await _buffered(scope, receive)
        cache_as = self._cache_owner(scope, body, runtime)
        request_key = body if scope["method"] == "POST" else scope["query_string"]
        # Half-open: a real `SELECT 1` decides, not whether this request happens to query.
        probe_timeout = self.settings.request_timeout_seconds
        if not await breaker.admit(lambda: db.ping(probe_timeout)):
            cached = await runtime.cache.get(cache_as, request_key) if cache_as else None
            if cached is not None:
                # Degraded, not down: the last known answer, marked as such.
                await Response(mark_stale(cached), media_type="application/json")(
                    scope, receive, send
                )
                return
            await self._unavailable(scope, receive, send, breaker.retry_after())
            return
        started = answered_by_us = False
        status, chunks = 0, []

        async def guarded_send(message: Message) -> None:
            nonlocal started, status
            if answered_by_us:
                return  # we already answered 503; a late reply must not follow it
            started = True
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and cache_as:
                chunks.append(message.get("body", b""))
            await send(message)

        state = scope.setdefault("state", {})

        async def handle() -> None:
            try:
                state["user"] = await authenticate(
                    runtime.keys, Headers(scope=scope).get("authorization")
                )
            except Unauthenticated as error:
                await graphql_error_response(error, 401)(scope, receive, guarded_send)
                return
            key = Headers(scope=scope).get("idempotency-key")
            if key is None:
                await super(PulseGraphQL, self).__call__(scope, receive, guarded_send)
            else:
                await self._idempotent(scope, receive, guarded_send, key, body)

        # A task, so the deadline answers at once: cancelling a query against a hung
        # database can itself take long, and the client must not wait for that cleanup.
        task = asyncio.create_task(handle())
        done, _ = await asyncio.wait({task}, timeout=self.settings.request_timeout_seconds)
        if not done:
            task.cancel()
            task.add_done_callback(_drain)
            logger.warning(
                "request exceeded %ss; answering 503", self.settings.request_timeout_seconds
            )
            breaker.record_failure()
            if not started:
                answered_by_us = True
                await self._unavailable(scope, receive, send, breaker.retry_after())
            return
        error = task.exception()
        if error is not None:
            if isinstance(error, RedisError):
                # Redis, not the database: a 503 the client may retry, the breaker untouched.
                breaker.release_probe()
                logger.warning("Redis unavailable: %s", error)
                if not started:
                    unavailable = ServiceUnavailable("Temporarily unavailable; retry shortly.", 5)
                    await graphql_error_response(unavailable, 503)(scope, receive, send)
                return
            if not is_connection_error(error):
                breaker.release_probe()
                raise error
            logger.warning("database unavailable: %s", error or type(error).__name__)
            breaker.record_failure()
            if not started:
                await self._unavailable(scope, receive, send, breaker.retry_after())
            return
        if state.get("user") is not None and not state.get("db_failed"):
            breaker.record_success()  # authenticate() loaded the caller from the database
        await self._after(
            runtime, state, body, upload, cache_as, request_key, status, b"".join(chunks)
        )

    @staticmethod
    def _cache_owner(scope: Scope, body: bytes, runtime: Runtime) -> str | None:
        """The user a cacheable query's answer is cached for (from the token alone, so it
        works while the database is down); None when the request is not cacheable."""
        try:
            if scope["method"] == "POST":
                payload = json.loads(body)
            else:
                params = dict(parse_qsl(scope["query_string"].decode()))
                payload = {
                    "query": params.get("query", ""),
                    "operationName": params.get("operationName"),
                }
            query, name = payload["query"], payload.get("operationName")
            if not isinstance(query, str) or not cacheable(query, name):
                return None
            token = bearer_token(Headers(scope=scope).get("authorization"))
            return str(runtime.keys.verify(token).user_id) if token else None
        except (ValueError, KeyError, TypeError, AttributeError, PulseError, InvalidToken):
            return None

    @staticmethod
    async def _after(
        runtime: Runtime,
        state: dict[str, Any],
        body: bytes,
        upload: bool,
        cache_as: str | None,
        request_key: bytes,
        status: int,
        response: bytes,
    ) -> None:
        """Cache a good read; a successful mutation (an upload is one) invalidates the
        user's cached reads."""
        user = state.get("user")
        if cache_as and status == 200 and b'"errors"' not in response:
            await runtime.cache.put(cache_as, request_key, response)
        elif user is not None and status == 200 and (upload or is_mutation(body)):
            await runtime.cache.invalidate(str(user.id))

    async def _idempotent(
        self, scope: Scope, receive: Receive, send: Send, key: str, raw: bytes
    ) -> None:
        """Run a mutation at most once per Idempotency-Key (api/resilience/idempotency.py).
        `raw` is the body `_http` buffered; `receive` replays it."""
        body = await request_identity(Headers(scope=scope).get("content-type", ""), raw)
        runtime: Runtime = scope["app"].state.runtime
        user = scope["state"].get("user")
        owner = (
            str(user.id)
            if user is not None
            else f"ip:{client_ip(scope, self.settings.client_ip_header)}"
        )
        store = runtime.idempotency
        try:
            if len(key) > MAX_KEY_LENGTH or not key:
                await store.begin(owner, key, body)  # raises with the 400
            if not is_mutation(body):
                await super().__call__(scope, receive, send)
                return
            stored = await store.begin(owner, key, body)
        except IdempotencyError as error:
            problem = PulseError(error.message)
            problem.code = error.code
            await graphql_error_response(problem, error.status)(scope, receive, send)
            return
        except RedisError:
            unavailable = ServiceUnavailable("Idempotency keys are unavailable; retry shortly.")
            await graphql_error_response(unavailable, 503)(scope, receive, send)
            return
        if stored is not None:
            response = Response(
                stored.body,
                status_code=stored.status,
                media_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
            await response(scope, receive, send)
            return
        status, chunks = 500, []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await super().__call__(scope, receive, capture)
        except BaseException:
            await store.abandon(owner, key)
            raise
        try:
            await store.finish(owner, key, bytes(body), status, b"".join(chunks))
        except RedisError as error:  # answered already; the key frees itself
            logger.warning("could not store an idempotent answer: %s", error)

    @staticmethod
    async def _unavailable(scope: Scope, receive: Receive, send: Send, retry_after: int) -> None:
        error = ServiceUnavailable("The database is unavailable; retry shortly.", retry_after)
        await graphql_error_response(error, 503)(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        state = request.scope.get("state", {})
        context = Context(
            request=request,
            response=response,
            runtime=request.app.state.runtime,
            request_id=state.get("request_id", ""),
            client_ip=client_ip(request.scope, self.settings.client_ip_header),
            user=state.get("user"),
            broker=getattr(request.app.state, "broker", None),
        )
        # Most `user` fields a caller asks for are their own: no query for those.
        context.reset_loaders()
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType:
        """Authenticate a websocket from its `connection_init` payload, with the same code
        as HTTP. Subscriptions are per user, so an anonymous socket is refused too."""
        params = context.connection_params or {}
        authorization = params.get("authorization", params.get("Authorization"))
        if not isinstance(authorization, str):
            raise ConnectionRejectionError()
        try:
            user = await authenticate(context.runtime.keys, authorization)
        except Unauthenticated:
            raise ConnectionRejectionError() from None
        if user is None:
            raise ConnectionRejectionError()
        if self.sockets_per_user[user.id] >= self.settings.ws_max_connections_per_user:
            logger.warning("user %s reached the websocket cap on this instance", user.id)
            raise ConnectionRejectionError()
        self.sockets_per_user[user.id] += 1
        assert context.request is not None  # the connection's own context
        context.request.scope.setdefault("state", {})["counted_user"] = user.id
        context.user = user
        return UnsetType()  # ack without a payload


def client_ip(scope: Scope, header: str | None) -> str:
    """The client's address: from the trusted proxy's header when one is configured (its
    last entry, the one that proxy added), else the socket's peer."""
    if header:
        value = Headers(scope=scope).get(header)
        if value:
            return value.split(",")[-1].strip()
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _buffered(scope: Scope, receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a `receive` that replays it to the app."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(chunks)  # one copy, shared by the caller and the replay
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def _drain(task: asyncio.Task[None]) -> None:
    """Collect a cancelled request's outcome so asyncio does not warn about it."""
    if not task.cancelled() and task.exception() is not None:
        logger.info("abandoned request ended with %r", task.exception())


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
        runtime = Runtime.create(settings)
        app.state.runtime = runtime
        broker = Broker(settings.redis_dsn)
        await broker.start()
        app.state.broker = broker
        app.state.redis_up = None
        metrics.STATE.pool_stats = _pool_stats
        metrics.STATE.redis_up = lambda: app.state.redis_up
        metrics.STATE.breaker_state = lambda: int(runtime.breaker.state)
        metrics.STATE.realtime = lambda: (
            graphql.sockets_per_user.total(),
            len(graphql.shared_streams),
            graphql.shared_streams.subscribers,
            len(broker.channels),
        )
        # Everything built at start-up lives as long as the process: take it out of the
        # garbage collector's scans (a GraphQL request allocates tens of thousands of
        # objects; full collections over the start-up heap were a large share of its time).
        gc.collect()
        gc.freeze()
        # Fewer, larger young collections, and rare full ones: a full collection walks every
        # object of every open websocket (about 240 each), and with 1,000 subscribers it
        # stopped delivery for about 100 ms, the whole p99 of the fan-out benchmark. Almost
        # all garbage here is freed by reference counting, not by the collector.
        gc.set_threshold(50_000, 20, 100)
        logger.info("API started (%s)", settings.environment)
        try:
            yield {}
        finally:
            await broker.stop()
            await runtime.close()
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
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "Idempotency-Key",
                    "X-Request-ID",
                    CsrfMiddleware.preflight_header,
                ],
                expose_headers=["X-Request-ID", "Retry-After"],
                max_age=600,
            ),
            # Inside CORS, so that a browser can read their 413 and 415 answers.
            Middleware(
                BodySizeLimitMiddleware,
                max_bytes=settings.max_body_bytes,
                multipart_max_bytes=settings.max_multipart_bytes,
            ),
            Middleware(CsrfMiddleware, path="/graphql"),
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

"""Pure-ASGI middleware, one class per concern: request id, metrics, body size limit, CSRF.
Scope types a class does not handle pass straight through."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import deque

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics
from api.logs import request_id_var

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Gives every HTTP request and websocket a request id: the caller's `X-Request-ID` when
    it is well formed (a proxy may have set it), else a new one. The id is put in the log
    context and echoed in the response's `X-Request-ID`."""

    header = "x-request-id"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == self.header.encode()), ""
        )
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class MetricsMiddleware:
    """Counts HTTP requests and their latency by route template, method and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            path = _route_label(scope)
            metrics.HTTP_REQUESTS.labels(scope["method"], path, str(status)).inc()
            metrics.HTTP_LATENCY.labels(scope["method"], path).observe(time.perf_counter() - start)


def _route_label(scope: Scope) -> str:
    # Label by the matched route, never the raw path: raw paths make unbounded label sets.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


async def _send_error(send: Send, status: int, message: str, code: str) -> None:
    """A GraphQL-shaped error answer, like those the API gives once an operation runs."""
    payload = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """413 for HTTP request bodies over `max_bytes`: by Content-Length before anything is
    read, and by counting a chunked body as it arrives, so a client that sends no length (or
    lies about it) is stopped as soon as it passes the limit.

    The body is read here before the app runs (at most `max_bytes` of it, which the app would
    buffer anyway): the app never starts on a body it cannot finish, and the 413 is always
    the whole answer, never an error raised in the middle of a response.

    `multipart/form-data` bodies (GraphQL file uploads, which CsrfMiddleware admits only
    with a preflight header) have their own limit, `multipart_max_bytes` (default:
    `max_bytes`), so that files may be larger than JSON requests."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, multipart_max_bytes: int | None = None
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if multipart_max_bytes is not None and multipart_max_bytes <= 0:
            raise ValueError("multipart_max_bytes must be positive")
        self.app = app
        self.max_bytes = max_bytes
        self.multipart_max_bytes = multipart_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        limit = self.multipart_max_bytes if media_type == "multipart/form-data" else self.max_bytes
        message = f"Request body over the limit of {limit} bytes."
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_error(send, 413, message, "PAYLOAD_TOO_LARGE")
            return
        received: deque[Message] = deque()
        size = 0
        while True:
            item = await receive()
            received.append(item)
            if item["type"] != "http.request":
                break  # the client went away: the app will see the disconnect
            size += len(item.get("body", b""))
            if size > limit:
                await _send_error(send, 413, message, "PAYLOAD_TOO_LARGE")
                return
            if not item.get("more_body", False):
                break

        async def replay() -> Message:
            # Then the live channel: streaming responses wait on it for the disconnect.
            return received.popleft() if received else await receive()

        await self.app(scope, replay, send)


class CsrfMiddleware:
    """Cross-site request forgery guard for POSTs to `path`.

    A browser sends a cross-site POST without a CORS preflight when its content type is
    `text/plain`, `application/x-www-form-urlencoded` or `multipart/form-data`, with the
    victim's cookies or basic credentials. So a POST must be `application/json` (parameters
    such as `charset` allowed), which needs a preflight that only our CORS origins pass.
    `multipart/form-data` (GraphQL file uploads) is accepted only with the `X-Pulse-Preflight`
    header (any value): a custom header also forces the preflight. GET (queries only) and
    OPTIONS (the preflight itself) pass.
    """

    preflight_header = "X-Pulse-Preflight"

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "application/json" or (
            media_type == "multipart/form-data" and self.preflight_header in headers
        ):
            await self.app(scope, receive, send)
            return
        await _send_error(
            send,
            415,
            f"POST {self.path} needs Content-Type: application/json (multipart uploads also "
            f"need the {self.preflight_header} header).",
            "UNSUPPORTED_MEDIA_TYPE",
        )

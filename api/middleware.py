"""Pure-ASGI middleware, one class per concern. Scope types a class does not handle pass
straight through."""

from __future__ import annotations

import json
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
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


def _error_body(message: str, code: str) -> bytes:
    payload = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return json.dumps(payload).encode()


async def _send_error(send: Send, status: int, message: str, code: str) -> None:
    body = _error_body(message, code)
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
    """413 for HTTP bodies over `max_bytes`: by Content-Length up front, and by counting a
    streamed (chunked) body before the app sees any of it, so a lying client is stopped too.
    The body is buffered (at most `max_bytes`); every endpoint here reads it whole anyway."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"Request body over {self.max_bytes} bytes."
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _send_error(send, 413, message, "PAYLOAD_TOO_LARGE")
            return
        chunks: list[Message] = []
        received = 0
        while True:
            item = await receive()
            chunks.append(item)
            if item["type"] != "http.request":
                break
            received += len(item.get("body", b""))
            if received > self.max_bytes:
                await _send_error(send, 413, message, "PAYLOAD_TOO_LARGE")
                return
            if not item.get("more_body", False):
                break

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)


class CsrfMiddleware:
    """Cross-site request forgery guard for POSTs to `path`.

    A browser sends `text/plain`, form-encoded and multipart POSTs cross-site without a CORS
    preflight, so those could carry a victim's credentials. Only `application/json` is
    accepted, or `multipart/form-data` (file uploads) when the request also carries the
    `X-Pulse-Preflight` header, which no cross-site form can set without a preflight.
    """

    preflight_header = b"x-pulse-preflight"

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media_type == b"application/json" or (
            media_type == b"multipart/form-data" and headers.get(self.preflight_header)
        ):
            await self.app(scope, receive, send)
            return
        await _send_error(
            send,
            415,
            "POST /graphql needs Content-Type: application/json (multipart uploads also need "
            "the X-Pulse-Preflight header).",
            "UNSUPPORTED_MEDIA_TYPE",
        )

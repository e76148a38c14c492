"""A real HTTP server for webhook tests: it records deliveries (deduplicated by
Idempotency-Key, as a careful receiver would), checks signatures, and misbehaves on demand."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Receiver:
    secret: str = ""
    # path → statuses to answer first, in order (then 200)
    script: dict[str, list[int]] = field(default_factory=dict)
    hang_seconds: float = 0.0
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, key)
    bad_signatures: int = 0

    def deliveries(self, path: str) -> Counter[str]:
        return Counter(key for p, key in self.requests if p == path)

    async def handle(self, request: Request) -> Response:
        path = request.path_params["name"]
        body = await request.body()
        key = request.headers.get("idempotency-key", "")
        if self.secret:
            timestamp = request.headers.get("x-pulse-timestamp", "")
            expected = (
                "sha256="
                + hmac.new(
                    self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
            )
            if not hmac.compare_digest(expected, request.headers.get("x-pulse-signature", "")):
                self.bad_signatures += 1
                return JSONResponse({"error": "bad signature"}, status_code=401)
        self.requests.append((path, key))
        if path == "hang":
            await asyncio.sleep(self.hang_seconds or 30)
        queued = self.script.get(path)
        if queued:
            status = queued.pop(0)
            return JSONResponse(
                {"status": status},
                status_code=status,
                headers={"Retry-After": "0"} if status == 503 else {},
            )
        return JSONResponse({"ok": True, "key": key})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{name}", self.handle, methods=["POST"])])

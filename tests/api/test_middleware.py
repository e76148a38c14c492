"""Body size limit and CSRF guard: on a tiny inline app under a real uvicorn server, then on
the real API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from api.middleware import BodySizeLimitMiddleware, CsrfMiddleware
from tests.factories import make_user, token_for
from tests.support import GraphQLClient, serve_app

LIMIT = 100
TOO_LARGE = {
    "data": None,
    "errors": [
        {
            "message": f"Request body over the limit of {LIMIT} bytes.",
            "extensions": {"code": "PAYLOAD_TOO_LARGE"},
        }
    ],
}


class Inline:
    """What the inline app saw: the requests that reached it, whether its lifespan ran."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.lifespan_ran = False


@asynccontextmanager
async def inline_app(
    multipart_max_bytes: int | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, Inline]]:
    seen = Inline()

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        seen.requests.append(request.method)
        return JSONResponse({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})

    async def ws_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        seen.lifespan_ran = True
        yield

    app = Starlette(
        routes=[
            Route("/graphql", echo, methods=["GET", "POST"]),
            Route("/other", echo, methods=["POST"]),
            WebSocketRoute("/ws", ws_echo),
        ],
        middleware=[
            Middleware(
                BodySizeLimitMiddleware, max_bytes=LIMIT, multipart_max_bytes=multipart_max_bytes
            ),
            Middleware(CsrfMiddleware, path="/graphql"),
        ],
        lifespan=lifespan,
    )
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield client, seen


async def _chunks(size: int, chunk: int = 30) -> AsyncIterator[bytes]:
    # An async iterator body goes out with Transfer-Encoding: chunked and no Content-Length.
    for start in range(0, size, chunk):
        yield b"x" * min(chunk, size - start)


JSON = {"content-type": "application/json"}

# ---- body size limit -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, LIMIT])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_bodies_up_to_the_limit_reach_the_app_intact(size: int, chunked: bool) -> None:
    async with inline_app() as (client, seen):
        content: Any = _chunks(size) if chunked else b"x" * size
        response = await client.post("/graphql", content=content, headers=JSON)
    assert response.status_code == 200
    assert response.json() == {"size": size, "sha256": hashlib.sha256(b"x" * size).hexdigest()}
    assert seen.requests == ["POST"]


@pytest.mark.parametrize("size", [LIMIT + 1, 50 * LIMIT])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_bodies_over_the_limit_get_413_and_never_reach_the_app(
    size: int, chunked: bool
) -> None:
    async with inline_app() as (client, seen):
        content: Any = _chunks(size) if chunked else b"x" * size
        response = await client.post("/graphql", content=content, headers=JSON)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == TOO_LARGE
    assert seen.requests == []


@pytest.mark.parametrize(
    ("content_type", "size", "status"),
    [
        ("multipart/form-data; boundary=b", 5 * LIMIT, 200),
        ("Multipart/Form-Data; boundary=b", 5 * LIMIT, 200),
        ("multipart/form-data; boundary=b", 5 * LIMIT + 1, 413),
        ("application/json", LIMIT + 1, 413),
    ],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_multipart_uploads_have_their_own_limit(
    content_type: str, size: int, status: int, chunked: bool
) -> None:
    async with inline_app(multipart_max_bytes=5 * LIMIT) as (client, seen):
        content: Any = _chunks(size) if chunked else b"x" * size
        response = await client.post(
            "/other", content=content, headers={"content-type": content_type}
        )
    assert response.status_code == status
    if status == 413:
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert str(5 * LIMIT if "multipart" in content_type else LIMIT) in response.text
        assert seen.requests == []
    else:
        assert response.json()["size"] == size


async def test_other_scope_types_pass_straight_through() -> None:
    async with inline_app() as (client, seen):
        url = str(client.base_url).replace("http://", "ws://") + "/ws"
        async with websockets.connect(url) as ws:
            await ws.send("x" * (10 * LIMIT))  # a websocket message is not a request body
            assert await ws.recv() == "x" * (10 * LIMIT)
    assert seen.lifespan_ran


# ---- CSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "headers", "status"),
    [
        ("application/json", {}, 200),
        ("application/json; charset=utf-8", {}, 200),
        ("Application/JSON", {}, 200),
        ("text/plain", {}, 415),
        ("text/plain; charset=utf-8", {}, 415),
        ("application/x-www-form-urlencoded", {}, 415),
        ("application/json-patch+json", {}, 415),
        ("multipart/form-data; boundary=x", {}, 415),
        ("multipart/form-data; boundary=x", {"X-Pulse-Preflight": "1"}, 200),
        ("multipart/form-data; boundary=x", {"x-pulse-preflight": "yes"}, 200),
        ("text/plain", {"X-Pulse-Preflight": "1"}, 415),
        (None, {}, 415),
    ],
)
async def test_csrf_guard_on_posts(
    content_type: str | None, headers: dict[str, str], status: int
) -> None:
    if content_type is not None:
        headers = {"content-type": content_type, **headers}
    async with inline_app() as (client, seen):
        response = await client.post("/graphql", content=b"{}", headers=headers)
    assert response.status_code == status
    if status == 415:
        assert response.json()["errors"][0]["extensions"] == {"code": "UNSUPPORTED_MEDIA_TYPE"}
        assert response.json()["data"] is None
        assert seen.requests == []


async def test_csrf_guard_leaves_other_methods_and_paths_alone() -> None:
    async with inline_app() as (client, seen):
        assert (await client.get("/graphql")).status_code == 200
        text = {"content-type": "text/plain"}
        assert (await client.post("/other", content=b"hi", headers=text)).status_code == 200
        # Not ours to answer: the route does not allow OPTIONS, and says so.
        assert (await client.options("/graphql")).status_code == 405
    assert seen.requests == ["GET", "POST"]


# ---- the real API ----------------------------------------------------------------------------

CREATE = """mutation { createWorkflow(input: {name: "csrf",
  steps: [{connector: "log", config: {message: "m"}}]}) { __typename } }"""
OPERATION = json.dumps({"query": CREATE})
MULTIPART = (
    f'--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{OPERATION}\r\n--b--\r\n'
)


@pytest.fixture
async def token(api: GraphQLClient) -> str:
    await make_user()
    return await token_for(api, "ada@example.com")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", OPERATION),
        ("application/x-www-form-urlencoded", str(httpx.QueryParams({"query": CREATE}))),
        (
            "multipart/form-data; boundary=b",
            MULTIPART,
        ),
    ],
    ids=["text/plain", "form", "multipart without the preflight header"],
)
async def test_the_api_refuses_simple_cross_site_posts(
    api: GraphQLClient, token: str, pg: asyncpg.Connection, content_type: str, body: str
) -> None:
    response = await api.http.post(
        "/graphql",
        content=body,
        headers={
            "content-type": content_type,
            "Authorization": f"Bearer {token}",
            "Origin": "https://evil.example",
        },
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "access-control-allow-origin" not in response.headers
    assert await pg.fetchval("SELECT count(*) FROM workflows") == 0


async def test_the_api_takes_json_with_parameters(api: GraphQLClient, token: str) -> None:
    response = await api.http.post(
        "/graphql",
        content=json.dumps({"query": "{ me { email } }"}),
        headers={
            "content-type": "application/json; charset=utf-8",
            "Authorization": f"Bearer {token}",
        },
    )
    assert response.json() == {"data": {"me": {"email": "ada@example.com"}}}


async def test_our_spa_can_read_refusals_and_send_the_preflight_header(api: GraphQLClient) -> None:
    spa = "http://localhost:5173"
    refused = await api.http.post(
        "/graphql", content=b"{}", headers={"content-type": "text/plain", "Origin": spa}
    )
    assert refused.status_code == 415
    assert refused.headers["access-control-allow-origin"] == spa
    preflight = await api.http.options(
        "/graphql",
        headers={
            "Origin": spa,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-pulse-preflight",
        },
    )
    assert preflight.status_code == 200
    assert "x-pulse-preflight" in preflight.headers["access-control-allow-headers"].lower()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_the_api_refuses_oversized_bodies(api: GraphQLClient, chunked: bool) -> None:
    size = 5 * 1024 * 1024  # over the 4 MiB default
    body = b'{"query": "{ me { id } }", "variables": {"pad": "' + b"x" * size + b'"}}'

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = await api.http.post(
        "/graphql",
        content=stream() if chunked else body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}
    assert error["message"] == "Request body over the limit of 4194304 bytes."
    assert "x-request-id" in response.headers

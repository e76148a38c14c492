"""Body size limit and CSRF guard: on a tiny inline app, and on the real API."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.middleware import BodySizeLimitMiddleware, CsrfMiddleware
from tests.factories import make_user, token_for
from tests.support import GraphQLClient


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


def _app() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/graphql", _echo, methods=["POST", "GET"])])
    wrapped = BodySizeLimitMiddleware(CsrfMiddleware(app), max_bytes=100)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t")


async def test_bodies_over_the_limit_get_413() -> None:
    async with _app() as client:
        small = await client.post("/graphql", json={"q": "x" * 10})
        assert small.status_code == 200
        big = await client.post("/graphql", json={"q": "x" * 200})
        assert big.status_code == 413
        assert big.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_streamed_body_is_counted_as_it_arrives() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 50

    async with _app() as client:
        response = await client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("content_type", "headers", "status"),
    [
        ("application/json", {}, 200),
        ("application/json; charset=utf-8", {}, 200),
        ("text/plain", {}, 415),
        ("application/x-www-form-urlencoded", {}, 415),
        ("multipart/form-data; boundary=x", {}, 415),
        ("multipart/form-data; boundary=x", {"X-Pulse-Preflight": "1"}, 200),
        ("", {}, 415),
    ],
)
async def test_csrf_guard(content_type: str, headers: dict[str, str], status: int) -> None:
    async with _app() as client:
        response = await client.post(
            "/graphql", content=b"{}", headers={"content-type": content_type, **headers}
        )
    assert response.status_code == status


async def test_the_api_refuses_simple_cross_site_posts(api: GraphQLClient) -> None:
    await make_user()
    token = await token_for(api, "ada@example.com")
    for content_type, body in (
        ("text/plain", '{"query": "{ me { id } }"}'),
        ("application/x-www-form-urlencoded", "query=%7B%20me%20%7B%20id%20%7D%20%7D"),
    ):
        response = await api.http.post(
            "/graphql",
            content=body,
            headers={"content-type": content_type, "Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 415
        assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_the_api_refuses_oversized_bodies(api: GraphQLClient) -> None:
    response = await api.http.post(
        "/graphql",
        content=b"{" + b" " * (5 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413

"""The app as a client sees it: GraphQL on /graphql, request ids, GraphiQL and introspection
by environment, CORS."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import sentry_sdk

from api.app import create_app, init_sentry
from api.logs import JsonFormatter, RequestIdFilter, request_id_var
from api.settings import Settings
from tests.support import serve_app

INTROSPECTION = {"query": "{ __schema { queryType { name } } }"}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


@pytest.fixture
async def production_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    production = settings.model_copy(
        update={
            "environment": "production",
            "secret_key": "p" * 48,
            "database_url": settings.database_dsn,
            "redis_url": settings.redis_dsn,
            "cors_origins": ["https://app.example"],
            "smtp_url": "smtp://127.0.0.1:2525",
        }
    )
    async with serve_app(create_app(production)) as url, httpx.AsyncClient(base_url=url) as c:
        yield c


async def test_me_is_null_when_anonymous(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ me { id email } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"me": None}}


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("edge-7f3a.1", True), ("x" * 65, False), ("bad id with spaces", False), ("<script>", False)],
)
async def test_a_well_formed_incoming_request_id_is_kept(
    client: httpx.AsyncClient, sent: str, kept: bool
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": sent})
    assert (response.headers["x-request-id"] == sent) is kept


async def test_graphiql_and_introspection_in_development(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    result = (await client.post("/graphql", json=INTROSPECTION)).json()
    assert result["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_no_graphiql_nor_introspection_in_production(
    production_client: httpx.AsyncClient,
) -> None:
    page = await production_client.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" not in page.text.lower()
    assert page.status_code in (400, 404)
    result = (await production_client.post("/graphql", json=INTROSPECTION)).json()
    assert result.get("data") is None
    assert "introspection" in result["errors"][0]["message"].lower()
    me = (await production_client.post("/graphql", json={"query": "{ me { id } }"})).json()
    assert me == {"data": {"me": None}}


async def test_cors_allows_configured_origins_only(client: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    allowed = await client.options(
        "/graphql", headers={"Origin": "http://localhost:5173", **preflight}
    )
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    refused = await client.options(
        "/graphql", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("api.x", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    record.job = "send_email"
    token = request_id_var.set("req-123")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello there"
    assert line["request_id"] == "req-123"
    assert line["level"] == "INFO"
    assert line["job"] == "send_email"


def test_sentry_is_initialised_only_with_a_dsn(settings: Settings) -> None:
    try:
        init_sentry(settings.model_copy(update={"sentry_dsn": None}))
        assert not sentry_sdk.get_client().is_active()
        init_sentry(settings.model_copy(update={"sentry_dsn": "http://key@127.0.0.1:9/1"}))
        assert sentry_sdk.get_client().is_active()
    finally:
        sentry_sdk.init(dsn=None, default_integrations=False, auto_enabling_integrations=False)

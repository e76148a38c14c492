"""Webhook targets (SSRF): with private targets forbidden (production's default), a URL on or
resolving to our own network is refused when the workflow is saved and again at delivery,
where no request leaves for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from api.connectors import webhook
from api.connectors.base import StepContext, StepFailed
from api.settings import Settings, get_settings
from tests.factories import make_user, token_for
from tests.schema.test_workflows import UPDATE
from tests.support import GraphQLClient, serve_app
from tests.webhook_receiver import Receiver

CREATE = """mutation($input: WorkflowInput!) { createWorkflow(input: $input) {
  __typename ... on Workflow { id } ... on ValidationError { code message field } } }"""
REFUSED = [
    "http://127.0.0.1/hook",
    "http://10.0.0.1",
    "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:8080/hook",  # a name that resolves to loopback
    "http://192.168.1.20/hook",
    "http://224.0.0.1/",
    "http://0.0.0.0:9000/",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://240.0.0.1/hook",
]


def _steps(url: str) -> dict[str, Any]:
    return {
        "name": "w",
        "enabled": False,
        "steps": [{"connector": "webhook", "config": {"url": url}}],
    }


@pytest.fixture
async def forbidding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    server = Receiver()
    async with serve_app(server.app()) as url:
        yield server, url


@pytest.mark.parametrize("url", REFUSED)
async def test_saving_a_webhook_to_a_private_target_is_refused(
    forbidding: None, api: GraphQLClient, url: str
) -> None:
    await make_user()
    token = await token_for(api, "ada@example.com")
    result = (await api.gql(CREATE, {"input": _steps(url)}, token=token))["createWorkflow"]
    assert result["__typename"] == "ValidationError", result
    assert result["field"] == "steps.0.config" and result["message"].startswith("url: ")


async def test_update_is_checked_too_and_public_targets_pass(
    forbidding: None, api: GraphQLClient
) -> None:
    await make_user()
    token = await token_for(api, "ada@example.com")
    created = await api.gql(CREATE, {"input": _steps("https://93.184.216.34/hook")}, token=token)
    workflow = created["createWorkflow"]
    assert workflow["__typename"] == "Workflow", workflow
    # A name that does not resolve now is kept: it is checked again at every delivery.
    unresolved = await api.gql(CREATE, {"input": _steps("https://hooks.invalid/x")}, token=token)
    assert unresolved["createWorkflow"]["__typename"] == "Workflow"
    updated = await api.gql(
        UPDATE, {"id": workflow["id"], "input": _steps("http://127.0.0.1:9/x")}, token=token
    )
    assert updated["updateWorkflow"]["__typename"] == "ValidationError", updated


def _ctx(settings: Settings, allow_private: bool) -> StepContext:
    async def never() -> bool:
        return False

    return StepContext(
        settings=settings.model_copy(
            update={"webhook_allow_private": allow_private, "webhook_max_attempts": 1}
        ),
        run_id="run",
        workflow_id="wf",
        position=0,
        workflow_secret="s" * 32,
        cancel_requested=never,
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_delivery_to_a_private_address_sends_nothing(
    settings: Settings, receiver: tuple[Receiver, str], host: str
) -> None:
    server, url = receiver
    target = url.replace("127.0.0.1", host) + "/hook"
    with pytest.raises(StepFailed, match="webhook target refused"):
        await webhook.execute(_ctx(settings, allow_private=False), {"url": target})
    assert server.requests == []
    # The same delivery where private targets are allowed (development) reaches the receiver.
    assert (await webhook.execute(_ctx(settings, allow_private=True), {"url": target})).startswith(
        "HTTP 200"
    )
    assert len(server.requests) == 1


async def test_a_checked_delivery_goes_to_the_checked_address(
    settings: Settings, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pinned request (address in the URL, the name in Host) really is delivered. The
    receiver is on loopback, so only here the policy is told to let loopback through."""
    server, url = receiver
    monkeypatch.setattr(webhook, "is_refused", lambda address: False)
    target = url.replace("127.0.0.1", "localhost") + "/hook"
    output = await webhook.execute(_ctx(settings, allow_private=False), {"url": target})
    assert output.startswith("HTTP 200") and len(server.requests) == 1


async def test_addresses_refused_and_allowed() -> None:
    import ipaddress

    for text in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "100.64.0.1",
        "::1",
        "fc00::1",
        "ff02::1",
        "169.254.169.254",
        "::ffff:10.0.0.1",
        "0.0.0.0",
        "198.18.0.1",
    ]:
        assert webhook.is_refused(ipaddress.ip_address(text)), text
    for text in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"]:
        assert not webhook.is_refused(ipaddress.ip_address(text)), text

"""Test helpers: a real uvicorn server in the test's event loop, subprocess helpers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from api.embedded import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


@contextlib.asynccontextmanager
async def serve_app(app: Starlette) -> AsyncIterator[str]:
    """Run `app` under a real uvicorn server on a loopback port; yields its base URL."""
    # proto=IPPROTO_TCP matters: asyncio enables TCP_NODELAY only on sockets that say so, and
    # without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", log_config=None, ws="websockets-sansio", ws_per_message_deflate=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                raise RuntimeError("the app failed to start (see the log)")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
        sock.close()


def env_with(**overrides: str | None) -> dict[str, str]:
    """This process's environment with `overrides` applied (None removes a variable)."""
    env = dict(os.environ)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(
    *args: str, env: Mapping[str, str], timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api", *args],
        env=dict(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def start_cli(*args: str, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "api", *args],
            env=dict(env),
            cwd=REPO_ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


@contextlib.contextmanager
def api_processes(count: int, *, env: Mapping[str, str], logs: Path) -> Iterator[list[str]]:
    """`count` real API processes (`python -m api serve`) on loopback ports, ready; their
    base URLs. Stopped with SIGTERM at the end (killed if shutdown sticks)."""
    processes, urls = [], []
    for n in range(count):
        port = free_port()
        processes.append(
            start_cli("serve", "--port", str(port), env=env, log=logs / f"api-{n}.log")
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            wait_for_http(f"{url}/readyz", timeout=60)
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:  # a stuck shutdown must not fail the test
                process.kill()
                process.wait()


def wait_for_http(url: str, *, status: int = 200, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == status:
                return response
            last = response.status_code
        except httpx.HTTPError as error:
            last = error
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer {status} within {timeout}s (last: {last})")


class GraphQLClient:
    """Posts GraphQL operations to a live server over real HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)

    async def post(
        self,
        query: str,
        variables: dict[str, object] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )

    async def gql(
        self, query: str, variables: dict[str, object] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """The `data` of a successful operation (fails the test on errors)."""
        response = await self.post(query, variables, token=token)
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        data = body["data"]
        assert isinstance(data, dict)
        return data

    async def aclose(self) -> None:
        await self.http.aclose()

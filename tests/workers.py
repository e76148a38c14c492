"""Real arq workers, started as `python -m api worker` subprocesses, and a poll helper."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from tests.support import env_with, start_cli

StartWorker = Callable[..., subprocess.Popen[bytes]]


def start_worker_fixture(tmp_path: Path) -> Iterator[StartWorker]:
    """Start workers with extra environment; all are stopped (or reaped) at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str | None) -> subprocess.Popen[bytes]:
        log = tmp_path / f"worker-{len(started)}.log"
        defaults = {"PIPELINE_BACKOFF_SECONDS": "0.05", "LOG_LEVEL": "INFO"}
        process = start_cli("worker", env=env_with(**{**defaults, **env}), log=log)
        process.log = log  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 30, interval: float = 0.1
) -> None:
    """Wait until `check()` is true (the worker is another process: poll, don't sleep)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)

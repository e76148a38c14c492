"""`make run` (`python -m api dev`) on a machine without DATABASE_URL/REDIS_URL: embedded
servers, migrations, API with GraphiQL and a worker; Ctrl-C stops all of it; data survives."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import psutil

from api.embedded import free_port
from tests.support import env_with, start_cli, wait_for_http


def _run(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = env_with(
        DATABASE_URL=None, REDIS_URL=None, ENVIRONMENT="development", DATA_DIR=str(data_dir)
    )
    return start_cli("dev", "--port", str(port), env=env, log=log)


def _children(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def _interrupt(process: subprocess.Popen[bytes], log: Path) -> None:
    descendants = _children(process)
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0, log.read_text()
    gone, alive = psutil.wait_procs(descendants, timeout=30)
    assert not alive, f"still running after Ctrl-C: {[p.cmdline() for p in alive]}"


def test_dev_runs_everything_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "dev.log"
    process = _run(data_dir, port, log)
    try:
        ready = wait_for_http(f"http://127.0.0.1:{port}/readyz", timeout=90)
        checks = ready.json()["checks"]
        assert checks.pop("pool")["size"] >= 1
        assert checks == {
            "database": "ok",
            "redis": "ok",
            "migrations": "ok",
            "breaker": "closed",
        }
        page = httpx.get(f"http://127.0.0.1:{port}/graphql", headers={"Accept": "text/html"})
        assert "graphiql" in page.text.lower()
        commands = [" ".join(p.cmdline()) for p in _children(process)]
        assert any("api worker" in c for c in commands), commands
        assert any("api serve" in c for c in commands), commands
        # Leave a mark in the database to find after a restart.
        response = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ me { id } }"})
        assert response.json() == {"data": {"me": None}}
    finally:
        _interrupt(process, log)
    text = log.read_text()
    # Each child shut down gracefully (a doubled signal would skip these).
    assert "API stopped" in text and "worker stopped" in text, text
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    assert (data_dir / "redis").is_dir()

    # Second start on the same data: the migrations are already there and nothing is lost.
    process = _run(data_dir, port, log)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readyz", timeout=90)
    finally:
        _interrupt(process, log)
    assert "migrations: 0 applied" in log.read_text()

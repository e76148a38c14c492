"""The arq worker, run for real as `python -m api worker`, delivering email to a real SMTP
server."""

from __future__ import annotations

import asyncio
import inspect
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from arq import create_pool
from arq.connections import ArqRedis
from arq.worker import Worker

from api.settings import Settings
from jobs.email import backoff
from jobs.worker import WorkerSettings, redis_settings, worker_settings
from tests.smtp_sink import SmtpSink
from tests.support import env_with, run_cli, start_cli


def test_every_worker_setting_is_a_name_arq_knows() -> None:
    # arq silently ignores unknown names: a typo would silently lose a setting.
    known = set(inspect.signature(Worker.__init__).parameters) - {"self"}
    ours = {name for name in vars(WorkerSettings) if not name.startswith("_")}
    assert ours <= known, ours - known


def test_worker_settings_take_redis_and_limits_from_settings(settings: Settings) -> None:
    options = worker_settings(settings.model_copy(update={"worker_max_jobs": 7}))
    assert options["max_jobs"] == 7
    assert options["redis_settings"].conn_retries >= 5
    assert options["functions"] == WorkerSettings.functions


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


@pytest.fixture
async def arq(settings: Settings) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(redis_settings(settings))
    yield pool
    await pool.aclose()


def _worker(tmp_path: Path, smtp_url: str) -> subprocess.Popen[bytes]:
    return start_cli("worker", env=env_with(SMTP_URL=smtp_url), log=tmp_path / "worker.log")


def _stop(worker: subprocess.Popen[bytes]) -> int:
    worker.send_signal(signal.SIGTERM)
    return worker.wait(30)


async def test_worker_delivers_an_email_job(sink: SmtpSink, arq: ArqRedis, tmp_path: Path) -> None:
    worker = _worker(tmp_path, sink.url)
    try:
        job = await arq.enqueue_job("send_email", "ada@example.com", "Hello", "It works.")
        assert job is not None
        result = await job.result(timeout=30)
        assert "250" in str(result) or "Message accepted" in str(result)
        message = sink.wait_for(1)[0]
        assert message["To"] == "ada@example.com"
        assert message["Subject"] == "Hello"
        assert message.get_payload(decode=True).decode().strip() == "It works."
        assert run_cli("worker", "--check", env=env_with()).returncode == 0
    finally:
        code = _stop(worker)
    log = (tmp_path / "worker.log").read_text()
    assert code == 0, log
    assert "worker stopped" in log


async def test_email_is_retried_until_the_smtp_server_is_back(
    arq: ArqRedis, tmp_path: Path
) -> None:
    sink = SmtpSink()  # not started: the first attempt finds nobody listening
    worker = _worker(tmp_path, sink.url)
    try:
        job = await arq.enqueue_job("send_email", "bob@example.com", "Later", "Retried.")
        assert job is not None
        log = tmp_path / "worker.log"
        for _ in range(200):
            if "failed (attempt 1)" in log.read_text():
                break
            await asyncio.sleep(0.05)
        assert "failed (attempt 1)" in log.read_text()
        sink.start()
        try:
            await job.result(timeout=backoff(1) + 20)
            assert sink.wait_for(1)[0]["To"] == "bob@example.com"
        finally:
            sink.stop()
    finally:
        assert _stop(worker) == 0


def test_backoff_grows_exponentially_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff(30) == 300.0

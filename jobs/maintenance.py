"""Nightly maintenance: retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.services import retention
from api.settings import Settings


async def prune_history(ctx: dict[str, Any]) -> dict[str, int]:
    settings = ctx["settings"]
    assert isinstance(settings, Settings)
    return await retention.prune(
        runs_older_than=timedelta(days=settings.retention_runs_days),
        dead_letters_older_than=timedelta(days=settings.retention_dead_letters_days),
        imports_older_than=timedelta(days=settings.retention_imports_days),
        upload_dir=settings.upload_dir,
    )

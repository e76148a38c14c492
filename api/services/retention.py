"""Retention: old run history and resolved dead letters are pruned nightly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.services.workflows import FINISHED
from models.events import DeadLetterStatus, FailedEvent
from models.workflows import WorkflowRun


async def prune(
    *, runs_older_than: timedelta, dead_letters_older_than: timedelta
) -> dict[str, int]:
    """Delete finished runs (their step runs cascade) and resolved dead letters past their
    age. Open dead letters and unfinished runs are kept whatever their age."""
    now = datetime.now(UTC)
    runs = await WorkflowRun.filter(
        created_at__lt=now - runs_older_than, status__in=list(FINISHED)
    ).delete()
    letters = await FailedEvent.filter(
        status=DeadLetterStatus.RESOLVED, resolved_at__lt=now - dead_letters_older_than
    ).delete()
    return {"workflow_runs": runs, "dead_letters": letters}

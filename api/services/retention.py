"""Retention: old run history, resolved dead letters and finished imports are pruned
nightly."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.services.imports.job import FINISHED as IMPORT_FINISHED
from api.services.imports.lines import UnreadableFile, paths
from api.services.workflows import FINISHED
from models.events import DeadLetterStatus, FailedEvent
from models.imports import EventImport
from models.users import User
from models.workflows import WorkflowRun

logger = logging.getLogger(__name__)

STALE_UPLOAD_SECONDS = 24 * 3600


async def prune(
    *,
    runs_older_than: timedelta,
    dead_letters_older_than: timedelta,
    imports_older_than: timedelta,
    upload_dir: Path,
) -> dict[str, int]:
    """Delete finished runs (their step runs cascade), resolved dead letters and finished
    imports past their age. Open dead letters, unfinished runs and unfinished imports are
    kept whatever their age. An import's events stay; its files go."""
    now = datetime.now(UTC)
    runs = await WorkflowRun.filter(
        created_at__lt=now - runs_older_than, status__in=list(FINISHED)
    ).delete()
    letters = await FailedEvent.filter(
        status=DeadLetterStatus.RESOLVED, resolved_at__lt=now - dead_letters_older_than
    ).delete()
    old_imports = await EventImport.filter(
        status__in=list(IMPORT_FINISHED), finished_at__lt=now - imports_older_than
    ).values_list("id", "storage_path")
    imports = await EventImport.filter(id__in=[row[0] for row in old_imports]).delete()
    stored = [str(row[1]) for row in old_imports]
    await asyncio.to_thread(_remove_import_files, upload_dir, stored)
    existing = {uuid.UUID(str(i)) for i in await User.all().values_list("id", flat=True)}
    folders = await asyncio.to_thread(_remove_orphan_folders, upload_dir, existing)
    return {
        "workflow_runs": runs,
        "dead_letters": letters,
        "imports": imports,
        "upload_folders": folders,
    }


def _remove_import_files(upload_dir: Path, storage_paths: list[str]) -> None:
    """Each import's data file (a failed import keeps it) and its rejections file."""
    for storage_path in storage_paths:
        try:
            files = paths(upload_dir, storage_path)
        except UnreadableFile:
            continue  # not under UPLOAD_DIR: not ours to delete
        for path in files:
            path.unlink(missing_ok=True)


def _remove_orphan_folders(upload_dir: Path, users: set[uuid.UUID]) -> int:
    """Upload folders (named by user id) of users that no longer exist, and uploads that
    never finished (`.part`). Only what is a day old: a folder or file that new belongs to
    an upload in progress, perhaps of a user created after `users` was read."""
    if not upload_dir.is_dir():
        return 0
    cutoff = time.time() - STALE_UPLOAD_SECONDS
    removed = 0
    for folder in upload_dir.iterdir():
        try:
            owner = uuid.UUID(folder.name)
        except ValueError:
            continue  # not ours
        if not folder.is_dir():
            continue
        if owner not in users:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
                logger.info("removed the upload folder of deleted user %s", owner)
            continue
        for partial in folder.glob("*.part"):
            if partial.stat().st_mtime < cutoff:
                partial.unlink(missing_ok=True)
    return removed

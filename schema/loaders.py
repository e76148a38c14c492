"""One DataLoader per relation, built per request (a module-level loader would cache rows
across users). Each batch is one SQL statement whatever the page size: the N+1 test counts.

Loaders receive parent ids that were already scoped to the caller (parents come from
owner-filtered queries), so they do not filter by owner again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from strawberry.dataloader import DataLoader
from tortoise import connections

from models.patterns import Pattern, Suggestion
from models.users import User
from models.workflows import StepRun, Workflow, WorkflowStep
from schema.pagination import decode_cursor, page_size


async def _users(ids: list[UUID]) -> list[User | None]:
    rows = {u.id: u for u in await User.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def _workflows(ids: list[UUID]) -> list[Workflow | None]:
    rows = {w.id: w for w in await Workflow.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def _patterns(ids: list[UUID]) -> list[Pattern | None]:
    rows = {p.id: p for p in await Pattern.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def _steps(workflow_ids: list[UUID]) -> list[list[WorkflowStep]]:
    grouped: dict[UUID, list[WorkflowStep]] = defaultdict(list)
    for step in await WorkflowStep.filter(workflow_id__in=workflow_ids).order_by("position"):
        grouped[step.workflow_id].append(step)  # type: ignore[attr-defined]
    return [grouped[i] for i in workflow_ids]


async def _step_runs(run_ids: list[UUID]) -> list[list[SimpleNamespace]]:
    # Plain rows, not models: a page of runs can carry hundreds of step runs, and building
    # ORM instances for read-only output showed up in profiles.
    grouped: dict[UUID, list[SimpleNamespace]] = defaultdict(list)
    rows = (
        await StepRun.filter(run_id__in=run_ids)
        .order_by("position")
        .values(
            "id",
            "run_id",
            "position",
            "connector",
            "status",
            "attempts",
            "output",
            "error",
            "started_at",
            "finished_at",
        )
    )
    for row in rows:
        grouped[row["run_id"]].append(SimpleNamespace(**row))
    return [grouped[i] for i in run_ids]


async def _suggestions(pattern_ids: list[UUID]) -> list[list[Suggestion]]:
    grouped: dict[UUID, list[Suggestion]] = defaultdict(list)
    for suggestion in await Suggestion.filter(pattern_id__in=pattern_ids).order_by("created_at"):
        grouped[suggestion.pattern_id].append(suggestion)  # type: ignore[attr-defined]
    return [grouped[i] for i in pattern_ids]


@dataclass(frozen=True)
class RunPageKey:
    """A page of one workflow's runs, newest first."""

    workflow_id: UUID
    first: int | None = None
    after: str | None = None


_RUNS_PAGE = """
SELECT * FROM (
  SELECT r.*, row_number() OVER (
    PARTITION BY r.workflow_id ORDER BY r.created_at DESC, r.id DESC) AS position_in_page
  FROM workflow_runs r
  WHERE r.workflow_id = ANY($1::uuid[]) {after}
) AS page WHERE position_in_page <= $2
ORDER BY workflow_id, created_at DESC, id DESC
"""


async def _run_pages(keys: list[RunPageKey]) -> list[list[SimpleNamespace]]:
    """Runs for many workflows: one statement per distinct (first, after), which for a
    nested list (same arguments for every parent) means one statement in all."""
    groups: dict[tuple[int, str | None], list[UUID]] = defaultdict(list)
    for key in keys:
        groups[(page_size(key.first), key.after)].append(key.workflow_id)
    pages: dict[tuple[UUID, int, str | None], list[SimpleNamespace]] = {}
    conn = connections.get("default")
    for (size, after), workflow_ids in groups.items():
        params: list[Any] = [workflow_ids, size + 1]
        condition = ""
        if after:
            created, run_id = decode_cursor(after, (datetime, UUID))
            condition = "AND (r.created_at, r.id) < ($3, $4)"
            params += [created, run_id]
        rows = await conn.execute_query_dict(_RUNS_PAGE.format(after=condition), params)
        by_workflow: dict[UUID, list[SimpleNamespace]] = defaultdict(list)
        for row in rows:
            by_workflow[row["workflow_id"]].append(SimpleNamespace(**row))
        for workflow_id in workflow_ids:
            pages[(workflow_id, size, after)] = by_workflow[workflow_id]
    return [pages[(k.workflow_id, page_size(k.first), k.after)] for k in keys]


def _loader(load: Any) -> Any:
    return field(default_factory=lambda: DataLoader(load_fn=load))


@dataclass
class Loaders:
    """Built per request in `get_context`."""

    user: DataLoader[UUID, User | None] = _loader(_users)
    workflow: DataLoader[UUID, Workflow | None] = _loader(_workflows)
    pattern: DataLoader[UUID, Pattern | None] = _loader(_patterns)
    steps: DataLoader[UUID, list[WorkflowStep]] = _loader(_steps)
    step_runs: DataLoader[UUID, list[SimpleNamespace]] = _loader(_step_runs)
    suggestions: DataLoader[UUID, list[Suggestion]] = _loader(_suggestions)
    run_pages: DataLoader[RunPageKey, list[SimpleNamespace]] = _loader(_run_pages)

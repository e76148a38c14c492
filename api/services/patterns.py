"""Suggestions: accepting one creates its proposed workflow (disabled until the user enables
it); dismissing one keeps it dismissed (analysis never re-proposes the same pattern)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from api.services import audit, workflows
from api.services.errors import Conflict, ValidationFailed
from api.services.ownership import owned
from models.patterns import Suggestion, SuggestionStatus
from models.users import User
from models.workflows import Workflow


async def owned_suggestion(user: User, suggestion_id: str) -> Suggestion:
    return await owned(Suggestion, user, suggestion_id, "Suggestion", lock=True)


def _spec(proposed: dict[str, Any]) -> workflows.WorkflowSpec:
    steps = [
        workflows.StepSpec(connector=str(step.get("connector")), config=step.get("config"))
        for step in proposed.get("steps", [])
        if isinstance(step, dict)
    ]
    return workflows.WorkflowSpec(
        name=str(proposed.get("name", "Suggested workflow")),
        description=str(proposed.get("description", "")),
        schedule=proposed.get("schedule"),
        timezone=str(proposed.get("timezone", "UTC")),
        steps=steps,
        enabled=False,
    )


async def accept_suggestion(actor: User, suggestion_id: str) -> Workflow:
    async with in_transaction("default"):
        suggestion = await owned_suggestion(actor, suggestion_id)
        if suggestion.status != SuggestionStatus.PENDING:
            raise Conflict(f"This suggestion was already {suggestion.status.value}.")
        try:
            workflow = await workflows.create_workflow(
                actor, _spec(suggestion.proposed_workflow), source=f"suggestion:{suggestion.id}"
            )
        except ValidationFailed as error:
            raise Conflict(f"The proposed workflow is no longer valid: {error.message}") from None
        suggestion.status = SuggestionStatus.ACCEPTED
        suggestion.workflow = workflow
        suggestion.decided_at = datetime.now(UTC)
        await suggestion.save()
        await audit.record(
            actor=actor,
            owner=actor,
            action="suggestion.accept",
            target_type="suggestion",
            target_id=suggestion.id,
            before={"status": "pending"},
            after={"status": "accepted", "workflow_id": str(workflow.id)},
        )
    return workflow


async def dismiss_suggestion(actor: User, suggestion_id: str) -> Suggestion:
    async with in_transaction("default"):
        suggestion = await owned_suggestion(actor, suggestion_id)
        if suggestion.status != SuggestionStatus.PENDING:
            raise Conflict(f"This suggestion was already {suggestion.status.value}.")
        suggestion.status = SuggestionStatus.DISMISSED
        suggestion.decided_at = datetime.now(UTC)
        await suggestion.save()
        await audit.record(
            actor=actor,
            owner=actor,
            action="suggestion.dismiss",
            target_type="suggestion",
            target_id=suggestion.id,
            before={"status": "pending"},
            after={"status": "dismissed"},
        )
    return suggestion

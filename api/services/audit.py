"""The audit log: every change to user data is recorded with who, what, before and after,
inside the same transaction as the change."""

from __future__ import annotations

from typing import Any

from api.logs import request_id_var
from models.audit import AuditEntry
from models.users import User


async def record(
    *,
    actor: User | None,
    owner: User | Any | None,
    action: str,
    target_type: str,
    target_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    owner_id = owner.id if isinstance(owner, User) else owner
    return await AuditEntry.create(
        actor_id=actor.id if actor is not None else None,
        owner_id=owner_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=before,
        after=after,
        request_id=request_id_var.get(),
    )

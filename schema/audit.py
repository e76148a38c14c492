"""The audit log as its owner (or an admin, for everything) sees it."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from models.audit import AuditEntry as AuditEntryModel
from models.users import Role
from schema.context import Info
from schema.pagination import Connection, paginate
from schema.permissions import IsAuthenticated, require_user


@strawberry.type
class AuditEntry:
    id: strawberry.ID
    action: str
    target_type: str
    target_id: str
    before: JSON | None
    after: JSON | None
    actor_id: strawberry.ID | None
    request_id: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, row: AuditEntryModel) -> AuditEntry:
        actor = row.actor_id  # type: ignore[attr-defined]
        return cls(
            id=strawberry.ID(str(row.id)),
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            before=JSON(row.before),
            after=JSON(row.after),
            actor_id=strawberry.ID(str(actor)) if actor is not None else None,
            request_id=row.request_id,
            created_at=row.created_at,
        )


@strawberry.type
class AuditQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Changes to your data, oldest first; admins see every entry.",
    )
    async def audit_log(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AuditEntry]:
        user = require_user(info)
        query = (
            AuditEntryModel.all() if user.role == Role.ADMIN else AuditEntryModel.filter(owner=user)
        )
        return await paginate(
            query,
            keys=("created_at", "id"),
            key_types=(datetime, int),
            first=first,
            after=after,
            to_node=AuditEntry.from_model,
        )

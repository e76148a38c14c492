"""Loading a user's own object by id: the one place that decides that someone else's object
answers exactly like a missing one."""

from __future__ import annotations

import uuid
from typing import TypeVar

from tortoise.models import Model

from api.services.errors import NotFound
from models.users import User

ModelT = TypeVar("ModelT", bound=Model)


async def owned(
    model: type[ModelT], user: User, object_id: str | uuid.UUID, what: str, *, lock: bool = False
) -> ModelT:
    """`model` row `object_id` owned by `user` (locked FOR UPDATE when `lock`), else
    `NotFound(f"{what} not found.")` — for a malformed id too."""
    try:
        key = uuid.UUID(str(object_id))
    except ValueError:
        raise NotFound(f"{what} not found.") from None
    query = model.filter(id=key, user=user)
    row = await (query.select_for_update().first() if lock else query.first())
    if row is None:
        raise NotFound(f"{what} not found.")
    return row

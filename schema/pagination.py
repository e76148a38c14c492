"""Relay connections with opaque keyset cursors.

A cursor encodes the sort key of the last row seen, so pages stay stable while new rows
arrive (no offsets). Page size: 50 by default, at most 100.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import strawberry
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from api.services.errors import ValidationFailed

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

NodeT = TypeVar("NodeT")
ModelT = TypeVar("ModelT", bound=Model)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0:
        raise ValidationFailed("`first` must not be negative.", "first")
    return min(first, MAX_PAGE_SIZE)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, types: Sequence[type]) -> list[Any]:
    """The sort key in a cursor; `ValidationFailed` for anything we did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError
        decoded: list[Any] = []
        for value, kind in zip(values, types, strict=True):
            if kind is datetime:
                decoded.append(datetime.fromisoformat(value))
            elif kind is UUID:
                decoded.append(UUID(value))
            elif kind is int and isinstance(value, int) and not isinstance(value, bool):
                decoded.append(value)
            else:
                raise ValueError
        return decoded
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise ValidationFailed("Invalid cursor.", "after") from None


async def paginate(
    query: QuerySet[ModelT],
    *,
    keys: tuple[str, str],
    key_types: tuple[type, type],
    first: int | None,
    after: str | None,
    to_node: Callable[[ModelT], NodeT],
) -> Connection[NodeT]:
    """One page of `query` ordered by the two `keys` (a sortable column, then a unique id)."""
    size = page_size(first)
    primary, tiebreak = keys
    if after:
        value, last_id = decode_cursor(after, key_types)
        query = query.filter(
            Q(**{f"{primary}__gt": value}) | Q(**{primary: value, f"{tiebreak}__gt": last_id})
        )
    rows = await query.order_by(primary, tiebreak).limit(size + 1)
    edges = [
        Edge(cursor=encode_cursor([getattr(r, primary), getattr(r, tiebreak)]), node=to_node(r))
        for r in rows[:size]
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > size, end_cursor=edges[-1].cursor if edges else None
        ),
    )

"""The typed per-request GraphQL context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from api.realtime import Broker
from api.runtime import Runtime
from models.users import User
from schema.loaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    runtime: Runtime
    request_id: str
    client_ip: str
    user: User | None = None
    broker: Broker | None = None
    # The operation's cost (schema/limits.py), charged against the caller's rate limit.
    cost: int = 1
    loaders: Loaders = field(default_factory=Loaders)
    # Filled by strawberry from the websocket `connection_init` payload.
    connection_params: dict[str, Any] | None = None


Info = StrawberryInfo[Context, Any]

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
    # None for an operation's own context on a websocket (api/websocket.py).
    request: Request | WebSocket | None
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

    def reset_loaders(self) -> None:
        """Fresh DataLoaders (each caches what it loaded for its whole life): a subscription
        stream calls this between messages so each message reads current data."""
        self.loaders = Loaders()
        if self.user is not None:
            self.loaders.user.prime(self.user.id, self.user)


Info = StrawberryInfo[Context, Any]

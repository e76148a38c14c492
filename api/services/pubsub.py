"""Publishing changes for live subscribers, through Redis pub/sub.

Channel names are derived here from ids the server already trusts, never from client input:
`pulse:user:<user id>:<topic>`. Publishing is best effort: a Redis outage must never fail
the change itself (subscribers catch up through the resume path).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from uuid import UUID

from api.runtime import Runtime

logger = logging.getLogger(__name__)


def channel(user_id: UUID | str, topic: str) -> str:
    return f"pulse:user:{user_id}:{topic}"


async def publish(rt: Runtime, user_id: UUID | str, topic: str, payload: dict[str, Any]) -> bool:
    try:
        await rt.redis.publish(channel(user_id, topic), json.dumps(payload, default=str))
    except Exception as error:
        logger.warning("could not publish %s for %s: %s", topic, user_id, error)
        return False
    return True

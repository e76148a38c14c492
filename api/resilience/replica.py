"""Read-replica routing: with DATABASE_READ_URL set, the ORM's reads go to the replica while
it is healthy and to the primary otherwise; writes always go to the primary.

A failed replica read marks it down at once (and that read runs on the primary, see
api/resilience/retry.py); a probe brings it back when it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

from tortoise import connections

logger = logging.getLogger(__name__)

REPLICA: Final = "replica"
PROBE_SECONDS = 1.0


class ReplicaHealth:
    def __init__(self) -> None:
        self.configured = False
        self.healthy = False

    def mark_down(self, error: BaseException) -> None:
        if self.healthy:
            logger.warning("read replica down (%s); reading from the primary", error)
        self.healthy = False

    async def probe_forever(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                up = False
                try:
                    client = connections.get(REPLICA)
                    async with asyncio.timeout(PROBE_SECONDS):
                        # The raw connection: the client's own reads fall back to the primary.
                        async with client.acquire_connection() as conn:
                            await conn.execute("SELECT 1")
                    up = True
                finally:
                    if up and not self.healthy:
                        logger.info("read replica healthy; routing reads to it")
                    self.healthy = up
            await asyncio.sleep(PROBE_SECONDS)


HEALTH = ReplicaHealth()


class ReadReplicaRouter:
    """Tortoise router (configured in api/db.py when a replica is set)."""

    def db_for_read(self, model: Any) -> str:
        return REPLICA if HEALTH.healthy else "default"

    def db_for_write(self, model: Any) -> str:
        return "default"

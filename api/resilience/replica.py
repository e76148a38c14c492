"""Read-replica routing: with DATABASE_READ_URL set, the ORM's reads go to the replica while
it is healthy and to the primary otherwise; writes always go to the primary.

Some reads must never see replication lag, and always go to the primary:
- accounts (models marked `read_from_primary = True`: users, refresh and emailed tokens), so
  a fresh account can sign in, and a revoked token or a password changed a moment ago
  cannot pass for valid (login, refresh, authenticate(), registration, verify/reset links);
- any read inside a transaction, which must see that transaction's own writes.

A failed replica read marks it down at once (and that read runs on the primary, see
api/resilience/retry.py); a probe brings it back when it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient

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
        if not HEALTH.healthy or getattr(model, "read_from_primary", False):
            return "default"
        # Within `in_transaction("default")` this name resolves to the transaction itself.
        if isinstance(connections.get("default"), TransactionalDBClient):
            return "default"
        return REPLICA

    def db_for_write(self, model: Any) -> str:
        return "default"

"""The database client the ORM uses: asyncpg's, plus two safety nets for plain reads.

- A read (SELECT outside a transaction) that fails on a connection-level error is retried
  with short backoff: it has no effect, so running it again is safe. Writes and anything
  inside a transaction are never retried blindly: the caller decides.
- A read on the replica that fails at the connection level marks the replica down and runs on
  the primary instead (see api/resilience/replica.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tortoise import connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from api.resilience import replica
from api.resilience.breaker import is_connection_error

logger = logging.getLogger(__name__)

READ_RETRIES = 2
BACKOFF_SECONDS = 0.05


def _is_read(query: str) -> bool:
    return query.lstrip()[:6].upper() in {"SELECT", "WITH R"} and "FOR UPDATE" not in query.upper()


class RetryingAsyncpgClient(AsyncpgDBClient):
    async def _read(self, method: str, query: str, values: list[Any] | None) -> Any:
        run = getattr(super(), method)
        if not _is_read(query):
            return await run(query, values)
        for attempt in range(READ_RETRIES + 1):
            try:
                return await run(query, values)
            except Exception as error:
                if not is_connection_error(error):
                    raise
                if self.connection_name == replica.REPLICA:
                    replica.HEALTH.mark_down(error)
                    primary = connections.get("default")
                    return await getattr(primary, method)(query, values)
                if attempt == READ_RETRIES:
                    raise
                logger.warning("read failed (%s); retry %d", error, attempt + 1)
                await asyncio.sleep(BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable")

    async def execute_query(self, query: str, values: list[Any] | None = None) -> Any:
        return await self._read("execute_query", query, values)

    async def execute_query_dict(self, query: str, values: list[Any] | None = None) -> Any:
        return await self._read("execute_query_dict", query, values)


client_class = RetryingAsyncpgClient

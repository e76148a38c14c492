"""A read cache for read-mostly queries, so an outage degrades instead of failing.

Whole GraphQL responses of queries that only read `me`, `patterns`, `suggestions`,
`workflows` or `workflow` are cached per user, keyed by the request and by the user's data
version. Every successful mutation by the user, and every change the worker makes to their
runs, patterns or suggestions, bumps that version: entries are never served after a write
(invalidation without enumerating keys). While the database breaker is open, a cached answer
is served instead of a 503, marked `"extensions": {"stale": true}`.

The cache lives in Redis (shared by every instance). When Redis is unavailable, development
falls back to a small in-memory cache per process (with a warning, same TTL); production does
not (and /readyz reports the Redis loss). An invalidation that cannot reach Redis is kept and
replayed as soon as Redis answers again (at the next cache call, and by a retry every second),
so an entry cached before an outage is not served after a write made during it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from redis.asyncio import Redis

from api.logs import Throttle
from api.resilience.latch import OutageLatch

logger = logging.getLogger(__name__)
# Once per Redis outage, not once per request.
warn = Throttle(logger)

CACHEABLE_FIELDS = frozenset({"me", "patterns", "suggestions", "workflows", "workflow"})
TTL_SECONDS = 600
MEMORY_ENTRIES = 1000
REPLAY_SECONDS = 1.0


def cacheable(query: str, operation_name: str | None) -> bool:
    """A query whose every top-level field is read-mostly (no events, runs or admin data)."""
    try:
        document = parse(query)
    except GraphQLError:
        return False
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        if definition.operation != OperationType.QUERY:
            return False
        fields = [s for s in definition.selection_set.selections if isinstance(s, FieldNode)]
        if len(fields) != len(definition.selection_set.selections):
            return False
        if "runs" in query:  # run history changes without a write by the user
            return False
        return all(f.name.value in CACHEABLE_FIELDS for f in fields)
    return False


class ReadCache:
    def __init__(
        self, redis: Redis, *, memory_fallback: bool, latch: OutageLatch | None = None
    ) -> None:
        self.redis = redis
        self.memory_fallback = memory_fallback
        self.latch = latch or OutageLatch()
        self._memory: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._memory_versions: dict[str, int] = {}
        # Users whose last invalidation did not reach Redis (replayed when it answers).
        self._lost: set[str] = set()
        self._replayer: asyncio.Task[None] | None = None

    @staticmethod
    def _key(user_id: str, version: int, request: bytes) -> str:
        digest = hashlib.sha256(request).hexdigest()
        return f"cache:{user_id}:{version}:{digest}"

    async def _version(self, user_id: str) -> int:
        try:
            await self._replay()
            value = await self.redis.get(f"cache:ver:{user_id}")
            return int(value or 0)
        except Exception as error:
            self.latch.failed(error)
            if not self.memory_fallback:
                raise
            return self._memory_versions.get(user_id, 0)

    async def get(self, user_id: str, request: bytes) -> bytes | None:
        try:
            self.latch.check()
            key = self._key(user_id, await self._version(user_id), request)
            value: bytes | None = await self.redis.get(key)
            return value
        except Exception as error:
            self.latch.failed(error)
            if not self.memory_fallback:
                warn.warning("read cache unavailable: %s", error)
                return None
            key = self._key(user_id, self._memory_versions.get(user_id, 0), request)
            entry = self._memory.get(key)
            if entry is None or entry[0] <= time.monotonic():
                return None
            return entry[1]

    async def put(self, user_id: str, request: bytes, response: bytes) -> None:
        try:
            self.latch.check()
            key = self._key(user_id, await self._version(user_id), request)
            await self.redis.set(key, response, ex=TTL_SECONDS)
        except Exception as error:
            self.latch.failed(error)
            if not self.memory_fallback:
                warn.warning("read cache unavailable: %s", error)
                return
            warn.warning("read cache: Redis unavailable, caching in memory (%s)", error)
            key = self._key(user_id, self._memory_versions.get(user_id, 0), request)
            self._memory[key] = (time.monotonic() + TTL_SECONDS, response)
            self._memory.move_to_end(key)
            while len(self._memory) > MEMORY_ENTRIES:
                self._memory.popitem(last=False)

    async def invalidate(self, user_id: str) -> None:
        """The user's data changed: nothing cached before this is served again."""
        self._memory_versions[user_id] = self._memory_versions.get(user_id, 0) + 1
        self._lost.add(user_id)
        try:
            self.latch.check()
            await self._replay()
        except Exception as error:
            self.latch.failed(error)
            logger.warning(
                "read cache: invalidation for %s kept until Redis answers: %s", user_id, error
            )
            if self._replayer is None or self._replayer.done():
                self._replayer = asyncio.create_task(self._replay_until_done())

    async def _replay(self) -> None:
        """Bump the version of every user whose invalidation is still owed to Redis."""
        if not self._lost:
            return
        users = list(self._lost)
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in users:
                pipe.incr(f"cache:ver:{user_id}")
            await pipe.execute()
        self._lost.difference_update(users)

    async def _replay_until_done(self) -> None:
        while self._lost:
            await asyncio.sleep(REPLAY_SECONDS)
            with contextlib.suppress(Exception):
                await self._replay()
                logger.info("read cache: invalidations kept during the Redis outage replayed")

    async def close(self) -> None:
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
            self._replayer = None


def mark_stale(response: bytes) -> bytes:
    body: dict[str, Any] = json.loads(response)
    body.setdefault("extensions", {})["stale"] = True
    return json.dumps(body).encode()

"""Rate limits shared by every instance, kept in Redis through the `limits` library
(moving windows).

Two kinds, two policies when Redis is down:
- `RateLimiter.hit`: sensitive operations (registration, password reset, verification
  mail): fail closed (503), since a per-instance count would multiply the limit;
- `OperationLimiter.charge`: every GraphQL operation, charged by its cost (schema/limits.py)
  per user, or per client IP when anonymous: falls back to a per-instance in-memory window,
  so reads keep working through a Redis outage (logins still fail closed: the login
  throttle needs Redis).
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from api.logs import Throttle
from api.resilience.latch import OutageLatch
from api.services.errors import RateLimited, ServiceUnavailable

logger = logging.getLogger(__name__)
# Once per Redis outage, not once per request.
warn = Throttle(logger)

# Per email address: how often a mail can be asked for.
VERIFICATION_MAIL_PER_EMAIL = parse("3/hour")
PASSWORD_RESET_PER_EMAIL = parse("3/hour")
# Per client IP, across addresses: stops one client from mailing many people.
MAIL_REQUESTS_PER_IP = parse("20/hour")
REGISTRATIONS_PER_IP = parse("10/hour")


class RateLimiter:
    def __init__(
        self, redis_url: str, pool: ConnectionPool, latch: OutageLatch | None = None
    ) -> None:
        self.latch = latch or OutageLatch()
        # Sharing the process's pool: one set of connections, closed with the rest.
        self.storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            connection_pool=pool,  # type: ignore[arg-type]  # documented, typed too narrowly
        )
        self.limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, item: RateLimitItem, *identifiers: str) -> None:
        """Count one request; `RateLimited` (with seconds to wait) when over the limit."""
        try:
            self.latch.check()  # fail closed at once while Redis is known to be failing
            allowed = await self.limiter.hit(item, *identifiers)
            if allowed:
                return
            stats = await self.limiter.get_window_stats(item, *identifiers)
        except Exception as error:  # redis-py raises several families for an outage
            self.latch.failed(error)
            warn.warning("rate limit storage unavailable: %s", error)
            raise ServiceUnavailable("Temporarily unavailable; try again shortly.") from error
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(f"Too many requests; try again in {retry_after} seconds.", retry_after)

    async def reset(self) -> None:
        await self.storage.reset()


class OperationLimiter:
    """Cost-based limit on GraphQL operations (see the module docstring)."""

    def __init__(
        self,
        redis_url: str,
        pool: ConnectionPool,
        per_user: str,
        per_ip: str,
        latch: OutageLatch | None = None,
    ) -> None:
        self.latch = latch or OutageLatch()
        self.per_user = parse(per_user)
        self.per_ip = parse(per_ip)
        storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            connection_pool=pool,  # type: ignore[arg-type]  # documented, typed too narrowly
        )
        self.shared = MovingWindowRateLimiter(storage)
        self.local = MovingWindowRateLimiter(MemoryStorage())

    async def charge(self, identity: str, authenticated: bool, cost: int) -> None:
        item = self.per_user if authenticated else self.per_ip
        try:
            self.latch.check()
            allowed = await self.shared.hit(item, "op", identity, cost=cost)
            limiter = self.shared
        except Exception as error:
            self.latch.failed(error)
            warn.warning("rate limit storage unavailable (%s); limiting per instance", error)
            limiter = self.local
            allowed = await limiter.hit(item, "op", identity, cost=cost)
        if allowed:
            return
        try:
            stats = await limiter.get_window_stats(item, "op", identity)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        except Exception:
            retry_after = 60
        raise RateLimited(
            f"Rate limit reached ({item}); try again in {retry_after} seconds.", retry_after
        )

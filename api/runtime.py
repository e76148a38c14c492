"""The shared resources of one process (API or worker), built once at start-up and handed to
services: no module-level clients, so tests can build as many as they need."""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from api.auth.throttle import LoginThrottle
from api.auth.tokens import KeySet
from api.resilience.breaker import CircuitBreaker
from api.resilience.cache import ReadCache
from api.resilience.flags import FeatureFlags
from api.resilience.idempotency import IdempotencyStore
from api.resilience.latch import OutageLatch
from api.resilience.rate_limit import OperationLimiter, RateLimiter
from api.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    keys: KeySet
    # One client serves plain Redis calls and job enqueueing (ArqRedis is a Redis).
    redis: ArqRedis
    limiter: RateLimiter
    throttle: LoginThrottle
    breaker: CircuitBreaker
    idempotency: IdempotencyStore
    flags: FeatureFlags
    cache: ReadCache
    operations: OperationLimiter

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        """Build without connecting: a Redis outage at start-up delays jobs, not the API."""
        # Redis answers in well under a millisecond: a call that takes longer than this is
        # an outage, and the request takes its fallback rather than waiting.
        timeout = settings.redis_timeout_seconds
        redis = ArqRedis(
            connection_pool=ConnectionPool.from_url(
                settings.redis_dsn, socket_connect_timeout=timeout, socket_timeout=timeout
            )
        )
        latch = OutageLatch()
        return cls(
            settings=settings,
            keys=KeySet(settings),
            redis=redis,
            limiter=RateLimiter(settings.redis_dsn, redis.connection_pool, latch),
            throttle=LoginThrottle(redis, latch),
            breaker=CircuitBreaker(
                failure_threshold=settings.breaker_failure_threshold,
                reset_timeout=settings.breaker_reset_seconds,
            ),
            idempotency=IdempotencyStore(redis),
            flags=FeatureFlags(settings.feature_flags),
            cache=ReadCache(redis, memory_fallback=not settings.is_production, latch=latch),
            operations=OperationLimiter(
                settings.redis_dsn,
                redis.connection_pool,
                settings.rate_limit_user,
                settings.rate_limit_anonymous,
                latch=latch,
            ),
        )

    async def close(self) -> None:
        await self.cache.close()
        await self.redis.aclose()
        # A pool passed in explicitly is not closed by aclose().
        await self.redis.connection_pool.disconnect()

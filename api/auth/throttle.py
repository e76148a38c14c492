"""Login throttling: after a few failures for one account (or many from one IP) each further
attempt must wait longer (exponential backoff), and past a limit the account or IP is locked
for a while. Counters live in Redis, keyed by a hash of the email, so unknown and known
emails behave alike. Redis down means login fails closed (`ServiceUnavailable`)."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from api.resilience.latch import OutageLatch
from api.services.errors import ServiceUnavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    slow_after: int  # failures before backoff starts
    lock_after: int  # failures before the lock
    lock_seconds: int
    max_backoff_seconds: int = 60


ACCOUNT = Policy(slow_after=3, lock_after=10, lock_seconds=15 * 60)
CLIENT_IP = Policy(slow_after=20, lock_after=100, lock_seconds=15 * 60)
WINDOW_SECONDS = 15 * 60


class LoginThrottle:
    def __init__(self, redis: Redis, latch: OutageLatch | None = None) -> None:
        self.redis = redis
        self.latch = latch or OutageLatch()

    @staticmethod
    def _keys(email: str, ip: str) -> list[tuple[str, Policy]]:
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        return [(f"login:fail:acct:{digest}", ACCOUNT), (f"login:fail:ip:{ip}", CLIENT_IP)]

    async def wait_seconds(self, email: str, ip: str, *, now: float | None = None) -> int:
        """Seconds before another attempt is allowed (0: go ahead)."""
        current = time.time() if now is None else now
        wait = 0.0
        try:
            self.latch.check()  # fail closed at once while Redis is known to be failing
            for key, policy in self._keys(email, ip):
                state: dict[bytes, bytes] = await self.redis.hgetall(key)  # type: ignore[misc]
                if not state:
                    continue
                failures = int(state[b"count"])
                last = float(state[b"last"])
                if failures >= policy.lock_after:
                    delay = float(policy.lock_seconds)
                elif failures >= policy.slow_after:
                    exponent = failures - policy.slow_after
                    delay = float(min(policy.max_backoff_seconds, 2**exponent))
                else:
                    continue
                wait = max(wait, last + delay - current)
        except Exception as error:
            self.latch.failed(error)
            logger.warning("login throttle unavailable: %s", error)
            raise ServiceUnavailable("Sign-in is temporarily unavailable.") from error
        return max(0, math.ceil(wait))

    async def record_failure(self, email: str, ip: str) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key, _ in self._keys(email, ip):
                    pipe.hincrby(key, "count", 1)
                    pipe.hset(key, "last", repr(time.time()))
                    pipe.expire(key, WINDOW_SECONDS + ACCOUNT.lock_seconds)
                await pipe.execute()
        except Exception as error:
            logger.warning("login throttle unavailable: %s", error)
            raise ServiceUnavailable("Sign-in is temporarily unavailable.") from error

    async def record_success(self, email: str, ip: str) -> None:
        account_key = self._keys(email, ip)[0][0]
        try:
            await self.redis.delete(account_key)
        except Exception as error:  # the login itself succeeded; a stale counter is harmless
            logger.warning("could not reset login failures: %s", error)

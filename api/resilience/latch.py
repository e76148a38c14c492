"""A latch for a dependency that just failed (Redis, on the request path).

Without it, every request during a Redis outage waits for its own timeout on every Redis call
before taking its fallback: a Redis that hangs rather than refusing connections would add
seconds to each request. After a failure the latch stays open for `seconds`: callers skip
Redis and take their fallback at once (the cache serves from memory or not at all, the rate
limit counts per instance). The first call after that tries Redis again.
"""

from __future__ import annotations

import time
from typing import Final

OPEN_SECONDS: Final = 5.0


class RedisSkipped(ConnectionError):
    """Not sent: Redis failed moments ago (see `OutageLatch`)."""


class OutageLatch:
    def __init__(self, seconds: float = OPEN_SECONDS) -> None:
        self.seconds = seconds
        self._until = 0.0

    @property
    def open(self) -> bool:
        return time.monotonic() < self._until

    def check(self) -> None:
        """Raise `RedisSkipped` while the latch is open."""
        if self.open:
            raise RedisSkipped("Redis failed moments ago; skipped")

    def failed(self, error: BaseException) -> None:
        """A Redis call failed with `error` (a skip, `RedisSkipped`, is not a failure)."""
        if not isinstance(error, RedisSkipped):
            self._until = time.monotonic() + self.seconds

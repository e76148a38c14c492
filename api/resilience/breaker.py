"""A circuit breaker for the database, asyncio-native.

    closed ──(failure_threshold connection failures in a row)──> open
    open ──(reset_timeout elapsed: one probe let through)──> half-open
    half-open ──probe succeeds──> closed      half-open ──probe fails──> open

Only connection-level failures count (refused, reset, terminated, timed out): an integrity
or validation error says nothing about the database's health, and neither does a client
hanging up. While open, callers answer 503 at once without touching the database.

The probe is a real round trip (`admit` runs it, e.g. `SELECT 1`) before the request it
admits goes on: a request that never reaches the database (an anonymous `me`, a bad token)
proves nothing, so only the probe's answer closes the breaker. `record_success` from
ordinary requests resets the failure count while closed and never closes an open breaker
(a request that started before the breaker opened may finish after it).
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections.abc import Awaitable, Callable

import asyncpg
from redis.exceptions import RedisError
from tortoise.exceptions import DBConnectionError

from api.services.errors import PulseError


class BreakerState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    DBConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    # A connection whose server side was killed can be left in a broken protocol state.
    asyncpg.exceptions.InternalClientError,
)


def is_connection_error(error: BaseException | None) -> bool:
    """True when `error`, or anything it was raised from, means the database is unreachable.
    A Redis failure never does, whatever socket error it came from, and neither does one of
    our own errors (already classified, e.g. "sign-in is unavailable" while Redis is down):
    counting those would open the database breaker during a Redis outage."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, RedisError | PulseError):
            return False
        if isinstance(error, _CONNECTION_ERRORS):
            return True
        error = error.__cause__ or error.__context__
    return False


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if (
            self._state == BreakerState.OPEN
            and self._clock() >= self._opened_at + self.reset_timeout
        ):
            return BreakerState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """May a call go to the database now? In half-open state only one probe at a time."""
        state = self.state
        if state == BreakerState.CLOSED:
            return True
        if state == BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = True
            return True
        return False

    def retry_after(self) -> int:
        """Seconds until a probe will be allowed (at least 1)."""
        left = self._opened_at + self.reset_timeout - self._clock()
        return max(1, math.ceil(left))

    async def admit(self, probe: Callable[[], Awaitable[object]]) -> bool:
        """May a request go to the database now? When this caller is the half-open probe,
        `probe` runs first: the breaker closes if it answers and opens again if not."""
        probing = self.state == BreakerState.HALF_OPEN
        if not self.allow():
            return False
        if not probing:
            return True
        try:
            await probe()
        except asyncio.CancelledError:
            self.release_probe()
            raise
        except Exception:
            self.record_failure()
            return False
        self._close()
        return True

    def record_success(self) -> None:
        """A call reached the database and it answered. Resets the count of failures in a
        row; an open or half-open breaker closes only through `admit`'s probe."""
        if self._state == BreakerState.CLOSED:
            self._failures = 0

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self._failures += 1
        if self._state == BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()

    def release_probe(self) -> None:
        """A probe ended without telling anything (e.g. it never reached the database)."""
        self._probe_in_flight = False

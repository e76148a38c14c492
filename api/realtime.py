"""Fan-out of published changes to this process's websocket subscribers.

One Redis pub/sub connection per API process, one Redis subscription per channel however many
local subscribers share it. redis-py's pub/sub does not survive a Redis restart, so the reader
reconnects by itself (with backoff), subscribes to every channel again, and tells each local
subscriber it may have missed messages (`RESYNC`): subscribers that can catch up from the
database (events) do so; the others simply continue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

logger = logging.getLogger(__name__)

RESYNC: Final = object()  # "messages may have been lost": put in a subscriber's queue
QUEUE_SIZE = 1000
RECONNECT_MAX_SECONDS = 5.0


class Broker:
    def __init__(self, redis_url: str) -> None:
        self._redis = Redis.from_url(redis_url, socket_connect_timeout=2, health_check_interval=10)
        self._queues: dict[str, set[asyncio.Queue[Any]]] = {}
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.reconnects = 0

    @property
    def channels(self) -> list[str]:
        return sorted(self._queues)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="realtime-broker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close_pubsub()
        await self._redis.aclose()

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[asyncio.Queue[Any]]:
        """A queue of this channel's messages (decoded JSON) and RESYNC markers."""
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_SIZE)
        first = channel not in self._queues
        self._queues.setdefault(channel, set()).add(queue)
        if first and self._pubsub is not None and self._connected.is_set():
            try:
                await self._pubsub.subscribe(channel)
            except Exception as error:  # the reader will subscribe it after reconnecting
                logger.warning("subscribe to %s failed: %s", channel, error)
        try:
            yield queue
        finally:
            listeners = self._queues.get(channel)
            if listeners is not None:
                listeners.discard(queue)
                if not listeners:
                    del self._queues[channel]
                    if self._pubsub is not None and self._connected.is_set():
                        with contextlib.suppress(Exception):
                            await self._pubsub.unsubscribe(channel)

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._connected.clear()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _run(self) -> None:
        delay = 0.1
        first = True
        while True:
            try:
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                # A placeholder channel keeps the connection in subscribed mode even when
                # nobody listens yet, so errors surface here rather than later.
                await self._pubsub.subscribe("pulse:broker", *self._queues)
                self._connected.set()
                # Channels added while we were connecting were not in that first call.
                missing = set(self._queues) - {
                    c.decode() if isinstance(c, bytes) else c for c in self._pubsub.channels
                }
                if missing:
                    await self._pubsub.subscribe(*missing)
                if not first:
                    self.reconnects += 1
                    logger.warning("realtime: reconnected to Redis; subscribers resync")
                    self._broadcast(RESYNC)
                first, delay = False, 0.1
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("realtime: Redis connection lost (%s); retrying", error)
                await self._close_pubsub()
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX_SECONDS, delay * 2)

    async def _read(self) -> None:
        assert self._pubsub is not None
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            try:
                payload = json.loads(message["data"])
            except (TypeError, ValueError):
                logger.warning("realtime: dropped a malformed message on %s", channel)
                continue
            for queue in list(self._queues.get(channel, ())):
                self._offer(queue, payload)

    def _broadcast(self, item: Any) -> None:
        for queues in self._queues.values():
            for queue in queues:
                self._offer(queue, item)

    @staticmethod
    def _offer(queue: asyncio.Queue[Any], item: Any) -> None:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            # A subscriber this far behind has lost messages: make room and tell it.
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(RESYNC)

"""Shared subscription streams: each distinct subscription is executed once per process.

Subscribers that ask for the same thing (same user, document, operation name and variables)
share one stream: one execution of the selection set per message, serialized once, and the
same bytes framed for every subscriber. Without sharing, N sockets watching one thing cost N
executions and N serializations per message, because graphql-core completes the selection
set for each subscriber separately.

Frames reach a socket through its `Outbox`, written by one task per connection, so a slow
client delays only itself. A client that falls `OUTBOX_LIMIT` frames behind has lost
messages. It is disconnected, and it resumes with its cursor (`eventRecorded(after:)`).

The first subscriber's operation runs through the whole strawberry pipeline: validation,
cost limit, rate limit, and the resolver's own checks. A later one joins a stream that passed
those checks for the same user and document, and is charged and flag-checked on its own
(api/websocket.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Final, Protocol

from graphql import GraphQLError, GraphQLFormattedError
from strawberry.types.execution import ExecutionResult, PreExecutionError

from api.logs import request_id_var

logger = logging.getLogger(__name__)

OUTBOX_LIMIT: Final = 1000
OUTBOX_MAX_CHARS: Final = 16 * 1024 * 1024  # the same as a cap on bytes, for big frames
# Close code for a client too slow to keep up (RFC 6455 "try again later").
TOO_SLOW_CLOSE_CODE: Final = 1013

StreamKey = tuple[str, str, str | None, str]
Encode = Callable[[object], str]
Source = AsyncIterator[ExecutionResult | PreExecutionError | Any]


class StreamContext(Protocol):
    """What a stream needs of its GraphQL context (schema/context.py)."""

    def reset_loaders(self) -> None: ...


class Outbox:
    """A connection's queue of outgoing frames, written in order by one task."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        on_overflow: Callable[[], Coroutine[Any, Any, None]],
        limit: int = OUTBOX_LIMIT,
        max_chars: int = OUTBOX_MAX_CHARS,
    ) -> None:
        self._send = send
        self._on_overflow = on_overflow
        self._limit = limit
        self._max_chars = max_chars
        self._chars = 0
        # Frames and whose they are: a `next` frame is skipped once its member has left; a
        # frame without a member (the final `complete` or `error`) is always sent. Two
        # queues rather than one of pairs: no tuple per frame for the garbage collector.
        self._frames: deque[str] = deque()
        self._owners: deque[Member | None] = deque()
        self._ready = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.overflowed = False

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name="ws-outbox")

    async def stop(self) -> None:
        self._frames.clear()
        self._owners.clear()
        tasks = [task for task in (self._writer, self._closer) if task is not None]
        for task in tasks:
            task.cancel()
        # gather: the tasks' own cancellation is collected, a cancellation of ours is not.
        await asyncio.gather(*tasks, return_exceptions=True)

    def put(self, member: Member | None, frame: str) -> None:
        if self.overflowed:
            return
        if len(self._frames) >= self._limit or self._chars + len(frame) > self._max_chars:
            self.overflowed = True
            self._frames.clear()
            self._owners.clear()
            logger.warning("websocket client fell %d frames behind; disconnecting", self._limit)
            self._closer = asyncio.create_task(self._on_overflow())
            return
        self._frames.append(frame)
        self._owners.append(member)
        self._chars += len(frame)
        self._ready.set()

    async def _write(self) -> None:
        frames, owners = self._frames, self._owners
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while frames:
                    frame, member = frames.popleft(), owners.popleft()
                    self._chars -= len(frame)
                    if member is None or member.active:
                        await self._send(frame)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the socket is gone; the handler is shutting down
            logger.debug("websocket outbox stopped: %r", error)


class Member:
    """One websocket operation receiving a shared stream."""

    __slots__ = ("_encode", "_on_end", "active", "ended", "finished", "id", "outbox", "prefix")

    def __init__(
        self, outbox: Outbox, operation_id: str, encode: Encode, on_end: Callable[[], None]
    ) -> None:
        self.outbox = outbox
        self.id = operation_id
        self._encode = encode
        self._on_end = on_end
        # Everything of a `next` frame but its payload, built once for this subscriber.
        self.prefix = next_prefix(encode, operation_id)
        self.active = True  # False once the client left: its queued frames are dropped
        self.finished = False  # the stream ended for it
        self.ended = asyncio.Event()

    def send_next(self, payload: str) -> None:
        self.outbox.put(self, self.prefix + payload + "}")

    def end(self, errors: list[GraphQLFormattedError] | None) -> None:
        """The stream is over: send `error` (it failed before its first result) or
        `complete`, after any `next` frames still queued for this subscriber."""
        if self.finished or not self.active:
            return
        self.finished = True
        self._on_end()  # the id is free for reuse before the final frame, as strawberry does
        message: dict[str, Any] = {"id": self.id, "type": "complete"}
        if errors is not None:
            message = {"id": self.id, "type": "error", "payload": errors}
        self.outbox.put(None, self._encode(message))
        self.ended.set()


class SharedStream:
    """One execution of a subscription, fanned out to its members."""

    def __init__(
        self,
        key: StreamKey,
        open_source: Callable[[Any], Awaitable[Source]],
        context: StreamContext,
        encode: Encode,
        on_close: Callable[[SharedStream], None],
    ) -> None:
        self.key = key
        self.members: dict[Member, None] = {}  # insertion-ordered set
        self._open_source: Callable[[Any], Awaitable[Source]] | None = open_source
        self._context = context
        self._encode = encode
        self._on_close = on_close
        self._task = asyncio.create_task(self._pump(), name="shared-subscription")

    def attach(self, member: Member) -> None:
        self.members[member] = None

    def detach(self, member: Member) -> None:
        """A member left (its client completed the operation or disconnected). The last one
        to leave stops the execution, which unsubscribes from Redis."""
        if not member.finished:
            member.active = False
        self.members.pop(member, None)
        if not self.members and not self._task.done():
            self._on_close(self)
            self._task.cancel()

    async def _pump(self) -> None:
        # The task inherited the request id of the subscriber that opened the stream; its
        # logs are the stream's, whoever still listens.
        request_id_var.set(f"stream-{uuid.uuid4().hex[:16]}")
        errors: list[GraphQLFormattedError] | None = None
        try:
            assert self._open_source is not None
            source = await self._open_source(self._context)
            self._open_source = None
            try:
                first = True
                async for result in source:
                    if first and isinstance(result, PreExecutionError):
                        errors = [error.formatted for error in result.errors or ()]
                        break
                    if not isinstance(result, ExecutionResult):
                        # @defer/@stream frames have no graphql-transport-ws representation.
                        message = "Incremental delivery is not supported over websockets."
                        errors = [GraphQLError(message).formatted]
                        break
                    first = False
                    payload = self._encode(next_payload(result))
                    for member in self.members:
                        member.send_next(payload)
                    # The next message is executed with loaders that cache nothing yet.
                    self._context.reset_loaders()
            finally:
                # Unlisted before closing the source: no subscriber may join a stream that
                # is ending (its `complete` or `error` would be someone else's).
                self._on_close(self)
                with contextlib.suppress(Exception):
                    await source.aclose()  # type: ignore[attr-defined]
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("shared subscription stream failed")
        finally:
            self._on_close(self)
        for member in list(self.members):
            member.end(errors)


def next_prefix(encode: Encode, operation_id: str) -> str:
    """A `next` message up to its payload: add the serialized payload and `}`."""
    return '{"id":' + encode(operation_id) + ',"type":"next","payload":'


def next_payload(result: ExecutionResult) -> dict[str, Any]:
    """The payload of a `next` message, as strawberry builds it."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


class SharedStreams:
    """This process's shared streams by key."""

    def __init__(self, encode: Encode) -> None:
        self._encode = encode
        self._streams: dict[StreamKey, SharedStream] = {}

    def __len__(self) -> int:
        return len(self._streams)

    @property
    def subscribers(self) -> int:
        return sum(len(stream.members) for stream in self._streams.values())

    def get(self, key: StreamKey) -> SharedStream | None:
        return self._streams.get(key)

    def open(
        self,
        key: StreamKey,
        open_source: Callable[[Any], Awaitable[Source]],
        context: StreamContext,
    ) -> SharedStream:
        """Start executing: `open_source(context)` gives the stream of results."""
        stream = SharedStream(key, open_source, context, self._encode, self._forget)
        self._streams[key] = stream
        return stream

    def _forget(self, stream: SharedStream) -> None:
        # Only this stream: a newer one may already serve the same key.
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]

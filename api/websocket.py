"""Pulse's graphql-transport-ws handler.

On top of strawberry's protocol handling it adds:
- server pings, so a quiet subscription still shows traffic (proxies keep it open, dead peers
  are found; the protocol lets either side ping);
- subscriptions as streams (api/fanout.py): one execution per distinct (user, document,
  operation name, variables) in this process, whatever the subscriber count, when
  schema/sharing.py says one execution can serve them all; a private stream otherwise;
- a context per operation: the connection's user and services with fresh DataLoaders (a
  loader caches for its whole life) and no reference to the socket (a shared stream outlives
  the connection that opened it);
- idempotency keys for mutations, sent per operation as `extensions.idempotencyKey` in the
  `subscribe` message's payload, with the same store and semantics as the HTTP header
  (api/resilience/idempotency.py). A refused key ends the operation with an `error` message
  whose code is the HTTP path's (IDEMPOTENCY_KEY_INVALID, _REUSED, _IN_USE);
- a successful mutation invalidates the caller's cached reads before it is answered, as over
  HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import uuid
from typing import Any, Final

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLFormattedError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
)
from redis.exceptions import RedisError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types.execution import ExecutionResult, PreExecutionError

from api.fanout import (
    TOO_SLOW_CLOSE_CODE,
    Member,
    Outbox,
    SharedStreams,
    StreamKey,
    next_payload,
    next_prefix,
)
from api.resilience import flags
from api.resilience.idempotency import (
    MAX_KEY_LENGTH,
    RUNNING_TTL_SECONDS,
    IdempotencyError,
    canonical_request,
)
from api.services.errors import PulseError, RateLimited, ServiceUnavailable
from schema.context import Context
from schema.limits import MAX_TOKENS, check_document
from schema.sharing import shareable

logger = logging.getLogger(__name__)

IDEMPOTENCY_EXTENSION: Final = "idempotencyKey"
# Parsed documents are cached only up to this size: the cache key is the document itself.
CACHED_DOCUMENT_CHARS: Final = 8192

Parsed = tuple[OperationDefinitionNode, DocumentNode]
# An operation's answer: (HTTP-equivalent status, serialized `next` payload, or the errors
# of an `error` message when it was refused before it ran).
Outcome = tuple[int, str, list[GraphQLFormattedError] | None]


def _parse(query: str, name: str | None) -> Parsed | None:
    try:
        document = parse(query, max_tokens=MAX_TOKENS, no_location=True)
    except GraphQLError:
        return None
    definition = get_operation_ast(document, name)
    return None if definition is None else (definition, document)


_parse_cached = functools.lru_cache(maxsize=256)(_parse)


def _operation(query: str, name: str | None) -> Parsed | None:
    """The operation to run; None when the document does not parse or name one operation,
    which strawberry's own path then reports. Small documents (the usual ones) are parsed
    once per process."""
    if len(query) > CACHED_DOCUMENT_CHARS:
        return _parse(query, name)
    return _parse_cached(query, name)


def _error(error: PulseError | IdempotencyError) -> GraphQLFormattedError:
    return GraphQLError(error.message, extensions={"code": error.code}).formatted


class PulseTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox = Outbox(self._send_text, self._close_too_slow)
        # Each operation's idempotency key, from its subscribe message until its task starts.
        self._keys: dict[str, object] = {}
        # Mutations that finish even if their client leaves (see _run_mutation).
        self._unfinished: set[asyncio.Future[Outcome]] = set()

    @property
    def _streams(self) -> SharedStreams:
        streams: SharedStreams = self.view.shared_streams  # type: ignore[attr-defined]
        return streams

    def _encode(self, value: object) -> str:
        return self.view.encode_json_string(value)

    async def handle(self) -> None:
        self.outbox.start()
        pinger = asyncio.create_task(self._ping())
        try:
            await super().handle()
        finally:
            pinger.cancel()
            await self.outbox.stop()

    async def _ping(self) -> None:
        interval = self.view.settings.ws_ping_seconds  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(interval)
                if self.connection_acknowledged:
                    await self.send_message({"type": "ping"})

    async def _send_text(self, frame: str) -> None:
        await self.websocket.ws.send_text(frame)  # type: ignore[attr-defined]

    async def _close_too_slow(self) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(TOO_SLOW_CLOSE_CODE, "Too slow; reconnect and resume")

    # Operation lifecycle

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        op_id = message["id"]
        if op_id not in self.operations:  # else strawberry refuses it (4409)
            payload: Any = message.get("payload")
            extensions = payload.get("extensions") if isinstance(payload, dict) else None
            if isinstance(extensions, dict) and IDEMPOTENCY_EXTENSION in extensions:
                self._keys[op_id] = extensions[IDEMPOTENCY_EXTENSION]
        await super().handle_subscribe(message)
        if op_id not in self.operations:  # refused: no task will read it
            self._keys.pop(op_id, None)

    async def cleanup_operation(self, operation_id: str) -> None:
        # A `complete` may arrive before the operation's task has started.
        self._keys.pop(operation_id, None)
        await super().cleanup_operation(operation_id)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        key = self._keys.pop(operation.id, None)
        parsed = _operation(operation.query, operation.operation_name)
        if parsed is None or self.context.user is None:
            await super().run_operation(operation)
            return
        try:
            if parsed[0].operation == OperationType.SUBSCRIPTION:
                await self._run_stream(operation, parsed)
            elif parsed[0].operation == OperationType.MUTATION:
                await self._run_mutation(operation, key)
            else:
                self._answer(operation, await self._execute(operation, self._fresh_context()))
        except Exception as error:
            # As strawberry does for its own operations: log, and end the operation.
            await self.handle_task_exception(error)
            self._end(operation, {"id": operation.id, "type": "complete"})

    def _fresh_context(self) -> Context:
        """A context for one operation (see the module docstring)."""
        context = dataclasses.replace(
            self.context, request=None, response=None, cost=1, connection_params=None
        )
        context.reset_loaders()
        return context

    def _forget(self, operation: Operation[Context, None]) -> None:
        """Free the operation's id, unless a newer operation already uses it."""
        operation.completed = True
        if self.operations.get(operation.id) is operation:
            del self.operations[operation.id]

    def _end(self, operation: Operation[Context, None], *messages: dict[str, Any]) -> None:
        """The operation's last messages, after anything already queued for the socket."""
        if operation.completed:
            return
        self._forget(operation)
        for message in messages:
            self.outbox.put(None, self._encode(message))

    def _answer(self, operation: Operation[Context, None], outcome: Outcome) -> None:
        _, payload, errors = outcome
        if errors is not None:
            self._end(operation, {"id": operation.id, "type": "error", "payload": errors})
            return
        if operation.completed:
            return
        self._forget(operation)
        self.outbox.put(None, next_prefix(self._encode, operation.id) + payload + "}")
        self.outbox.put(None, self._encode({"id": operation.id, "type": "complete"}))

    async def _execute(self, operation: Operation[Context, None], context: Context) -> Outcome:
        """Run one query or mutation through the whole strawberry pipeline."""
        source = await self.schema.stream(
            operation.query,
            variable_values=operation.variables,
            context_value=context,
            root_value=self.root_value,
            operation_name=operation.operation_name,
        )
        result: Any = None
        try:
            async for item in source:
                result = item
                break
        finally:
            await source.aclose()
        if isinstance(result, PreExecutionError):
            # Refused before it ran (invalid, too costly, rate limited): an `error` message,
            # as strawberry sends, and HTTP's 400 for the idempotency store (not stored).
            return 400, "", [error.formatted for error in result.errors or ()]
        if not isinstance(result, ExecutionResult):
            message = "Incremental delivery is not supported over websockets."
            return 400, "", [GraphQLError(message).formatted]
        return 200, self._encode(next_payload(result)), None

    # Subscriptions

    async def _run_stream(self, operation: Operation[Context, None], parsed: Parsed) -> None:
        user = self.context.user
        assert user is not None
        variables = json.dumps(operation.variables or {}, sort_keys=True, default=str)
        key: StreamKey = (str(user.id), operation.query, operation.operation_name, variables)
        if not shareable(parsed[0], operation.variables):
            key = (*key[:3], f"{variables}\x00private:{uuid.uuid4()}")
        if self._streams.get(key) is not None:
            refusal = await self._admit(operation, parsed[1])
            if refusal is not None:
                self._end(operation, *refusal)
                return
        # Looked up again: the stream may have ended while this subscriber was admitted.
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams.open(key, self._source(operation), self._fresh_context())
        member = Member(self.outbox, operation.id, self._encode, lambda: self._forget(operation))
        stream.attach(member)
        try:
            await member.ended.wait()
        finally:
            stream.detach(member)

    def _source(self, operation: Operation[Context, None]) -> Any:
        query, variables, name = operation.query, operation.variables, operation.operation_name
        schema, root = self.schema, self.root_value

        # Closes over the operation's text only: the stream must not keep this connection.
        async def source(context: Context) -> Any:
            return await schema.stream(
                query,
                variable_values=variables,
                context_value=context,
                root_value=root,
                operation_name=name,
            )

        return source

    async def _admit(
        self, operation: Operation[Context, None], document: DocumentNode
    ) -> list[dict[str, Any]] | None:
        """The checks a subscriber joining a running stream did not go through: the
        subscriptions flag and its own rate-limit charge. (Validation, cost and the
        resolver's authorization depend only on the user and the document, which the
        stream shares.) The refusal's messages are those a fresh execution would send:
        `error` for a pre-execution refusal, else `next` with the error, then `complete`."""
        runtime, user = self.context.runtime, self.context.user
        assert user is not None
        costs: list[int] = []
        # strawberry keeps the graphql-core schema here; it has no public accessor.
        problem = check_document(
            self.schema._schema,  # type: ignore[attr-defined]
            document,
            operation.variables or {},
            operation.operation_name,
            costs,
        )
        if problem is not None:
            return [{"id": operation.id, "type": "error", "payload": [problem.formatted]}]
        try:
            await runtime.operations.charge(str(user.id), True, max(1, sum(costs)))
        except RateLimited as limited:
            return [{"id": operation.id, "type": "error", "payload": [_error(limited)]}]
        error: PulseError | None = None
        try:
            await runtime.flags.require(flags.SUBSCRIPTIONS)
        except PulseError as refused:
            error = refused
        except Exception:
            logger.warning("could not read the subscriptions flag", exc_info=True)
            error = ServiceUnavailable("Live updates are unavailable; retry shortly.")
        if error is None:
            return None
        return [
            {
                "id": operation.id,
                "type": "next",
                "payload": {"data": None, "errors": [_error(error)]},
            },
            {"id": operation.id, "type": "complete"},
        ]

    # Mutations

    async def _run_mutation(self, operation: Operation[Context, None], key: object) -> None:
        """Run a mutation (at most once per idempotency key), then invalidate the caller's
        cached reads before answering, so a read sent after the answer is fresh."""
        user = self.context.user
        assert user is not None
        if key is None:
            outcome = await self._execute(operation, self._fresh_context())
            if outcome[2] is None:
                await self._invalidate_cache()
            self._answer(operation, outcome)
            return
        if not isinstance(key, str):
            invalid = IdempotencyError(400, "IDEMPOTENCY_KEY_INVALID", "")
            invalid.message = f"idempotencyKey must be a string of 1–{MAX_KEY_LENGTH} characters."
            self._answer(operation, (400, "", [_error(invalid)]))
            return
        owner, store = str(user.id), self.context.runtime.idempotency
        request = canonical_request(operation.query, operation.variables, operation.operation_name)
        try:
            stored = await store.begin(owner, key, request)
        except IdempotencyError as error:
            self._answer(operation, (error.status, "", [_error(error)]))
            return
        except RedisError:
            unavailable = ServiceUnavailable("Idempotency keys are unavailable; retry shortly.")
            self._answer(operation, (503, "", [_error(unavailable)]))
            return
        if stored is not None:
            self._answer(operation, (stored.status, stored.body.decode(), None))
            return
        # Shielded: a client that leaves mid-mutation (socket closed, `complete`) cancels
        # this task, but the mutation runs to its end and its answer is stored for the retry;
        # freeing the key instead would let the retry run it a second time.
        work = asyncio.ensure_future(self._execute_and_store(operation, owner, key, request))
        self._unfinished.add(work)
        work.add_done_callback(self._unfinished.discard)
        self._answer(operation, await asyncio.shield(work))

    async def _execute_and_store(
        self, operation: Operation[Context, None], owner: str, key: str, request: bytes
    ) -> Outcome:
        store = self.context.runtime.idempotency
        try:
            outcome = await self._execute(operation, self._fresh_context())
        except Exception:
            await store.abandon(owner, key)
            raise
        status, body, errors = outcome
        try:
            await store.finish(owner, key, request, status, body.encode())
        except Exception:
            # Answered anyway; the key stays "running" and frees itself (a retry meanwhile
            # gets IDEMPOTENCY_KEY_IN_USE).
            logger.warning(
                "could not store an idempotent answer; its key expires in %ss",
                RUNNING_TTL_SECONDS,
                exc_info=True,
            )
        if errors is None:
            await self._invalidate_cache()
        return outcome

    async def _invalidate_cache(self) -> None:
        user = self.context.user
        if user is not None:
            with contextlib.suppress(Exception):  # the cache degrades by itself; see cache.py
                await self.context.runtime.cache.invalidate(str(user.id))

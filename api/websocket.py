"""Pulse's graphql-transport-ws handler.

On top of strawberry's protocol handling it adds:
- server pings, so a quiet subscription still shows traffic (proxies keep it open, dead peers
  are found; the protocol lets either side ping);
- shared subscription streams (api/fanout.py): a subscription is executed once per distinct
  (user, document, operation name, variables) in this process, whatever the subscriber count,
  when schema/sharing.py says one execution can serve them all;
- idempotency keys for mutations, sent per operation as `extensions.idempotencyKey` in the
  `subscribe` message's payload, with the same store and semantics as the HTTP header
  (api/resilience/idempotency.py). A refused key ends the operation with an `error` message
  whose code is the HTTP path's (IDEMPOTENCY_KEY_INVALID, _REUSED, _IN_USE);
- a successful mutation invalidates the caller's cached reads, as over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from typing import Any

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
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError

from api.fanout import TOO_SLOW_CLOSE_CODE, Member, Outbox, SharedStream, SharedStreams
from api.resilience import flags
from api.resilience.idempotency import IdempotencyError
from api.services.errors import PulseError, ServiceUnavailable
from schema.context import Context
from schema.limits import MAX_TOKENS, check_document
from schema.sharing import shareable

logger = logging.getLogger(__name__)

IDEMPOTENCY_EXTENSION = "idempotencyKey"


@functools.lru_cache(maxsize=256)
def _operation(query: str, name: str | None) -> tuple[OperationDefinitionNode, DocumentNode] | None:
    """The operation to run (parsed once per distinct document); None when the document
    does not parse or name one operation, which strawberry's own path then reports."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None
    definition = get_operation_ast(document, name)
    return None if definition is None else (definition, document)


def _error(error: PulseError | IdempotencyError) -> GraphQLFormattedError:
    return GraphQLError(error.message, extensions={"code": error.code}).formatted


class PulseTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox = Outbox(self._send_text, self._close_too_slow)
        # `extensions` of each operation's subscribe message, until its task reads them.
        self._extensions: dict[str, Any] = {}

    @property
    def _streams(self) -> SharedStreams:
        streams: SharedStreams = self.view.shared_streams  # type: ignore[attr-defined]
        return streams

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

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        extensions = payload.get("extensions") if isinstance(payload, dict) else None
        if isinstance(extensions, dict):
            self._extensions[message["id"]] = extensions
        await super().handle_subscribe(message)
        if message["id"] not in self.operations:  # refused: no task will read them
            self._extensions.pop(message["id"], None)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        extensions = self._extensions.pop(operation.id, None) or {}
        parsed = _operation(operation.query, operation.operation_name)
        kind = None if parsed is None else parsed[0].operation
        if parsed is None or self.context.user is None or kind == OperationType.QUERY:
            await super().run_operation(operation)
            return
        if kind == OperationType.SUBSCRIPTION and not shareable(parsed[0], operation.variables):
            await super().run_operation(operation)
            return
        try:
            if kind == OperationType.SUBSCRIPTION:
                await self._run_shared(operation, parsed[1])
            else:
                key = extensions.get(IDEMPOTENCY_EXTENSION)
                await self._run_mutation(operation, None if key is None else str(key))
        except Exception as error:
            # As strawberry does for its own operations: log, and end the operation.
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)

    async def _invalidate_cache(self) -> None:
        user = self.context.user
        if user is not None:
            with contextlib.suppress(Exception):  # the cache degrades by itself; see cache.py
                await self.context.runtime.cache.invalidate(str(user.id))

    def _forget(self, operation: Operation[Context, None]) -> None:
        operation.completed = True
        self.operations.pop(operation.id, None)

    async def _fail(
        self, operation: Operation[Context, None], error: GraphQLFormattedError
    ) -> None:
        await operation.send_operation_message(
            ErrorMessage(id=operation.id, type="error", payload=[error])
        )

    # Shared subscriptions

    async def _run_shared(
        self, operation: Operation[Context, None], document: DocumentNode
    ) -> None:
        user = self.context.user
        assert user is not None
        variables = json.dumps(operation.variables or {}, sort_keys=True, default=str)
        key = (str(user.id), operation.query, operation.operation_name, variables)
        if self._streams.get(key) is not None:
            refusal = await self._admit(operation, document)
            if refusal is not None:
                await self._fail(operation, refusal)
                return
        # Looked up again: the stream may have ended while this subscriber was admitted.
        stream = self._streams.get(key) or self._open(key, operation)
        member = Member(
            self.outbox, operation.id, self.view.encode_json_string, lambda: self._forget(operation)
        )
        stream.attach(member)
        try:
            await member.ended.wait()
        finally:
            stream.detach(member)

    def _open(
        self, key: tuple[str, str, str | None, str], operation: Operation[Context, None]
    ) -> SharedStream:
        async def source() -> Any:
            return await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )

        return self._streams.open(key, source)

    async def _admit(
        self, operation: Operation[Context, None], document: DocumentNode
    ) -> GraphQLFormattedError | None:
        """The checks a subscriber joining a running stream did not go through: the
        subscriptions flag and its own rate-limit charge. (Validation, cost and the
        resolver's authorization depend only on the user and the document, which the
        stream shares.)"""
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
            return problem.formatted
        try:
            await runtime.flags.require(flags.SUBSCRIPTIONS)
            await runtime.operations.charge(str(user.id), True, max(1, sum(costs)))
        except PulseError as error:
            return _error(error)
        return None

    # Idempotent mutations

    async def _run_mutation(self, operation: Operation[Context, None], key: str | None) -> None:
        """Run a mutation (at most once per idempotency key), then invalidate the caller's
        cached reads before answering, so a read sent after the answer is fresh."""
        user = self.context.user
        assert user is not None
        if key is None:
            _, body = await self._execute(operation)
            await self._invalidate_cache()
            await self._send_result(operation, body)
            return
        owner, store = str(user.id), self.context.runtime.idempotency
        request = json.dumps(
            {
                "query": operation.query,
                "variables": operation.variables,
                "operationName": operation.operation_name,
            },
            sort_keys=True,
        ).encode()
        try:
            stored = await store.begin(owner, key, request)
        except IdempotencyError as error:
            await self._fail(operation, _error(error))
            return
        except RedisError:
            unavailable = ServiceUnavailable("Idempotency keys are unavailable; retry shortly.")
            await self._fail(operation, _error(unavailable))
            return
        if stored is not None:
            await self._send_result(operation, stored.body.decode())
            return
        try:
            status, body = await self._execute(operation)
        except BaseException:
            await store.abandon(owner, key)
            raise
        await store.finish(owner, key, request, status, body.encode())
        await self._invalidate_cache()
        await self._send_result(operation, body)

    async def _execute(self, operation: Operation[Context, None]) -> tuple[int, str]:
        """Run one mutation: its HTTP-equivalent status and its serialized result."""
        source = await self.schema.stream(
            operation.query,
            variable_values=operation.variables,
            context_value=self.context,
            root_value=self.root_value,
            operation_name=operation.operation_name,
        )
        result: Any = None
        async for item in source:
            result = item
            break
        await source.aclose()
        if not isinstance(result, ExecutionResult):
            return 500, self.view.encode_json_string({"data": None, "errors": []})
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        # Refused before it ran (invalid document or variables): like HTTP's 400, not stored.
        status = 400 if isinstance(result, PreExecutionError) else 200
        return status, self.view.encode_json_string(payload)

    async def _send_result(self, operation: Operation[Context, None], payload: str) -> None:
        """`next` with an already serialized result, then `complete`."""
        frame = '{"id":' + self.view.encode_json_string(operation.id) + ',"type":"next","payload":'
        self.outbox.put(None, frame + payload + "}")
        self._forget(operation)
        self.outbox.put(
            None, self.view.encode_json_string({"id": operation.id, "type": "complete"})
        )

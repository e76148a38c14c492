"""Idempotency keys for mutations, with Stripe's semantics.

A mutation sent with `Idempotency-Key: <key>` (at most 255 characters) is recorded per user
for 24 hours together with a fingerprint of the request:
- the first request runs; its response (status and body) is stored when it finishes;
- a retry with the same key and the same request gets the stored response, and nothing runs
  a second time;
- the same key with a different request is refused (422);
- a retry while the first is still running is refused (409);
- a response that reports a validation failure is not stored (the client may fix the input
  and retry with the same key); neither is one that failed with an error we did not expect.
Queries ignore the header: running them twice has no effect to protect against.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from redis.asyncio import Redis
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255
TTL_SECONDS = 24 * 3600
# A first request that died without finishing frees its key after this long.
RUNNING_TTL_SECONDS = 120


class IdempotencyError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes


def is_mutation(body: bytes) -> bool:
    """Whether a GraphQL POST body asks for a mutation (False when it cannot tell)."""
    try:
        payload = json.loads(body)
        document = parse(payload["query"])
    except (ValueError, KeyError, TypeError, GraphQLError):
        return False
    name = payload.get("operationName")
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition.operation == OperationType.MUTATION
    return False


def canonical_request(
    query: object, variables: object, operation_name: object, **extra: object
) -> bytes:
    """A request as its key remembers it: the operation, whatever the transport (HTTP JSON,
    multipart, websocket), key order or whitespace, so a retry over another transport
    matches too. `query` and `operationName` stay at the top for `is_mutation`."""
    request = {"query": query, "variables": variables or {}, "operationName": operation_name}
    return json.dumps({**request, **extra}, sort_keys=True, separators=(",", ":")).encode()


async def request_identity(content_type: str, body: bytes) -> bytes:
    """What identifies an HTTP request for its key (see `canonical_request`). A multipart
    upload (the GraphQL multipart request spec) adds its map and each file's SHA-256: the
    part boundary is random on every attempt, so the raw bytes of a retry never match. A
    body that is not a GraphQL request is itself."""
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        try:
            payload = json.loads(body)
        except ValueError:
            return body
        if not isinstance(payload, dict):
            return body
        return canonical_request(
            payload.get("query"), payload.get("variables"), payload.get("operationName")
        )

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(Headers({"content-type": content_type}), stream(), max_files=10)
    try:
        form = await parser.parse()
    except MultiPartException:
        return body  # malformed: the operation itself will be refused
    parts: dict[str, str] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                parts[name] = "sha256:" + hashlib.sha256(await value.read()).hexdigest()
            else:
                parts[name] = value
    finally:
        await form.close()
    try:
        operations = json.loads(parts.pop("operations", "null"))
    except ValueError:
        return body
    if not isinstance(operations, dict):
        return body
    return canonical_request(
        operations.get("query"),
        operations.get("variables"),
        operations.get("operationName"),
        parts=parts,
    )


def _has_validation_failure(value: Any) -> bool:
    if isinstance(value, dict):
        if value.get("code") == "VALIDATION":
            return True
        return any(_has_validation_failure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_validation_failure(v) for v in value)
    return False


def worth_storing(status: int, body: bytes) -> bool:
    if status >= 400:
        return False
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    errors = payload.get("errors") or []
    codes = {e.get("extensions", {}).get("code") for e in errors if isinstance(e, dict)}
    if codes & {"VALIDATION", "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "RATE_LIMITED"}:
        return False
    return not _has_validation_failure(payload.get("data"))


class IdempotencyStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def _redis_key(owner: str, key: str) -> str:
        return "idem:" + hashlib.sha256(f"{owner}\x00{key}".encode()).hexdigest()

    async def begin(self, owner: str, key: str, body: bytes) -> StoredResponse | None:
        """Claim the key (None: go ahead) or return the stored response of the first call.
        Raises `IdempotencyError` for a bad key, a different request, or a call in flight."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise IdempotencyError(
                400,
                "IDEMPOTENCY_KEY_INVALID",
                f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} characters.",
            )
        fingerprint = hashlib.sha256(body).hexdigest()
        redis_key = self._redis_key(owner, key)
        claim = json.dumps({"state": "running", "fingerprint": fingerprint})
        if await self.redis.set(redis_key, claim, nx=True, ex=RUNNING_TTL_SECONDS):
            return None
        raw = await self.redis.get(redis_key)
        if raw is None:  # expired between the two calls: claim again
            return await self.begin(owner, key, body)
        record = json.loads(raw)
        if record["fingerprint"] != fingerprint:
            raise IdempotencyError(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was used with a different request.",
            )
        if record["state"] == "running":
            raise IdempotencyError(
                409,
                "IDEMPOTENCY_KEY_IN_USE",
                "A request with this Idempotency-Key is still running; retry later.",
            )
        return StoredResponse(record["status"], record["body"].encode())

    async def finish(self, owner: str, key: str, body: bytes, status: int, response: bytes) -> None:
        redis_key = self._redis_key(owner, key)
        if not worth_storing(status, response):
            await self.redis.delete(redis_key)
            return
        record = {
            "state": "done",
            "fingerprint": hashlib.sha256(body).hexdigest(),
            "status": status,
            "body": response.decode(),
        }
        await self.redis.set(redis_key, json.dumps(record), ex=TTL_SECONDS)

    async def abandon(self, owner: str, key: str) -> None:
        try:
            await self.redis.delete(self._redis_key(owner, key))
        except Exception:
            logger.warning("could not release idempotency key; it expires by itself")

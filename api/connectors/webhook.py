"""`webhook`: POSTs a JSON body, signed, retried when retrying can help.

Headers: `X-Pulse-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`,
`X-Pulse-Timestamp`, and `Idempotency-Key` (the same for every attempt of this step of this
run, so the receiver can drop repeats — including the one after a worker crash).
Retries: timeouts, connection errors, 5xx and 429, with exponential backoff that honours
`Retry-After` (capped); other 4xx answers are final.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from api.connectors.base import StepContext, StepFailed

MAX_RETRY_AFTER_SECONDS = 60.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(MAX_RETRY_AFTER_SECONDS, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        return min(
            MAX_RETRY_AFTER_SECONDS,
            max(0.0, parsedate_to_datetime(value).timestamp() - time.time()),
        )
    except (TypeError, ValueError):
        return None


async def execute(ctx: StepContext, config: dict[str, Any]) -> str:
    settings = ctx.settings
    payload = config.get("body")
    if payload is None:
        payload = {"workflow_id": ctx.workflow_id, "run_id": ctx.run_id, "step": ctx.position}
    body = json.dumps(payload, separators=(",", ":")).encode()
    secret = config.get("secret") or ctx.workflow_secret
    attempts = settings.webhook_max_attempts
    last_problem = ""
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as client:
        for attempt in range(1, attempts + 1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Pulse-Webhook/1",
                "Idempotency-Key": ctx.idempotency_key,
                "X-Pulse-Timestamp": timestamp,
                "X-Pulse-Signature": signature(secret, timestamp, body),
            }
            wait: float | None = None
            try:
                response = await client.post(config["url"], content=body, headers=headers)
            except httpx.TimeoutException:
                last_problem = f"no answer within {settings.webhook_timeout_seconds:g}s"
            except httpx.HTTPError as error:
                last_problem = f"{type(error).__name__}: {error}"
            else:
                if response.status_code < 400:
                    return f"HTTP {response.status_code}: {response.text[:500]}"
                last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code != 429:
                    raise StepFailed(f"webhook refused the delivery ({last_problem})")
                wait = _retry_after(response)
            if attempt == attempts:
                break
            if wait is None:
                ceiling = settings.webhook_backoff_seconds * 2 ** (attempt - 1)
                wait = random.uniform(ceiling / 2, ceiling)
            if await ctx.cancel_requested():
                raise StepFailed(f"cancelled while retrying ({last_problem})")
            await asyncio.sleep(wait)
    raise StepFailed(f"webhook failed after {attempts} attempts ({last_problem})")

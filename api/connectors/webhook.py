"""`webhook`: POSTs a JSON body, signed, retried when retrying can help.

Headers: `X-Pulse-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`,
`X-Pulse-Timestamp`, and `Idempotency-Key` (the same for every attempt of this step of this
run, so the receiver can drop repeats — including the one after a worker crash).
Retries: timeouts, connection errors, 5xx and 429, with exponential backoff that honours
`Retry-After` (capped); other 4xx answers are final.

Targets (SSRF): unless `WEBHOOK_ALLOW_PRIVATE` allows it (the default outside production), a
URL whose host is or resolves to a loopback, private, link-local, multicast, reserved or
otherwise non-global address is refused, when the workflow is saved and again at every
delivery attempt. At delivery the name is resolved once, every address checked, and the
request sent to the checked address (Host header and TLS SNI keep the name): a DNS answer
that changes in between (rebinding) cannot send it elsewhere. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import random
import socket
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from api.connectors.base import StepContext, StepFailed

MAX_RETRY_AFTER_SECONDS = 60.0


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def is_refused(address: IPAddress) -> bool:
    """Loopback, private, link-local, multicast, reserved, unspecified or not global."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses `host` stands for (itself when it is a literal address)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, IPAddress] = {}
    for *_, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 scope id
        seen.setdefault(text, ipaddress.ip_address(text))
    return list(seen.values())


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise UnsafeTarget("the URL has no host")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


async def checked_addresses(url: str) -> list[IPAddress]:
    """Every address of the URL's host; `UnsafeTarget` when any of them is refused, `OSError`
    when the name does not resolve."""
    host, port = _host_port(url)
    addresses = await resolve(host, port)
    refused = [str(a) for a in addresses if is_refused(a)]
    if refused or not addresses:
        raise UnsafeTarget(
            f"{host} resolves to a loopback, private or reserved address"
            f" ({', '.join(refused) or 'none'}); webhooks may only reach public addresses"
        )
    return addresses


async def target_problem(url: str) -> str | None:
    """Why a webhook URL is refused when the workflow is saved; None when it is not. A name
    that does not resolve now is accepted: it is checked again at every delivery."""
    try:
        await checked_addresses(url)
    except UnsafeTarget as error:
        return str(error)
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class _Target:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


async def _pinned(url: str) -> _Target:
    """The request to send: to a checked address, the name kept for Host and TLS."""
    address = (await checked_addresses(url))[0]
    parsed = httpx.URL(url)
    headers = {"Host": parsed.netloc.decode("ascii")}
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return _Target(str(parsed.copy_with(host=str(address))), headers, extensions)


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
                target = _Target(config["url"])
                if not settings.webhook_private_targets_allowed:
                    target = await _pinned(config["url"])  # resolved again at every attempt
                response = await client.post(
                    target.url,
                    content=body,
                    headers={**headers, **target.headers},
                    extensions=target.extensions,
                )
            except UnsafeTarget as error:
                raise StepFailed(f"webhook target refused: {error}") from None
            except OSError as error:  # the name did not resolve
                last_problem = f"{type(error).__name__}: {error}"
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

"""Sending due postbacks: signed like outbound posts, retried with backoff, each try logged.

A postback is claimed for one try (its next_at moves a lease ahead, so another process
leaves it alone), sent outside any transaction, and its answer logged. A 2xx answer
delivers it; anything else (or no answer) is tried again after backoff * 2^(tries-1), up
to max_tries, then it is failed and waits for an operator's retry.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from pingtree.clock import Clock
from pingtree.credentials import SecretResolver, SecretUnavailable
from pingtree.delivery.signing import sign
from pingtree.failures import describe
from pingtree.postbacks.queue import Hooks, PostbackStatus, claim, due, log_try

log = logging.getLogger("pingtree.postbacks")
EVENT_HEADER = "X-Pingtree-Event"
ID_HEADER = "X-Pingtree-Postback"
LONGEST_WAIT_S = 3600.0


def body_bytes(body: dict[str, Any]) -> bytes:
    """The body as sent (and signed): compact JSON, keys sorted."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True, default=str).encode()


@dataclass
class Tried:
    """What one try got."""

    status_code: int | None = None
    answer: str | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class PostbackSender:
    """Sends the postbacks that are due."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        clock: Clock,
        secrets: SecretResolver,
        timeout_s: float,
        max_tries: int,
        backoff_s: float,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.secrets = secrets
        self.timeout_s = timeout_s
        self.max_tries = max_tries
        self.backoff_s = backoff_s

    async def send_due(self, http: aiohttp.ClientSession, hooks: Hooks, *, limit: int = 50) -> int:
        """Try every postback due now (at most limit); how many were tried."""
        now = self.clock.now()
        async with self.engine.connect() as conn:
            rows = await due(conn, now=now, limit=limit)
        tried = await asyncio.gather(*(self._one(http, hooks, row) for row in rows))
        return sum(tried)

    async def _one(self, http: aiohttp.ClientSession, hooks: Hooks, row: Any) -> int:
        async with self.engine.begin() as conn:
            if not await claim(conn, row, now=self.clock.now(), lease_s=self.timeout_s * 2):
                return 0  # another process took it
        started, at = self.clock.monotonic(), self.clock.now()
        tried = await self._send(http, hooks, row)
        elapsed_ms = (self.clock.monotonic() - started) * 1000
        tries = row.attempts + 1
        if tried.delivered:
            then, next_at = PostbackStatus.DELIVERED, None
        elif tries >= self.max_tries or tried.error == GONE:
            then, next_at = PostbackStatus.FAILED, None
        else:
            wait = min(self.backoff_s * 2 ** (tries - 1), LONGEST_WAIT_S)
            then, next_at = PostbackStatus.PENDING, self.clock.now() + timedelta(seconds=wait)
        async with self.engine.begin() as conn:
            await log_try(
                conn,
                row.id,
                at=at,
                status_code=tried.status_code,
                duration_ms=elapsed_ms,
                answer=tried.answer,
                error=tried.error,
                then=then,
                next_at=next_at,
            )
        if then is PostbackStatus.FAILED:
            log.warning("postback %s to %s %s failed for good", row.id, row.party, row.name)
        return 1

    async def _send(self, http: aiohttp.ClientSession, hooks: Hooks, row: Any) -> Tried:
        hook = hooks(row.party, row.name)
        if hook is None:
            return Tried(error=GONE)
        body = body_bytes(row.body)
        headers = {"Content-Type": "application/json", EVENT_HEADER: row.event, ID_HEADER: row.id}
        if hook.secret is not None:
            try:
                secret = self.secrets.value("secret", hook.secret)
            except SecretUnavailable as exc:
                return Tried(error=f"secret unavailable: {exc}")
            headers[hook.header] = sign(secret, body, self.clock.now())
        try:
            async with http.post(
                row.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                allow_redirects=False,
            ) as response:
                text = await response.text(errors="replace")
                return Tried(status_code=response.status, answer=text[:2000])
        except TimeoutError:
            return Tried(error=f"timeout after {self.timeout_s:g}s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Tried(error=describe(exc))


GONE = "no postback or webhook is configured for it any more"

"""`Idempotency-Key` on every authenticated POST.

The same key with the same body within 24 hours gets the first answer again (marked
`Idempotent-Replayed: true`) and nothing is done twice; the same key with another body is a 422;
the same key while the first request is still running is a 409. Keys are scoped to the API key
that sent them. Answers that mean "try again" (401, 5xx) are not remembered. A secret that an
answer shows only once (a webhook endpoint's signing secret) is never remembered: the route
names it with `hide_from_replay`, and the replay carries `SHOWN_ONCE` in its place.

A running request holds its key by a claim that expires `CLAIM_TTL` after its last renewal and
is renewed every `CLAIM_RENEW_SECONDS` while the request runs: a request whose process died
(nothing renews, nothing abandons) stops blocking its key within two minutes, not 24 hours.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.adapters.ports import Clock, IdempotencyStore
from app.errors import CalbotError

log = logging.getLogger(__name__)

RETENTION = timedelta(hours=24)
"""How long a finished answer is replayed (and then purged)."""
CLAIM_TTL = timedelta(minutes=2)
"""How long a running request's claim lasts without renewal."""
CLAIM_RENEW_SECONDS = 30.0
"""How often a running request renews its claim: a heartbeat of this process, in real time."""
MAX_KEY_LENGTH = 255
SHOWN_ONCE = "(shown only in the first answer)"
"""What a replayed answer carries in place of a secret shown once."""
_HIDDEN_STATE = "calbot_hidden_from_replay"


def hide_from_replay(scope_state: Any, secret: str) -> None:
    """Keep `secret` (JSON-safe text in this request's answer) out of the stored answer;
    `scope_state` is the route's `request.state`."""
    hidden: list[str] = getattr(scope_state, _HIDDEN_STATE, [])
    hidden.append(secret)
    setattr(scope_state, _HIDDEN_STATE, hidden)


async def _json(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail, "error": "idempotency_key"})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def scope_key(authorization: bytes, path: str, offered: bytes) -> str:
    """What a key is stored under: scoped to the API key and the route that received it."""
    return hashlib.sha256(b"\x1f".join((authorization, path.encode(), offered))).hexdigest()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, renew_seconds: float = CLAIM_RENEW_SECONDS) -> None:
        self.app = app
        self._renew_seconds = renew_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ())) if scope["type"] == "http" else {}
        offered = headers.get(b"idempotency-key")
        authorization = headers.get(b"authorization")
        if scope["type"] != "http" or scope["method"] != "POST" or not offered or not authorization:
            await self.app(scope, receive, send)
            return
        if len(offered) > MAX_KEY_LENGTH:
            await _json(send, 422, f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.")
            return
        container = scope["app"].state.container
        records: IdempotencyStore = container.idempotency
        clock: Clock = container.clock

        body = await _read_body(receive)
        key = scope_key(authorization, scope["path"], offered)
        request_hash = hashlib.sha256(body).hexdigest()
        claim = secrets.token_hex(16)
        now = clock.now()
        existing = await records.start(key, request_hash, claim, now, now + CLAIM_TTL)
        if existing is not None:
            if existing.request_hash != request_hash:
                await _json(
                    send,
                    422,
                    "This Idempotency-Key was already used with a different request body; "
                    "use a new key for a new request.",
                )
            elif existing.status_code is None:
                await _json(
                    send,
                    409,
                    "A request with this Idempotency-Key is still being processed; retry shortly.",
                )
            else:
                await _replay(send, existing.status_code, existing.body, existing.content_type)
            return
        renewal = asyncio.create_task(self._keep_claimed(records, clock, key, claim))
        try:
            await self._run_and_record(scope, body, send, records, clock, key, claim)
        finally:
            renewal.cancel()

    async def _keep_claimed(
        self, records: IdempotencyStore, clock: Clock, key: str, claim: str
    ) -> None:
        """Renew the claim while the request runs. Real time, whatever the Clock says: the
        claim stands for this process being alive."""
        while True:
            await asyncio.sleep(self._renew_seconds)
            try:
                if not await records.renew(key, claim, clock.now() + CLAIM_TTL):
                    log.warning("an idempotency claim expired while its request was running")
                    return
            except CalbotError as error:
                log.warning("could not renew an idempotency claim (%s); retrying", error.code)
            except Exception:
                log.exception("could not renew an idempotency claim; retrying")

    async def _run_and_record(
        self,
        scope: Scope,
        body: bytes,
        send: Send,
        records: IdempotencyStore,
        clock: Clock,
        key: str,
        claim: str,
    ) -> None:
        status = 500
        content_type: str | None = None
        chunks: list[bytes] = []
        delivered = False

        async def replay_body() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            await records.abandon(key, claim)
            raise
        if status >= 500 or status == 401:
            await records.abandon(key, claim)
        else:
            answer = b"".join(chunks)
            for secret in scope.get("state", {}).get(_HIDDEN_STATE, ()):
                answer = answer.replace(secret.encode(), SHOWN_ONCE.encode())
            expires_at = clock.now() + RETENTION
            await records.finish(key, claim, status, answer, content_type, expires_at)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _replay(send: Send, status: int, body: bytes, content_type: str | None) -> None:
    headers = [(b"idempotent-replayed", b"true")]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""The webhook dispatcher: routes outbox messages to endpoints and sends the deliveries.

One task per process, started and stopped with the app (`Container.run_background`). Each pass:
1. route: every message still in the outbox becomes one delivery per matching endpoint of its
   account, written in one store write that also takes the message out of the outbox
   (`OutboxStore.route_message`); delivery ids derive from (message, endpoint), so a pass that
   crashes half-way, or two replicas routing at once, never make two deliveries of one message
   to one endpoint;
2. send: every due delivery is claimed for one attempt (`claim_delivery`, with an expiry: a
   replica killed mid-attempt leaves a claim that runs out, and then any replica retries it,
   with the same `webhook-id`), and sent in its own task.

A pass runs when woken (`wake()`, after a write in this process) and every `poll_seconds`
otherwise (other replicas' writes), so a first attempt starts well within a second.

Isolation: at most `max_in_flight` attempts at once in all, at most `per_endpoint` per endpoint,
each bounded by the sender's timeout. A due delivery of an endpoint already at its bound waits
for the next pass, unless it could stand in front of other endpoints' deliveries in the due
queue: if that endpoint is slow (an attempt running longer than `SLOW_SECONDS`, or its last
attempt timed out or could not connect) it is put off (claimed without an attempt) for one
timeout, and if the pass read a full batch it is put off for `SLOW_SECONDS`, so the next pass
reads further. A dead endpoint's backlog never delays another endpoint's deliveries.

Retries: growing delays (doubling from `RetryPlan.first_delay` up to `max_delay`) with jitter,
until `window` after the message was made (24 h by default); the attempt after that marks the
delivery failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from app.adapters.ports import Clock, OutboxStore, WebhookEndpointStore
from app.adapters.ports.webhooks import HostResolver, SendOutcome, WebhookSender
from app.domain import OutboxMessage
from app.observability import WEBHOOK_ATTEMPTS
from app.services.webhook_addresses import AddressRefused, check_target, parse_target
from app.services.webhook_secrets import SecretUnreadable, WebhookSecrets
from app.webhook_messages import PING, delivery_id_for, envelope
from app.webhook_records import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.webhook_signing import webhook_headers

log = logging.getLogger(__name__)

CLAIM_MARGIN_SECONDS: Final = 15.0
"""A claim outlives the attempt's timeout by this much before another replica may retry."""
SLOW_SECONDS: Final = 1.0
"""An endpoint whose attempt has run this long counts as slow (see the module docstring)."""
ENDPOINT_DELETED: Final = "The endpoint was deleted before this delivery was sent."


@dataclass(frozen=True, slots=True)
class RetryPlan:
    first_delay: float = 5.0
    max_delay: float = 3600.0
    jitter: float = 0.2
    """Each delay is stretched or shrunk by up to this fraction, at random."""
    window: timedelta = timedelta(hours=24)
    """Retries go on at least this long after the message was made."""

    def delay(self, attempts: int, chance: float) -> float:
        """Seconds before the next attempt after `attempts` failed ones; `chance` in [0, 1)."""
        grown = min(self.max_delay, self.first_delay * 2.0 ** min(attempts - 1, 40))
        return grown * (1 + self.jitter * (2 * chance - 1))


def new_delivery(
    message: OutboxMessage, endpoint_id: str, now: datetime, window: timedelta
) -> WebhookDelivery:
    """A pending delivery of the message to the endpoint, due now."""
    return WebhookDelivery(
        delivery_id=delivery_id_for(message.message_id, endpoint_id),
        account_id=message.account_id,
        endpoint_id=endpoint_id,
        message_id=message.message_id,
        type=message.type,
        body=envelope(message),
        status=DeliveryStatus.PENDING,
        attempts=0,
        last_status_code=None,
        last_error=None,
        next_attempt_at=now,
        created_at=message.created_at,
        give_up_at=message.created_at + window,
        due_at=now,
    )


class WebhookDispatcher:
    def __init__(
        self,
        *,
        outbox: OutboxStore,
        endpoints: WebhookEndpointStore,
        sender: WebhookSender,
        resolver: HostResolver,
        secrets_box: WebhookSecrets,
        clock: Clock,
        timeout_seconds: float,
        allow_insecure_loopback: bool = False,
        retry: RetryPlan | None = None,
        poll_seconds: float = 0.25,
        claim_seconds: float | None = None,
        max_in_flight: int = 64,
        per_endpoint: int = 4,
        batch: int = 100,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self._outbox = outbox
        self._endpoints = endpoints
        self._sender = sender
        self._resolver = resolver
        self._secrets = secrets_box
        self._clock = clock
        self._timeout = timeout_seconds
        self._allow_loopback = allow_insecure_loopback
        self.retry = retry or RetryPlan()
        self._poll = poll_seconds
        self._claim = claim_seconds or timeout_seconds + CLAIM_MARGIN_SECONDS
        self._max_in_flight = max_in_flight
        self._per_endpoint = per_endpoint
        self._batch = batch
        self._chance = chance
        self._wake = asyncio.Event()
        self._in_flight: dict[str, list[float]] = {}  # endpoint_id -> starts (monotonic)
        self._failing: set[str] = set()  # endpoints whose last attempt timed out or failed to
        # connect
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Run a pass now: a message or delivery was just written in this process."""
        self._wake.set()

    async def run(self) -> None:
        """Pass after pass until cancelled; a failing pass (storage down) is logged and the
        next one tries again."""
        while True:
            self._wake.clear()
            try:
                await self.run_pass()
            except Exception:
                log.exception("webhook dispatch pass failed; the next pass retries")
            try:
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def stop(self, grace_seconds: float) -> None:
        """Let attempts in flight finish for up to `grace_seconds`, then cancel them (their
        claims run out and a replica retries them)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run_pass(self) -> None:
        """Route what is in the outbox, then start every due delivery there is room for."""
        await self.route_messages()
        await self.start_due_deliveries()

    async def settle(self) -> None:
        """Wait until the attempts started so far are over (for tests and the CLI)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    # -- routing ---------------------------------------------------------------------------------

    async def route_messages(self) -> int:
        """Route up to one batch of outbox messages; how many this pass routed."""
        messages = await self._outbox.unrouted_messages(self._batch)
        endpoints_of: dict[str, list[WebhookEndpoint]] = {}
        routed = 0
        for message in messages:
            if message.account_id not in endpoints_of:
                endpoints_of[message.account_id] = await self._endpoints.list_endpoints(
                    message.account_id
                )
            now = self._clock.now()
            deliveries = [
                new_delivery(message, endpoint.endpoint_id, now, self.retry.window)
                for endpoint in endpoints_of[message.account_id]
                if message.type != PING and endpoint.wants(message.type)
            ]
            if await self._outbox.route_message(message, deliveries):
                routed += 1
        return routed

    # -- sending ---------------------------------------------------------------------------------

    async def start_due_deliveries(self) -> None:
        room = self._max_in_flight - len(self._tasks)
        if room <= 0:
            return
        now = self._clock.now()
        due = await self._outbox.due_deliveries(now, self._batch)
        page_full = len(due) >= self._batch
        for delivery in due:
            if len(self._tasks) >= self._max_in_flight:
                return
            if len(self._in_flight.get(delivery.endpoint_id, ())) >= self._per_endpoint:
                if self._is_slow(delivery.endpoint_id):
                    wait = self._timeout
                elif page_full:
                    wait = SLOW_SECONDS
                else:
                    continue  # the next pass takes it, once an attempt of its endpoint ends
                later = now + timedelta(seconds=wait)
                await self._outbox.claim_delivery(delivery.delivery_id, "put-off", now, later)
                continue
            token = secrets.token_hex(12)
            until = now + timedelta(seconds=self._claim)
            claimed = await self._outbox.claim_delivery(delivery.delivery_id, token, now, until)
            if claimed is None:
                continue  # another replica took it
            self._start(claimed, token)

    def _is_slow(self, endpoint_id: str) -> bool:
        starts = self._in_flight.get(endpoint_id)
        running_long = bool(starts) and time.monotonic() - min(starts or [0.0]) > SLOW_SECONDS
        return running_long or endpoint_id in self._failing

    def _start(self, delivery: WebhookDelivery, token: str) -> None:
        endpoint_id = delivery.endpoint_id
        started = time.monotonic()
        self._in_flight.setdefault(endpoint_id, []).append(started)
        task = asyncio.create_task(self._attempt(delivery, token))
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            starts = self._in_flight.get(endpoint_id, [])
            if started in starts:
                starts.remove(started)
            if not starts:
                self._in_flight.pop(endpoint_id, None)
            self._wake.set()  # room for the next due delivery

        task.add_done_callback(done)

    async def _attempt(self, delivery: WebhookDelivery, token: str) -> None:
        try:
            endpoint = await self._endpoints.get_endpoint(delivery.account_id, delivery.endpoint_id)
            if endpoint is None:
                await self._give_up(delivery, token, ENDPOINT_DELETED)
                return
            outcome = await self.send(endpoint, delivery)
            await self._record(delivery, token, outcome)
        except Exception:
            # Its claim runs out and the delivery is tried again.
            log.exception("webhook delivery %s: attempt failed", delivery.delivery_id)

    async def send(self, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> SendOutcome:
        """One attempt: check the address again (names can be re-pointed), sign, POST."""
        try:
            target = parse_target(endpoint.url, allow_insecure_loopback=self._allow_loopback)
            await check_target(target, self._resolver)
        except AddressRefused as refused:
            return SendOutcome("address_refused", error=str(refused))
        except OSError:
            return SendOutcome(
                "connection_error", error="The endpoint's host name did not resolve."
            )
        try:
            secret = self._secrets.open(endpoint.endpoint_id, endpoint.sealed_secret)
        except SecretUnreadable as unreadable:
            return SendOutcome("connection_error", error=str(unreadable))
        timestamp = int(self._clock.now().timestamp())
        headers = webhook_headers(secret, delivery.message_id, timestamp, delivery.body)
        return await self._sender.post(endpoint.url, delivery.body, headers)

    async def _record(self, delivery: WebhookDelivery, token: str, outcome: SendOutcome) -> None:
        WEBHOOK_ATTEMPTS.labels(outcome.result).inc()
        if outcome.result in ("timeout", "connection_error"):
            self._failing.add(delivery.endpoint_id)
        else:
            self._failing.discard(delivery.endpoint_id)
        now = self._clock.now()
        attempts = delivery.attempts + 1
        tried = replace(
            delivery, attempts=attempts, last_status_code=outcome.status_code, claim=None
        )
        if outcome.result == "delivered":
            result = replace(
                tried,
                status=DeliveryStatus.DELIVERED,
                last_error=None,
                next_attempt_at=None,
                due_at=None,
            )
        elif now >= delivery.give_up_at:
            WEBHOOK_ATTEMPTS.labels("failed_final").inc()
            result = replace(
                tried,
                status=DeliveryStatus.FAILED,
                last_error=outcome.error,
                next_attempt_at=None,
                due_at=None,
            )
        else:
            later = now + timedelta(seconds=self.retry.delay(attempts, self._chance()))
            result = replace(tried, last_error=outcome.error, next_attempt_at=later, due_at=later)
        if not await self._outbox.record_attempt(result, token):
            log.info("webhook delivery %s: claim lost, outcome not recorded", delivery.delivery_id)
        else:
            log.info(
                "webhook delivery %s: %s",
                delivery.delivery_id,
                outcome.result,
                extra={"endpoint_id": delivery.endpoint_id, "status_code": outcome.status_code},
            )

    async def _give_up(self, delivery: WebhookDelivery, token: str, reason: str) -> None:
        WEBHOOK_ATTEMPTS.labels("failed_final").inc()
        failed = replace(
            delivery,
            status=DeliveryStatus.FAILED,
            last_error=reason,
            next_attempt_at=None,
            due_at=None,
            claim=None,
        )
        await self._outbox.record_attempt(failed, token)

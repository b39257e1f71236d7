"""Housekeeping: what calbot keeps only for a while is deleted when its time is up.

- Finished bots (launched, failed, cancelled, missed): `FINISHED_BOT_RETENTION` (30 days) after
  both their meeting ended and their last change (`domain.purgeable_bot`).
- Webhook deliveries, delivered or failed: `DELIVERY_RETENTION` (30 days) after their message
  was made (DynamoDB's table deletes its own through TTL).
- Idempotency records: a running request's claim two minutes after its last renewal, a finished
  answer 24 hours after it was given (`app.idempotency`). SQLite's are deleted here; DynamoDB's
  table deletes its own through TTL.

Old sync generations need nothing here: a full sync that completes deletes whatever it did not
see, in every backend, and one that does not complete leaves no sync token, so the next sync is
a full one again. The periodic job runs a pass every hour behind a lease (`app.jobs`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.adapters.ports import BotStore, Clock, IdempotencyStore, OutboxStore
from app.domain import FINISHED_BOT_RETENTION
from app.webhook_records import DELIVERY_RETENTION

log = logging.getLogger(__name__)

PURGE_BATCH = 500
"""Rows one store call deletes at most."""
MAX_BATCHES_PER_PASS = 200
"""A pass stops after this many full batches (100,000 rows); the next pass goes on."""


@dataclass(frozen=True, slots=True)
class Purged:
    finished_bots: int
    idempotency_records: int
    webhook_deliveries: int = 0


class HousekeepingService:
    def __init__(
        self,
        *,
        bots: BotStore,
        idempotency: IdempotencyStore,
        clock: Clock,
        outbox: OutboxStore | None = None,
        bot_retention: timedelta = FINISHED_BOT_RETENTION,
        batch: int = PURGE_BATCH,
    ) -> None:
        self._bots = bots
        self._idempotency = idempotency
        self._outbox = outbox
        self._clock = clock
        self._bot_retention = bot_retention
        self._batch = batch

    async def run_pass(self) -> Purged:
        """Delete what has outlived its retention, in batches; returns how much went."""
        now = self._clock.now()
        cutoff = now - self._bot_retention
        purged = Purged(
            finished_bots=await self._in_batches(
                lambda: self._bots.purge_finished_bots(cutoff, self._batch)
            ),
            idempotency_records=await self._in_batches(
                lambda: self._idempotency.purge_expired(now, self._batch)
            ),
            webhook_deliveries=await self._purge_deliveries(now - DELIVERY_RETENTION),
        )
        if purged.finished_bots or purged.idempotency_records or purged.webhook_deliveries:
            log.info(
                "housekeeping purged %d finished bots, %d idempotency records and %d webhook "
                "deliveries",
                purged.finished_bots,
                purged.idempotency_records,
                purged.webhook_deliveries,
            )
        return purged

    async def _purge_deliveries(self, before: datetime) -> int:
        outbox = self._outbox
        if outbox is None:
            return 0
        return await self._in_batches(lambda: outbox.purge_finished_deliveries(before, self._batch))

    async def _in_batches(self, purge: Callable[[], Awaitable[int]]) -> int:
        total = 0
        for _ in range(MAX_BATCHES_PER_PASS):
            deleted = await purge()
            total += deleted
            if deleted < self._batch:
                break
            await asyncio.sleep(0)  # let requests in between batches
        return total

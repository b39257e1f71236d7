"""Housekeeping: what calbot keeps only for a while is deleted when its time is up.

- Finished bots (launched, failed, cancelled, missed): `FINISHED_BOT_RETENTION` (30 days) after
  both their meeting ended and their last change (`domain.purgeable_bot`).
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
from datetime import timedelta

from app.adapters.ports import BotStore, Clock, IdempotencyStore
from app.domain import FINISHED_BOT_RETENTION

log = logging.getLogger(__name__)

PURGE_BATCH = 500
"""Rows one store call deletes at most."""
MAX_BATCHES_PER_PASS = 200
"""A pass stops after this many full batches (100,000 rows); the next pass goes on."""


@dataclass(frozen=True, slots=True)
class Purged:
    finished_bots: int
    idempotency_records: int


class HousekeepingService:
    def __init__(
        self,
        *,
        bots: BotStore,
        idempotency: IdempotencyStore,
        clock: Clock,
        bot_retention: timedelta = FINISHED_BOT_RETENTION,
        batch: int = PURGE_BATCH,
    ) -> None:
        self._bots = bots
        self._idempotency = idempotency
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
        )
        if purged.finished_bots or purged.idempotency_records:
            log.info(
                "housekeeping purged %d finished bots and %d idempotency records",
                purged.finished_bots,
                purged.idempotency_records,
            )
        return purged

    async def _in_batches(self, purge: Callable[[], Awaitable[int]]) -> int:
        total = 0
        for _ in range(MAX_BATCHES_PER_PASS):
            deleted = await purge()
            total += deleted
            if deleted < self._batch:
                break
            await asyncio.sleep(0)  # let requests in between batches
        return total

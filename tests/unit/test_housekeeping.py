"""The housekeeping pass on memory stores: everything past retention goes, in batches."""

from __future__ import annotations

from datetime import timedelta

from app.adapters.memory import MemoryIdempotencyStore
from app.domain import BotSource, BotStatus, OccurrenceKey, Platform, ScheduledBot
from app.services.housekeeping import HousekeepingService, Purged
from tests.unit.calbot import ACCOUNT, CAL, Calbot, at


def _finished(number: int, hours_ago: float) -> ScheduledBot:
    start = at(-hours_ago)
    return ScheduledBot(
        bot_id=f"bot_{number}",
        account_id=ACCOUNT,
        event_id=f"evt_{number}",
        calendar_id=CAL,
        google_event_id=f"g{number}",
        occurrence_key=OccurrenceKey.single(),
        occurrence_start=start,
        occurrence_end=start + timedelta(minutes=30),
        join_at=start - timedelta(minutes=3),
        meeting_link="https://meet.google.com/abc-defg-hij",
        meeting_platform=Platform.GOOGLE_MEET,
        bot_config={},
        source=BotSource.AUTO_SCHEDULE,
        status=BotStatus.LAUNCHED,
        created_at=start,
        updated_at=start,
    )


async def test_a_pass_purges_every_batch_of_what_is_past_retention(calbot: Calbot) -> None:
    old = [_finished(n, hours_ago=31 * 24) for n in range(1203)]
    recent = [_finished(n, hours_ago=24) for n in range(1203, 1210)]
    await calbot.stores.bots.insert_bots_unless_exist(old + recent)
    records = MemoryIdempotencyStore()
    for n in range(3):
        await records.start(f"key-{n}", "hash", "claim", at(-3), at(-3) + timedelta(minutes=2))
    housekeeping = HousekeepingService(
        bots=calbot.stores.bots, idempotency=records, clock=calbot.clock, batch=500
    )

    assert await housekeeping.run_pass() == Purged(finished_bots=1203, idempotency_records=3)
    assert len(await calbot.bots()) == 7
    assert await housekeeping.run_pass() == Purged(finished_bots=0, idempotency_records=0)

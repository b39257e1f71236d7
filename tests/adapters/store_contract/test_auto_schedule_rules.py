"""AutoScheduleStore keeps the account's rules with its settings: replaced when given, kept
when not, whole (every field of CONTRACT section 7's table)."""

from __future__ import annotations

from app.adapters.ports import Stores
from app.domain import AutoScheduleRules, Platform, ResponseStatus
from tests.adapters.store_contract.builders import ACCOUNT, NOW

FULL = AutoScheduleRules(
    calendar_ids=("user@example.com",),
    response_status=(ResponseStatus.ACCEPTED,),
    organizer="others",
    attendees="external",
    internal_domains=("example.com", "example.org"),
    min_attendees=2,
    max_attendees=40,
    title_include=("Sync",),
    title_exclude=("Interview", "1:1"),
    platforms=(Platform.ZOOM, Platform.GOOGLE_MEET),
    weekdays=(1, 2, 3, 4, 5),
    local_time_from="08:30",
    local_time_to="18:00",
    time_zone="Europe/Berlin",
    never_record_domains=("legal.example",),
)


async def test_rules_are_stored_whole_and_kept_when_not_given(stores: Stores) -> None:
    store = stores.auto_schedule
    assert (await store.get_auto_schedule(ACCOUNT)).rules == AutoScheduleRules()

    saved = await store.set_auto_schedule(
        ACCOUNT, enabled=True, default_bot_config={"bot_name": "A"}, rules=FULL
    )
    assert saved.rules == FULL
    await store.record_auto_schedule_run(ACCOUNT, NOW)
    kept = await store.set_auto_schedule(ACCOUNT, enabled=False)
    assert kept.rules == FULL
    assert (await store.get_auto_schedule(ACCOUNT)).rules == FULL

    reset = await store.set_auto_schedule(ACCOUNT, enabled=True, rules=AutoScheduleRules())
    assert reset.rules == AutoScheduleRules()
    assert reset.default_bot_config == {"bot_name": "A"}
    assert reset.last_run_at == NOW


async def test_saved_settings_keep_their_rules(stores: Stores) -> None:
    store = stores.auto_schedule
    await store.set_auto_schedule(ACCOUNT, enabled=True, default_bot_config={}, rules=FULL)
    settings = await store.get_auto_schedule(ACCOUNT)
    await store.save_auto_schedule(ACCOUNT, settings)
    assert (await store.get_auto_schedule(ACCOUNT)).rules == FULL

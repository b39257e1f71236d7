"""The per-event policy and the pause, as every backend stores them: an event's mode is
calbot's own and survives every sync, a series' single occurrences keep modes of their own
(loaded in one read per pass), and the pause lives in the auto-schedule settings with a queue
of the pauses that ran out."""

from __future__ import annotations

import dataclasses

from app.adapters.ports import Stores
from app.domain import (
    AutoScheduleMode,
    AutoScheduleSettings,
    OccurrenceKey,
    auto_schedule_mode_for,
)
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    CAL,
    OTHER,
    PRIMARY,
    SHARED,
    TEAM,
    WEEKLY,
    at,
    connection,
    event,
    page,
    synced,
)

ALWAYS, NEVER, RULES = AutoScheduleMode.ALWAYS, AutoScheduleMode.NEVER, AutoScheduleMode.RULES


async def _mode(stores: Stores, event_id: str) -> AutoScheduleMode:
    stored = await stores.events.get_event(ACCOUNT, event_id)
    assert stored is not None
    return stored.auto_schedule_mode


async def test_an_events_mode_survives_incremental_syncs_full_resyncs_and_cancellation(
    stores: Stores,
) -> None:
    standup = event("standup", at(2))
    await synced(stores.events, standup, event("other", at(3)))
    await stores.events.set_auto_schedule_mode(ACCOUNT, standup.event_id, NEVER)
    assert await _mode(stores, standup.event_id) is NEVER

    # Google changes the meeting: an incremental page upserts it (with the default mode).
    moved = dataclasses.replace(standup, start_time=at(4), end_time=at(5), summary="Moved")
    await stores.events.apply_events_page(ACCOUNT, page(moved, token="t2"))
    assert await _mode(stores, standup.event_id) is NEVER

    # A 410 and a full resync that sees it again.
    await synced(stores.events, moved)
    assert await _mode(stores, standup.event_id) is NEVER
    [row] = await stores.events.list_events(ACCOUNT, CAL)
    assert row.event.auto_schedule_mode is NEVER
    candidates = await stores.events.list_auto_schedule_candidates(ACCOUNT, at(0), at(24))
    assert [c.auto_schedule_mode for c in candidates] == [NEVER]

    await stores.events.apply_events_page(ACCOUNT, page(cancelled=("standup",), token="t3"))
    assert await _mode(stores, standup.event_id) is NEVER


async def test_a_new_event_and_an_unknown_id_take_the_default(stores: Stores) -> None:
    fresh = event("fresh", at(2))
    await synced(stores.events, fresh)
    await stores.events.set_auto_schedule_mode(ACCOUNT, "evt_nowhere", ALWAYS)
    await stores.events.set_occurrence_mode(ACCOUNT, "evt_nowhere", OccurrenceKey(at(2)), NEVER)

    assert await _mode(stores, fresh.event_id) is RULES
    assert await stores.events.list_occurrence_modes(ACCOUNT) == {}
    # Another account cannot set this account's event.
    await stores.events.set_auto_schedule_mode(OTHER, fresh.event_id, NEVER)
    assert await _mode(stores, fresh.event_id) is RULES


async def test_occurrence_modes_are_loaded_per_account_or_per_calendar_and_survive_syncs(
    stores: Stores,
) -> None:
    series = event("weekly", at(-1), recurrence=WEEKLY)
    team = event("team", at(5), calendar_id=TEAM)
    await synced(stores.events, series)
    await synced(stores.events, team, calendar_id=TEAM)
    next_week, week_after = OccurrenceKey(at(167)), OccurrenceKey(at(335))
    await stores.events.set_occurrence_mode(ACCOUNT, series.event_id, next_week, NEVER)
    await stores.events.set_occurrence_mode(ACCOUNT, series.event_id, week_after, ALWAYS)
    await stores.events.set_occurrence_mode(ACCOUNT, series.event_id, week_after, RULES)
    await stores.events.set_occurrence_mode(ACCOUNT, team.event_id, OccurrenceKey.single(), NEVER)
    await stores.events.apply_events_page(ACCOUNT, page(series, token="t2"))
    await synced(stores.events, series)

    everything = await stores.events.list_occurrence_modes(ACCOUNT)
    assert everything == {
        (series.event_id, next_week): NEVER,
        (series.event_id, week_after): RULES,
        (team.event_id, OccurrenceKey.single()): NEVER,
    }
    assert await stores.events.list_occurrence_modes(ACCOUNT, TEAM) == {
        (team.event_id, OccurrenceKey.single()): NEVER
    }
    assert await stores.events.list_occurrence_modes(OTHER) == {}

    stored = await stores.events.get_event(ACCOUNT, series.event_id)
    assert stored is not None
    assert auto_schedule_mode_for(stored, next_week, everything) is NEVER
    assert auto_schedule_mode_for(stored, OccurrenceKey(at(503)), everything) is RULES


async def test_a_mode_for_the_whole_event_replaces_its_occurrences_modes(stores: Stores) -> None:
    series = event("weekly", at(-1), recurrence=WEEKLY)
    other = event("other", at(-2), recurrence=WEEKLY)
    await synced(stores.events, series, other)
    await stores.events.set_occurrence_mode(ACCOUNT, series.event_id, OccurrenceKey(at(167)), NEVER)
    await stores.events.set_occurrence_mode(ACCOUNT, other.event_id, OccurrenceKey(at(166)), NEVER)

    await stores.events.set_auto_schedule_mode(ACCOUNT, series.event_id, ALWAYS)

    assert await _mode(stores, series.event_id) is ALWAYS
    assert await stores.events.list_occurrence_modes(ACCOUNT) == {
        (other.event_id, OccurrenceKey(at(166))): NEVER
    }


async def test_a_disconnect_forgets_modes_and_a_reconnect_starts_from_the_default(
    stores: Stores,
) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY, SHARED])
    series = event("weekly", at(-1), recurrence=WEEKLY)
    await synced(stores.events, series)
    await stores.events.set_auto_schedule_mode(ACCOUNT, series.event_id, NEVER)
    await stores.events.set_occurrence_mode(
        ACCOUNT, series.event_id, OccurrenceKey(at(167)), ALWAYS
    )

    await stores.connections.delete_connection(ACCOUNT, at(0))
    await stores.connections.save_connection(connection(), [PRIMARY, SHARED])
    await synced(stores.events, series)

    assert await _mode(stores, series.event_id) is RULES
    assert await stores.events.list_occurrence_modes(ACCOUNT) == {}


async def test_the_pause_is_kept_alone_and_shown_with_the_settings(stores: Stores) -> None:
    auto = stores.auto_schedule
    paused = await auto.set_paused_until(ACCOUNT, at(48))  # before any settings exist
    assert paused == AutoScheduleSettings(paused_until=at(48))
    await auto.set_auto_schedule(ACCOUNT, enabled=True, default_bot_config={"a": 1})
    await auto.record_auto_schedule_run(ACCOUNT, at(1))

    stored = await auto.get_auto_schedule(ACCOUNT)
    assert (stored.enabled, stored.default_bot_config, stored.last_run_at) == (
        True,
        {"a": 1},
        at(1),
    )
    assert stored.paused_until == at(48)
    assert (await auto.set_auto_schedule(ACCOUNT, enabled=False)).paused_until == at(48)

    replaced = await auto.set_paused_until(ACCOUNT, at(24))
    assert (replaced.paused_until, replaced.default_bot_config) == (at(24), {"a": 1})
    resumed = await auto.set_paused_until(ACCOUNT, None)
    assert resumed.paused_until is None
    assert (await auto.get_auto_schedule(ACCOUNT)).paused_until is None

    await auto.save_auto_schedule(OTHER, AutoScheduleSettings(enabled=True, paused_until=at(5)))
    assert (await auto.get_auto_schedule(OTHER)).paused_until == at(5)


async def test_pauses_that_ran_out_are_found_and_each_is_ended_once(stores: Stores) -> None:
    auto = stores.auto_schedule
    await auto.set_paused_until(ACCOUNT, at(1))
    await auto.save_auto_schedule(OTHER, AutoScheduleSettings(paused_until=at(2)))
    await auto.set_paused_until("acc_three", at(30))

    assert await auto.ended_pauses(at(0)) == []
    assert await auto.ended_pauses(at(1)) == [(ACCOUNT, at(1))]
    assert await auto.ended_pauses(at(3)) == [(ACCOUNT, at(1)), (OTHER, at(2))]

    # The user paused again meanwhile: the old end no longer ends anything.
    await auto.set_paused_until(OTHER, at(10))
    assert not await auto.end_pause(OTHER, at(2))
    assert await auto.end_pause(ACCOUNT, at(1))
    assert not await auto.end_pause(ACCOUNT, at(1))

    assert await auto.ended_pauses(at(3)) == []
    assert (await auto.get_auto_schedule(ACCOUNT)).paused_until is None
    assert (await auto.get_auto_schedule(OTHER)).paused_until == at(10)
    assert await auto.ended_pauses(at(40)) == [("acc_three", at(30)), (OTHER, at(10))]

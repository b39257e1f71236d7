"""EventStore, as a sync writes it: sync state, pages, cancellations, full syncs."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from app.adapters.ports import SeriesOverride, Stores
from app.domain import (
    BotStatus,
    EventStatus,
    MeetingLink,
    OccurrenceOverride,
    Platform,
    ScheduleStatus,
)
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    CAL,
    NOW,
    OTHER,
    TEAM,
    WEEKLY,
    at,
    bot,
    event,
    override,
    page,
    sync_state,
    synced,
)

# -- sync --------------------------------------------------------------------------------------


async def test_a_full_sync_drops_what_its_generation_did_not_see_once_complete(
    stores: Stores,
) -> None:
    kept, dropped = event("kept", recurrence=WEEKLY), event("dropped")
    await synced(stores.events, kept, dropped)
    await stores.events.apply_events_page(
        ACCOUNT,
        page(overrides=(override("kept", at(168), cancelled=True),), generation=1, token="t2"),
    )
    assert await stores.events.get_sync_state(ACCOUNT, CAL) == sync_state("t2")

    generation = await stores.events.begin_full_sync(ACCOUNT, CAL)
    assert generation == 2
    assert await _generation(stores, ACCOUNT, CAL) == 2
    assert await stores.events.get_sync_state(ACCOUNT, CAL) == sync_state(None, generation=2)
    await stores.events.apply_events_page(ACCOUNT, page(kept, full_sync=True, generation=2))
    assert (
        await stores.events.get_event(ACCOUNT, dropped.event_id) == dropped
    )  # run not complete yet

    await stores.events.apply_events_page(ACCOUNT, page(full_sync=True, generation=2, token="t3"))

    assert await stores.events.get_event(ACCOUNT, dropped.event_id) is None
    assert await stores.events.get_event_by_google_id(ACCOUNT, CAL, "dropped") is None
    assert await stores.events.get_event(ACCOUNT, kept.event_id) == kept
    assert await stores.events.list_overrides(ACCOUNT, CAL, ["kept"]) == {}
    assert await stores.events.get_sync_state(ACCOUNT, CAL) == sync_state("t3", generation=2)
    assert await _generation(stores, ACCOUNT, CAL) == 2


async def test_no_older_generation_survives_an_interrupted_full_sync_and_the_next_one(
    stores: Stores,
) -> None:
    """What housekeeping relies on: old sync generations need no purge of their own."""
    series, old = event("series", recurrence=WEEKLY), event("old")
    await synced(stores.events, series, old)
    interrupted = await stores.events.begin_full_sync(ACCOUNT, CAL)  # after a 410, say
    half_seen = event("half-seen")
    await stores.events.apply_events_page(
        ACCOUNT,
        page(
            half_seen,
            overrides=(override("series", at(168), cancelled=True),),
            full_sync=True,
            generation=interrupted,
        ),
    )  # ... and the process died here: no token, so the next sync is a full one again
    assert await stores.events.get_sync_state(ACCOUNT, CAL) == sync_state(None, generation=2)

    generation = await stores.events.begin_full_sync(ACCOUNT, CAL)
    await stores.events.apply_events_page(
        ACCOUNT, page(series, full_sync=True, generation=generation, token="t9")
    )

    rows = await stores.events.list_events(ACCOUNT, CAL)
    assert [row.event.google_event_id for row in rows] == ["series"]
    assert await stores.events.list_overrides(ACCOUNT, CAL, ["series"]) == {}


async def test_a_full_sync_keeps_the_exceptions_it_saw_again_and_drops_the_rest(
    stores: Stores,
) -> None:
    series = event("series", recurrence=WEEKLY)
    seen_again = override("series", at(168), cancelled=True)
    gone = override("series", at(336), start=at(337), end=at(337.5))
    generation = await stores.events.begin_full_sync(ACCOUNT, CAL)
    await stores.events.apply_events_page(
        ACCOUNT,
        page(
            series, overrides=(seen_again, gone), full_sync=True, generation=generation, token="t1"
        ),
    )

    generation = await stores.events.begin_full_sync(ACCOUNT, CAL)
    await stores.events.apply_events_page(
        ACCOUNT,
        page(series, overrides=(seen_again,), full_sync=True, generation=generation, token="t2"),
    )

    found = await stores.events.list_overrides(ACCOUNT, CAL, ["series", "series"])
    assert found == {"series": [seen_again.override]}
    assert await stores.events.get_event(ACCOUNT, series.event_id) == series


async def test_before_any_sync_there_is_no_state_and_generation_zero(stores: Stores) -> None:
    assert await stores.events.get_sync_state(ACCOUNT, CAL) is None
    assert await _generation(stores, ACCOUNT, CAL) == 0
    assert await stores.events.begin_full_sync(ACCOUNT, CAL) == 1
    assert await stores.events.get_sync_state(ACCOUNT, CAL) == dataclasses.replace(
        sync_state(None), last_synced_at=None
    )


async def test_an_incremental_sync_keeps_events_it_did_not_see(stores: Stores) -> None:
    first, second = event("first"), event("second", at(1))
    await synced(stores.events, first)

    await stores.events.apply_events_page(ACCOUNT, page(second, generation=1, token="t2"))

    rows = await stores.events.list_events(ACCOUNT, CAL)
    assert [row.event for row in rows] == [first, second]


async def test_cancelled_ids_mark_events_cancelled_and_drop_their_exceptions(
    stores: Stores,
) -> None:
    series = event(
        "series",
        recurrence=WEEKLY,
        next_occurrence_start=at(168),
        next_occurrence_end=at(168.5),
    )
    other = event("other", recurrence=WEEKLY)
    await synced(stores.events, series, other)
    await stores.events.apply_events_page(
        ACCOUNT,
        page(
            overrides=(
                override("series", at(168), start=at(169), end=at(169.5)),
                override("other", at(168), cancelled=True),
            )
        ),
    )

    await stores.events.apply_events_page(ACCOUNT, page(cancelled=("series", "never-seen")))

    stored = await stores.events.get_event(ACCOUNT, series.event_id)
    assert stored == dataclasses.replace(
        series,
        status=EventStatus.CANCELLED,
        schedule_status=ScheduleStatus.CANCELLED,
        next_occurrence_start=None,
        next_occurrence_end=None,
    )
    assert await stores.events.get_event_by_google_id(ACCOUNT, CAL, "never-seen") is None
    assert set(await stores.events.list_overrides(ACCOUNT, CAL, ["series", "other"])) == {"other"}


async def test_upserts_keep_calbots_own_fields(stores: Stores) -> None:
    series = event("series", recurrence=WEEKLY)
    await synced(stores.events, series)
    await stores.events.set_recurring_enabled(ACCOUNT, series.event_id, False)
    await stores.events.set_schedule_status(ACCOUNT, series.event_id, ScheduleStatus.SCHEDULED)

    renamed = dataclasses.replace(series, summary="Renamed", updated="2026-11-25T13:00:00Z")
    await stores.events.apply_events_page(ACCOUNT, page(renamed))

    assert await stores.events.get_event(ACCOUNT, series.event_id) == dataclasses.replace(
        renamed, recurring_enabled=False, schedule_status=ScheduleStatus.SCHEDULED
    )


async def test_an_event_upserted_after_its_cancellation_is_unscheduled_again(
    stores: Stores,
) -> None:
    meeting = event("m1")
    await synced(stores.events, meeting)
    await stores.events.set_schedule_status(ACCOUNT, meeting.event_id, ScheduleStatus.SCHEDULED)
    await stores.events.set_recurring_enabled(ACCOUNT, meeting.event_id, False)
    await stores.events.apply_events_page(ACCOUNT, page(cancelled=("m1",)))
    cancelled = await stores.events.get_event(ACCOUNT, meeting.event_id)
    assert cancelled is not None
    assert cancelled.schedule_status is ScheduleStatus.CANCELLED

    await stores.events.apply_events_page(ACCOUNT, page(meeting))

    assert await stores.events.get_event(ACCOUNT, meeting.event_id) == dataclasses.replace(
        meeting, recurring_enabled=False, schedule_status=ScheduleStatus.UNSCHEDULED
    )
    await stores.events.set_schedule_status(ACCOUNT, meeting.event_id, ScheduleStatus.CANCELLED)
    again = await stores.events.get_event(ACCOUNT, meeting.event_id)
    assert again is not None
    assert again.schedule_status is ScheduleStatus.CANCELLED


async def test_a_long_page_keeps_each_events_schedule_status_and_uncancels(
    stores: Stores,
) -> None:
    # 510 events in one page: more than one batch of the stored statuses a store reads back.
    events = [event(f"e{n:03d}", NOW + timedelta(minutes=n)) for n in range(510)]
    await synced(stores.events, *events[:509])
    for n in (0, 505, 508):
        await stores.events.set_schedule_status(
            ACCOUNT, events[n].event_id, ScheduleStatus.SCHEDULED
        )
    await stores.events.set_schedule_status(ACCOUNT, events[506].event_id, ScheduleStatus.CANCELLED)

    await stores.events.apply_events_page(ACCOUNT, page(*events))

    statuses = {
        row.event.google_event_id: row.event.schedule_status
        for row in await stores.events.list_events(ACCOUNT, CAL)
    }
    assert len(statuses) == 510
    kept = {
        gid: status for gid, status in statuses.items() if status is not ScheduleStatus.UNSCHEDULED
    }
    assert kept == dict.fromkeys(("e000", "e505", "e508"), ScheduleStatus.SCHEDULED)


async def test_user_fields_of_unknown_events_are_not_written(stores: Stores) -> None:
    missing = event("missing")
    await stores.events.set_schedule_status(ACCOUNT, missing.event_id, ScheduleStatus.SCHEDULED)
    await stores.events.set_recurring_enabled(ACCOUNT, missing.event_id, False)
    await stores.events.set_next_occurrences(ACCOUNT, [(missing.event_id, at(1), at(2))])

    await stores.events.apply_events_page(ACCOUNT, page(missing))

    assert await stores.events.get_event(ACCOUNT, missing.event_id) == missing


async def test_events_list_by_start_with_their_pending_bots(stores: Stores) -> None:
    late = event("late", at(3))
    early = event("early", at(1))
    series = event("series", at(-100), recurrence=WEEKLY)
    tie_a, tie_b = event("tie-a", at(2)), event("tie-b", at(2))
    await synced(stores.events, late, early, series, tie_a, tie_b)
    await stores.bots.insert_or_update_pending_bot(bot(early, bot_id="bot_early"))
    cancelled = bot(late, bot_id="bot_late")
    await stores.bots.insert_or_update_pending_bot(cancelled)
    cancelled.status = BotStatus.CANCELLED
    assert await stores.bots.update_bot(cancelled, expected_status=BotStatus.SCHEDULED)

    rows = await stores.events.list_events(ACCOUNT, CAL)

    ties = sorted([tie_a, tie_b], key=lambda e: e.event_id)
    assert [row.event for row in rows] == [series, early, *ties, late]
    assert [row.bot_join_status for row in rows] == [False, True, False, False, False]
    assert await stores.events.list_events(ACCOUNT, TEAM) == []
    assert await stores.events.list_events(OTHER, CAL) == []


async def test_events_are_read_only_through_their_own_account(stores: Stores) -> None:
    meeting = event("m1")
    await synced(stores.events, meeting)

    assert await stores.events.get_event(ACCOUNT, meeting.event_id) == meeting
    assert await stores.events.get_event_by_google_id(ACCOUNT, CAL, "m1") == meeting
    assert await stores.events.get_event(OTHER, meeting.event_id) is None
    assert await stores.events.get_event_by_google_id(OTHER, CAL, "m1") is None
    assert await stores.events.get_event_by_google_id(ACCOUNT, TEAM, "m1") is None


async def test_exceptions_are_stored_by_series_and_original_start(stores: Stores) -> None:
    moved = OccurrenceOverride(
        original_start=at(168),
        cancelled=False,
        start=at(169),
        end=at(169.5),
        meeting_link=MeetingLink("https://zoom.us/j/123", Platform.ZOOM),
        google_event_id="s1_20261202T120000Z",
    )
    dropped = OccurrenceOverride(original_start=at(336), cancelled=True)
    await stores.events.apply_events_page(
        ACCOUNT,
        page(
            overrides=(
                override("s1", at(168), cancelled=True),
                SeriesOverride("s1", dropped),
                override("s2", at(24), cancelled=True),
            )
        ),
    )
    await stores.events.apply_events_page(ACCOUNT, page(overrides=(SeriesOverride("s1", moved),)))

    found = await stores.events.list_overrides(ACCOUNT, CAL, ["s1", "s3"])

    assert found == {"s1": [moved, dropped]}
    assert await stores.events.list_overrides(ACCOUNT, TEAM, ["s1"]) == {}


async def test_series_needing_a_next_occurrence_are_those_whose_next_one_ended(
    stores: Stores,
) -> None:
    ended = event("ended", at(-200), recurrence=WEEKLY)
    upcoming = event("upcoming", at(-200), recurrence=WEEKLY)
    unknown = event("unknown", at(-200), recurrence=WEEKLY)
    one_off = event("one-off", at(-2), next_occurrence_end=at(-1))
    await synced(stores.events, ended, upcoming, unknown, one_off)

    await stores.events.set_next_occurrences(
        ACCOUNT,
        [
            (ended.event_id, at(-2), at(-1)),
            (upcoming.event_id, at(1), at(2)),
            (unknown.event_id, None, None),
            ("evt_not_stored", at(-2), at(-1)),
        ],
    )

    needing = await stores.events.list_series_needing_next_occurrence(ACCOUNT, CAL, NOW)
    assert needing == [
        dataclasses.replace(ended, next_occurrence_start=at(-2), next_occurrence_end=at(-1))
    ]
    stored = await stores.events.get_event(ACCOUNT, upcoming.event_id)
    assert stored is not None
    assert (stored.next_occurrence_start, stored.next_occurrence_end) == (at(1), at(2))
    await stores.events.apply_events_page(ACCOUNT, page(cancelled=("ended",)))
    assert await stores.events.list_series_needing_next_occurrence(ACCOUNT, CAL, NOW) == []


# -- pagination --------------------------------------------------------------------------------


async def test_a_calendar_of_three_thousand_events_lists_in_full(stores: Stores) -> None:
    # Two Google pages (2,500 is events.list's maximum); ~1.5 MB, so several DynamoDB pages.
    events = [event(f"e{n:04d}", NOW + timedelta(minutes=n)) for n in range(3000)]
    generation = await stores.events.begin_full_sync(ACCOUNT, CAL)
    await stores.events.apply_events_page(
        ACCOUNT, page(*events[:2500], full_sync=True, generation=generation)
    )
    await stores.events.apply_events_page(
        ACCOUNT, page(*events[2500:], full_sync=True, generation=generation, token="t1")
    )

    rows = await stores.events.list_events(ACCOUNT, CAL)

    assert [row.event for row in rows] == events


async def test_a_full_sync_drops_stale_events_beyond_a_megabyte(stores: Stores) -> None:
    padding = "x" * 2000  # 600 events of ~2.5 KB: the cleanup reads more than one page
    events = [
        event(f"e{n:03d}", NOW + timedelta(minutes=n), summary=f"{n} {padding}") for n in range(600)
    ]
    await synced(stores.events, *events)

    generation = await stores.events.begin_full_sync(ACCOUNT, CAL)
    await stores.events.apply_events_page(
        ACCOUNT, page(*events[:50], full_sync=True, generation=generation, token="t2")
    )

    assert [row.event for row in await stores.events.list_events(ACCOUNT, CAL)] == events[:50]
    assert await stores.events.get_event(ACCOUNT, events[599].event_id) is None


async def _generation(stores: Stores, account_id: str, calendar_id: str) -> int:
    """The generation of the calendar's last full sync, as the sync reads it (0 before any)."""
    state = await stores.events.get_sync_state(account_id, calendar_id)
    return 0 if state is None else state.generation


async def test_a_page_of_thousands_is_stored_whole_with_every_field(stores: Stores) -> None:
    # 2,500 events plus a repeat of the first: as many rows as Google's largest page, so the
    # SQLite store splits it across statements of every size it has (512 down to 4).
    meetings = [
        event(
            f"m{n}",
            at(n),
            summary=None if n % 7 == 0 else f"Réunion {n} \u2014 \x00 ok",
            recurrence=WEEKLY if n % 10 == 0 else (),
            self_declined=n % 3 == 0,
            updated="2026-11-01T10:00:00.000Z" if n % 2 else None,
            ical_uid=f"uid-{n}@example.com",
            next_occurrence_start=at(n) if n % 10 == 0 else None,
            next_occurrence_end=at(n + 1) if n % 10 == 0 else None,
        )
        for n in range(2500)
    ]
    moved = dataclasses.replace(meetings[0], start_time=at(-5), end_time=at(-4))
    await stores.events.apply_events_page(ACCOUNT, page(*meetings, moved))

    rows = await stores.events.list_events(ACCOUNT, CAL)

    stored = {row.event.google_event_id: row.event for row in rows}
    assert len(rows) == 2500
    assert stored["m0"] == dataclasses.replace(moved, schedule_status=ScheduleStatus.UNSCHEDULED)
    for expected in meetings[1:]:
        assert stored[expected.google_event_id] == expected


async def test_a_repeat_within_a_page_keeps_the_status_of_a_meeting_seen_again(
    stores: Stores,
) -> None:
    gone = event("gone")
    await synced(stores.events, gone)
    await stores.events.apply_events_page(ACCOUNT, page(cancelled=("gone",)))

    await stores.events.apply_events_page(ACCOUNT, page(gone, gone))

    back = await stores.events.get_event(ACCOUNT, gone.event_id)
    assert back is not None
    assert back.status is EventStatus.CONFIRMED
    assert back.schedule_status is ScheduleStatus.UNSCHEDULED

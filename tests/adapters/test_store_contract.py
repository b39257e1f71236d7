"""The Store contract (app/adapters/ports.py), one suite for every backend so they cannot drift.

Each test runs against SQLite on a temporary file and DynamoDB on moto (tests/aws.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.adapters.aws.dynamodb import (
    DynamoDbStore,
    create_table,
    dynamodb_client_config,
    dynamodb_stores,
)
from app.adapters.aws.dynamodb.table import GSI1, GSI2, GSI3
from app.adapters.ports import EventsPageWrite, SeriesOverride, Store
from app.adapters.sqlite.database import Database
from app.adapters.sqlite.store import SqliteStore
from app.domain import (
    Account,
    ApiKey,
    AutoScheduleSettings,
    BotSource,
    BotStatus,
    Calendar,
    Channel,
    Connection,
    ConnectionStatus,
    Event,
    EventStatus,
    MeetingLink,
    OccurrenceOverride,
    Platform,
    ScheduledBot,
    ScheduleStatus,
    SeriesSchedule,
    SyncState,
    event_id_for,
    occurrence_key_for,
)
from app.errors import StorageUnavailable
from tests.aws import (  # noqa: F401  (fixtures, found by name)
    aws_endpoint,
    aws_env,
    dynamodb_client,
    moto_reset,
    moto_server,
    open_aws_client,
)

TABLE = "calbot-contract"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ACCOUNT = "acc_one"
OTHER = "acc_two"
CAL = "user@example.com"
TEAM = "team@group.calendar.google.com"
LINK = MeetingLink("https://meet.google.com/abc-defg-hij", Platform.GOOGLE_MEET)
WEEKLY = ("RRULE:FREQ=WEEKLY",)


@pytest.fixture(params=["sqlite", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        database = Database(tmp_path / "calbot.sqlite3")
        await database.open()
        try:
            yield SqliteStore(database)
        finally:
            await database.close()
        return
    endpoint: str = request.getfixturevalue("aws_endpoint")
    async with open_aws_client("dynamodb", endpoint, config=dynamodb_client_config()) as client:
        await create_table(client, TABLE)
        yield DynamoDbStore(client, TABLE)


# -- builders ----------------------------------------------------------------------------------


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def event(
    google_id: str,
    start: datetime = NOW,
    *,
    account_id: str = ACCOUNT,
    calendar_id: str = CAL,
    minutes: int = 30,
    **fields: Any,
) -> Event:
    fields.setdefault("meeting_link", LINK)
    return Event(
        event_id=event_id_for(account_id, calendar_id, google_id),
        calendar_id=calendar_id,
        google_event_id=google_id,
        summary=fields.pop("summary", f"Meeting {google_id}"),
        status=fields.pop("status", EventStatus.CONFIRMED),
        start_time=start,
        end_time=start + timedelta(minutes=minutes),
        all_day=False,
        time_zone="Europe/Berlin",
        **fields,
    )


def page(
    *upserts: Event,
    calendar_id: str = CAL,
    overrides: tuple[SeriesOverride, ...] = (),
    cancelled: tuple[str, ...] = (),
    full_sync: bool = False,
    generation: int = 1,
    token: str | None = None,
) -> EventsPageWrite:
    return EventsPageWrite(
        calendar_id=calendar_id,
        upserts=list(upserts),
        overrides=list(overrides),
        cancelled_google_ids=list(cancelled),
        full_sync=full_sync,
        generation=generation,
        sync_token=token,
        synced_at=NOW,
    )


def override(series_id: str, original_start: datetime, **fields: Any) -> SeriesOverride:
    fields.setdefault("cancelled", False)
    return SeriesOverride(series_id, OccurrenceOverride(original_start=original_start, **fields))


def bot(
    of: Event,
    *,
    bot_id: str,
    occurrence_start: datetime | None = None,
    join_at: datetime | None = None,
    status: BotStatus = BotStatus.SCHEDULED,
    account_id: str = ACCOUNT,
    **fields: Any,
) -> ScheduledBot:
    start = occurrence_start or of.start_time
    return ScheduledBot(
        bot_id=bot_id,
        account_id=account_id,
        event_id=of.event_id,
        calendar_id=of.calendar_id,
        google_event_id=of.google_event_id,
        occurrence_key=occurrence_key_for(occurrence_start),
        occurrence_start=start,
        occurrence_end=start + timedelta(minutes=30),
        join_at=join_at or start - timedelta(minutes=1),
        meeting_link=LINK.url,
        meeting_platform=LINK.platform,
        bot_config=fields.pop("bot_config", {"bot_name": "Notes"}),
        source=fields.pop("source", BotSource.MANUAL),
        status=status,
        created_at=fields.pop("created_at", NOW - timedelta(hours=1)),
        updated_at=fields.pop("updated_at", NOW - timedelta(hours=1)),
        **fields,
    )


def connection(
    account_id: str = ACCOUNT, status: ConnectionStatus = ConnectionStatus.ACTIVE
) -> Connection:
    return Connection(account_id, "client-id", CAL, status, NOW)


PRIMARY = Calendar(CAL, "Me", True, "Europe/Berlin", "owner")
SHARED = Calendar(TEAM, "Team", False, "America/New_York", "reader")


async def synced(
    store: Store, *events: Event, calendar_id: str = CAL, account_id: str = ACCOUNT
) -> None:
    """One complete full sync of the calendar with these events."""
    generation = await store.begin_full_sync(account_id, calendar_id)
    await store.apply_events_page(
        account_id,
        page(*events, calendar_id=calendar_id, full_sync=True, generation=generation, token="t1"),
    )


# -- accounts and keys -------------------------------------------------------------------------


async def test_an_account_reads_back_as_created(store: Store) -> None:
    account = Account(ACCOUNT, "Ada", NOW)
    await store.create_account(account)

    assert await store.get_account(ACCOUNT) == account
    assert await store.get_account(OTHER) is None


async def test_api_keys_resolve_by_hash_until_revoked_and_list_oldest_first(store: Store) -> None:
    await store.create_account(Account(ACCOUNT, "Ada", NOW))
    newer = ApiKey("key_b", ACCOUNT, "ci", at(1))
    older = ApiKey("key_a", ACCOUNT, "laptop", at(0))
    await store.add_api_key(newer, "hash-b")
    await store.add_api_key(older, "hash-a")

    assert await store.account_for_key_hash("hash-a") == ACCOUNT
    assert await store.account_for_key_hash("hash-unknown") is None
    assert await store.revoke_api_key("key_a", at(2)) is True
    assert await store.revoke_api_key("key_a", at(3)) is False
    assert await store.revoke_api_key("key_unknown", at(3)) is False
    assert await store.account_for_key_hash("hash-a") is None
    assert await store.account_for_key_hash("hash-b") == ACCOUNT
    assert await store.list_api_keys() == [dataclasses.replace(older, revoked_at=at(2)), newer]


# -- connection and calendars ------------------------------------------------------------------


async def test_saving_a_connection_says_whether_it_replaced_one(store: Store) -> None:
    assert await store.save_connection(connection(), [SHARED, PRIMARY]) is False
    assert await store.save_connection(connection(), [SHARED, PRIMARY]) is True

    assert await store.get_connection(ACCOUNT) == connection()
    assert await store.get_connection(OTHER) is None
    assert await store.list_calendars(ACCOUNT) == [PRIMARY, SHARED]
    await store.set_connection_status(ACCOUNT, ConnectionStatus.REVOKED)
    assert await store.get_connection(ACCOUNT) == connection(status=ConnectionStatus.REVOKED)


async def test_calendars_left_out_of_a_new_connection_lose_their_data(store: Store) -> None:
    await store.save_connection(connection(), [PRIMARY, SHARED])
    mine = event("mine", recurrence=WEEKLY)
    team = event("team", calendar_id=TEAM, recurrence=WEEKLY)
    await synced(store, mine)
    await synced(store, team, calendar_id=TEAM)
    await store.apply_events_page(
        ACCOUNT, page(calendar_id=TEAM, overrides=(override("team", at(168), cancelled=True),))
    )

    assert await store.save_connection(connection(), [PRIMARY]) is True

    assert await store.list_calendars(ACCOUNT) == [PRIMARY]
    assert await store.get_event(ACCOUNT, team.event_id) is None
    assert await store.list_events(ACCOUNT, TEAM) == []
    assert await store.list_overrides(ACCOUNT, TEAM, ["team"]) == {}
    assert await store.get_sync_state(ACCOUNT, TEAM) is None
    assert await store.current_generation(ACCOUNT, TEAM) == 0
    assert await store.get_event(ACCOUNT, mine.event_id) == mine


async def test_delete_connection_cancels_pending_bots_and_keeps_settings(store: Store) -> None:
    await store.save_connection(connection(), [PRIMARY])
    meeting = event("m1", at(2), recurrence=WEEKLY)
    await synced(store, meeting)
    scheduled = bot(meeting, bot_id="bot_1", occurrence_start=at(2))
    launching = bot(meeting, bot_id="bot_2", occurrence_start=at(170), join_at=at(-1))
    launched = bot(meeting, bot_id="bot_3", occurrence_start=at(-166))
    for each in (scheduled, launching):
        await store.insert_or_update_pending_bot(each)
    await store.insert_bots_unless_exist([launched])
    await store.claim_bot("bot_2", NOW, stale_launching_before=at(-1))
    assert await store.claim_bot("bot_3", NOW, stale_launching_before=at(-1)) is not None
    launched.status, launched.updated_at = BotStatus.LAUNCHED, NOW
    assert await store.update_bot(launched, expected_status=BotStatus.LAUNCHING)
    settings = AutoScheduleSettings(True, {"bot_name": "Auto"}, at(-1))
    await store.save_auto_schedule(ACCOUNT, settings)
    await store.save_series_schedule(series_schedule(meeting))
    await store.save_channel(channel("ch_1"))
    await store.put_sealed_secret(ACCOUNT, b"nonce", b"cipher")

    assert await store.delete_connection(ACCOUNT, at(1)) == 2

    statuses = {b.bot_id: (b.status, b.updated_at) for b in await store.list_bots(ACCOUNT)}
    assert statuses == {
        "bot_1": (BotStatus.CANCELLED, at(1)),
        "bot_2": (BotStatus.CANCELLED, at(1)),
        "bot_3": (BotStatus.LAUNCHED, NOW),
    }
    assert await store.get_connection(ACCOUNT) is None
    assert await store.list_calendars(ACCOUNT) == []
    assert await store.get_event(ACCOUNT, meeting.event_id) is None
    assert await store.get_sync_state(ACCOUNT, CAL) is None
    assert await store.get_series_schedule(ACCOUNT, meeting.event_id) is None
    assert await store.list_channels(ACCOUNT) == []
    assert await store.get_channel("ch_1") is None
    assert await store.due_bots(at(500), 10, stale_launching_before=at(500)) == []
    assert await store.get_auto_schedule(ACCOUNT) == settings
    assert await store.get_sealed_secret(ACCOUNT) == (b"nonce", b"cipher")
    assert await store.delete_connection(ACCOUNT, at(2)) == 0


# -- sync --------------------------------------------------------------------------------------


async def test_a_full_sync_drops_what_its_generation_did_not_see_once_complete(
    store: Store,
) -> None:
    kept, dropped = event("kept", recurrence=WEEKLY), event("dropped")
    await synced(store, kept, dropped)
    await store.apply_events_page(
        ACCOUNT,
        page(overrides=(override("kept", at(168), cancelled=True),), generation=1, token="t2"),
    )
    assert await store.get_sync_state(ACCOUNT, CAL) == sync_state("t2")

    generation = await store.begin_full_sync(ACCOUNT, CAL)
    assert generation == 2
    assert await store.current_generation(ACCOUNT, CAL) == 2
    assert await store.get_sync_state(ACCOUNT, CAL) == sync_state(None)
    await store.apply_events_page(ACCOUNT, page(kept, full_sync=True, generation=2))
    assert await store.get_event(ACCOUNT, dropped.event_id) == dropped  # run not complete yet

    await store.apply_events_page(ACCOUNT, page(full_sync=True, generation=2, token="t3"))

    assert await store.get_event(ACCOUNT, dropped.event_id) is None
    assert await store.get_event_by_google_id(ACCOUNT, CAL, "dropped") is None
    assert await store.get_event(ACCOUNT, kept.event_id) == kept
    assert await store.list_overrides(ACCOUNT, CAL, ["kept"]) == {}
    assert await store.get_sync_state(ACCOUNT, CAL) == sync_state("t3")
    assert await store.current_generation(ACCOUNT, CAL) == 2


def sync_state(token: str | None) -> SyncState:
    return SyncState(CAL, token, NOW)


async def test_before_any_sync_there_is_no_state_and_generation_zero(store: Store) -> None:
    assert await store.get_sync_state(ACCOUNT, CAL) is None
    assert await store.current_generation(ACCOUNT, CAL) == 0
    assert await store.begin_full_sync(ACCOUNT, CAL) == 1
    assert await store.get_sync_state(ACCOUNT, CAL) == dataclasses.replace(
        sync_state(None), last_synced_at=None
    )


async def test_an_incremental_sync_keeps_events_it_did_not_see(store: Store) -> None:
    first, second = event("first"), event("second", at(1))
    await synced(store, first)

    await store.apply_events_page(ACCOUNT, page(second, generation=1, token="t2"))

    rows = await store.list_events(ACCOUNT, CAL)
    assert [row.event for row in rows] == [first, second]


async def test_cancelled_ids_mark_events_cancelled_and_drop_their_exceptions(
    store: Store,
) -> None:
    series = event(
        "series",
        recurrence=WEEKLY,
        next_occurrence_start=at(168),
        next_occurrence_end=at(168.5),
    )
    other = event("other", recurrence=WEEKLY)
    await synced(store, series, other)
    await store.apply_events_page(
        ACCOUNT,
        page(
            overrides=(
                override("series", at(168), start=at(169), end=at(169.5)),
                override("other", at(168), cancelled=True),
            )
        ),
    )

    await store.apply_events_page(ACCOUNT, page(cancelled=("series", "never-seen")))

    stored = await store.get_event(ACCOUNT, series.event_id)
    assert stored == dataclasses.replace(
        series,
        status=EventStatus.CANCELLED,
        schedule_status=ScheduleStatus.CANCELLED,
        next_occurrence_start=None,
        next_occurrence_end=None,
    )
    assert await store.get_event_by_google_id(ACCOUNT, CAL, "never-seen") is None
    assert set(await store.list_overrides(ACCOUNT, CAL, ["series", "other"])) == {"other"}


async def test_upserts_keep_calbots_own_fields(store: Store) -> None:
    series = event("series", recurrence=WEEKLY)
    await synced(store, series)
    await store.set_recurring_enabled(ACCOUNT, series.event_id, False)
    await store.set_schedule_status(ACCOUNT, series.event_id, ScheduleStatus.SCHEDULED)

    renamed = dataclasses.replace(series, summary="Renamed", updated="2026-11-25T13:00:00Z")
    await store.apply_events_page(ACCOUNT, page(renamed))

    assert await store.get_event(ACCOUNT, series.event_id) == dataclasses.replace(
        renamed, recurring_enabled=False, schedule_status=ScheduleStatus.SCHEDULED
    )


async def test_an_event_upserted_after_its_cancellation_is_unscheduled_again(
    store: Store,
) -> None:
    meeting = event("m1")
    await synced(store, meeting)
    await store.set_schedule_status(ACCOUNT, meeting.event_id, ScheduleStatus.SCHEDULED)
    await store.set_recurring_enabled(ACCOUNT, meeting.event_id, False)
    await store.apply_events_page(ACCOUNT, page(cancelled=("m1",)))
    cancelled = await store.get_event(ACCOUNT, meeting.event_id)
    assert cancelled is not None
    assert cancelled.schedule_status is ScheduleStatus.CANCELLED

    await store.apply_events_page(ACCOUNT, page(meeting))

    assert await store.get_event(ACCOUNT, meeting.event_id) == dataclasses.replace(
        meeting, recurring_enabled=False, schedule_status=ScheduleStatus.UNSCHEDULED
    )
    await store.set_schedule_status(ACCOUNT, meeting.event_id, ScheduleStatus.CANCELLED)
    again = await store.get_event(ACCOUNT, meeting.event_id)
    assert again is not None
    assert again.schedule_status is ScheduleStatus.CANCELLED


async def test_user_fields_of_unknown_events_are_not_written(store: Store) -> None:
    missing = event("missing")
    await store.set_schedule_status(ACCOUNT, missing.event_id, ScheduleStatus.SCHEDULED)
    await store.set_recurring_enabled(ACCOUNT, missing.event_id, False)
    await store.set_next_occurrences(ACCOUNT, [(missing.event_id, at(1), at(2))])

    await store.apply_events_page(ACCOUNT, page(missing))

    assert await store.get_event(ACCOUNT, missing.event_id) == missing


async def test_events_list_by_start_with_their_pending_bots(store: Store) -> None:
    late = event("late", at(3))
    early = event("early", at(1))
    series = event("series", at(-100), recurrence=WEEKLY)
    tie_a, tie_b = event("tie-a", at(2)), event("tie-b", at(2))
    await synced(store, late, early, series, tie_a, tie_b)
    await store.insert_or_update_pending_bot(bot(early, bot_id="bot_early"))
    cancelled = bot(late, bot_id="bot_late")
    await store.insert_or_update_pending_bot(cancelled)
    cancelled.status = BotStatus.CANCELLED
    assert await store.update_bot(cancelled, expected_status=BotStatus.SCHEDULED)

    rows = await store.list_events(ACCOUNT, CAL)

    ties = sorted([tie_a, tie_b], key=lambda e: e.event_id)
    assert [row.event for row in rows] == [series, early, *ties, late]
    assert [row.bot_join_status for row in rows] == [False, True, False, False, False]
    assert await store.list_events(ACCOUNT, TEAM) == []
    assert await store.list_events(OTHER, CAL) == []


async def test_events_are_read_only_through_their_own_account(store: Store) -> None:
    meeting = event("m1")
    await synced(store, meeting)

    assert await store.get_event(ACCOUNT, meeting.event_id) == meeting
    assert await store.get_event_by_google_id(ACCOUNT, CAL, "m1") == meeting
    assert await store.get_event(OTHER, meeting.event_id) is None
    assert await store.get_event_by_google_id(OTHER, CAL, "m1") is None
    assert await store.get_event_by_google_id(ACCOUNT, TEAM, "m1") is None


async def test_exceptions_are_stored_by_series_and_original_start(store: Store) -> None:
    moved = OccurrenceOverride(
        original_start=at(168),
        cancelled=False,
        start=at(169),
        end=at(169.5),
        meeting_link=MeetingLink("https://zoom.us/j/123", Platform.ZOOM),
        google_event_id="s1_20261202T120000Z",
    )
    dropped = OccurrenceOverride(original_start=at(336), cancelled=True)
    await store.apply_events_page(
        ACCOUNT,
        page(
            overrides=(
                override("s1", at(168), cancelled=True),
                SeriesOverride("s1", dropped),
                override("s2", at(24), cancelled=True),
            )
        ),
    )
    await store.apply_events_page(ACCOUNT, page(overrides=(SeriesOverride("s1", moved),)))

    found = await store.list_overrides(ACCOUNT, CAL, ["s1", "s3"])

    assert found == {"s1": [moved, dropped]}
    assert await store.list_overrides(ACCOUNT, TEAM, ["s1"]) == {}


async def test_series_needing_a_next_occurrence_are_those_whose_next_one_ended(
    store: Store,
) -> None:
    ended = event("ended", at(-200), recurrence=WEEKLY)
    upcoming = event("upcoming", at(-200), recurrence=WEEKLY)
    unknown = event("unknown", at(-200), recurrence=WEEKLY)
    one_off = event("one-off", at(-2), next_occurrence_end=at(-1))
    await synced(store, ended, upcoming, unknown, one_off)

    await store.set_next_occurrences(
        ACCOUNT,
        [
            (ended.event_id, at(-2), at(-1)),
            (upcoming.event_id, at(1), at(2)),
            (unknown.event_id, None, None),
            ("evt_not_stored", at(-2), at(-1)),
        ],
    )

    needing = await store.list_series_needing_next_occurrence(ACCOUNT, CAL, NOW)
    assert needing == [
        dataclasses.replace(ended, next_occurrence_start=at(-2), next_occurrence_end=at(-1))
    ]
    stored = await store.get_event(ACCOUNT, upcoming.event_id)
    assert stored is not None
    assert (stored.next_occurrence_start, stored.next_occurrence_end) == (at(1), at(2))
    await store.apply_events_page(ACCOUNT, page(cancelled=("ended",)))
    assert await store.list_series_needing_next_occurrence(ACCOUNT, CAL, NOW) == []


# -- bots --------------------------------------------------------------------------------------


async def test_a_pending_bot_is_deduplicated_and_updated_only_while_scheduled(
    store: Store,
) -> None:
    meeting = event("m1", at(1))
    first = bot(meeting, bot_id="bot_1", bot_name="First", custom_attributes={"a": 1})
    assert await store.insert_or_update_pending_bot(first) == (first, True)

    repeat = bot(meeting, bot_id="bot_2", bot_config={"x": 2}, updated_at=NOW)
    stored, created = await store.insert_or_update_pending_bot(repeat)

    assert created is False
    assert stored == dataclasses.replace(
        first, bot_config={"x": 2}, bot_name=None, custom_attributes=None, updated_at=NOW
    )
    assert await store.get_bot(ACCOUNT, "bot_2") is None
    claimed = await store.claim_bot("bot_1", at(1), stale_launching_before=NOW)
    assert claimed is not None
    stored, created = await store.insert_or_update_pending_bot(
        bot(meeting, bot_id="bot_3", bot_config={"y": 3})
    )
    assert (stored, created) == (claimed, False)

    claimed.status = BotStatus.LAUNCHED
    assert await store.update_bot(claimed, expected_status=BotStatus.LAUNCHING)
    fresh = bot(meeting, bot_id="bot_4")
    assert await store.insert_or_update_pending_bot(fresh) == (fresh, True)
    assert [b.bot_id for b in await store.list_bots(ACCOUNT)] == ["bot_1", "bot_4"]


async def test_fifty_concurrent_schedulings_of_one_occurrence_make_one_bot(store: Store) -> None:
    meeting = event("m1", at(1))
    candidates = [bot(meeting, bot_id=f"bot_{n:02d}", bot_config={"n": n}) for n in range(50)]

    results = await asyncio.gather(*map(store.insert_or_update_pending_bot, candidates))

    assert sum(created for _, created in results) == 1
    assert len({stored.bot_id for stored, _ in results}) == 1
    assert len(await store.list_bots(ACCOUNT)) == 1


async def test_inserting_bots_unless_they_exist_checks_bots_in_any_status(store: Store) -> None:
    series = event("series", at(-200), recurrence=WEEKLY)
    await synced(store, series)
    await store.apply_events_page(ACCOUNT, page(cancelled=("series",)))
    old = bot(series, bot_id="bot_old", occurrence_start=at(1))
    await store.insert_or_update_pending_bot(old)
    old.status = BotStatus.CANCELLED
    assert await store.update_bot(old, expected_status=BotStatus.SCHEDULED)

    again = bot(series, bot_id="bot_again", occurrence_start=at(1))
    next_week = bot(series, bot_id="bot_next", occurrence_start=at(169))
    twin = bot(series, bot_id="bot_twin", occurrence_start=at(169))
    lonely = bot(event("not-stored"), bot_id="bot_lonely")

    inserted = await store.insert_bots_unless_exist([again, next_week, twin, lonely, next_week])

    assert inserted == [next_week, lonely]
    assert await store.insert_bots_unless_exist([]) == []
    assert (
        await store.insert_bots_unless_exist([bot(series, bot_id="x", occurrence_start=at(169))])
        == []
    )
    stored = await store.get_event(ACCOUNT, series.event_id)
    assert stored is not None
    assert stored.schedule_status is ScheduleStatus.SCHEDULED
    assert await store.get_bot(ACCOUNT, "bot_next") == next_week


async def test_update_bot_writes_only_over_the_expected_status(store: Store) -> None:
    meeting = event("m1", at(1))
    original = bot(meeting, bot_id="bot_1")
    await store.insert_or_update_pending_bot(original)
    moved = dataclasses.replace(original, join_at=at(0.5), meeting_link="https://zoom.us/j/9")
    moved.meeting_platform = Platform.ZOOM

    assert await store.update_bot(moved, expected_status=BotStatus.LAUNCHING) is False
    assert await store.get_bot(ACCOUNT, "bot_1") == original
    assert await store.update_bot(moved, expected_status=BotStatus.SCHEDULED) is True
    assert await store.get_bot(ACCOUNT, "bot_1") == moved
    assert await store.get_bot(OTHER, "bot_1") is None
    assert (
        await store.update_bot(
            dataclasses.replace(moved, account_id=OTHER), expected_status=BotStatus.SCHEDULED
        )
        is False
    )


async def test_a_bot_put_back_to_scheduled_is_pending_again(store: Store) -> None:
    meeting = event("m1", at(1))
    await synced(store, meeting)
    original = bot(meeting, bot_id="bot_1")
    await store.insert_or_update_pending_bot(original)
    cancelled = dataclasses.replace(original, status=BotStatus.CANCELLED)
    assert await store.update_bot(cancelled, expected_status=BotStatus.SCHEDULED)
    assert [row.bot_join_status for row in await store.list_events(ACCOUNT, CAL)] == [False]

    assert await store.update_bot(original, expected_status=BotStatus.CANCELLED)

    assert [row.bot_join_status for row in await store.list_events(ACCOUNT, CAL)] == [True]
    stored, created = await store.insert_or_update_pending_bot(bot(meeting, bot_id="bot_2"))
    assert (stored.bot_id, created) == ("bot_1", False)
    assert await store.due_bots(at(1), 10, stale_launching_before=NOW) == [original]


async def test_cancel_pending_bots_cancels_the_scheduled_bots_of_one_event(store: Store) -> None:
    series, other = event("series", recurrence=WEEKLY), event("other", at(2))
    await synced(store, series, other)
    first = bot(series, bot_id="bot_1", occurrence_start=at(1))
    second = bot(series, bot_id="bot_2", occurrence_start=at(169))
    launching = bot(series, bot_id="bot_3", occurrence_start=at(-167), join_at=at(-1))
    elsewhere = bot(other, bot_id="bot_4")
    for each in (first, second, launching, elsewhere):
        await store.insert_or_update_pending_bot(each)
    await store.claim_bot("bot_3", NOW, stale_launching_before=at(-2))

    cancelled = await store.cancel_pending_bots(ACCOUNT, series.event_id, at(0.5))

    expected = [
        dataclasses.replace(b, status=BotStatus.CANCELLED, updated_at=at(0.5))
        for b in (first, second)
    ]
    assert sorted(cancelled, key=lambda b: b.bot_id) == expected
    statuses = {b.bot_id: b.status for b in await store.list_bots(ACCOUNT)}
    assert statuses == {
        "bot_1": BotStatus.CANCELLED,
        "bot_2": BotStatus.CANCELLED,
        "bot_3": BotStatus.LAUNCHING,
        "bot_4": BotStatus.SCHEDULED,
    }
    assert await store.cancel_pending_bots(ACCOUNT, series.event_id, at(1)) == []
    again = bot(series, bot_id="bot_5", occurrence_start=at(1))
    assert await store.insert_or_update_pending_bot(again) == (again, True)


async def test_bots_list_by_join_at_filtered_by_status_and_event(store: Store) -> None:
    one, two = event("one", at(5)), event("two", at(1))
    later = bot(one, bot_id="bot_a")
    sooner = bot(two, bot_id="bot_b")
    await store.insert_or_update_pending_bot(later)
    await store.insert_or_update_pending_bot(sooner)
    await store.insert_or_update_pending_bot(bot(two, bot_id="bot_c", account_id=OTHER))

    assert await store.list_bots(ACCOUNT) == [sooner, later]
    assert await store.list_bots(ACCOUNT, event_id=one.event_id) == [later]
    assert await store.list_bots(ACCOUNT, status=BotStatus.LAUNCHED) == []
    assert await store.list_bots(ACCOUNT, status=BotStatus.SCHEDULED, event_id=two.event_id) == [
        sooner
    ]


async def test_due_bots_come_earliest_first_with_stale_launches(store: Store) -> None:
    meeting = event("m1", at(1))
    due_late = bot(meeting, bot_id="bot_late", occurrence_start=at(1), join_at=at(-0.1))
    due_early = bot(
        meeting, bot_id="bot_early", occurrence_start=at(2), join_at=at(-1), account_id=OTHER
    )
    exactly_now = bot(meeting, bot_id="bot_now", occurrence_start=at(3), join_at=NOW)
    future = bot(meeting, bot_id="bot_future", occurrence_start=at(4), join_at=at(0.5))
    stale = bot(meeting, bot_id="bot_stale", occurrence_start=at(5), join_at=at(-3))
    fresh = bot(meeting, bot_id="bot_fresh", occurrence_start=at(6), join_at=at(-2))
    for each in (due_late, due_early, exactly_now, future, stale, fresh):
        await store.insert_or_update_pending_bot(each)
    await store.claim_bot("bot_stale", at(-0.5), stale_launching_before=at(-1))
    await store.claim_bot("bot_fresh", NOW, stale_launching_before=at(-1))

    due = await store.due_bots(NOW, 10, stale_launching_before=at(-0.25))

    assert [b.bot_id for b in due] == ["bot_stale", "bot_early", "bot_late", "bot_now"]
    assert due[0].status is BotStatus.LAUNCHING
    limited = await store.due_bots(NOW, 2, stale_launching_before=at(-0.25))
    assert [b.bot_id for b in limited] == ["bot_stale", "bot_early"]
    assert await store.next_join_at() == at(-1)


async def test_next_join_at_is_none_without_scheduled_bots(store: Store) -> None:
    assert await store.next_join_at() is None
    meeting = event("m1", at(1))
    await store.insert_or_update_pending_bot(bot(meeting, bot_id="bot_1", join_at=at(-1)))
    await store.claim_bot("bot_1", NOW, stale_launching_before=at(-1))

    assert await store.next_join_at() is None
    assert await store.due_bots(at(10), 10, stale_launching_before=at(-1)) == []


async def test_claiming_rechecks_join_at_and_takes_over_only_stale_launches(
    store: Store,
) -> None:
    meeting = event("m1", at(1))
    pending = bot(meeting, bot_id="bot_1", join_at=at(0.5))
    await store.insert_or_update_pending_bot(pending)

    assert await store.claim_bot("bot_1", NOW, stale_launching_before=at(-1)) is None
    claimed = await store.claim_bot("bot_1", at(0.5), stale_launching_before=at(-1))
    assert claimed == dataclasses.replace(
        pending, status=BotStatus.LAUNCHING, attempts=1, updated_at=at(0.5)
    )
    assert await store.claim_bot("bot_1", at(0.6), stale_launching_before=at(0.5)) is None
    await store.touch_launching_bot("bot_1", at(0.7))
    assert await store.claim_bot("bot_1", at(0.8), stale_launching_before=at(0.7)) is None

    taken_over = await store.claim_bot("bot_1", at(0.9), stale_launching_before=at(0.75))

    assert taken_over == dataclasses.replace(claimed, attempts=2, updated_at=at(0.9))
    assert await store.claim_bot("bot_unknown", at(1), stale_launching_before=at(1)) is None
    taken_over.status = BotStatus.LAUNCHED
    assert await store.update_bot(taken_over, expected_status=BotStatus.LAUNCHING)
    await store.touch_launching_bot("bot_1", at(2))
    assert await store.claim_bot("bot_1", at(3), stale_launching_before=at(3)) is None
    assert await store.get_bot(ACCOUNT, "bot_1") == taken_over


# -- series schedules --------------------------------------------------------------------------


def series_schedule(of: Event, next_check_at: datetime = NOW) -> SeriesSchedule:
    return SeriesSchedule(
        account_id=ACCOUNT,
        event_id=of.event_id,
        bot_config={"bot_name": "Series"},
        bot_name="Series",
        custom_attributes={"team": "core"},
        source=BotSource.RECURRENCE,
        active=True,
        last_original_start=at(-168),
        next_check_at=next_check_at,
    )


async def test_series_schedules_fall_due_and_advance_by_compare_and_set(store: Store) -> None:
    first = series_schedule(event("s1"), at(-1))
    second = series_schedule(event("s2"), at(1))
    await store.save_series_schedule(first)
    await store.save_series_schedule(second)

    assert await store.get_series_schedule(ACCOUNT, first.event_id) == first
    assert await store.due_series_schedules(NOW, 10) == [first]
    assert await store.next_series_check_at() == at(-1)

    await store.set_series_schedule_active(ACCOUNT, first.event_id, False)
    assert await store.due_series_schedules(NOW, 10) == []
    assert await store.next_series_check_at() == at(1)
    await store.set_series_schedule_active(ACCOUNT, "evt_none", True)
    assert await store.get_series_schedule(ACCOUNT, "evt_none") is None
    await store.set_series_schedule_active(ACCOUNT, first.event_id, True)

    assert not await store.advance_series_schedule(
        ACCOUNT,
        first.event_id,
        expected_last_original_start=at(-1),
        last_original_start=NOW,
        next_check_at=at(168),
    )
    assert await store.advance_series_schedule(
        ACCOUNT,
        first.event_id,
        expected_last_original_start=at(-168),
        last_original_start=NOW,
        next_check_at=at(168),
    )
    assert await store.get_series_schedule(ACCOUNT, first.event_id) == dataclasses.replace(
        first, last_original_start=NOW, next_check_at=at(168)
    )
    assert await store.due_series_schedules(at(200), 1) == [second]
    assert await store.advance_series_schedule(
        ACCOUNT,
        second.event_id,
        expected_last_original_start=at(-168),
        last_original_start=NOW,
        next_check_at=at(2),
        active=False,
    )
    assert await store.due_series_schedules(at(200), 10) == [
        dataclasses.replace(first, last_original_start=NOW, next_check_at=at(168))
    ]
    await store.save_series_schedule(dataclasses.replace(first, active=False))
    assert await store.next_series_check_at() is None


# -- auto-scheduling ---------------------------------------------------------------------------


async def test_auto_schedule_settings_default_to_disabled_and_select_accounts(
    store: Store,
) -> None:
    assert await store.get_auto_schedule(ACCOUNT) == AutoScheduleSettings()
    on = AutoScheduleSettings(True, {"bot_name": "Auto"}, NOW)
    for account_id in (ACCOUNT, OTHER, "acc_three"):
        await store.save_auto_schedule(account_id, on)
    await store.save_auto_schedule("acc_three", AutoScheduleSettings(False, {}, None))
    for account_id in (ACCOUNT, OTHER, "acc_three", "acc_four"):
        await store.save_connection(connection(account_id), [PRIMARY])
    await store.set_connection_status(OTHER, ConnectionStatus.REVOKED)

    assert await store.get_auto_schedule(ACCOUNT) == on
    assert await store.accounts_with_auto_schedule() == [ACCOUNT]
    assert await store.connected_accounts() == ["acc_four", ACCOUNT, "acc_three"]
    await store.set_connection_status(OTHER, ConnectionStatus.ACTIVE)
    assert await store.accounts_with_auto_schedule() == [ACCOUNT, OTHER]


async def test_auto_schedule_candidates_may_overlap_the_window(store: Store) -> None:
    window = (NOW, at(24))
    inside = event("inside", at(2))
    overlapping = event("overlapping", at(-0.25))
    team = event("team", at(3), calendar_id=TEAM)
    live_series = event("live-series", at(-500), recurrence=WEEKLY, next_occurrence_start=at(-400))
    excluded = [
        event("before", at(-2)),
        event("after", at(24)),
        event("no-link", at(2), meeting_link=None),
        event("declined", at(2), self_declined=True),
        event("tentative-cancelled", at(2), status=EventStatus.CANCELLED),
        event("over-series", at(-500), recurrence=WEEKLY),
        event("future-series", at(25), recurrence=WEEKLY, next_occurrence_start=at(25)),
    ]
    await store.save_connection(connection(), [PRIMARY, SHARED])
    await synced(store, inside, overlapping, live_series, *excluded)
    await synced(store, team, calendar_id=TEAM)
    await synced(store, event("foreign", at(2), account_id=OTHER), account_id=OTHER)

    found = await store.list_auto_schedule_candidates(ACCOUNT, *window)

    expected = [inside, overlapping, team, live_series]
    assert sorted(found, key=lambda e: e.event_id) == sorted(expected, key=lambda e: e.event_id)


# -- push channels -----------------------------------------------------------------------------


def channel(channel_id: str, expiration: datetime = NOW, account_id: str = ACCOUNT) -> Channel:
    return Channel(
        channel_id, account_id, CAL, f"res-{channel_id}", f"hash-{channel_id}", expiration
    )


async def test_channels_are_found_by_id_by_account_and_by_expiry(store: Store) -> None:
    late, early = channel("ch_late", at(48)), channel("ch_early", at(2))
    foreign = channel("ch_foreign", at(1), account_id=OTHER)
    for each in (late, early, foreign):
        await store.save_channel(each)

    assert await store.get_channel("ch_late") == late
    assert await store.get_channel("ch_unknown") is None
    assert await store.list_channels(ACCOUNT) == [early, late]
    assert await store.channels_expiring_before(at(2)) == [foreign]
    assert await store.channels_expiring_before(at(48.5)) == [foreign, early, late]

    renewed = dataclasses.replace(early, expiration=at(72))
    await store.save_channel(renewed)
    await store.delete_channel("ch_late")
    await store.delete_channel("ch_unknown")

    assert await store.get_channel("ch_late") is None
    assert await store.list_channels(ACCOUNT) == [renewed]
    assert await store.channels_expiring_before(at(48.5)) == [foreign]


# -- leases ------------------------------------------------------------------------------------


async def test_a_lease_is_exclusive_until_it_expires_or_is_released(store: Store) -> None:
    assert await store.try_acquire_lease("sync", "replica-a", NOW, at(1))
    assert not await store.try_acquire_lease("sync", "replica-b", at(0.5), at(1.5))
    assert await store.try_acquire_lease("sync", "replica-a", at(0.5), at(1.5))
    assert not await store.try_acquire_lease("sync", "replica-b", at(1), at(2))
    assert await store.try_acquire_lease("other-pass", "replica-b", NOW, at(1))

    assert await store.try_acquire_lease("sync", "replica-b", at(1.5), at(2.5))
    await store.release_lease("sync", "replica-a")
    assert not await store.try_acquire_lease("sync", "replica-a", at(2), at(3))
    await store.release_lease("sync", "replica-b")
    assert await store.try_acquire_lease("sync", "replica-a", at(2), at(3))


# -- sealed secrets ----------------------------------------------------------------------------


async def test_sealed_secrets_are_replaced_and_forgotten(store: Store) -> None:
    assert await store.get_sealed_secret(ACCOUNT) is None
    await store.put_sealed_secret(ACCOUNT, b"\x00nonce", b"\xffcipher")
    await store.put_sealed_secret(ACCOUNT, b"nonce-2", b"cipher-2")

    assert await store.get_sealed_secret(ACCOUNT) == (b"nonce-2", b"cipher-2")
    assert await store.get_sealed_secret(OTHER) is None
    await store.delete_sealed_secret(ACCOUNT)
    await store.delete_sealed_secret(ACCOUNT)
    assert await store.get_sealed_secret(ACCOUNT) is None


# -- pagination --------------------------------------------------------------------------------


async def test_a_calendar_of_three_thousand_events_lists_in_full(store: Store) -> None:
    # Two Google pages (2,500 is events.list's maximum); ~1.5 MB, so several DynamoDB pages.
    events = [event(f"e{n:04d}", NOW + timedelta(minutes=n)) for n in range(3000)]
    generation = await store.begin_full_sync(ACCOUNT, CAL)
    await store.apply_events_page(
        ACCOUNT, page(*events[:2500], full_sync=True, generation=generation)
    )
    await store.apply_events_page(
        ACCOUNT, page(*events[2500:], full_sync=True, generation=generation, token="t1")
    )

    rows = await store.list_events(ACCOUNT, CAL)

    assert [row.event for row in rows] == events


async def test_a_full_sync_drops_stale_events_beyond_a_megabyte(store: Store) -> None:
    padding = "x" * 2000  # 600 events of ~2.5 KB: the cleanup reads more than one page
    events = [
        event(f"e{n:03d}", NOW + timedelta(minutes=n), summary=f"{n} {padding}") for n in range(600)
    ]
    await synced(store, *events)

    generation = await store.begin_full_sync(ACCOUNT, CAL)
    await store.apply_events_page(
        ACCOUNT, page(*events[:50], full_sync=True, generation=generation, token="t2")
    )

    assert [row.event for row in await store.list_events(ACCOUNT, CAL)] == events[:50]
    assert await store.get_event(ACCOUNT, events[599].event_id) is None


# -- DynamoDB only -----------------------------------------------------------------------------


async def test_create_table_is_idempotent(dynamodb_client: Any) -> None:  # noqa: F811
    assert await create_table(dynamodb_client, TABLE) is True
    assert await create_table(dynamodb_client, TABLE) is False

    described = await dynamodb_client.describe_table(TableName=TABLE)
    table = described["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {GSI1, GSI2, GSI3}


async def test_a_missing_table_is_storage_unavailable(dynamodb_client: Any) -> None:  # noqa: F811
    stores = dynamodb_stores(dynamodb_client, "no-such-table")

    with pytest.raises(StorageUnavailable):
        await stores.accounts.get_account(ACCOUNT)

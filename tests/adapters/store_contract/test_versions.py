"""Compare-and-set and narrow writes (issue 12, cases 4 and 8): what a writer holding a stale
read can no longer overwrite, on every backend. Each race is the two writers' store calls in
the order that used to lose an update."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

from app.adapters.aws.dynamodb import create_table, dynamodb_stores
from app.adapters.aws.dynamodb.codec import bot_item, new_rev
from app.adapters.ports import Stores
from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import Database
from app.domain import AutoScheduleSettings, BotStatus, ConnectionStatus
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    NOW,
    OTHER,
    PRIMARY,
    TABLE,
    at,
    bot,
    connection,
    event,
    series_schedule,
)

# -- bots: update_bot is a compare-and-set on the version --------------------------------------


async def test_a_bot_written_from_a_stale_copy_loses_to_the_write_in_between(
    stores: Stores,
) -> None:
    meeting = event("m1", at(1))
    await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id="bot_1"))
    moving = await stores.bots.get_bot(ACCOUNT, "bot_1")
    patching = await stores.bots.get_bot(ACCOUNT, "bot_1")
    assert moving is not None
    assert patching is not None
    assert moving.version == 0

    patching.bot_config = {"bot_name": "Patched"}
    assert await stores.bots.update_bot(patching, expected_status=BotStatus.SCHEDULED)
    assert patching.version == 1
    moving.join_at = at(0.5)
    assert await stores.bots.update_bot(moving, expected_status=BotStatus.SCHEDULED) is False

    after = await stores.bots.get_bot(ACCOUNT, "bot_1")
    assert after == patching  # the patch stands, the stale move did not land
    assert after is not None
    after.join_at = at(0.5)  # the loser, again from what is stored
    assert await stores.bots.update_bot(after, expected_status=BotStatus.SCHEDULED)
    assert await stores.bots.get_bot(ACCOUNT, "bot_1") == dataclasses.replace(
        patching, join_at=at(0.5), version=2
    )


async def test_every_write_of_a_bot_but_a_claim_renewal_bumps_its_version(
    stores: Stores,
) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY])
    meeting, other = event("m1", at(1)), event("m2", at(2))
    await stores.bots.insert_or_update_pending_bot(bot(meeting, bot_id="bot_1"))
    await stores.bots.insert_or_update_pending_bot(bot(other, bot_id="bot_2", join_at=at(-1)))

    before_rescheduling = await stores.bots.get_bot(ACCOUNT, "bot_1")
    rescheduled, _ = await stores.bots.insert_or_update_pending_bot(
        bot(meeting, bot_id="bot_x", bot_config={"again": True})
    )
    assert rescheduled.version == 1
    claimed = await stores.bots.claim_bot("bot_2", NOW, stale_launching_before=at(-1))
    assert claimed is not None
    assert claimed.version == 1
    await stores.bots.touch_launching_bot("bot_2", at(0.1))
    before_cancelling = await stores.bots.get_bot(ACCOUNT, "bot_1")
    [cancelled] = await stores.bots.cancel_pending_bots(ACCOUNT, meeting.event_id, at(0.2))
    assert cancelled.version == 2

    assert before_rescheduling is not None
    assert before_cancelling is not None
    for stale in (before_rescheduling, before_cancelling):
        stale.bot_name = "stale"
        assert await stores.bots.update_bot(stale, expected_status=BotStatus.SCHEDULED) is False
    claimed.status = BotStatus.LAUNCHED  # the renewal left the launcher's copy current
    assert await stores.bots.update_bot(claimed, expected_status=BotStatus.LAUNCHING)
    launched = await stores.bots.get_bot(ACCOUNT, "bot_2")
    assert launched is not None
    assert (launched.status, launched.version, launched.updated_at) == (
        BotStatus.LAUNCHED,
        2,
        claimed.updated_at,
    )


async def test_a_disconnect_bumps_the_version_of_the_bots_it_cancels(stores: Stores) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY])
    await stores.bots.insert_or_update_pending_bot(bot(event("m1", at(1)), bot_id="bot_1"))
    read = await stores.bots.get_bot(ACCOUNT, "bot_1")
    assert read is not None
    join_at = read.join_at

    assert await stores.connections.delete_connection(ACCOUNT, at(0.5)) == 1

    read.join_at = at(0.75)
    assert await stores.bots.update_bot(read, expected_status=BotStatus.CANCELLED) is False
    after = await stores.bots.get_bot(ACCOUNT, "bot_1")
    assert after is not None
    assert (after.status, after.version, after.join_at) == (BotStatus.CANCELLED, 1, join_at)


# -- auto-schedule settings: each writer writes only what it owns ------------------------------


async def test_a_pass_recording_its_run_keeps_a_disable_made_after_it_read(
    stores: Stores,
) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY])
    await stores.auto_schedule.set_auto_schedule(
        ACCOUNT, enabled=True, default_bot_config={"bot_name": "Auto"}
    )
    read_by_the_pass = await stores.auto_schedule.get_auto_schedule(ACCOUNT)
    assert read_by_the_pass.enabled

    disabled = await stores.auto_schedule.set_auto_schedule(ACCOUNT, enabled=False)
    await stores.auto_schedule.record_auto_schedule_run(ACCOUNT, at(0.1))

    assert disabled == AutoScheduleSettings(False, {"bot_name": "Auto"}, None)
    assert await stores.auto_schedule.get_auto_schedule(ACCOUNT) == AutoScheduleSettings(
        False, {"bot_name": "Auto"}, at(0.1)
    )
    assert await stores.auto_schedule.accounts_with_auto_schedule() == []


async def test_turning_auto_scheduling_on_keeps_the_last_run_and_maybe_the_config(
    stores: Stores,
) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY])
    await stores.connections.save_connection(connection(OTHER), [PRIMARY])
    await stores.auto_schedule.record_auto_schedule_run(OTHER, NOW)  # no settings: no-op
    assert await stores.auto_schedule.get_auto_schedule(OTHER) == AutoScheduleSettings()

    first = await stores.auto_schedule.set_auto_schedule(ACCOUNT, enabled=True)
    await stores.auto_schedule.record_auto_schedule_run(ACCOUNT, NOW)
    configured = await stores.auto_schedule.set_auto_schedule(
        ACCOUNT, enabled=True, default_bot_config={"bot_name": "New"}
    )
    await stores.auto_schedule.set_auto_schedule(ACCOUNT, enabled=False)
    again = await stores.auto_schedule.set_auto_schedule(ACCOUNT, enabled=True)

    assert first == AutoScheduleSettings(True, {}, None)
    assert configured == AutoScheduleSettings(True, {"bot_name": "New"}, NOW)
    assert again == configured
    assert await stores.auto_schedule.get_auto_schedule(ACCOUNT) == configured
    assert await stores.auto_schedule.accounts_with_auto_schedule() == [ACCOUNT]


# -- series schedules: a pass never resumes what the user paused -------------------------------


async def test_a_series_advance_read_before_a_pause_leaves_it_paused(stores: Stores) -> None:
    schedule = series_schedule(event("s1"), at(-1))
    await stores.series.save_series_schedule(schedule)
    read_by_the_pass = await stores.series.due_series_schedules(NOW, 10)
    assert read_by_the_pass == [schedule]

    await stores.series.set_series_schedule_active(ACCOUNT, schedule.event_id, False)
    advanced = await stores.series.advance_series_schedule(
        ACCOUNT,
        schedule.event_id,
        expected_last_original_start=schedule.last_original_start,
        last_original_start=NOW,
        next_check_at=at(168),
    )

    assert advanced is False
    paused = dataclasses.replace(schedule, active=False)
    assert await stores.series.get_series_schedule(ACCOUNT, schedule.event_id) == paused
    assert await stores.series.due_series_schedules(at(500), 10) == []
    assert await stores.series.next_series_check_at() is None
    # Progress can still be recorded on a paused schedule, which stays paused.
    assert await stores.series.advance_series_schedule(
        ACCOUNT,
        schedule.event_id,
        expected_last_original_start=schedule.last_original_start,
        last_original_start=NOW,
        next_check_at=at(168),
        active=False,
    )
    assert await stores.series.get_series_schedule(ACCOUNT, schedule.event_id) == (
        dataclasses.replace(paused, last_original_start=NOW, next_check_at=at(168))
    )
    assert await stores.series.due_series_schedules(at(500), 10) == []


# -- the connection: only a sync with the current credentials marks it revoked ----------------


async def test_a_connection_is_marked_revoked_only_for_its_current_credentials(
    stores: Stores,
) -> None:
    current = dataclasses.replace(connection(), credentials_fingerprint="cred_new")
    legacy = connection(OTHER)  # made before fingerprints
    await stores.connections.save_connection(current, [PRIMARY])
    await stores.connections.save_connection(legacy, [PRIMARY])
    assert await stores.connections.get_connection(ACCOUNT) == current

    assert await stores.connections.mark_revoked(ACCOUNT, "cred_old", at(3)) is False
    assert await stores.connections.get_connection(ACCOUNT) == current
    assert await stores.connections.connected_accounts() == [ACCOUNT, OTHER]

    assert await stores.connections.mark_revoked(ACCOUNT, "cred_new", at(3)) is True
    assert await stores.connections.mark_revoked(ACCOUNT, "cred_new", at(3)) is False  # already
    assert await stores.connections.mark_revoked(OTHER, "cred_any", at(3)) is True
    assert await stores.connections.mark_revoked("acc_none", "cred_new", at(3)) is False
    revoked = await stores.connections.get_connection(ACCOUNT)
    assert revoked == dataclasses.replace(current, status=ConnectionStatus.REVOKED)
    assert await stores.connections.connected_accounts() == []


# -- what was stored before versions -----------------------------------------------------------


async def test_a_database_from_before_versions_gains_them_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE bots (bot_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, "
            "event_id TEXT NOT NULL, calendar_id TEXT NOT NULL, google_event_id TEXT NOT NULL, "
            "occurrence_key TEXT NOT NULL, occurrence_start TEXT NOT NULL, "
            "occurrence_end TEXT NOT NULL, join_at TEXT NOT NULL, meeting_link TEXT NOT NULL, "
            "meeting_platform TEXT NOT NULL, bot_config TEXT NOT NULL, bot_name TEXT, "
            "custom_attributes TEXT, source TEXT NOT NULL, status TEXT NOT NULL, "
            "external_bot_id TEXT, last_error TEXT, attempts INTEGER NOT NULL DEFAULT 0, "
            "created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
            "CREATE TABLE connections (account_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, "
            "primary_calendar_id TEXT NOT NULL, status TEXT NOT NULL, "
            "connected_at TEXT NOT NULL);"
            "INSERT INTO bots VALUES ('bot_1', 'acc_one', 'evt_1', 'cal', 'g1', 'single', "
            "'2026-11-25T13:00:00Z', '2026-11-25T13:30:00Z', '2026-11-25T12:59:00Z', "
            "'https://meet.google.com/abc-defg-hij', 'google_meet', '{}', NULL, NULL, "
            "'manual', 'scheduled', NULL, NULL, 0, '2026-11-25T11:00:00Z', "
            "'2026-11-25T11:00:00Z');"
            "INSERT INTO connections VALUES ('acc_one', 'client-id', 'cal', 'active', "
            "'2026-11-25T11:00:00Z');"
        )
    old.close()
    database = Database(path)
    await database.open()
    try:
        stores = sqlite_stores(database)
        stored = await stores.bots.get_bot(ACCOUNT, "bot_1")
        assert stored is not None
        assert stored.version == 0
        stored.bot_name = "Renamed"
        assert await stores.bots.update_bot(stored, expected_status=BotStatus.SCHEDULED)
        assert await stores.connections.mark_revoked(ACCOUNT, "cred_any", at(3)) is True
    finally:
        await database.close()
    reopened = Database(path)  # a second open finds the columns there
    await reopened.open()
    try:
        again = await sqlite_stores(reopened).bots.get_bot(ACCOUNT, "bot_1")
        assert again is not None
        assert (again.bot_name, again.version) == ("Renamed", 1)
    finally:
        await reopened.close()


async def test_a_dynamodb_bot_item_from_before_versions_counts_as_version_zero(
    dynamodb_client: Any,
) -> None:
    await create_table(dynamodb_client, TABLE)
    stores = dynamodb_stores(dynamodb_client, TABLE)
    await stores.bots.insert_or_update_pending_bot(bot(event("m1", at(1)), bot_id="bot_1"))
    stored = await stores.bots.get_bot(ACCOUNT, "bot_1")
    assert stored is not None
    old_item = bot_item(stored, new_rev())
    del old_item["version"]
    await dynamodb_client.put_item(TableName=TABLE, Item=old_item)

    read = await stores.bots.get_bot(ACCOUNT, "bot_1")
    assert read is not None
    assert read.version == 0
    read.bot_name = "Renamed"
    assert await stores.bots.update_bot(read, expected_status=BotStatus.SCHEDULED)
    stale = dataclasses.replace(read, version=0, bot_name="Stale")
    assert await stores.bots.update_bot(stale, expected_status=BotStatus.SCHEDULED) is False
    [cancelled] = await stores.bots.cancel_pending_bots(ACCOUNT, read.event_id, at(0.5))
    assert cancelled.version == 2

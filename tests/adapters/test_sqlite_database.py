"""The SQLite database file: an older file is brought up to the current schema on open."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import ADDED_COLUMNS, CHECKPOINT_DELAY_SECONDS, Database
from app.adapters.sqlite.events import _listed_key, _page_query
from app.domain import ScheduleStatus
from app.errors import StorageUnavailable
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    CAL,
    at,
    bot,
    event,
    override,
    page,
    synced,
)


def _columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


async def _older_release_file(path: Path) -> None:
    """A database file at `path` as an older release left it: made by today's code, then
    brought back (`_make_file_of_an_older_release`)."""
    fresh = Database(path)
    await fresh.open()
    await fresh.close()
    _make_file_of_an_older_release(path)


def _make_file_of_an_older_release(path: Path) -> None:
    """Today's file without the columns added since (DROP COLUMN: SQLite 3.35+)."""
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO bots (bot_id, account_id, event_id, calendar_id, google_event_id, "
            "occurrence_key, occurrence_start, occurrence_end, join_at, meeting_link, "
            "meeting_platform, bot_config, source, status, created_at, updated_at) VALUES "
            "('bot_old', 'acc', 'evt', 'cal', 'g', 'single', 't', 't', 't', 'l', 'zoom', '{}', "
            "'manual', 'cancelled', 't', 't')"
        )
        # ADDED_INDEXES name these (and its trigger the events' row_version)
        for index in ("bots_pending_meeting", "bots_by_meeting", "events_by_start_version"):
            connection.execute(f"DROP INDEX {index}")
        connection.execute("DROP TRIGGER events_version_on_update")
        for table, column, _ in ADDED_COLUMNS:
            connection.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        # An index older releases made, which the primary key now does the work of.
        connection.execute(
            "CREATE UNIQUE INDEX events_by_google_id "
            "ON events (account_id, calendar_id, google_event_id)"
        )


async def test_opening_a_file_of_an_older_release_adds_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "calbot.sqlite3"
    await _older_release_file(path)
    assert not any(column in _columns(path, table) for table, column, _ in ADDED_COLUMNS)

    # Two processes opening the old file at once: each column is added once, both open.
    first, second = Database(path), Database(path)
    await asyncio.gather(first.open(), second.open())
    await asyncio.gather(first.close(), second.close())

    for table, column, _ in ADDED_COLUMNS:
        assert column in _columns(path, table)
    with sqlite3.connect(path) as connection:
        row = connection.execute("SELECT claims_occurrence FROM bots").fetchone()
    assert row == (1,)  # an existing bot keeps counting for auto-scheduling


async def test_a_row_written_by_any_statement_is_listed_as_written(tmp_path: Path) -> None:
    """Listing decodes a row once per `row_version`: a write that does not set one itself
    (another process, an UPDATE added later) still gets a new one from the triggers."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        stores = sqlite_stores(database)
        await synced(stores.events, event("e1", at(1), summary="Before"))
        [before] = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)

        with sqlite3.connect(database.path) as other_writer:
            other_writer.execute("UPDATE events SET summary = 'After'")

        [after] = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)
        assert (before.event.summary, after.event.summary) == ("Before", "After")
        assert before.version != after.version
    finally:
        await database.close()


@pytest.mark.parametrize("made_by", ["this release", "an older release"])
async def test_a_row_another_program_inserts_again_is_listed_as_written(
    tmp_path: Path, made_by: str
) -> None:
    """A row deleted and inserted again by another program, which leaves `row_version` out, is
    listed as it was inserted: on a new file the column defaults to a random version, on a file
    of an older release (whose column defaults to 0) a trigger gives it one."""
    path = tmp_path / "calbot.sqlite3"
    if made_by == "an older release":
        await _older_release_file(path)
    database = Database(path)
    await database.open()
    try:
        stores = sqlite_stores(database)
        await synced(stores.events, event("e1", at(1), summary="Before"))
        [before] = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)

        columns = sorted(_columns(path, "events") - {"row_version"})
        listed = [before.event.summary]
        for summary in ("After", "Again"):  # twice: a version it was once given must not return
            with sqlite3.connect(database.path) as other_writer:
                kept = other_writer.execute(f"SELECT {', '.join(columns)} FROM events").fetchone()
                other_writer.execute("DELETE FROM events")
                other_writer.execute(
                    f"INSERT INTO events ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    [
                        summary if name == "summary" else value
                        for name, value in zip(columns, kept, strict=True)
                    ],
                )
            [after] = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)
            listed.append(after.event.summary)
        assert listed == ["Before", "After", "Again"]
    finally:
        await database.close()


async def test_an_event_is_found_by_its_google_id_without_an_index_of_them(
    tmp_path: Path,
) -> None:
    """A file of an older release loses its index of Google's ids on open; an event is still
    found by them, and a cancellation in a sync still reaches the row, through the primary key
    (calbot's event id is made of the calendar and Google's id)."""
    path = tmp_path / "calbot.sqlite3"
    await _older_release_file(path)
    database = Database(path)
    await database.open()
    try:
        with sqlite3.connect(path) as connection:
            indexes = {row[1] for row in connection.execute("PRAGMA index_list(events)")}
        assert "events_by_google_id" not in indexes
        stores = sqlite_stores(database)
        await synced(stores.events, event("e1", at(1)), event("e2", at(2)))
        found = await stores.events.get_event_by_google_id(ACCOUNT, CAL, "e2")
        assert found is not None
        assert found.google_event_id == "e2"
        assert await stores.events.get_event_by_google_id(ACCOUNT, "other-cal", "e2") is None

        await stores.events.apply_events_page(ACCOUNT, page(cancelled=("e2",)))
        rows = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)
        assert [(row.event.google_event_id, row.event.status.value) for row in rows] == [
            ("e1", "confirmed"),
            ("e2", "cancelled"),
        ]
    finally:
        await database.close()


@pytest.mark.parametrize("generations_before", [0, 3, 700])
async def test_a_full_sync_drops_every_older_generation_however_many_came_before(
    tmp_path: Path, generations_before: int
) -> None:
    """A completed full sync drops what older ones stored, after a few full syncs of the
    calendar as after hundreds, and keeps a calendar's first one whole."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        stores = sqlite_stores(database)
        if generations_before:
            await synced(stores.events, event("old", at(1)))
            with sqlite3.connect(database.path) as connection:
                connection.execute("UPDATE sync_state SET generation = ?", (generations_before,))
                connection.execute("UPDATE events SET generation = ?", (generations_before,))
            await stores.events.apply_events_page(
                ACCOUNT,
                page(
                    event("older", at(2)),
                    overrides=(override("old", at(1), cancelled=True),),
                    generation=generations_before - 1,
                ),
            )
        await synced(stores.events, event("new", at(3)))

        listed = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)
        assert [row.event.google_event_id for row in listed] == ["new"]
        assert await stores.events.list_overrides(ACCOUNT, CAL, ["old"]) == {}
    finally:
        await database.close()


async def test_bots_created_together_mark_each_event_scheduled_once(tmp_path: Path) -> None:
    """The events of bots an auto-schedule pass creates are listed as scheduled at once (their
    rows get a new version), and an event already scheduled is not written again: its row keeps
    the version the listing has decoded."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        stores = sqlite_stores(database)
        series = event("series", at(1), recurrence=("RRULE:FREQ=WEEKLY",))
        await synced(stores.events, series, event("other", at(2)))
        [before, other] = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)

        this_week = bot(series, bot_id="bot_1", occurrence_start=at(1))
        assert await stores.bots.insert_bots_unless_exist([this_week]) == [this_week]
        [scheduled, same_other] = await stores.events.list_events_page(
            ACCOUNT, CAL, after=None, limit=10
        )
        next_week = bot(series, bot_id="bot_2", occurrence_start=at(169))
        assert await stores.bots.insert_bots_unless_exist([next_week]) == [next_week]
        [again, _] = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)

        assert before.event.schedule_status is ScheduleStatus.UNSCHEDULED
        assert scheduled.event.schedule_status is ScheduleStatus.SCHEDULED
        assert scheduled.version != before.version
        assert same_other.version == other.version  # no bot: not written
        assert again.version == scheduled.version  # already scheduled: not written again
    finally:
        await database.close()


async def test_a_page_write_that_fails_part_way_leaves_nothing_written(tmp_path: Path) -> None:
    """A page goes to the writer's thread as one transaction of several statements: a row that
    cannot be stored after a thousand were leaves none of them, and the store still works."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        stores = sqlite_stores(database)
        meetings = [event(f"m{n}", at(n)) for n in range(1100)]
        meetings[1050].summary = "\ud800"  # a lone surrogate: not text SQLite can hold
        with pytest.raises(UnicodeEncodeError):
            await stores.events.apply_events_page(ACCOUNT, page(*meetings))

        assert await stores.events.list_events(ACCOUNT, CAL) == []
        await synced(stores.events, event("after", at(1)))
        assert len(await stores.events.list_events(ACCOUNT, CAL)) == 1
    finally:
        await database.close()


async def test_a_page_write_the_file_refuses_is_a_storage_error(tmp_path: Path) -> None:
    """Another process holding the write lock past the busy timeout: StorageUnavailable (a 503),
    not a raw sqlite3 error."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    other = sqlite3.connect(database.path, isolation_level=None)
    try:
        stores = sqlite_stores(database)
        async with database.transaction() as writer:  # the writer's own busy timeout
            await writer.execute("PRAGMA busy_timeout=50")
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageUnavailable):
            await stores.events.apply_events_page(ACCOUNT, page(event("m1", at(1))))
        other.execute("ROLLBACK")
        await stores.events.apply_events_page(ACCOUNT, page(event("m1", at(1))))
        assert len(await stores.events.list_events(ACCOUNT, CAL)) == 1
    finally:
        other.close()
        await database.close()


async def test_a_read_by_key_sees_each_commit_of_another_process(tmp_path: Path) -> None:
    """Reads by key run on the event loop, on a connection of their own: each sees what was
    committed before it, by this process's writer or another process, never an older snapshot."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    other = sqlite3.connect(database.path, isolation_level=None)
    try:
        stores = sqlite_stores(database)
        await synced(stores.events, event("m1", at(1)))
        for summary in ("first", "second", "third"):
            other.execute("UPDATE events SET summary = ? WHERE google_event_id = 'm1'", (summary,))
            found = await stores.events.get_event_by_google_id(ACCOUNT, CAL, "m1")
            assert found is not None
            assert found.summary == summary
    finally:
        other.close()
        await database.close()


async def test_a_read_by_keys_finds_every_key_however_many(tmp_path: Path) -> None:
    """Keys are read in chunks (below the 999 parameters older SQLite allows): a few at once on
    the event loop, many in the reader's thread; either way every key's rows come back."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        async with database.transaction() as writer:
            await writer.execute("CREATE TABLE numbers (n INTEGER PRIMARY KEY, half INTEGER)")
            await writer.executemany(
                "INSERT INTO numbers VALUES (?, ?)", [(n, n // 2) for n in range(2_400)]
            )
        query = "SELECT n FROM numbers WHERE half = ? OR n IN ({keys})"

        many = await database.fetch_by_keys(query, (-1,), list(range(0, 2_400, 2)))
        few = await database.fetch_by_keys(query, (0,), [7, 9])
        by_half = await database.fetch_by_keys(
            "SELECT n FROM numbers WHERE half IN ({keys})", (), [3], few_rows_each=False
        )

        assert sorted(row["n"] for row in many) == list(range(0, 2_400, 2))
        assert sorted(row["n"] for row in few) == [0, 1, 7, 9]
        assert sorted(row["n"] for row in by_half) == [6, 7]
    finally:
        await database.close()


class _BusyFile:
    """A connection that finds the file busy, as SQLite answers a reader that may not wait
    (WAL recovery after a crash, another process holding the file exclusively)."""

    def execute(self, sql: str, params: object = ()) -> sqlite3.Cursor:
        raise sqlite3.OperationalError("database is locked")

    def close(self) -> None:
        pass


async def test_a_read_by_key_that_finds_the_file_busy_waits_in_the_readers_thread(
    tmp_path: Path,
) -> None:
    """The event loop's reads never wait for a busy file; they are read again in the reader's
    thread, which waits its turn (busy timeout), and answer as any read does."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        stores = sqlite_stores(database)
        await synced(stores.events, event("m1", at(1)))
        database._quick = _BusyFile()  # type: ignore[assignment]

        found = await stores.events.get_event_by_google_id(ACCOUNT, CAL, "m1")

        assert found is not None
        assert found.google_event_id == "m1"
    finally:
        await database.close()


async def test_a_lease_taken_while_another_process_writes_waits_for_it(tmp_path: Path) -> None:
    """One-statement writes (leases, sync health) run at once on the event loop, unless another
    process holds the write lock: then they wait for it like any write, not fail."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    other = sqlite3.connect(database.path, isolation_level=None)
    try:
        stores = sqlite_stores(database)
        other.execute("BEGIN IMMEDIATE")
        taking = asyncio.ensure_future(
            stores.leases.try_acquire_lease("sync", "replica-a", at(0), at(1))
        )
        await asyncio.sleep(0.2)
        assert not taking.done()  # waiting for the other process, not failed
        other.execute("ROLLBACK")

        assert await taking is True
        assert await stores.leases.try_acquire_lease("sync", "replica-b", at(0), at(1)) is False
    finally:
        other.close()
        await database.close()


def _file_pages(path: Path) -> int:
    """Pages in the database file itself (what checkpoints have copied out of the WAL)."""
    return path.stat().st_size // 4096


async def test_the_wal_is_checkpointed_after_writes_not_by_them(tmp_path: Path) -> None:
    """A commit never copies the WAL into the file itself (that cost a page of a sync the
    whole copy and a file sync); a checkpoint does it in the background shortly after."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        stores = sqlite_stores(database)
        before = _file_pages(database.path)
        for first in range(0, 3000, 500):
            meetings = [event(f"m{n}", at(n)) for n in range(first, first + 500)]
            await stores.events.apply_events_page(ACCOUNT, page(*meetings))
        assert _file_pages(database.path) == before  # all of it still in the WAL

        for _ in range(100):
            await asyncio.sleep(CHECKPOINT_DELAY_SECONDS / 4)
            if _file_pages(database.path) > before + 100:
                break
        assert _file_pages(database.path) > before + 100
    finally:
        await database.close()


async def test_closing_right_after_a_write_waits_for_nothing_it_should_not(tmp_path: Path) -> None:
    """Closed while a checkpoint is due (or running), the database closes cleanly and the file
    holds every committed write when opened again."""
    path = tmp_path / "calbot.sqlite3"
    for round_ in range(3):
        database = Database(path)
        await database.open()
        written = page(event(f"m{round_}", at(round_)))
        await sqlite_stores(database).events.apply_events_page(ACCOUNT, written)
        await asyncio.sleep(CHECKPOINT_DELAY_SECONDS * round_ / 2)  # before, around, after it
        await database.close()
    reopened = Database(path)
    await reopened.open()
    try:
        rows = await sqlite_stores(reopened).events.list_events(ACCOUNT, CAL)
        assert sorted(row.event.google_event_id for row in rows) == ["m0", "m1", "m2"]
    finally:
        await reopened.close()


async def test_a_page_read_again_reads_whole_only_the_rows_changed_since(tmp_path: Path) -> None:
    """The rows a listing has decoded at their version are given again as they are; the rows
    changed since are read whole and take their places in the page."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        stores = sqlite_stores(database)
        names = [f"e{number}" for number in range(6)]
        await synced(stores.events, *(event(name, at(number)) for number, name in enumerate(names)))
        before = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)

        with sqlite3.connect(database.path) as other_writer:
            other_writer.execute(
                "UPDATE events SET summary = 'Changed' WHERE google_event_id IN ('e1', 'e4')"
            )
        after = await stores.events.list_events_page(ACCOUNT, CAL, after=None, limit=10)

        assert [row.event.google_event_id for row in after] == names
        assert [row.event.summary == "Changed" for row in after] == [
            name in ("e1", "e4") for name in names
        ]
        kept = [now is then for now, then in zip(after, before, strict=True)]
        assert kept == [name not in ("e1", "e4") for name in names]
    finally:
        await database.close()


async def test_a_listing_reads_the_accounts_pending_bots_once_not_per_row(tmp_path: Path) -> None:
    """`bot_join_status` of a page: the pending bots are read once, on their partial index, not
    looked up again for each of a thousand listed rows (a correlated subquery)."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    await database.close()
    listing = f"EXPLAIN QUERY PLAN {_page_query('')}"
    with sqlite3.connect(database.path) as connection:
        plan = [step[3] for step in connection.execute(listing, (ACCOUNT, ACCOUNT, CAL, 1000))]
    assert not any("CORRELATED" in step for step in plan), plan
    assert any("bots_pending_dedup" in step for step in plan), plan
    assert any("events_by_start_version" in step for step in plan), plan


async def test_a_listed_rows_key_is_the_one_the_decoded_rows_are_kept_by(tmp_path: Path) -> None:
    """A page is looked up among the rows decoded before by the key SQLite writes for each row
    (id, version, bot state). Written otherwise than `_listed_key` writes it, no listing would
    find a row decoded before, and each would read its page four times, the rows it already
    had each read whole again."""
    database = Database(tmp_path / "calbot.sqlite3")
    await database.open()
    try:
        stores = sqlite_stores(database)
        with_bot, without = event("with_bot", at(1)), event("without", at(2))
        await synced(stores.events, with_bot, without)
        await stores.bots.insert_bots_unless_exist([bot(with_bot, bot_id="bot_1")])
    finally:
        await database.close()
    with sqlite3.connect(database.path) as connection:
        keys = [key for (key,) in connection.execute(_page_query(""), (ACCOUNT, ACCOUNT, CAL, 10))]
        versions = dict(connection.execute("SELECT google_event_id, row_version FROM events"))
    assert keys == [
        _listed_key(with_bot.event_id, versions["with_bot"], 1),
        _listed_key(without.event_id, versions["without"], 0),
    ]

"""The SQLite database file: an older file is brought up to the current schema on open."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import ADDED_COLUMNS, Database
from app.adapters.sqlite.events import _BOT_JOINS
from tests.adapters.store_contract.builders import ACCOUNT, CAL, at, event, synced


def _columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


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
        # ADDED_INDEXES name these (and its triggers the events' row_version)
        for index in ("bots_pending_meeting", "bots_by_meeting", "events_by_start_version"):
            connection.execute(f"DROP INDEX {index}")
        for trigger in ("events_version_on_update", "events_version_on_insert"):
            connection.execute(f"DROP TRIGGER {trigger}")
        for table, column, _ in ADDED_COLUMNS:
            connection.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


async def test_opening_a_file_of_an_older_release_adds_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "calbot.sqlite3"
    fresh = Database(path)
    await fresh.open()
    await fresh.close()
    _make_file_of_an_older_release(path)
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
    listing = (
        f"EXPLAIN QUERY PLAN SELECT event_id, row_version, {_BOT_JOINS} FROM events "
        "WHERE account_id = ? AND calendar_id = ? ORDER BY start_time, event_id LIMIT ?"
    )
    with sqlite3.connect(database.path) as connection:
        plan = [step[3] for step in connection.execute(listing, (ACCOUNT, ACCOUNT, CAL, 1000))]
    assert not any("CORRELATED" in step for step in plan), plan
    assert any("bots_pending_dedup" in step for step in plan), plan
    assert any("events_by_start_version" in step for step in plan), plan

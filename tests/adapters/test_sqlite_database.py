"""The SQLite database file: an older file is brought up to the current schema on open."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from app.adapters.sqlite.database import ADDED_COLUMNS, Database


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
        for index in ("bots_pending_meeting", "bots_by_meeting"):  # ADDED_INDEXES name them
            connection.execute(f"DROP INDEX {index}")
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

"""A database made by an earlier calbot opens with the columns added since (ADDED_COLUMNS), its
rows intact, and the indexes on the new columns in force."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import SCHEMA, Database
from app.domain import OccurrenceKey
from tests.adapters.store_contract.builders import ACCOUNT, at, bot, event

_OLD_BOT = """
INSERT INTO bots (bot_id, account_id, event_id, calendar_id, google_event_id, occurrence_key,
    occurrence_start, occurrence_end, join_at, meeting_link, meeting_platform, bot_config,
    source, status, created_at, updated_at)
VALUES ('bot_old', ?, 'evt_old', 'user@example.com', 'g-old', 'single', '2026-11-25T13:00:00Z',
    '2026-11-25T14:00:00Z', '2026-11-25T12:57:00Z', 'https://meet.google.com/abc-defg-hij',
    'google_meet', '{}', 'manual', 'scheduled', '2026-11-25T12:00:00Z', '2026-11-25T12:00:00Z')
"""


async def test_an_old_database_gains_the_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "calbot.sqlite3"
    with sqlite3.connect(path) as old:  # as the calbot before meeting keys left it
        old.executescript(SCHEMA)
        old.execute(_OLD_BOT, (ACCOUNT,))
    database = Database(path)
    await database.open()
    try:
        stores = sqlite_stores(database)
        kept = await stores.bots.get_bot(ACCOUNT, "bot_old")
        assert kept is not None
        assert (kept.occurrence_key, kept.meeting_key) == (OccurrenceKey.single(), None)

        shared = "ical:shared@google.com"
        first = bot(event("m1", at(1)), bot_id="bot_1", meeting_key=shared)
        twin = bot(event("m2", at(1)), bot_id="bot_2", meeting_key=shared)
        assert await stores.bots.insert_or_update_pending_bot(first) == (first, True)
        assert (await stores.bots.insert_or_update_pending_bot(twin))[0].bot_id == "bot_1"
    finally:
        await database.close()

    reopened = Database(path)
    await reopened.open()  # a second open finds everything in place
    await reopened.close()

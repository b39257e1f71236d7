"""One SQLite database file shared by the embedded store and the local secret box.

Two connections: a writer, used under an asyncio lock so a transaction never interleaves with
another coroutine's statements, and a reader, which only ever sees committed data. WAL mode lets
several calbot processes use the same file; `BEGIN IMMEDIATE` plus a busy timeout serialises
their writers.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from app.domain import BotStatus, is_pending, utc_text
from app.errors import StorageUnavailable
from app.outbox_bell import OutboxBell, outbox_appended

T = TypeVar("T")

log = logging.getLogger(__name__)

# How long after a commit the WAL is checkpointed (in the background; commits meanwhile join the
# same checkpoint). See `Database._checkpoint_soon`.
CHECKPOINT_DELAY_SECONDS = 0.2


def statuses_where(rule: Callable[[BotStatus], bool]) -> str:
    """The bot statuses a domain rule holds for, as an SQL list: `('scheduled', 'launching')`."""
    return "(" + ", ".join(f"'{status}'" for status in BotStatus if rule(status)) + ")"


# `app.domain.is_pending` as SQL, derived from it: the statuses of a bot that may still be
# launched. The partial unique indexes below and the stores' queries use this same text, so
# the planner matches them. An existing file keeps the indexes it was made with (`IF NOT
# EXISTS`): changing the pending statuses means rebuilding `bots_pending_*` there too.
PENDING = statuses_where(is_pending)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS connections (
    account_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    primary_calendar_id TEXT NOT NULL,
    status TEXT NOT NULL,
    connected_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS secrets (
    account_id TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS calendars (
    account_id TEXT NOT NULL,
    calendar_id TEXT NOT NULL,
    summary TEXT,
    is_primary INTEGER NOT NULL,
    time_zone TEXT,
    access_role TEXT,
    position INTEGER NOT NULL,
    PRIMARY KEY (account_id, calendar_id)
);
CREATE TABLE IF NOT EXISTS sync_state (
    account_id TEXT NOT NULL,
    calendar_id TEXT NOT NULL,
    sync_token TEXT,
    last_synced_at TEXT,
    generation INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, calendar_id)
);
CREATE TABLE IF NOT EXISTS sync_health (
    account_id TEXT NOT NULL,
    calendar_id TEXT NOT NULL,
    last_sync_at TEXT,
    last_success_at TEXT,
    last_error TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since TEXT,
    last_notification_at TEXT,
    -- domain.sync_healthy_since, kept for /readyz's index: last_success_at, else failing_since
    healthy_since TEXT,
    PRIMARY KEY (account_id, calendar_id)
);
CREATE INDEX IF NOT EXISTS sync_health_by_age ON sync_health (healthy_since);
CREATE TABLE IF NOT EXISTS events (
    account_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    calendar_id TEXT NOT NULL,
    google_event_id TEXT NOT NULL,
    summary TEXT,
    status TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    all_day INTEGER NOT NULL,
    time_zone TEXT NOT NULL,
    recurrence TEXT NOT NULL,
    meeting_link TEXT,
    meeting_platform TEXT,
    self_declined INTEGER NOT NULL,
    updated TEXT,
    recurring_enabled INTEGER NOT NULL DEFAULT 1,
    schedule_status TEXT NOT NULL DEFAULT 'unscheduled',
    next_occurrence_start TEXT,
    next_occurrence_end TEXT,
    generation INTEGER NOT NULL,
    row_version INTEGER NOT NULL DEFAULT (random()),
    PRIMARY KEY (account_id, event_id)
);
CREATE TABLE IF NOT EXISTS event_overrides (
    account_id TEXT NOT NULL,
    calendar_id TEXT NOT NULL,
    series_google_event_id TEXT NOT NULL,
    original_start TEXT NOT NULL,
    cancelled INTEGER NOT NULL,
    start_time TEXT,
    end_time TEXT,
    meeting_link TEXT,
    meeting_platform TEXT,
    google_event_id TEXT,
    generation INTEGER NOT NULL,
    PRIMARY KEY (account_id, calendar_id, series_google_event_id, original_start)
);
-- A single occurrence's own auto-schedule mode (PUT /events/{id}/auto-schedule with a date).
CREATE TABLE IF NOT EXISTS occurrence_modes (
    account_id TEXT NOT NULL,
    calendar_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    occurrence_key TEXT NOT NULL,
    mode TEXT NOT NULL,
    PRIMARY KEY (account_id, event_id, occurrence_key)
);
CREATE INDEX IF NOT EXISTS occurrence_modes_by_calendar
    ON occurrence_modes (account_id, calendar_id);
CREATE TABLE IF NOT EXISTS bots (
    bot_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    calendar_id TEXT NOT NULL,
    google_event_id TEXT NOT NULL,
    occurrence_key TEXT NOT NULL,
    occurrence_start TEXT NOT NULL,
    occurrence_end TEXT NOT NULL,
    join_at TEXT NOT NULL,
    meeting_link TEXT NOT NULL,
    meeting_platform TEXT NOT NULL,
    bot_config TEXT NOT NULL,
    bot_name TEXT,
    custom_attributes TEXT,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    external_bot_id TEXT,
    last_error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    claims_occurrence INTEGER NOT NULL DEFAULT 1
);
-- claims_occurrence is 0 once a disconnect released the bot: history, unseen by auto-scheduling.
-- At most one pending bot per (account, event, occurrence): deduplication lives here.
CREATE UNIQUE INDEX IF NOT EXISTS bots_pending_dedup
    ON bots (account_id, event_id, occurrence_key) WHERE status IN {PENDING};
CREATE INDEX IF NOT EXISTS bots_by_status_join_at ON bots (status, join_at);
CREATE INDEX IF NOT EXISTS bots_by_account ON bots (account_id, join_at);
CREATE INDEX IF NOT EXISTS bots_by_event ON bots (account_id, event_id, status);
CREATE TABLE IF NOT EXISTS series_schedules (
    account_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    bot_config TEXT NOT NULL,
    bot_name TEXT,
    custom_attributes TEXT,
    source TEXT NOT NULL,
    active INTEGER NOT NULL,
    last_original_start TEXT NOT NULL,
    next_check_at TEXT NOT NULL,
    PRIMARY KEY (account_id, event_id)
);
CREATE INDEX IF NOT EXISTS series_schedules_due ON series_schedules (active, next_check_at);
CREATE TABLE IF NOT EXISTS auto_schedule_settings (
    account_id TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL,
    default_bot_config TEXT NOT NULL,
    last_run_at TEXT
);
CREATE TABLE IF NOT EXISTS channels (
    channel_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    calendar_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    expiration TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS channels_by_account ON channels (account_id, calendar_id);
CREATE INDEX IF NOT EXISTS channels_by_expiration ON channels (expiration);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    status_code INTEGER,
    body BLOB NOT NULL,
    content_type TEXT,
    expires_at TEXT NOT NULL,
    claim TEXT
);
CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
-- The consent flow's connect links and spent nonces (app/adapters/sqlite/consent.py).
CREATE TABLE IF NOT EXISTS consent_links (
    link_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    sealed_client_secret BLOB,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_links_by_account ON consent_links (account_id, expires_at);
CREATE INDEX IF NOT EXISTS consent_links_by_expiry ON consent_links (expires_at);
CREATE TABLE IF NOT EXISTS consent_nonces (
    nonce_hash TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_nonces_by_expiry ON consent_nonces (expires_at);
-- Webhooks (app/adapters/sqlite/outbox.py). A message waits in `outbox` until the dispatcher
-- routes it (one delivery per matching endpoint, in one transaction that deletes it). Times
-- here are `webhook_records.precise_text` (microseconds), which sorts as text too.
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_created ON outbox (created_at, message_id);
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    endpoint_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    url TEXT NOT NULL,
    event_types TEXT,
    description TEXT,
    created_at TEXT NOT NULL,
    sealed_secret BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_endpoints_by_account
    ON webhook_endpoints (account_id, created_at, endpoint_id);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    body BLOB NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error TEXT,
    next_attempt_at TEXT,
    created_at TEXT NOT NULL,
    give_up_at TEXT NOT NULL,
    due_at TEXT,
    claim TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON webhook_deliveries (due_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_log
    ON webhook_deliveries (account_id, created_at, delivery_id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_finished
    ON webhook_deliveries (created_at) WHERE status != 'pending';
"""

# Columns added to a table after it first shipped. `CREATE TABLE IF NOT EXISTS` leaves an
# existing database's tables as they are, so `Database.open` adds each one that is missing
# (SQLite's ALTER TABLE ADD COLUMN; a default fills the rows already there): once before SCHEMA
# (whose indexes may name them), once after (for tables SCHEMA just made without them), then
# creates ADDED_INDEXES. Append here whenever a column is added; never reorder.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (table, column, declaration)
    ("bots", "version", "INTEGER NOT NULL DEFAULT 0"),
    ("connections", "credentials_fingerprint", "TEXT"),
    ("events", "ical_uid", "TEXT"),
    ("bots", "meeting_key", "TEXT"),
    ("bots", "claims_meeting", "INTEGER NOT NULL DEFAULT 1"),
    ("bots", "claims_occurrence", "INTEGER NOT NULL DEFAULT 1"),
    ("idempotency", "claim", "TEXT"),
    # JSON documents (app/adapters/json_documents.py); null: stored before calbot kept them.
    ("events", "attendees", "TEXT"),
    ("event_overrides", "attendees", "TEXT"),
    ("auto_schedule_settings", "rules", "TEXT"),
    ("events", "unsafe_link", "INTEGER NOT NULL DEFAULT 0"),
    ("auto_schedule_settings", "paused_until", "TEXT"),
    ("events", "auto_schedule_mode", "TEXT NOT NULL DEFAULT 'rules'"),
    # Moves to a new random number on every write of the row (see ROW_VERSIONS).
    ("events", "row_version", "INTEGER NOT NULL DEFAULT 0"),
)

# An event row's `row_version` names its content: a listing reads (event_id, row_version) alone
# and decodes only the rows it has not seen at that version. calbot's statements that write
# many rows set a new random() themselves (a sync's upsert and cancellations, series moved on,
# events marked scheduled), so each row is written once; the trigger gives one to any other
# UPDATE that did not (a one-row UPDATE of calbot's own columns, another program), and an
# INSERT that leaves the column out takes its default, random() (`_version_inserts`), so no
# write can keep a stale version.
# A random 64-bit number rather than a counter: a row deleted and inserted again never comes
# back to a version it had, whichever process wrote it.
ROW_VERSIONS = """
CREATE TRIGGER IF NOT EXISTS events_version_on_update AFTER UPDATE ON events
    FOR EACH ROW WHEN NEW.row_version = OLD.row_version
    BEGIN UPDATE events SET row_version = random() WHERE rowid = NEW.rowid; END;
"""
# A file made before the column's default was random() (SQLite's ALTER TABLE ADD COLUMN takes
# no such default) gets a new version for an INSERT that left it out from this trigger instead.
# Not on the files that need none: run for each row inserted, it cost 13 to 19 ms of the
# writer's 110 to 130 ms in a 10k-event full sync (replayed inserts, side by side).
_VERSION_ON_INSERT = """
CREATE TRIGGER IF NOT EXISTS events_version_on_insert AFTER INSERT ON events
    FOR EACH ROW WHEN NEW.row_version = 0
    BEGIN UPDATE events SET row_version = random() WHERE rowid = NEW.rowid; END;
"""

ADDED_INDEXES = f"""
-- At most one pending bot per meeting occurrence across calendars (`meeting_key`).
CREATE UNIQUE INDEX IF NOT EXISTS bots_pending_meeting
    ON bots (account_id, meeting_key) WHERE status IN {PENDING};
CREATE INDEX IF NOT EXISTS bots_by_meeting ON bots (account_id, meeting_key);
-- Keyset pages of a calendar's events by (start, id), and the series whose next occurrence
-- has ended (the read path refreshes only those).
DROP INDEX IF EXISTS events_by_start;  -- (calendar, start): events_by_start_id covers it
DROP INDEX IF EXISTS events_by_start_id;  -- events_by_start_version covers it too
-- (calendar, Google's id): calbot's event id is made of both (`app.identity.event_id_for`),
-- so the primary key finds an event by them, and keeps them unique, on its own.
DROP INDEX IF EXISTS events_by_google_id;
CREATE INDEX IF NOT EXISTS events_by_start_version
    ON events (account_id, calendar_id, start_time, event_id, row_version);
CREATE INDEX IF NOT EXISTS events_by_next_end
    ON events (account_id, calendar_id, next_occurrence_end) WHERE next_occurrence_end IS NOT NULL;
{ROW_VERSIONS}"""


def to_text(when: datetime) -> str:
    """UTC, second precision, `Z`: sorts as text in time order."""
    return utc_text(when)


def to_text_or_none(when: datetime | None) -> str | None:
    return None if when is None else to_text(when)


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)


def from_text_or_none(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


# How every connection that writes commits.
_COMMIT_PRAGMAS = (
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    # No checkpoint by the commit that makes the WAL pass 1,000 pages: that commit paid for
    # copying 4 MB into the file and syncing it (profile of a 10k full sync: 8% of its time,
    # on one page's write). `_checkpoint_soon` does it in the background.
    "PRAGMA wal_autocheckpoint=0",
)

# Keys that one read may look up on the event loop (`Database.fetch_few`): a lookup each on an
# index, tens of microseconds in all.
_FEW_KEYS = 16
# SQLite before 3.32 allows 999 host parameters by default: a list of keys is read in chunks
# below that, whichever SQLite the machine has.
_KEY_CHUNK = 500


class Database:
    def __init__(self, path: Path, *, outbox_bell: OutboxBell | None = None) -> None:
        self.path = path
        self.outbox_bell = outbox_bell or OutboxBell()
        """Rung after each committed transaction that appended outbox messages."""
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._watcher: sqlite3.Connection | None = None
        self._quick: sqlite3.Connection | None = None  # on the event loop: `fetch_few`, `write_one`
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_due: asyncio.Task[None] | None = None
        self._checkpointing: asyncio.Future[None] | None = None  # the thread's part
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await self._add_missing_columns(self._writer)
        await self._writer.executescript(SCHEMA)
        await self._add_missing_columns(self._writer)
        await self._writer.executescript(ADDED_INDEXES)
        await self._version_inserts(self._writer)
        self._reader = await self._connect()
        # Never writes: its `data_version` moves with every commit of any other connection, this
        # process's writer and another process's alike (sqlite.org/pragma.html#pragma_data_version).
        # No busy wait (timeout=0): it is read on the event loop, and a busy file means "cannot
        # tell", which only costs a kept answer.
        self._watcher = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=0
        )
        # Reads a few rows by key, and writes one statement, on the event loop (`fetch_few`,
        # `write_one`); no busy wait either. Its commits are the writer's kind: no sync of the
        # WAL on each, no checkpoint by the commit that passes 1,000 pages (see `_connect`).
        self._quick = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=0
        )
        self._quick.row_factory = sqlite3.Row
        for pragma in _COMMIT_PRAGMAS:
            self._quick.execute(pragma)
        # Copies committed pages from the WAL into the file, in a thread of its own, off every
        # write's path (`_checkpoint_soon`); used by one checkpoint at a time.
        self._checkpointer = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=0
        )

    @staticmethod
    async def _add_missing_columns(writer: aiosqlite.Connection) -> None:
        """Bring an older database file's tables up to SCHEMA (before SCHEMA's indexes, which
        may name the new columns). One transaction, so two processes opening the same old
        file at once add each column once."""
        await writer.execute("BEGIN IMMEDIATE")
        try:
            for table, column, declaration in ADDED_COLUMNS:
                async with writer.execute(f"PRAGMA table_info({table})") as cursor:
                    present = {row["name"] for row in await cursor.fetchall()}
                if present and column not in present:
                    await writer.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        except BaseException:
            await writer.execute("ROLLBACK")
            raise
        await writer.execute("COMMIT")

    @staticmethod
    async def _version_inserts(writer: aiosqlite.Connection) -> None:
        """The trigger that versions an INSERT leaving `row_version` out, on a file whose column
        does not default to random() (see ROW_VERSIONS); none on the others."""
        async with writer.execute("PRAGMA table_info(events)") as cursor:
            default = {row["name"]: row["dflt_value"] for row in await cursor.fetchall()}
        if default["row_version"] == "random()":
            await writer.execute("DROP TRIGGER IF EXISTS events_version_on_insert")
        else:
            await writer.executescript(_VERSION_ON_INSERT)

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        connection.row_factory = sqlite3.Row
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA busy_timeout=10000", *_COMMIT_PRAGMAS):
            await connection.execute(pragma)
        return connection

    async def close(self) -> None:
        if self._checkpoint_due is not None:
            self._checkpoint_due.cancel()
            await asyncio.wait([self._checkpoint_due])
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])  # never closed under a running checkpoint
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        for connection in (self._reader, self._writer):
            if connection is not None:
                await connection.close()
        self._reader = self._writer = None
        for quick in (self._watcher, self._quick):
            if quick is not None:
                quick.close()
        self._watcher = self._quick = None

    def data_version(self) -> int | None:
        """A number that changes whenever anything is committed to the database file, by this
        process or another (the CLI revoking a key); None when it cannot be read just now.

        Synchronous and cheap (a few microseconds, no thread hop): a WAL reader never waits
        for the writer, so it is safe to call on the event loop.
        """
        watcher = self._watcher
        if watcher is None:
            return None
        try:
            row = watcher.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return int(row[0])

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; rolled back on any error, storage errors become 503s."""
        writer = self._require(self._writer)
        async with self._write_lock:
            try:
                await writer.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                raise StorageUnavailable() from error
            appended = outbox_appended.set(False)
            try:
                yield writer
            except BaseException as error:
                await writer.execute("ROLLBACK")
                if isinstance(error, sqlite3.OperationalError):
                    raise StorageUnavailable() from error
                raise
            else:
                await writer.execute("COMMIT")
                self._committed()
                if outbox_appended.get():
                    self.outbox_bell.ring()
            finally:
                outbox_appended.reset(appended)

    async def write_in_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on the writer connection, in its thread, as one transaction: one trip to the
        thread however many statements it runs. Work that appends outbox messages
        (`append_outbox_in_thread`) rings `outbox_bell` once committed, as `transaction` does.

        A transaction made of awaited statements crosses to the connection's thread and back
        for each, and each crossing needs the event loop and the GIL: while the loop was busy
        (mapping the next page of a sync), every crossing waited for it, and a page write of a
        dozen statements took twice its own time (profile of a full sync: 24 ms between asking
        for the transaction and its first statement).

        A caller cancelled while it waits does not stop the transaction: it commits or rolls
        back whole in the thread. The thread takes its work in order, so whatever is asked of
        the writer after (another transaction, once the lock is free) runs after it.
        """
        writer = self._require(self._writer)

        def transaction(connection: sqlite3.Connection) -> tuple[T, bool]:
            # The flag is set and read in this thread's own context, within this one call.
            appended = outbox_appended.set(False)
            try:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    done = work(connection)
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
                return done, outbox_appended.get()
            finally:
                outbox_appended.reset(appended)

        async with self._write_lock:
            try:
                # aiosqlite runs a function in the connection's thread only through these two
                # (what its own execute uses); the suite runs every page write through them.
                done, rings = await writer._execute(transaction, writer._conn)  # type: ignore[no-untyped-call]
            except sqlite3.OperationalError as error:
                raise StorageUnavailable() from error
            self._committed()
            if rings:
                self.outbox_bell.ring()
            return cast(T, done)

    async def write_one(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write statement as a transaction of its own; returns how many rows it changed.

        Both connections it may use are in autocommit mode, so SQLite runs a lone statement in
        its own transaction: at once on the event loop, or (the file busy) one trip to the
        writer's thread, where BEGIN, the statement and COMMIT would be three. Only for a write
        that is whole in one statement and appends no outbox message; anything more goes
        through `transaction` or `write_in_thread`.
        """
        writer = self._require(self._writer)
        bound = tuple(params)
        async with self._write_lock:
            # This process's other writes wait for the lock, so nothing of theirs is under way:
            # the statement runs at once on the event loop, as `fetch_few` reads (a sync's lease
            # and health writes are such statements, three trips to the thread a sync saved).
            # Another process writing makes the file busy; then the writer's thread waits.
            quick = self._quick
            if quick is not None:
                try:
                    changed = quick.execute(sql, bound).rowcount
                except sqlite3.OperationalError:
                    pass  # busy: nothing was written; the writer's thread waits its turn
                else:
                    self._committed()
                    return changed
            try:
                cursor = await writer.execute(sql, bound)
            except sqlite3.OperationalError as error:
                raise StorageUnavailable() from error
            self._committed()
            return cursor.rowcount

    def _committed(self) -> None:
        """A write was committed: the WAL is to be checkpointed soon, unless that is already
        planned. Commits in between join the same checkpoint, so a sync's pages do not each
        start one."""
        if self._checkpointer is None:
            return
        if self._checkpoint_due is None or self._checkpoint_due.done():
            self._checkpoint_due = asyncio.get_running_loop().create_task(self._checkpoint_soon())

    async def _checkpoint_soon(self) -> None:
        """Checkpoint the WAL (PASSIVE: it waits for no reader or writer, and copies what no
        reader still needs) a moment after a commit, in a thread, while writes go on. What it
        cannot copy yet is copied by a later one; the WAL grows meanwhile, as with SQLite's own
        checkpoints when readers hold on."""
        await asyncio.sleep(CHECKPOINT_DELAY_SECONDS)
        checkpointer = self._checkpointer
        if checkpointer is None:
            return
        self._checkpointing = asyncio.ensure_future(
            asyncio.to_thread(_checkpoint, checkpointer, self.path)
        )
        # Shielded: a cancelled wait (the database closing) leaves the thread's checkpoint to
        # end, and `close` waits for it before closing its connection.
        await asyncio.shield(self._checkpointing)

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        reader = self._require(self._reader)
        try:
            # One trip to the connection's thread (execute, fetch and drop the cursor there),
            # not three: each trip is a thread hop and a wake-up of the event loop.
            return list(await reader.execute_fetchall(sql, tuple(params)))
        except sqlite3.OperationalError as error:
            raise StorageUnavailable() from error

    async def fetch_few(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """`fetch_all` for a read of a few rows found by an index (a row by its key, a
        connection and its calendars), run at once on the event loop: SQLite answers such a
        read in tens of microseconds, and the trip to the reader's thread and back costs about
        110 (measured here, idle; more when the loop is busy). A request after one change in
        Google made ten such trips.

        In WAL mode a reader never waits for the writer; when the file is busy all the same
        (the WAL's index being rebuilt after a crash, another process holding the file
        exclusively), this connection does not wait (timeout 0) and the read goes to the
        reader's thread, which does. Never for a read whose size the caller does not bound: it
        holds the event loop.
        """
        bound = tuple(params)
        quick = self._quick
        if quick is not None:
            try:
                return quick.execute(sql, bound).fetchall()
            except sqlite3.OperationalError:
                pass  # busy: read in the reader's thread, which waits its turn
        return await self.fetch_all(sql, bound)

    async def fetch_by_keys(
        self,
        sql: str,
        params: Sequence[Any],
        keys: Sequence[Any],
        *,
        few_rows_each: bool = True,
    ) -> list[sqlite3.Row]:
        """The rows of `sql` for every key: its `({keys})` stands for the IN list of a chunk of
        them (below SQLite's limit on parameters), after `params`. A few keys (a sync's changed
        events) are read at once on the event loop (`fetch_few`), more in the reader's thread, as
        are keys that may each find many rows (`few_rows_each=False`), however few.
        """
        at_once = few_rows_each and len(keys) <= _FEW_KEYS
        fetch = self.fetch_few if at_once else self.fetch_all
        rows: list[sqlite3.Row] = []
        for start in range(0, len(keys), _KEY_CHUNK):
            chunk = keys[start : start + _KEY_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows += await fetch(sql.replace("({keys})", f"({marks})"), (*params, *chunk))
        return rows

    async def fetch_values(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """`fetch_all` with each row a plain tuple, for reads of many rows read by position: a
        listing unpacks a thousand rows a request, and a `sqlite3.Row` unpacks at about three
        times a tuple's cost (0.86 vs 0.30 ms a page, measured in the server's listing); an
        event decodes from a tuple in 2.9 us, from a Row in 5.7 (`event_from_row`)."""
        reader = self._require(self._reader)
        bound = tuple(params)

        def read(connection: sqlite3.Connection) -> list[tuple[Any, ...]]:
            cursor = connection.cursor()
            cursor.row_factory = None  # this cursor only; the connection keeps sqlite3.Row
            try:
                return cursor.execute(sql, bound).fetchall()
            finally:
                cursor.close()

        try:
            # One trip to the connection's thread, as `write_in_thread` makes one (aiosqlite
            # runs a function there only through these two).
            rows = await reader._execute(read, reader._conn)  # type: ignore[no-untyped-call]
        except sqlite3.OperationalError as error:
            raise StorageUnavailable() from error
        return cast("list[tuple[Any, ...]]", rows)

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        """A row found by a key, or at one end of an index (`MIN` of an indexed column): read
        at once on the event loop, as `fetch_few`."""
        rows = await self.fetch_few(sql, params)
        return rows[0] if rows else None

    async def ping(self) -> bool:
        try:
            await self.fetch_one("SELECT 1")
        except StorageUnavailable:
            return False
        return True

    @staticmethod
    def _require(connection: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if connection is None:
            raise StorageUnavailable("Storage is not open.")
        return connection


def _checkpoint(connection: sqlite3.Connection, path: Path) -> None:
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as error:  # another checkpoint under way, a busy file: a later one
        log.debug("checkpoint of %s postponed: %s", path.name, error)

"""The outbox, webhook endpoints and deliveries in SQLite (tables `outbox`,
`webhook_endpoints`, `webhook_deliveries`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite
import orjson

from app.adapters.ports.outbox import DeliveryCursor
from app.adapters.sqlite.database import Database
from app.domain import OutboxMessage
from app.outbox_bell import outbox_appended
from app.webhook_messages import data_from_json, data_json
from app.webhook_records import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    from_precise_text,
    precise_text,
)

_MESSAGE_COLUMNS = "message_id, account_id, type, created_at, data"
_ENDPOINT_COLUMNS = (
    "endpoint_id, account_id, url, event_types, description, created_at, sealed_secret"
)
_DELIVERY_COLUMNS = (
    "delivery_id, account_id, endpoint_id, message_id, type, body, status, attempts, "
    "last_status_code, last_error, next_attempt_at, created_at, give_up_at, due_at, claim"
)
_DELIVERY_MARKS = ", ".join("?" for _ in _DELIVERY_COLUMNS.split(", "))


_APPEND = f"INSERT OR IGNORE INTO outbox ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?)"


def _message_params(messages: Sequence[OutboxMessage]) -> list[tuple[Any, ...]]:
    return [
        (m.message_id, m.account_id, m.type, precise_text(m.created_at), data_json(m))
        for m in messages
    ]


async def append_outbox(conn: aiosqlite.Connection, messages: Sequence[OutboxMessage]) -> None:
    """Add messages to the outbox on `conn`, the writer of a transaction the caller has open
    (`Database.transaction()`): they commit, or roll back, with the change they report. Never
    call it outside the caller's own transaction."""
    if messages:
        outbox_appended.set(True)  # `Database.transaction` rings the bell once committed
    await conn.executemany(_APPEND, _message_params(messages))


def append_outbox_in_thread(
    connection: sqlite3.Connection, messages: Sequence[OutboxMessage]
) -> None:
    """`append_outbox` inside work given to `Database.write_in_thread`, on the connection it
    passes: the messages commit, or roll back, with that work."""
    if messages:
        outbox_appended.set(True)  # `Database.write_in_thread` rings the bell once committed
    connection.executemany(_APPEND, _message_params(messages))


def _message_from_row(row: sqlite3.Row) -> OutboxMessage:
    return OutboxMessage(
        message_id=row["message_id"],
        account_id=row["account_id"],
        type=row["type"],
        created_at=from_precise_text(row["created_at"]),
        data=data_from_json(row["data"]),
    )


def _text_or_none(when: datetime | None) -> str | None:
    return None if when is None else precise_text(when)


def _time_or_none(text: str | None) -> datetime | None:
    return None if text is None else from_precise_text(text)


def _delivery_params(delivery: WebhookDelivery) -> tuple[Any, ...]:
    return (
        delivery.delivery_id,
        delivery.account_id,
        delivery.endpoint_id,
        delivery.message_id,
        delivery.type,
        delivery.body,
        delivery.status.value,
        delivery.attempts,
        delivery.last_status_code,
        delivery.last_error,
        _text_or_none(delivery.next_attempt_at),
        precise_text(delivery.created_at),
        precise_text(delivery.give_up_at),
        _text_or_none(delivery.due_at),
        delivery.claim,
    )


def _delivery_from_row(row: sqlite3.Row) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id=row["delivery_id"],
        account_id=row["account_id"],
        endpoint_id=row["endpoint_id"],
        message_id=row["message_id"],
        type=row["type"],
        body=bytes(row["body"]),
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        next_attempt_at=_time_or_none(row["next_attempt_at"]),
        created_at=from_precise_text(row["created_at"]),
        give_up_at=from_precise_text(row["give_up_at"]),
        due_at=_time_or_none(row["due_at"]),
        claim=row["claim"],
    )


def _endpoint_from_row(row: sqlite3.Row) -> WebhookEndpoint:
    types = row["event_types"]
    return WebhookEndpoint(
        endpoint_id=row["endpoint_id"],
        account_id=row["account_id"],
        url=row["url"],
        event_types=None if types is None else tuple(orjson.loads(types)),
        description=row["description"],
        created_at=from_precise_text(row["created_at"]),
        sealed_secret=bytes(row["sealed_secret"]),
    )


class SqliteOutboxStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def append_messages(self, messages: Sequence[OutboxMessage]) -> None:
        async with self._db.transaction() as tx:
            await append_outbox(tx, messages)

    async def unrouted_messages(self, limit: int) -> list[OutboxMessage]:
        rows = await self._db.fetch_all(
            f"SELECT {_MESSAGE_COLUMNS} FROM outbox ORDER BY created_at, message_id LIMIT ?",
            (limit,),
        )
        return [_message_from_row(row) for row in rows]

    async def route_message(
        self, message: OutboxMessage, deliveries: Sequence[WebhookDelivery]
    ) -> bool:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "DELETE FROM outbox WHERE message_id = ?", (message.message_id,)
            )
            if cursor.rowcount != 1:
                return False
            await tx.executemany(
                f"INSERT OR IGNORE INTO webhook_deliveries ({_DELIVERY_COLUMNS}) "
                f"VALUES ({_DELIVERY_MARKS})",
                [_delivery_params(delivery) for delivery in deliveries],
            )
        return True

    async def add_delivery(self, delivery: WebhookDelivery) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT OR IGNORE INTO webhook_deliveries ({_DELIVERY_COLUMNS}) "
                f"VALUES ({_DELIVERY_MARKS})",
                _delivery_params(delivery),
            )

    async def due_deliveries(self, now: datetime, limit: int) -> list[WebhookDelivery]:
        rows = await self._db.fetch_all(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries "
            "WHERE status = 'pending' AND due_at <= ? ORDER BY due_at LIMIT ?",
            (precise_text(now), limit),
        )
        return [_delivery_from_row(row) for row in rows]

    async def claim_delivery(
        self, delivery_id: str, token: str, now: datetime, until: datetime
    ) -> WebhookDelivery | None:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE webhook_deliveries SET claim = ?, due_at = ? "
                "WHERE delivery_id = ? AND status = 'pending' AND due_at <= ?",
                (token, precise_text(until), delivery_id, precise_text(now)),
            )
            if cursor.rowcount != 1:
                return None
            cursor = await tx.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE delivery_id = ?",
                (delivery_id,),
            )
            row = await cursor.fetchone()
        return None if row is None else _delivery_from_row(row)

    async def record_attempt(self, delivery: WebhookDelivery, token: str) -> bool:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status_code = ?, "
                "last_error = ?, next_attempt_at = ?, due_at = ?, claim = NULL "
                "WHERE delivery_id = ? AND claim = ?",
                (
                    delivery.status.value,
                    delivery.attempts,
                    delivery.last_status_code,
                    delivery.last_error,
                    _text_or_none(delivery.next_attempt_at),
                    _text_or_none(delivery.due_at),
                    delivery.delivery_id,
                    token,
                ),
            )
            return cursor.rowcount == 1

    async def requeue_delivery(
        self, account_id: str, delivery_id: str, now: datetime, give_up_at: datetime
    ) -> WebhookDelivery | None:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, "
                "due_at = ?, give_up_at = ?, claim = NULL "
                "WHERE delivery_id = ? AND account_id = ?",
                (
                    precise_text(now),
                    precise_text(now),
                    precise_text(give_up_at),
                    delivery_id,
                    account_id,
                ),
            )
            if cursor.rowcount != 1:
                return None
            cursor = await tx.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE delivery_id = ?",
                (delivery_id,),
            )
            row = await cursor.fetchone()
        return None if row is None else _delivery_from_row(row)

    async def get_delivery(self, account_id: str, delivery_id: str) -> WebhookDelivery | None:
        row = await self._db.fetch_one(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries "
            "WHERE delivery_id = ? AND account_id = ?",
            (delivery_id, account_id),
        )
        return None if row is None else _delivery_from_row(row)

    async def purge_finished_deliveries(self, before: datetime, limit: int) -> int:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "DELETE FROM webhook_deliveries WHERE delivery_id IN ("
                "SELECT delivery_id FROM webhook_deliveries "
                "WHERE status != 'pending' AND created_at < ? LIMIT ?)",
                (precise_text(before), limit),
            )
            return cursor.rowcount

    async def list_deliveries(
        self,
        account_id: str,
        *,
        endpoint_id: str | None,
        status: DeliveryStatus | None,
        before: DeliveryCursor | None,
        limit: int,
    ) -> list[WebhookDelivery]:
        sql = f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE account_id = ?"
        params: list[Any] = [account_id]
        if endpoint_id is not None:
            sql += " AND endpoint_id = ?"
            params.append(endpoint_id)
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        if before is not None:
            sql += " AND (created_at, delivery_id) < (?, ?)"
            params.extend(before)
        sql += " ORDER BY created_at DESC, delivery_id DESC LIMIT ?"
        params.append(limit)
        return [_delivery_from_row(row) for row in await self._db.fetch_all(sql, params)]


class SqliteWebhookEndpointStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add_endpoint(self, endpoint: WebhookEndpoint, *, max_per_account: int) -> bool:
        types = None if endpoint.event_types is None else orjson.dumps(endpoint.event_types)
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "SELECT COUNT(*) AS n FROM webhook_endpoints WHERE account_id = ?",
                (endpoint.account_id,),
            )
            row = await cursor.fetchone()
            if row is not None and row["n"] >= max_per_account:
                return False
            await tx.execute(
                f"INSERT INTO webhook_endpoints ({_ENDPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    endpoint.endpoint_id,
                    endpoint.account_id,
                    endpoint.url,
                    None if types is None else types.decode(),
                    endpoint.description,
                    precise_text(endpoint.created_at),
                    endpoint.sealed_secret,
                ),
            )
        return True

    async def list_endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        rows = await self._db.fetch_all(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = ? "
            "ORDER BY created_at, endpoint_id",
            (account_id,),
        )
        return [_endpoint_from_row(row) for row in rows]

    async def get_endpoint(self, account_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        row = await self._db.fetch_one(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints "
            "WHERE endpoint_id = ? AND account_id = ?",
            (endpoint_id, account_id),
        )
        return None if row is None else _endpoint_from_row(row)

    async def delete_endpoint(self, account_id: str, endpoint_id: str) -> bool:
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "DELETE FROM webhook_endpoints WHERE endpoint_id = ? AND account_id = ?",
                (endpoint_id, account_id),
            )
            return cursor.rowcount == 1

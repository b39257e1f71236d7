"""The Store on DynamoDB: one table, every item type and access pattern in docs/dynamodb.md.

Rules this module keeps (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/):
- Deduplication is a conditional write (`attribute_not_exists`) or a TransactWriteItems whose
  conditions decide; never a read followed by a write that trusts the read.
- Reads of the base table are strongly consistent; GSIs are not, so whatever a GSI finds is
  re-read from the base table (BatchGetItem, ConsistentRead) and re-checked before it is returned.
- Every Query loops on `LastEvaluatedKey`; BatchWriteItem (25) and BatchGetItem (100) retry their
  unprocessed part with capped backoff.
- Throttling, 5xx and connection failures (after botocore's own retries, see
  `dynamodb_client_config`) become `StorageUnavailable`. A failed condition is an answer, not an
  error. Errors are matched by code, never by HTTP status.

Where SQLite writes one transaction, some methods here write several requests (a page of 2,500
events does not fit a 100-action transaction); each such method is ordered and idempotent so a
crash half-way leaves nothing a retry would not repair. docs/dynamodb.md lists them.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import orjson
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ConnectionError as BotocoreConnectionError,
)

from app.adapters.ports import EventRow, EventsPageWrite, SeriesOverride
from app.adapters.retry import RetryPolicy
from app.domain import (
    PENDING_BOT_STATUSES,
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
)
from app.errors import StorageUnavailable

# -- the table ---------------------------------------------------------------------------------

PK: Final = "PK"
SK: Final = "SK"
GSI1: Final = "GSI1"
"""Due work by time: scheduled bots by join_at, launching bots by claim time, active series
schedules by next check, channels by expiration. Sharded partition keys, KEYS_ONLY."""
GSI1_PK: Final = "GSI1PK"
GSI1_SK: Final = "GSI1SK"
GSI2: Final = "GSI2"
"""Account sets: accounts with auto-schedule on, accounts with an active connection."""
GSI2_PK: Final = "GSI2PK"
GSI2_SK: Final = "GSI2SK"
GSI3: Final = "GSI3"
"""Channel by id (webhooks carry no account)."""
GSI3_PK: Final = "GSI3PK"

SHARDS: Final = 4
"""Partitions each constant GSI key is spread over; readers query all of them. Raising it is
safe (old items stay in shards readers still query); lowering it hides items."""

PENDING_QUEUE: Final = "PENDING#"
LAUNCHING_QUEUE: Final = "LAUNCHING#"
SERIES_QUEUE: Final = "SERIES#"
CHANNEL_QUEUE: Final = "CHANNELEXP#"
AUTO_SET: Final = "AUTO#"
CONNECTED_SET: Final = "CONNECTED#"

API_KEYS_PK: Final = "APIKEYS"

UNAVAILABLE_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ResourceNotFoundException",  # the table is missing: a deployment fault, not the user's
    }
)
"""Error codes after which storage counts as unavailable (botocore already retried them)."""

RETRYABLE_CANCELLATIONS: Final = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
"""Cancellation reasons of TransactWriteItems that a retry can cure."""

BACKOFF: Final = RetryPolicy(base_delay=0.05, max_delay=2.0, max_attempts=8)
"""For our own retries: transaction conflicts and unprocessed batch items."""

CONCURRENCY: Final = 8
"""Requests one store call keeps in flight at most (fan-outs over shards, series, batches)."""

_BATCH_WRITE_SIZE: Final = 25
_BATCH_GET_SIZE: Final = 100
_TIME_CHARS: Final = len("2026-01-01T00:00:00Z")

Item = dict[str, Any]
"""An item or key in DynamoDB's typed form: {"name": {"S": "value"}}."""

T = TypeVar("T")


def dynamodb_client_config() -> Config:
    """What the DynamoDB client should be built with: botocore's standard retry mode (capped
    exponential backoff with jitter on throttling and 5xx) and bounded timeouts."""
    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=10,
    )


async def create_table(client: Any, table_name: str) -> bool:
    """Create the table with its GSIs unless it exists; True if this call created it.

    Waits until the table is ACTIVE either way (another process may be creating it).
    """
    strings = (PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI3_PK)
    try:
        await client.create_table(
            TableName=table_name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in strings
            ],
            KeySchema=[
                {"AttributeName": PK, "KeyType": "HASH"},
                {"AttributeName": SK, "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                _index(GSI1, GSI1_PK, GSI1_SK),
                _index(GSI2, GSI2_PK, GSI2_SK),
                _index(GSI3, GSI3_PK, None),
            ],
        )
        created = True
    except ClientError as error:
        if _code(error) != "ResourceInUseException":
            raise
        created = False
    waiter = client.get_waiter("table_exists")
    await waiter.wait(TableName=table_name, WaiterConfig={"Delay": 2, "MaxAttempts": 90})
    return created


def _index(name: str, hash_key: str, range_key: str | None) -> dict[str, Any]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key is not None:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return {"IndexName": name, "KeySchema": schema, "Projection": {"ProjectionType": "KEYS_ONLY"}}


# -- keys --------------------------------------------------------------------------------------


def _account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _calendar_pk(account_id: str, calendar_id: str) -> str:
    return f"ACCOUNT#{account_id}#CAL#{calendar_id}"


def _key(pk: str, sk: str) -> Item:
    return {PK: {"S": pk}, SK: {"S": sk}}


def _event_key(account_id: str, calendar_id: str, google_event_id: str) -> Item:
    return _key(_calendar_pk(account_id, calendar_id), f"EVENT#{google_event_id}")


def _event_state_key(account_id: str, calendar_id: str, google_event_id: str) -> Item:
    return _key(_calendar_pk(account_id, calendar_id), f"EVENT#{google_event_id}#STATE")


def _event_pointer_key(account_id: str, event_id: str) -> Item:
    return _key(_account_pk(account_id), f"EVENTID#{event_id}")


def _bot_key(account_id: str, bot_id: str) -> Item:
    return _key(_account_pk(account_id), f"BOT#{bot_id}")


def _bot_pointer_key(bot_id: str) -> Item:
    return _key(f"BOT#{bot_id}", "BOT")


def _pending_key(account_id: str, event_id: str, occurrence_key: str) -> Item:
    return _key(_account_pk(account_id), f"DEDUP#{event_id}#{occurrence_key}")


def _occurrence_key(account_id: str, event_id: str, occurrence_key: str) -> Item:
    return _key(_account_pk(account_id), f"OCC#{event_id}#{occurrence_key}")


def _shard(value: str) -> int:
    digest = hashlib.blake2b(value.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % SHARDS


# -- values ------------------------------------------------------------------------------------


def _text(when: datetime) -> str:
    """UTC, second precision, `Z`: sorts as text in time order (as the SQLite store)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text_or_none(when: datetime | None) -> str | None:
    return None if when is None else _text(when)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _time_or_none(text: str | None) -> datetime | None:
    return None if text is None else _time(text)


def _just_below(when: datetime) -> str:
    """A sort-key bound: `{time}#{id}` keys sort below it iff time <= when."""
    return _text(when) + "$"  # "$" is the character after "#"


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else _json(value)


def _encode(value: object) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, bytes):
        return {"B": value}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def _decode(value: dict[str, Any]) -> Any:
    ((kind, raw),) = value.items()
    if kind == "N":
        return int(raw)
    if kind == "B":
        return bytes(raw)
    if kind == "NULL":
        return None
    return raw  # S, BOOL


def _item(key: Item, **attributes: object) -> Item:
    """A typed item: the key plus every attribute that is not None (absent means null)."""
    item = dict(key)
    item.update({name: _encode(value) for name, value in attributes.items() if value is not None})
    return item


def _plain(item: Item) -> dict[str, Any]:
    return {name: _decode(value) for name, value in item.items()}


def _base_key(item: Item) -> Item:
    return {PK: item[PK], SK: item[SK]}


def _key_id(key: Item) -> tuple[str, str]:
    return key[PK]["S"], key[SK]["S"]


_NAME_TOKEN = re.compile(r"#(\w+)")


def _expression(
    params: dict[str, Any], values: dict[str, object] | None, *expressions: str | None
) -> dict[str, Any]:
    """Add the names (every `#name` token) and the typed values the expressions use."""
    names = {f"#{name}": name for text in expressions if text for name in _NAME_TOKEN.findall(text)}
    if names:
        params["ExpressionAttributeNames"] = names
    if values:
        params["ExpressionAttributeValues"] = {
            placeholder: _encode(value) for placeholder, value in values.items()
        }
    return params


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _rev() -> str:
    """A fresh revision for a bot item: conditions on it detect any write in between."""
    return uuid.uuid4().hex


# -- items <-> domain --------------------------------------------------------------------------


def _event_item(account_id: str, event: Event, generation: int) -> Item:
    """The Google-owned item of an event. Fields written and read only whole travel as one
    JSON attribute, `google`: events are the most numerous items, and attribute names count
    toward item size (so toward every Query's read units). Fields updated on their own
    (status, next occurrence) or used in conditions and projections stay attributes."""
    link = event.meeting_link
    google = {
        "calendar_id": event.calendar_id,
        "summary": event.summary,
        "start_time": _text(event.start_time),
        "end_time": _text(event.end_time),
        "all_day": event.all_day,
        "time_zone": event.time_zone,
        "recurrence": list(event.recurrence),
        "meeting_link": link.url if link else None,
        "meeting_platform": link.platform.value if link else None,
        "self_declined": event.self_declined,
        "updated": event.updated,
    }
    return _item(
        _event_key(account_id, event.calendar_id, event.google_event_id),
        kind="event",
        event_id=event.event_id,
        google_event_id=event.google_event_id,
        status=event.status.value,
        next_occurrence_start=_text_or_none(event.next_occurrence_start),
        next_occurrence_end=_text_or_none(event.next_occurrence_end),
        generation=generation,
        google=_json(google),
    )


def _schedule_status(data: dict[str, Any], state: dict[str, Any] | None) -> ScheduleStatus:
    """The event's schedule status from its two items (see docs/dynamodb.md, "events").

    `schedule_cancelled` on the event item says the last word was a cancellation; an upsert
    replaces the item without it, and a stored "cancelled" then reads as "unscheduled" (what
    SQLite's upsert does to a cancelled event).
    """
    if data.get("schedule_cancelled"):
        return ScheduleStatus.CANCELLED
    stored = ScheduleStatus((state or {}).get("schedule_status", ScheduleStatus.UNSCHEDULED))
    return ScheduleStatus.UNSCHEDULED if stored is ScheduleStatus.CANCELLED else stored


def _event_from(data: dict[str, Any], state: dict[str, Any] | None) -> Event:
    google = orjson.loads(data["google"])
    link = google["meeting_link"]
    return Event(
        event_id=data["event_id"],
        calendar_id=google["calendar_id"],
        google_event_id=data["google_event_id"],
        summary=google["summary"],
        status=EventStatus(data["status"]),
        start_time=_time(google["start_time"]),
        end_time=_time(google["end_time"]),
        all_day=google["all_day"],
        time_zone=google["time_zone"],
        recurrence=tuple(google["recurrence"]),
        meeting_link=MeetingLink(link, Platform(google["meeting_platform"])) if link else None,
        self_declined=google["self_declined"],
        updated=google["updated"],
        recurring_enabled=(state or {}).get("recurring_enabled", True),
        schedule_status=_schedule_status(data, state),
        next_occurrence_start=_time_or_none(data.get("next_occurrence_start")),
        next_occurrence_end=_time_or_none(data.get("next_occurrence_end")),
    )


def _events_from(items: Iterable[Item]) -> list[Event]:
    """Events from a calendar partition's `EVENT#` items (data and state, in any order)."""
    data: dict[str, dict[str, Any]] = {}
    states: dict[str, dict[str, Any]] = {}
    for item in items:
        plain = _plain(item)
        if plain.get("kind") == "event":
            data[plain["google_event_id"]] = plain
        elif plain.get("kind") == "event_state":
            states[plain["google_event_id"]] = plain
    return [_event_from(fields, states.get(google_id)) for google_id, fields in data.items()]


def _queue_keys(bot: ScheduledBot) -> tuple[str | None, str | None]:
    """GSI1 keys of a bot: scheduled ones by join_at, launching ones by their claim's age."""
    shard = _shard(bot.bot_id)
    if bot.status is BotStatus.SCHEDULED:
        return f"{PENDING_QUEUE}{shard}", f"{_text(bot.join_at)}#{bot.bot_id}"
    if bot.status is BotStatus.LAUNCHING:
        return f"{LAUNCHING_QUEUE}{shard}", f"{_text(bot.updated_at)}#{bot.bot_id}"
    return None, None


def _bot_item(bot: ScheduledBot, rev: str) -> Item:
    queue_pk, queue_sk = _queue_keys(bot)
    return _item(
        _bot_key(bot.account_id, bot.bot_id),
        kind="bot",
        rev=rev,
        bot_id=bot.bot_id,
        account_id=bot.account_id,
        event_id=bot.event_id,
        calendar_id=bot.calendar_id,
        google_event_id=bot.google_event_id,
        occurrence_key=bot.occurrence_key,
        occurrence_start=_text(bot.occurrence_start),
        occurrence_end=_text(bot.occurrence_end),
        join_at=_text(bot.join_at),
        meeting_link=bot.meeting_link,
        meeting_platform=bot.meeting_platform.value,
        bot_config=_json(bot.bot_config),
        bot_name=bot.bot_name,
        custom_attributes=_json_or_none(bot.custom_attributes),
        source=bot.source.value,
        status=bot.status.value,
        external_bot_id=bot.external_bot_id,
        last_error=bot.last_error,
        attempts=bot.attempts,
        created_at=_text(bot.created_at),
        updated_at=_text(bot.updated_at),
        GSI1PK=queue_pk,
        GSI1SK=queue_sk,
    )


def _bot_from(item: Item) -> ScheduledBot:
    data = _plain(item)
    custom = data.get("custom_attributes")
    return ScheduledBot(
        bot_id=data["bot_id"],
        account_id=data["account_id"],
        event_id=data["event_id"],
        calendar_id=data["calendar_id"],
        google_event_id=data["google_event_id"],
        occurrence_key=data["occurrence_key"],
        occurrence_start=_time(data["occurrence_start"]),
        occurrence_end=_time(data["occurrence_end"]),
        join_at=_time(data["join_at"]),
        meeting_link=data["meeting_link"],
        meeting_platform=Platform(data["meeting_platform"]),
        bot_config=orjson.loads(data["bot_config"]),
        bot_name=data.get("bot_name"),
        custom_attributes=orjson.loads(custom) if custom is not None else None,
        source=BotSource(data["source"]),
        status=BotStatus(data["status"]),
        external_bot_id=data.get("external_bot_id"),
        last_error=data.get("last_error"),
        attempts=data["attempts"],
        created_at=_time(data["created_at"]),
        updated_at=_time(data["updated_at"]),
    )


def _series_queue(account_id: str, event_id: str, next_check_at: datetime) -> tuple[str, str]:
    """GSI1 keys of an active series schedule (the sort key stays while it is paused)."""
    shard = _shard(f"{account_id}#{event_id}")
    return f"{SERIES_QUEUE}{shard}", f"{_text(next_check_at)}#{account_id}#{event_id}"


def _series_from(item: Item) -> SeriesSchedule:
    data = _plain(item)
    custom = data.get("custom_attributes")
    return SeriesSchedule(
        account_id=data["account_id"],
        event_id=data["event_id"],
        bot_config=orjson.loads(data["bot_config"]),
        bot_name=data.get("bot_name"),
        custom_attributes=orjson.loads(custom) if custom is not None else None,
        source=BotSource(data["source"]),
        active=data["active"],
        last_original_start=_time(data["last_original_start"]),
        next_check_at=_time(data["next_check_at"]),
    )


def _channel_from(item: Item) -> Channel:
    data = _plain(item)
    return Channel(
        channel_id=data["channel_id"],
        account_id=data["account_id"],
        calendar_id=data["calendar_id"],
        resource_id=data["resource_id"],
        token_hash=data["token_hash"],
        expiration=_time(data["expiration"]),
    )


def _override_from(data: dict[str, Any]) -> OccurrenceOverride:
    link = data.get("meeting_link")
    return OccurrenceOverride(
        original_start=_time(data["original_start"]),
        cancelled=data["cancelled"],
        start=_time_or_none(data.get("start_time")),
        end=_time_or_none(data.get("end_time")),
        meeting_link=MeetingLink(link, Platform(data["meeting_platform"])) if link else None,
        google_event_id=data.get("google_event_id"),
    )


def _api_key_from(item: Item) -> ApiKey:
    data = _plain(item)
    return ApiKey(
        key_id=data["key_id"],
        account_id=data["account_id"],
        name=data["name"],
        created_at=_time(data["created_at"]),
        revoked_at=_time_or_none(data.get("revoked_at")),
    )


# -- transaction actions -----------------------------------------------------------------------


def _tx(
    action: str,
    table: str,
    *,
    condition: str | None = None,
    values: dict[str, object] | None = None,
    update: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"TableName": table, **fields}
    if condition is not None:
        body["ConditionExpression"] = condition
    if update is not None:
        body["UpdateExpression"] = update
    return {action: _expression(body, values, condition, update)}


class DynamoDbStore:
    """`Store` on one DynamoDB table; `client` is an entered aiobotocore DynamoDB client."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._sleep = sleep

    # -- requests ------------------------------------------------------------------------------

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        for attempt in range(1, (BACKOFF.max_attempts or 1) + 1):
            try:
                response: dict[str, Any] = await getattr(self._client, operation)(**params)
                return response
            except ClientError as error:
                code = _code(error)
                if code in UNAVAILABLE_CODES:
                    raise StorageUnavailable() from error
                if code != "TransactionConflictException":
                    raise
                # A single-item write met a transaction in flight on the same item.
            except (HTTPClientError, BotocoreConnectionError) as error:
                raise StorageUnavailable() from error
            await self._sleep(BACKOFF.delay_for(attempt))
        raise StorageUnavailable()

    async def _get(self, key: Item) -> Item | None:
        response = await self._call("get_item", TableName=self._table, Key=key, ConsistentRead=True)
        found: Item | None = response.get("Item")
        return found

    async def _put(
        self, item: Item, condition: str | None = None, values: dict[str, object] | None = None
    ) -> bool:
        """PutItem; False when the condition failed."""
        params: dict[str, Any] = {"TableName": self._table, "Item": item}
        if condition is not None:
            params["ConditionExpression"] = condition
        try:
            await self._call("put_item", **_expression(params, values, condition))
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def _update(
        self,
        key: Item,
        update: str,
        values: dict[str, object] | None = None,
        condition: str | None = None,
        *,
        return_values: str = "NONE",
    ) -> Item | None:
        """UpdateItem; None when the condition failed, else the attributes asked for."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "Key": key,
            "UpdateExpression": update,
            "ReturnValues": return_values,
        }
        if condition is not None:
            params["ConditionExpression"] = condition
        try:
            response = await self._call(
                "update_item", **_expression(params, values, update, condition)
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return None
            raise
        attributes: Item = response.get("Attributes", {})
        return attributes

    async def _delete(
        self, key: Item, condition: str | None = None, values: dict[str, object] | None = None
    ) -> bool:
        params: dict[str, Any] = {"TableName": self._table, "Key": key}
        if condition is not None:
            params["ConditionExpression"] = condition
        try:
            await self._call("delete_item", **_expression(params, values, condition))
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def _transact(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """TransactWriteItems; None when it committed, else the cancellation reasons (one per
        action, `Code` "None" for those that were fine) when a condition failed.

        Conflicts with concurrent transactions and throttling are retried with backoff.
        """
        for attempt in range(1, (BACKOFF.max_attempts or 1) + 1):
            try:
                await self._call("transact_write_items", TransactItems=actions)
                return None
            except ClientError as error:
                reasons: list[dict[str, Any]] = error.response.get("CancellationReasons", [])
                codes = {reason.get("Code") for reason in reasons} - {"None", None}
                expected = RETRYABLE_CANCELLATIONS | {"ConditionalCheckFailed"}
                if _code(error) != "TransactionCanceledException" or not codes <= expected:
                    raise
            if "ConditionalCheckFailed" in codes:
                return reasons  # a condition failed: that is the answer, not an error
            await self._sleep(BACKOFF.delay_for(attempt))
        raise StorageUnavailable()

    async def _query(self, max_items: int | None = None, **params: Any) -> list[Item]:
        """Every item a Query finds, page after page (or the first `max_items`)."""
        found: list[Item] = []
        params = {"TableName": self._table, **params}
        while True:
            response = await self._call("query", **params)
            found.extend(response.get("Items", []))
            if max_items is not None and len(found) >= max_items:
                return found[:max_items]
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            params["ExclusiveStartKey"] = last

    async def _partition(
        self, pk: str, prefix: str | None = None, projection: str | None = None
    ) -> list[Item]:
        """A partition's items (those whose sort key starts with `prefix`), consistently."""
        condition = "#PK = :pk" + (" AND begins_with(#SK, :prefix)" if prefix else "")
        values: dict[str, object] = {":pk": pk}
        if prefix:
            values[":prefix"] = prefix
        params: dict[str, Any] = {"KeyConditionExpression": condition, "ConsistentRead": True}
        if projection is not None:
            params["ProjectionExpression"] = projection
        return await self._query(**_expression(params, values, condition, projection))

    async def _queue(
        self,
        index: str,
        hash_name: str,
        hash_value: str,
        range_name: str | None = None,
        *,
        below: str | None = None,
        max_items: int | None = None,
    ) -> list[Item]:
        """Keys from a GSI partition in sort-key order, optionally only those below a bound."""
        condition = f"#{hash_name} = :hash"
        values: dict[str, object] = {":hash": hash_value}
        if below is not None and range_name is not None:
            condition += f" AND #{range_name} < :below"
            values[":below"] = below
        params: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": condition}
        if max_items is not None:
            params["Limit"] = max_items
        return await self._query(max_items, **_expression(params, values, condition))

    async def _batch_write(self, requests: Sequence[dict[str, Any]]) -> None:
        """BatchWriteItem in chunks of 25 (later requests for one key win), unprocessed
        requests retried with backoff."""
        by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for request in requests:
            put = request.get("PutRequest")
            key = _base_key(put["Item"]) if put else request["DeleteRequest"]["Key"]
            by_key[_key_id(key)] = request
        unique = list(by_key.values())
        chunks = [
            unique[start : start + _BATCH_WRITE_SIZE]
            for start in range(0, len(unique), _BATCH_WRITE_SIZE)
        ]
        await self._bounded(self._write_chunk(chunk) for chunk in chunks)

    async def _write_chunk(self, chunk: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self._table: chunk}
        for attempt in range(1, (BACKOFF.max_attempts or 1) + 1):
            response = await self._call("batch_write_item", RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            await self._sleep(BACKOFF.delay_for(attempt))
        raise StorageUnavailable()

    async def _batch_get(self, keys: Iterable[Item]) -> list[Item]:
        """BatchGetItem, consistent, in chunks of 100; missing keys are simply absent."""
        unique = list({_key_id(key): key for key in keys}.values())
        chunks = [
            unique[start : start + _BATCH_GET_SIZE]
            for start in range(0, len(unique), _BATCH_GET_SIZE)
        ]
        found: list[Item] = []
        for items in await self._bounded(self._get_chunk(chunk) for chunk in chunks):
            found.extend(items)
        return found

    async def _get_chunk(self, chunk: list[Item]) -> list[Item]:
        found: list[Item] = []
        pending: dict[str, Any] = {self._table: {"Keys": chunk, "ConsistentRead": True}}
        for attempt in range(1, (BACKOFF.max_attempts or 1) + 1):
            response = await self._call("batch_get_item", RequestItems=pending)
            found.extend(response.get("Responses", {}).get(self._table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                return found
            await self._sleep(BACKOFF.delay_for(attempt))
        raise StorageUnavailable()

    async def _bounded(self, jobs: Iterable[Awaitable[T]]) -> list[T]:
        """Await the jobs with at most CONCURRENCY in flight; results in job order."""
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def run(job: Awaitable[T]) -> T:
            async with semaphore:
                return await job

        return list(await asyncio.gather(*(run(job) for job in jobs)))

    async def _delete_keys(self, keys: Iterable[Item]) -> None:
        await self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])

    # -- accounts and keys ---------------------------------------------------------------------

    async def create_account(self, account: Account) -> None:
        item = _item(
            _key(_account_pk(account.account_id), "META"),
            kind="account",
            account_id=account.account_id,
            name=account.name,
            created_at=_text(account.created_at),
        )
        if not await self._put(item, "attribute_not_exists(#PK)"):
            raise ValueError(f"account {account.account_id} already exists")

    async def get_account(self, account_id: str) -> Account | None:
        item = await self._get(_key(_account_pk(account_id), "META"))
        if item is None:
            return None
        data = _plain(item)
        return Account(data["account_id"], data["name"], _time(data["created_at"]))

    async def add_api_key(self, key: ApiKey, key_hash: str) -> None:
        listed = _item(
            _key(API_KEYS_PK, f"KEY#{key.key_id}"),
            kind="api_key",
            key_id=key.key_id,
            account_id=key.account_id,
            name=key.name,
            key_hash=key_hash,
            created_at=_text(key.created_at),
            revoked_at=_text_or_none(key.revoked_at),
        )
        by_hash = _item(
            _key(f"KEYHASH#{key_hash}", "KEYHASH"),
            kind="api_key_hash",
            key_id=key.key_id,
            account_id=key.account_id,
            revoked_at=_text_or_none(key.revoked_at),
        )
        new = "attribute_not_exists(#PK)"
        reasons = await self._transact(
            [
                _tx("Put", self._table, Item=listed, condition=new),
                _tx("Put", self._table, Item=by_hash, condition=new),
            ]
        )
        if reasons is not None:
            raise ValueError("an API key with this id or hash already exists")

    async def account_for_key_hash(self, key_hash: str) -> str | None:
        item = await self._get(_key(f"KEYHASH#{key_hash}", "KEYHASH"))
        if item is None or "revoked_at" in item:
            return None
        return str(item["account_id"]["S"])

    async def list_api_keys(self) -> list[ApiKey]:
        keys = [_api_key_from(item) for item in await self._partition(API_KEYS_PK, "KEY#")]
        return sorted(keys, key=lambda key: (key.created_at, key.key_id))

    async def revoke_api_key(self, key_id: str, when: datetime) -> bool:
        listed = await self._get(_key(API_KEYS_PK, f"KEY#{key_id}"))
        if listed is None or "revoked_at" in listed:
            return False
        key_hash = listed["key_hash"]["S"]
        revoke = "SET #revoked_at = :when"
        live = "attribute_exists(#PK) AND attribute_not_exists(#revoked_at)"
        values: dict[str, object] = {":when": _text(when)}
        reasons = await self._transact(
            [
                _tx(
                    "Update",
                    self._table,
                    Key=_key(API_KEYS_PK, f"KEY#{key_id}"),
                    update=revoke,
                    condition=live,
                    values=values,
                ),
                _tx(
                    "Update",
                    self._table,
                    Key=_key(f"KEYHASH#{key_hash}", "KEYHASH"),
                    update=revoke,
                    condition="attribute_exists(#PK)",
                    values=values,
                ),
            ]
        )
        return reasons is None

    # -- connection and calendars --------------------------------------------------------------

    async def save_connection(self, connection: Connection, calendars: list[Calendar]) -> bool:
        account_id = connection.account_id
        response = await self._call(
            "put_item",
            TableName=self._table,
            Item=self._connection_item(connection),
            ReturnValues="ALL_OLD",
        )
        replaced = bool(response.get("Attributes"))
        kept = {calendar.calendar_id for calendar in calendars}
        for calendar_id in sorted(await self._calendars_with_data(account_id) - kept):
            await self._drop_calendar(account_id, calendar_id)
        await self._batch_write(
            [
                {
                    "PutRequest": {
                        "Item": _item(
                            _key(_account_pk(account_id), f"CAL#{calendar.calendar_id}"),
                            kind="calendar",
                            calendar_id=calendar.calendar_id,
                            summary=calendar.summary,
                            primary=calendar.primary,
                            time_zone=calendar.time_zone,
                            access_role=calendar.access_role,
                            position=position,
                        )
                    }
                }
                for position, calendar in enumerate(calendars)
            ]
        )
        return replaced

    @staticmethod
    def _connection_item(connection: Connection) -> Item:
        active = connection.status is ConnectionStatus.ACTIVE
        return _item(
            _key(_account_pk(connection.account_id), "CONNECTION"),
            kind="connection",
            account_id=connection.account_id,
            client_id=connection.client_id,
            primary_calendar_id=connection.primary_calendar_id,
            status=connection.status.value,
            connected_at=_text(connection.connected_at),
            GSI2PK=f"{CONNECTED_SET}{_shard(connection.account_id)}" if active else None,
            GSI2SK=connection.account_id,
        )

    async def _calendars_with_data(self, account_id: str) -> set[str]:
        """Calendars listed or holding synced data (`CALDATA#` markers) for the account."""
        found: set[str] = set()
        for prefix in ("CAL#", "CALDATA#"):
            items = await self._partition(_account_pk(account_id), prefix, "#calendar_id")
            found.update(item["calendar_id"]["S"] for item in items)
        return found

    async def _drop_calendar(self, account_id: str, calendar_id: str) -> None:
        """Delete a calendar: its events (with their pointers), exceptions and sync state,
        then its listing and marker."""
        items = await self._partition(
            _calendar_pk(account_id, calendar_id), projection="#PK, #SK, #event_id"
        )
        keys = [_base_key(item) for item in items]
        keys.extend(
            _event_pointer_key(account_id, item["event_id"]["S"])
            for item in items
            if "event_id" in item
        )
        await self._delete_keys(keys)
        await self._delete_keys(
            [
                _key(_account_pk(account_id), f"CAL#{calendar_id}"),
                _key(_account_pk(account_id), f"CALDATA#{calendar_id}"),
            ]
        )

    async def get_connection(self, account_id: str) -> Connection | None:
        item = await self._get(_key(_account_pk(account_id), "CONNECTION"))
        if item is None:
            return None
        data = _plain(item)
        return Connection(
            account_id=data["account_id"],
            client_id=data["client_id"],
            primary_calendar_id=data["primary_calendar_id"],
            status=ConnectionStatus(data["status"]),
            connected_at=_time(data["connected_at"]),
        )

    async def set_connection_status(self, account_id: str, status: ConnectionStatus) -> None:
        values: dict[str, object] = {":status": status.value}
        if status is ConnectionStatus.ACTIVE:
            update = "SET #status = :status, #GSI2PK = :set"
            values[":set"] = f"{CONNECTED_SET}{_shard(account_id)}"
        else:
            update = "SET #status = :status REMOVE #GSI2PK"
        await self._update(
            _key(_account_pk(account_id), "CONNECTION"),
            update,
            values,
            "attribute_exists(#PK)",
        )

    async def list_calendars(self, account_id: str) -> list[Calendar]:
        items = [_plain(item) for item in await self._partition(_account_pk(account_id), "CAL#")]
        items.sort(key=lambda data: (not data["primary"], data["position"]))
        return [
            Calendar(
                calendar_id=data["calendar_id"],
                summary=data.get("summary"),
                primary=data["primary"],
                time_zone=data.get("time_zone"),
                access_role=data.get("access_role"),
            )
            for data in items
        ]

    async def delete_connection(self, account_id: str, when: datetime) -> int:
        # Bots first: once nothing is pending, a crash later only leaves data to delete again.
        pending = [
            bot
            for bot in map(_bot_from, await self._bot_items(account_id))
            if bot.status in PENDING_BOT_STATUSES
        ]
        cancelled = await self._bounded(self._cancel_pending(bot, when) for bot in pending)
        for calendar_id in sorted(await self._calendars_with_data(account_id)):
            await self._drop_calendar(account_id, calendar_id)
        account_pk = _account_pk(account_id)
        keys = [_key(account_pk, "CONNECTION")]
        for prefix in ("EVENTID#", "SERIES#", "CHANNEL#"):
            keys.extend(
                _base_key(item) for item in await self._partition(account_pk, prefix, "#PK, #SK")
            )
        await self._delete_keys(keys)
        return sum(cancelled)

    async def _cancel_pending(self, bot: ScheduledBot, when: datetime) -> bool:
        """Cancel a scheduled or launching bot (disconnect); False if it left pending first."""
        reasons = await self._transact(
            [
                _tx(
                    "Update",
                    self._table,
                    Key=_bot_key(bot.account_id, bot.bot_id),
                    update="SET #status = :cancelled, #updated_at = :when, #rev = :rev "
                    "REMOVE #GSI1PK, #GSI1SK",
                    condition="#status IN (:scheduled, :launching)",
                    values={
                        ":cancelled": BotStatus.CANCELLED.value,
                        ":when": _text(when),
                        ":rev": _rev(),
                        ":scheduled": BotStatus.SCHEDULED.value,
                        ":launching": BotStatus.LAUNCHING.value,
                    },
                ),
                self._release_occurrence(bot),
            ]
        )
        return reasons is None

    def _release_occurrence(self, bot: ScheduledBot) -> dict[str, Any]:
        """Delete the bot's pending-dedup item (it is leaving scheduled/launching)."""
        return _tx(
            "Delete",
            self._table,
            Key=_pending_key(bot.account_id, bot.event_id, bot.occurrence_key),
            condition="attribute_not_exists(#PK) OR #bot_id = :bot_id",
            values={":bot_id": bot.bot_id},
        )

    # -- sync ----------------------------------------------------------------------------------

    def _sync_key(self, account_id: str, calendar_id: str) -> Item:
        return _key(_calendar_pk(account_id, calendar_id), "SYNC")

    def _calendar_marker(self, account_id: str, calendar_id: str) -> Item:
        return _item(
            _key(_account_pk(account_id), f"CALDATA#{calendar_id}"),
            kind="calendar_data",
            calendar_id=calendar_id,
        )

    async def get_sync_state(self, account_id: str, calendar_id: str) -> SyncState | None:
        item = await self._get(self._sync_key(account_id, calendar_id))
        if item is None:
            return None
        data = _plain(item)
        return SyncState(
            calendar_id=calendar_id,
            sync_token=data.get("sync_token"),
            last_synced_at=_time_or_none(data.get("last_synced_at")),
        )

    async def current_generation(self, account_id: str, calendar_id: str) -> int:
        item = await self._get(self._sync_key(account_id, calendar_id))
        return 0 if item is None else int(item["generation"]["N"])

    async def begin_full_sync(self, account_id: str, calendar_id: str) -> int:
        await self._put(self._calendar_marker(account_id, calendar_id))
        attributes = await self._update(
            self._sync_key(account_id, calendar_id),
            "SET #kind = :kind, #calendar_id = :calendar_id REMOVE #sync_token "
            "ADD #generation :one",
            {":kind": "sync_state", ":calendar_id": calendar_id, ":one": 1},
            return_values="UPDATED_NEW",
        )
        assert attributes is not None
        return int(attributes["generation"]["N"])

    async def apply_events_page(self, account_id: str, page: EventsPageWrite) -> None:
        calendar_id = page.calendar_id
        writes: list[dict[str, Any]] = [
            {"PutRequest": {"Item": self._calendar_marker(account_id, calendar_id)}}
        ]
        for event in page.upserts:
            # A blind put of the Google-owned item: calbot's own fields live in the state
            # item, which this never touches, so BatchWriteItem can carry a whole page.
            writes.append({"PutRequest": {"Item": _event_item(account_id, event, page.generation)}})
            writes.append(
                {
                    "PutRequest": {
                        "Item": _item(
                            _event_pointer_key(account_id, event.event_id),
                            kind="event_pointer",
                            calendar_id=calendar_id,
                            google_event_id=event.google_event_id,
                        )
                    }
                }
            )
        for entry in page.overrides:
            writes.append({"PutRequest": {"Item": self._override_item(account_id, page, entry)}})
        await self._batch_write(writes)
        await self._bounded(
            self._cancel_event(account_id, calendar_id, google_id)
            for google_id in dict.fromkeys(page.cancelled_google_ids)
        )
        if page.sync_token is not None:
            if page.full_sync:
                await self._drop_older_generations(account_id, calendar_id, page.generation)
            await self._update(
                self._sync_key(account_id, calendar_id),
                "SET #kind = :kind, #calendar_id = :calendar_id, #sync_token = :token, "
                "#last_synced_at = :at, #generation = if_not_exists(#generation, :generation)",
                {
                    ":kind": "sync_state",
                    ":calendar_id": calendar_id,
                    ":token": page.sync_token,
                    ":at": _text(page.synced_at),
                    ":generation": page.generation,
                },
            )

    @staticmethod
    def _override_item(account_id: str, page: EventsPageWrite, entry: SeriesOverride) -> Item:
        override = entry.override
        series_id = entry.series_google_event_id
        original_start = _text(override.original_start)
        link = override.meeting_link
        return _item(
            _key(
                _calendar_pk(account_id, page.calendar_id),
                f"OVR#{series_id}#{original_start}",
            ),
            kind="override",
            series_google_event_id=series_id,
            original_start=original_start,
            cancelled=override.cancelled,
            start_time=_text_or_none(override.start),
            end_time=_text_or_none(override.end),
            meeting_link=link.url if link else None,
            meeting_platform=link.platform.value if link else None,
            google_event_id=override.google_event_id,
            generation=page.generation,
        )

    async def _cancel_event(self, account_id: str, calendar_id: str, google_id: str) -> None:
        """Mark an event cancelled (if stored) and drop its series' exceptions."""
        await self._transact(
            [
                _tx(
                    "Update",
                    self._table,
                    Key=_event_key(account_id, calendar_id, google_id),
                    update="SET #status = :cancelled, #schedule_cancelled = :yes "
                    "REMOVE #next_occurrence_start, #next_occurrence_end",
                    condition="attribute_exists(#PK)",
                    values={":cancelled": EventStatus.CANCELLED.value, ":yes": True},
                ),
                self._state_update(
                    account_id,
                    calendar_id,
                    google_id,
                    "#schedule_status = :status",
                    {":status": ScheduleStatus.CANCELLED.value},
                ),
            ]
        )
        overrides = await self._overrides_of(account_id, calendar_id, google_id)
        await self._delete_keys(_base_key(item) for item in overrides)

    def _state_update(
        self,
        account_id: str,
        calendar_id: str,
        google_id: str,
        assignment: str,
        values: dict[str, object],
    ) -> dict[str, Any]:
        """Create-or-update the event's state item (calbot's own fields)."""
        return _tx(
            "Update",
            self._table,
            Key=_event_state_key(account_id, calendar_id, google_id),
            update=f"SET #kind = :state_kind, #google_event_id = :google_id, {assignment}",
            values={":state_kind": "event_state", ":google_id": google_id, **values},
        )

    async def _drop_older_generations(
        self, account_id: str, calendar_id: str, generation: int
    ) -> None:
        """After a complete full sync: what it did not return no longer exists at Google (or
        left our window); dropping it is what leaves nothing stale after a 410."""
        items = [
            _plain(item)
            for item in await self._partition(
                _calendar_pk(account_id, calendar_id),
                projection="#PK, #SK, #kind, #generation, #event_id, #google_event_id",
            )
        ]
        live_events = {
            data["google_event_id"]
            for data in items
            if data.get("kind") == "event" and data["generation"] >= generation
        }
        doomed: list[Item] = []
        for data in items:
            kind = data.get("kind")
            stale = kind in ("event", "override") and data["generation"] < generation
            orphan = kind == "event_state" and data["google_event_id"] not in live_events
            if stale or orphan:
                doomed.append(_key(data[PK], data[SK]))
            if stale and kind == "event":
                doomed.append(_event_pointer_key(account_id, data["event_id"]))
        await self._delete_keys(doomed)

    async def _load_event(self, account_id: str, calendar_id: str, google_id: str) -> Event | None:
        items = await self._batch_get(
            [
                _event_key(account_id, calendar_id, google_id),
                _event_state_key(account_id, calendar_id, google_id),
            ]
        )
        events = _events_from(items)
        return events[0] if events else None

    async def _event_location(self, account_id: str, event_id: str) -> tuple[str, str] | None:
        """(calendar id, Google id) of a calbot event id, from its pointer item."""
        pointer = await self._get(_event_pointer_key(account_id, event_id))
        if pointer is None:
            return None
        return pointer["calendar_id"]["S"], pointer["google_event_id"]["S"]

    async def get_event(self, account_id: str, event_id: str) -> Event | None:
        location = await self._event_location(account_id, event_id)
        if location is None:
            return None
        event = await self._load_event(account_id, *location)
        return event if event is not None and event.event_id == event_id else None

    async def get_event_by_google_id(
        self, account_id: str, calendar_id: str, google_event_id: str
    ) -> Event | None:
        return await self._load_event(account_id, calendar_id, google_event_id)

    async def _calendar_events(self, account_id: str, calendar_id: str) -> list[Event]:
        items = await self._partition(_calendar_pk(account_id, calendar_id), "EVENT#")
        return _events_from(items)

    async def list_events(self, account_id: str, calendar_id: str) -> list[EventRow]:
        events, pending = await asyncio.gather(
            self._calendar_events(account_id, calendar_id),
            self._events_with_pending_bots(account_id),
        )
        events.sort(key=lambda event: (_text(event.start_time), event.event_id))
        return [EventRow(event, event.event_id in pending) for event in events]

    async def _events_with_pending_bots(self, account_id: str) -> set[str]:
        """Event ids with a scheduled or launching bot: exactly those with a DEDUP item."""
        items = await self._partition(_account_pk(account_id), "DEDUP#", "#event_id")
        return {item["event_id"]["S"] for item in items}

    async def _overrides_of(self, account_id: str, calendar_id: str, series_id: str) -> list[Item]:
        items = await self._partition(_calendar_pk(account_id, calendar_id), f"OVR#{series_id}#")
        return [item for item in items if item["series_google_event_id"]["S"] == series_id]

    async def list_overrides(
        self, account_id: str, calendar_id: str, series_google_event_ids: list[str]
    ) -> dict[str, list[OccurrenceOverride]]:
        series_ids = list(dict.fromkeys(series_google_event_ids))
        results = await self._bounded(
            self._overrides_of(account_id, calendar_id, series_id) for series_id in series_ids
        )
        found: dict[str, list[OccurrenceOverride]] = {}
        for series_id, items in zip(series_ids, results, strict=True):
            if items:
                found[series_id] = [_override_from(_plain(item)) for item in items]
        return found

    async def set_next_occurrences(
        self,
        account_id: str,
        values: list[tuple[str, datetime | None, datetime | None]],
    ) -> None:
        latest = {event_id: (start, end) for event_id, start, end in values}
        if not latest:
            return
        pointers = await self._batch_get(
            _event_pointer_key(account_id, event_id) for event_id in latest
        )
        located = {
            pointer[SK]["S"].removeprefix("EVENTID#"): (
                pointer["calendar_id"]["S"],
                pointer["google_event_id"]["S"],
            )
            for pointer in pointers
        }
        await self._bounded(
            self._set_next_occurrence(account_id, event_id, located[event_id], start, end)
            for event_id, (start, end) in latest.items()
            if event_id in located
        )

    async def _set_next_occurrence(
        self,
        account_id: str,
        event_id: str,
        location: tuple[str, str],
        start: datetime | None,
        end: datetime | None,
    ) -> None:
        values: dict[str, object] = {":event_id": event_id}
        assignments = []
        removals = []
        for name, when in (("next_occurrence_start", start), ("next_occurrence_end", end)):
            if when is None:
                removals.append(f"#{name}")
            else:
                assignments.append(f"#{name} = :{name}")
                values[f":{name}"] = _text(when)
        update = " ".join(
            part
            for part in (
                "SET " + ", ".join(assignments) if assignments else "",
                "REMOVE " + ", ".join(removals) if removals else "",
            )
            if part
        )
        await self._update(
            _event_key(account_id, *location),
            update,
            values,
            "attribute_exists(#PK) AND #event_id = :event_id",
        )

    async def list_series_needing_next_occurrence(
        self, account_id: str, calendar_id: str, now: datetime
    ) -> list[Event]:
        cutoff = _text(now)
        return [
            event
            for event in await self._calendar_events(account_id, calendar_id)
            if event.recurrence
            and event.status is not EventStatus.CANCELLED
            and event.next_occurrence_end is not None
            and _text(event.next_occurrence_end) <= cutoff
        ]

    async def set_schedule_status(
        self, account_id: str, event_id: str, status: ScheduleStatus
    ) -> None:
        location = await self._event_location(account_id, event_id)
        if location is None:
            return
        await self._transact(
            [
                self._event_flag(account_id, event_id, location, status),
                self._state_update(
                    account_id,
                    location[0],
                    location[1],
                    "#schedule_status = :status",
                    {":status": status.value},
                ),
            ]
        )

    def _event_flag(
        self,
        account_id: str,
        event_id: str,
        location: tuple[str, str],
        status: ScheduleStatus,
    ) -> dict[str, Any]:
        """Set or clear the event item's `schedule_cancelled` along with a new status."""
        values: dict[str, object] = {":event_id": event_id}
        if status is ScheduleStatus.CANCELLED:
            update = "SET #schedule_cancelled = :yes"
            values[":yes"] = True
        else:
            update = "REMOVE #schedule_cancelled"
        return _tx(
            "Update",
            self._table,
            Key=_event_key(account_id, *location),
            update=update,
            condition="attribute_exists(#PK) AND #event_id = :event_id",
            values=values,
        )

    async def set_recurring_enabled(self, account_id: str, event_id: str, enabled: bool) -> None:
        location = await self._event_location(account_id, event_id)
        if location is None:
            return
        await self._transact(
            [
                _tx(
                    "ConditionCheck",
                    self._table,
                    Key=_event_key(account_id, *location),
                    condition="attribute_exists(#PK) AND #event_id = :event_id",
                    values={":event_id": event_id},
                ),
                self._state_update(
                    account_id,
                    location[0],
                    location[1],
                    "#recurring_enabled = :enabled",
                    {":enabled": enabled},
                ),
            ]
        )

    # -- bots ----------------------------------------------------------------------------------

    def _pending_item(self, bot: ScheduledBot) -> Item:
        """The pending-dedup item: exists exactly while the occurrence has a pending bot."""
        return _item(
            _pending_key(bot.account_id, bot.event_id, bot.occurrence_key),
            kind="pending_bot",
            bot_id=bot.bot_id,
            event_id=bot.event_id,
            occurrence_key=bot.occurrence_key,
        )

    def _insert_bot_actions(self, bot: ScheduledBot, *, any_status: bool) -> list[dict[str, Any]]:
        """Create the bot, its pointer, its occurrence claim and (while pending) its
        pending-dedup item, in this order. With `any_status` the claim must be new too."""
        new = "attribute_not_exists(#PK)"
        claim = _item(
            _occurrence_key(bot.account_id, bot.event_id, bot.occurrence_key),
            kind="occurrence_claim",
            bot_id=bot.bot_id,
        )
        pointer = _item(_bot_pointer_key(bot.bot_id), kind="bot_pointer", account_id=bot.account_id)
        actions = [
            _tx("Put", self._table, Item=_bot_item(bot, _rev()), condition=new),
            _tx("Put", self._table, Item=pointer, condition=new),
            _tx("Put", self._table, Item=claim, condition=new if any_status else None),
        ]
        if bot.status in PENDING_BOT_STATUSES:
            actions.append(
                _tx(
                    "Put",
                    self._table,
                    Item=self._pending_item(bot),
                    condition=new,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            )
        return actions

    async def insert_or_update_pending_bot(self, bot: ScheduledBot) -> tuple[ScheduledBot, bool]:
        for _ in range(BACKOFF.max_attempts or 1):
            actions = self._insert_bot_actions(bot, any_status=False)
            reasons = await self._transact(actions)
            if reasons is None:
                return _bot_from(actions[0]["Put"]["Item"]), True  # as stored
            pending_failed = (
                len(reasons) == 4 and reasons[3].get("Code") == "ConditionalCheckFailed"
            )
            if not pending_failed:
                raise ValueError(f"a bot with id {bot.bot_id} already exists")
            holder = reasons[3].get("Item") or await self._get(
                _pending_key(bot.account_id, bot.event_id, bot.occurrence_key)
            )
            if holder is None:
                continue  # the pending bot left pending meanwhile: insert again
            found = await self._update_pending(bot, holder["bot_id"]["S"])
            if found is not None:
                # A retried request may find the bot it created itself.
                return found, found.bot_id == bot.bot_id
        raise StorageUnavailable()

    async def _update_pending(self, bot: ScheduledBot, pending_id: str) -> ScheduledBot | None:
        """Give the pending bot `bot`'s config, name and attributes if it is still scheduled;
        the stored bot if it is launching; None if it is no longer pending."""
        values: dict[str, object] = {
            ":bot_config": _json(bot.bot_config),
            ":updated_at": _text(bot.updated_at),
            ":rev": _rev(),
            ":scheduled": BotStatus.SCHEDULED.value,
        }
        assignments = ["#bot_config = :bot_config", "#updated_at = :updated_at", "#rev = :rev"]
        removals = []
        for name, value in (
            ("bot_name", bot.bot_name),
            ("custom_attributes", _json_or_none(bot.custom_attributes)),
        ):
            if value is None:
                removals.append(f"#{name}")
            else:
                assignments.append(f"#{name} = :{name}")
                values[f":{name}"] = value
        update = "SET " + ", ".join(assignments)
        if removals:
            update += " REMOVE " + ", ".join(removals)
        attributes = await self._update(
            _bot_key(bot.account_id, pending_id),
            update,
            values,
            "#status = :scheduled",
            return_values="ALL_NEW",
        )
        if attributes is not None:
            return _bot_from(attributes)
        current = await self.get_bot(bot.account_id, pending_id)
        if current is not None and current.status is BotStatus.LAUNCHING:
            return current
        return None

    async def get_bot(self, account_id: str, bot_id: str) -> ScheduledBot | None:
        item = await self._get(_bot_key(account_id, bot_id))
        return None if item is None else _bot_from(item)

    async def _bot_items(self, account_id: str) -> list[Item]:
        """The account's bot items ordered by join_at (then id, as SQLite's listing)."""
        items = await self._partition(_account_pk(account_id), "BOT#")
        return sorted(items, key=lambda item: (item["join_at"]["S"], item["bot_id"]["S"]))

    async def list_bots(
        self,
        account_id: str,
        *,
        status: BotStatus | None = None,
        event_id: str | None = None,
    ) -> list[ScheduledBot]:
        return [
            bot
            for bot in map(_bot_from, await self._bot_items(account_id))
            if (status is None or bot.status is status)
            and (event_id is None or bot.event_id == event_id)
        ]

    async def update_bot(self, bot: ScheduledBot, *, expected_status: BotStatus) -> bool:
        # The event and occurrence are the bot's identity (its dedup items are keyed on them):
        # an update never changes them.
        item = _bot_item(bot, _rev())
        condition = (
            "attribute_exists(#PK) AND #status = :expected AND #event_id = :event_id "
            "AND #occurrence_key = :occurrence_key"
        )
        values: dict[str, object] = {
            ":expected": expected_status.value,
            ":event_id": bot.event_id,
            ":occurrence_key": bot.occurrence_key,
        }
        was_pending = expected_status in PENDING_BOT_STATUSES
        if was_pending == (bot.status in PENDING_BOT_STATUSES):
            return await self._put(item, condition, values)
        if was_pending:
            companion = self._release_occurrence(bot)
        else:
            companion = _tx(
                "Put",
                self._table,
                Item=self._pending_item(bot),
                condition="attribute_not_exists(#PK)",
            )
        put = _tx("Put", self._table, Item=item, condition=condition, values=values)
        return await self._transact([put, companion]) is None

    async def cancel_pending_bots(
        self, account_id: str, event_id: str, when: datetime
    ) -> list[ScheduledBot]:
        items = [
            item
            for item in await self._bot_items(account_id)
            if item["event_id"]["S"] == event_id
            and item["status"]["S"] == BotStatus.SCHEDULED.value
        ]
        results = await self._bounded(self._cancel_scheduled(item, when) for item in items)
        return [bot for bot in results if bot is not None]

    async def _cancel_scheduled(self, item: Item | None, when: datetime) -> ScheduledBot | None:
        """Cancel a scheduled bot as last read (its `rev`), so the bot returned is exactly the
        one cancelled; re-read and retry if it changed in between."""
        for _ in range(BACKOFF.max_attempts or 1):
            if item is None or item["status"]["S"] != BotStatus.SCHEDULED.value:
                return None
            bot = _bot_from(item)
            reasons = await self._transact(
                [
                    _tx(
                        "Update",
                        self._table,
                        Key=_base_key(item),
                        update="SET #status = :cancelled, #updated_at = :when, #rev = :new_rev "
                        "REMOVE #GSI1PK, #GSI1SK",
                        condition="#status = :scheduled AND #rev = :rev",
                        values={
                            ":cancelled": BotStatus.CANCELLED.value,
                            ":when": _text(when),
                            ":new_rev": _rev(),
                            ":scheduled": BotStatus.SCHEDULED.value,
                            ":rev": item["rev"]["S"],
                        },
                    ),
                    self._release_occurrence(bot),
                ]
            )
            if reasons is None:
                return replace(bot, status=BotStatus.CANCELLED, updated_at=_time(_text(when)))
            item = await self._get(_base_key(item))
        raise StorageUnavailable()

    async def _from_queue(
        self, prefix: str, *, below: str | None, max_items: int | None = None
    ) -> list[Item]:
        """Base items found in every shard of a GSI1 queue, re-read consistently."""
        results = await self._bounded(
            self._queue(
                GSI1, GSI1_PK, f"{prefix}{shard}", GSI1_SK, below=below, max_items=max_items
            )
            for shard in range(SHARDS)
        )
        return await self._batch_get(_base_key(item) for items in results for item in items)

    async def due_bots(
        self, before: datetime, limit: int, *, stale_launching_before: datetime
    ) -> list[ScheduledBot]:
        if limit <= 0:
            return []
        scheduled, launching = await asyncio.gather(
            self._from_queue(PENDING_QUEUE, below=_just_below(before), max_items=limit),
            self._from_queue(LAUNCHING_QUEUE, below=_text(stale_launching_before)),
        )
        due = _text(before)
        stale = _text(stale_launching_before)
        bots = [
            bot
            for bot in map(_bot_from, scheduled + launching)
            if (bot.status is BotStatus.SCHEDULED and _text(bot.join_at) <= due)
            or (bot.status is BotStatus.LAUNCHING and _text(bot.updated_at) < stale)
        ]
        unique = {bot.bot_id: bot for bot in bots}.values()
        return sorted(unique, key=lambda bot: (_text(bot.join_at), bot.bot_id))[:limit]

    async def _earliest(self, prefix: str) -> datetime | None:
        """The earliest time in a GSI1 queue (its sort keys start with the time)."""
        heads = await self._bounded(
            self._queue(GSI1, GSI1_PK, f"{prefix}{shard}", GSI1_SK, max_items=1)
            for shard in range(SHARDS)
        )
        times = [items[0][GSI1_SK]["S"][:_TIME_CHARS] for items in heads if items]
        return _time(min(times)) if times else None

    async def next_join_at(self) -> datetime | None:
        return await self._earliest(PENDING_QUEUE)

    async def _bot_account(self, bot_id: str) -> str | None:
        pointer = await self._get(_bot_pointer_key(bot_id))
        return None if pointer is None else str(pointer["account_id"]["S"])

    async def touch_launching_bot(self, bot_id: str, when: datetime) -> None:
        account_id = await self._bot_account(bot_id)
        if account_id is None:
            return
        await self._update(
            _bot_key(account_id, bot_id),
            "SET #updated_at = :when, #GSI1SK = :queue_sk, #rev = :rev",
            {
                ":when": _text(when),
                ":queue_sk": f"{_text(when)}#{bot_id}",
                ":rev": _rev(),
                ":launching": BotStatus.LAUNCHING.value,
            },
            "#status = :launching",
        )

    async def claim_bot(
        self, bot_id: str, when: datetime, *, stale_launching_before: datetime
    ) -> ScheduledBot | None:
        account_id = await self._bot_account(bot_id)
        if account_id is None:
            return None
        attributes = await self._update(
            _bot_key(account_id, bot_id),
            "SET #status = :launching, #attempts = #attempts + :one, #updated_at = :when, "
            "#GSI1PK = :queue_pk, #GSI1SK = :queue_sk, #rev = :rev",
            {
                ":launching": BotStatus.LAUNCHING.value,
                ":scheduled": BotStatus.SCHEDULED.value,
                ":one": 1,
                ":when": _text(when),
                ":stale": _text(stale_launching_before),
                ":queue_pk": f"{LAUNCHING_QUEUE}{_shard(bot_id)}",
                ":queue_sk": f"{_text(when)}#{bot_id}",
                ":rev": _rev(),
            },
            "attribute_exists(#PK) AND ((#status = :scheduled AND #join_at <= :when) OR "
            "(#status = :launching AND #updated_at < :stale))",
            return_values="ALL_NEW",
        )
        return None if attributes is None else _bot_from(attributes)

    # -- series schedules ----------------------------------------------------------------------

    async def save_series_schedule(self, schedule: SeriesSchedule) -> None:
        queue_pk, queue_sk = _series_queue(
            schedule.account_id, schedule.event_id, schedule.next_check_at
        )
        await self._put(
            _item(
                _key(_account_pk(schedule.account_id), f"SERIES#{schedule.event_id}"),
                kind="series_schedule",
                account_id=schedule.account_id,
                event_id=schedule.event_id,
                bot_config=_json(schedule.bot_config),
                bot_name=schedule.bot_name,
                custom_attributes=_json_or_none(schedule.custom_attributes),
                source=schedule.source.value,
                active=schedule.active,
                last_original_start=_text(schedule.last_original_start),
                next_check_at=_text(schedule.next_check_at),
                GSI1PK=queue_pk if schedule.active else None,
                GSI1SK=queue_sk,
            )
        )

    async def get_series_schedule(self, account_id: str, event_id: str) -> SeriesSchedule | None:
        item = await self._get(_key(_account_pk(account_id), f"SERIES#{event_id}"))
        return None if item is None else _series_from(item)

    async def set_series_schedule_active(
        self, account_id: str, event_id: str, active: bool
    ) -> None:
        # GSI1SK stays on the item whatever `active` is; only GSI1PK puts it in the queue.
        values: dict[str, object] = {":active": active}
        if active:
            update = "SET #active = :active, #GSI1PK = :queue_pk"
            values[":queue_pk"] = f"{SERIES_QUEUE}{_shard(f'{account_id}#{event_id}')}"
        else:
            update = "SET #active = :active REMOVE #GSI1PK"
        await self._update(
            _key(_account_pk(account_id), f"SERIES#{event_id}"),
            update,
            values,
            "attribute_exists(#PK)",
        )

    async def due_series_schedules(self, now: datetime, limit: int) -> list[SeriesSchedule]:
        if limit <= 0:
            return []
        items = await self._from_queue(SERIES_QUEUE, below=_just_below(now), max_items=limit)
        cutoff = _text(now)
        due = [
            schedule
            for schedule in map(_series_from, items)
            if schedule.active and _text(schedule.next_check_at) <= cutoff
        ]
        due.sort(key=lambda schedule: _text(schedule.next_check_at))
        return due[:limit]

    async def next_series_check_at(self) -> datetime | None:
        return await self._earliest(SERIES_QUEUE)

    async def advance_series_schedule(
        self,
        account_id: str,
        event_id: str,
        *,
        expected_last_original_start: datetime,
        last_original_start: datetime,
        next_check_at: datetime,
        active: bool = True,
    ) -> bool:
        queue_pk, queue_sk = _series_queue(account_id, event_id, next_check_at)
        values: dict[str, object] = {
            ":last": _text(last_original_start),
            ":next": _text(next_check_at),
            ":active": active,
            ":queue_sk": queue_sk,
            ":expected": _text(expected_last_original_start),
        }
        update = (
            "SET #last_original_start = :last, #next_check_at = :next, #active = :active, "
            "#GSI1SK = :queue_sk"
        )
        if active:
            update += ", #GSI1PK = :queue_pk"
            values[":queue_pk"] = queue_pk
        else:
            update += " REMOVE #GSI1PK"
        attributes = await self._update(
            _key(_account_pk(account_id), f"SERIES#{event_id}"),
            update,
            values,
            "attribute_exists(#PK) AND #last_original_start = :expected",
        )
        return attributes is not None

    # -- auto-scheduling -----------------------------------------------------------------------

    async def get_auto_schedule(self, account_id: str) -> AutoScheduleSettings:
        item = await self._get(_key(_account_pk(account_id), "AUTOSCHEDULE"))
        if item is None:
            return AutoScheduleSettings()
        data = _plain(item)
        return AutoScheduleSettings(
            enabled=data["enabled"],
            default_bot_config=orjson.loads(data["default_bot_config"]),
            last_run_at=_time_or_none(data.get("last_run_at")),
        )

    async def save_auto_schedule(self, account_id: str, settings: AutoScheduleSettings) -> None:
        await self._put(
            _item(
                _key(_account_pk(account_id), "AUTOSCHEDULE"),
                kind="auto_schedule",
                account_id=account_id,
                enabled=settings.enabled,
                default_bot_config=_json(settings.default_bot_config),
                last_run_at=_text_or_none(settings.last_run_at),
                GSI2PK=f"{AUTO_SET}{_shard(account_id)}" if settings.enabled else None,
                GSI2SK=account_id,
            )
        )

    async def _account_set(self, prefix: str) -> set[str]:
        results = await self._bounded(
            self._queue(GSI2, GSI2_PK, f"{prefix}{shard}", GSI2_SK) for shard in range(SHARDS)
        )
        return {item[GSI2_SK]["S"] for items in results for item in items}

    async def _active_connections(self, account_ids: Iterable[str]) -> set[str]:
        items = await self._batch_get(
            _key(_account_pk(account_id), "CONNECTION") for account_id in account_ids
        )
        return {
            item["account_id"]["S"]
            for item in items
            if item["status"]["S"] == ConnectionStatus.ACTIVE.value
        }

    async def accounts_with_auto_schedule(self) -> list[str]:
        candidates = await self._account_set(AUTO_SET)
        settings = await self._batch_get(
            _key(_account_pk(account_id), "AUTOSCHEDULE") for account_id in candidates
        )
        enabled = {item["account_id"]["S"] for item in settings if item["enabled"]["BOOL"]}
        return sorted(await self._active_connections(enabled))

    async def connected_accounts(self) -> list[str]:
        return sorted(await self._active_connections(await self._account_set(CONNECTED_SET)))

    async def list_auto_schedule_candidates(
        self, account_id: str, window_start: datetime, window_end: datetime
    ) -> list[Event]:
        calendars = sorted(await self._calendars_with_data(account_id))
        per_calendar = await self._bounded(
            self._calendar_events(account_id, calendar_id) for calendar_id in calendars
        )
        start, end = _text(window_start), _text(window_end)
        return [
            event
            for events in per_calendar
            for event in events
            if event.meeting_link is not None
            and event.status is not EventStatus.CANCELLED
            and not event.self_declined
            and _text(event.start_time) < end
            and (
                _text(event.end_time) > start
                if not event.recurrence
                # A series whose stored next occurrence is null is over; one that is merely
                # stale (its next occurrence passed since) is still a candidate.
                else event.next_occurrence_start is not None
            )
        ]

    async def insert_bots_unless_exist(self, bots: list[ScheduledBot]) -> list[ScheduledBot]:
        by_event: dict[tuple[str, str], list[int]] = {}
        for position, bot in enumerate(bots):
            by_event.setdefault((bot.account_id, bot.event_id), []).append(position)
        # One event's bots go one after another (they all mark the same event), in the list's
        # order, so the first bot of an occurrence wins; events go in parallel.
        results = await self._bounded(
            self._insert_in_order(bots, positions) for positions in by_event.values()
        )
        inserted = sorted(position for positions in results for position in positions)
        return [bots[position] for position in inserted]

    async def _insert_in_order(self, bots: list[ScheduledBot], positions: list[int]) -> list[int]:
        return [
            position for position in positions if await self._insert_unless_exists(bots[position])
        ]

    async def _insert_unless_exists(self, bot: ScheduledBot) -> bool:
        """Insert the bot unless its occurrence ever had one; mark its event scheduled."""
        actions = self._insert_bot_actions(bot, any_status=True)
        location = (bot.calendar_id, bot.google_event_id)
        marks = [
            self._event_flag(bot.account_id, bot.event_id, location, ScheduleStatus.SCHEDULED),
            self._state_update(
                bot.account_id,
                bot.calendar_id,
                bot.google_event_id,
                "#schedule_status = :status",
                {":status": ScheduleStatus.SCHEDULED.value},
            ),
        ]
        reasons = await self._transact(actions + marks)
        if reasons is None:
            return True
        if any(
            reason.get("Code") == "ConditionalCheckFailed" for reason in reasons[: len(actions)]
        ):
            return False
        # Only the event was missing (nothing to mark): insert the bot alone.
        return await self._transact(actions) is None

    # -- push channels -------------------------------------------------------------------------

    async def save_channel(self, channel: Channel) -> None:
        await self._put(
            _item(
                _key(_account_pk(channel.account_id), f"CHANNEL#{channel.channel_id}"),
                kind="channel",
                channel_id=channel.channel_id,
                account_id=channel.account_id,
                calendar_id=channel.calendar_id,
                resource_id=channel.resource_id,
                token_hash=channel.token_hash,
                expiration=_text(channel.expiration),
                GSI1PK=f"{CHANNEL_QUEUE}{_shard(channel.channel_id)}",
                GSI1SK=f"{_text(channel.expiration)}#{channel.channel_id}",
                GSI3PK=f"CHANNEL#{channel.channel_id}",
            )
        )

    async def _channel_keys(self, channel_id: str) -> list[Item]:
        """Base keys of the channel, found through GSI3 (eventually consistent)."""
        items = await self._queue(GSI3, GSI3_PK, f"CHANNEL#{channel_id}")
        return [_base_key(item) for item in items]

    async def get_channel(self, channel_id: str) -> Channel | None:
        items = await self._batch_get(await self._channel_keys(channel_id))
        channels = [_channel_from(item) for item in items]
        return channels[0] if channels else None

    async def list_channels(self, account_id: str) -> list[Channel]:
        items = await self._partition(_account_pk(account_id), "CHANNEL#")
        return sorted(map(_channel_from, items), key=lambda channel: _text(channel.expiration))

    async def channels_expiring_before(self, when: datetime) -> list[Channel]:
        items = await self._from_queue(CHANNEL_QUEUE, below=_text(when))
        cutoff = _text(when)
        channels = [c for c in map(_channel_from, items) if _text(c.expiration) < cutoff]
        return sorted(channels, key=lambda channel: _text(channel.expiration))

    async def delete_channel(self, channel_id: str) -> None:
        await self._delete_keys(await self._channel_keys(channel_id))

    # -- leases --------------------------------------------------------------------------------

    async def try_acquire_lease(
        self, name: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        return await self._put(
            _item(
                _key(f"LEASE#{name}", "LEASE"),
                kind="lease",
                name=name,
                holder=holder,
                expires_at=_text(until),
            ),
            "attribute_not_exists(#PK) OR #holder = :holder OR #expires_at <= :now",
            {":holder": holder, ":now": _text(now)},
        )

    async def release_lease(self, name: str, holder: str) -> None:
        await self._delete(_key(f"LEASE#{name}", "LEASE"), "#holder = :holder", {":holder": holder})

    # -- sealed secrets ------------------------------------------------------------------------

    async def put_sealed_secret(self, account_id: str, nonce: bytes, ciphertext: bytes) -> None:
        await self._put(
            _item(
                _key(_account_pk(account_id), "SECRET"),
                kind="sealed_secret",
                nonce=nonce,
                ciphertext=ciphertext,
            )
        )

    async def get_sealed_secret(self, account_id: str) -> tuple[bytes, bytes] | None:
        item = await self._get(_key(_account_pk(account_id), "SECRET"))
        if item is None:
            return None
        return bytes(item["nonce"]["B"]), bytes(item["ciphertext"]["B"])

    async def delete_sealed_secret(self, account_id: str) -> None:
        await self._delete(_key(_account_pk(account_id), "SECRET"))

"""Events, their exceptions and each calendar's sync state, in one partition per calendar
(`ACCOUNT#{a}#CAL#{c}`), with a pointer per event in the account partition (`EVENTID#`).

An event is two items (docs/dynamodb.md, "Why events are two items"): Google's, replaced
blindly by every upsert so a page goes through BatchWriteItem, and calbot's state item, which
no sync writes except a cancellation. Reads merge them (`codec.events_from`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import orjson
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from app.adapters.aws.dynamodb.codec import (
    calendar_data_item,
    event_item,
    event_pointer_item,
    events_from,
    override_from,
    override_item,
    plain,
    stored,
    sync_state_from,
    text_or_none,
    time_of,
)
from app.adapters.aws.dynamodb.table import (
    CALENDAR_DATA_PREFIX,
    CALENDAR_PREFIX,
    EVENT_POINTER_PREFIX,
    EVENT_PREFIX,
    EVENT_START_INDEX,
    EVENT_STATE_SUFFIX,
    GSI2,
    GSI2_SK,
    OCCURRENCE_MODE_PREFIX,
    PENDING_PREFIX,
    PK,
    SK,
    Item,
    account_pk,
    base_key,
    calendar_pk,
    error_code,
    event_key,
    event_pointer_key,
    event_start_pk,
    event_start_sk,
    event_state_key,
    key,
    occurrence_mode_key,
    overrides_prefix,
    sync_key,
    time_text,
)
from app.adapters.aws.dynamodb.transactions import (
    TableClient,
    bounded,
    expression,
    set_or_remove,
)
from app.adapters.ports import EventRow, EventsPageWrite
from app.domain import (
    AutoScheduleMode,
    Event,
    EventStatus,
    OccurrenceKey,
    OccurrenceOverride,
    ScheduleStatus,
    SyncState,
    auto_schedule_candidate,
    dropped_by_full_sync,
    series_needs_next_occurrence,
)

_SAME_EVENT = "attribute_exists(#PK) AND #event_id = :event_id"
"""The event item is there and is the event asked for (a pointer never changes, but the
item it points to may have been dropped since)."""


async def calendars_with_data(table: TableClient, account_id: str) -> set[str]:
    """Calendars listed or holding synced data (`CALDATA#` markers) for the account: every
    calendar partition a clean-up has to look at."""
    found: set[str] = set()
    for prefix in (CALENDAR_PREFIX, CALENDAR_DATA_PREFIX):
        items = await table.partition(account_pk(account_id), prefix, "#calendar_id")
        found.update(typed["calendar_id"]["S"] for typed in items)
    return found


def event_flag_action(
    table: TableClient,
    account_id: str,
    event_id: str,
    location: tuple[str, str],
    status: ScheduleStatus,
) -> dict[str, Any]:
    """Set or clear the event item's `schedule_cancelled` along with a new status; fails the
    transaction when the event is not stored."""
    values: dict[str, object] = {":event_id": event_id}
    if status is ScheduleStatus.CANCELLED:
        update = "SET #schedule_cancelled = :yes"
        values[":yes"] = True
    else:
        update = "REMOVE #schedule_cancelled"
    return table.action(
        "Update",
        Key=event_key(account_id, *location),
        update=update,
        condition=_SAME_EVENT,
        values=values,
    )


def state_update_action(
    table: TableClient,
    account_id: str,
    location: tuple[str, str],
    assignment: str,
    values: dict[str, object],
) -> dict[str, Any]:
    """Create-or-update the event's state item (calbot's own fields)."""
    calendar_id, google_id = location
    return table.action(
        "Update",
        Key=event_state_key(account_id, calendar_id, google_id),
        update=f"SET #kind = :state_kind, #google_event_id = :google_id, {assignment}",
        values={":state_kind": "event_state", ":google_id": google_id, **values},
    )


async def index_event_starts(client: Any, table_name: str) -> int:
    """Give every event item written before GSI2 listed events its `EVENTSTART#` entry (what
    an upsert writes now); returns how many it gave one. A Scan, for `calbot aws bootstrap`
    after an upgrade, never for a request; safe to run again (it finds none the second time)
    and beside a running sync (an item written meanwhile already has its entry)."""
    given = 0
    params: dict[str, Any] = {
        "TableName": table_name,
        "FilterExpression": "#kind = :event AND attribute_not_exists(#GSI2PK)",
        "ProjectionExpression": "#PK, #SK, #event_id, #google",
        "ExpressionAttributeNames": {
            f"#{name}": name for name in ("kind", "GSI2PK", "PK", "SK", "event_id", "google")
        },
        "ExpressionAttributeValues": {":event": {"S": "event"}},
    }
    while True:
        page = await client.scan(**params)
        for typed in page.get("Items", []):
            start = time_of(orjson.loads(typed["google"]["S"])["start_time"])
            try:
                await client.update_item(
                    TableName=table_name,
                    Key=base_key(typed),
                    UpdateExpression="SET #GSI2PK = :pk, #GSI2SK = :sk",
                    ConditionExpression="attribute_exists(#PK) AND attribute_not_exists(#GSI2PK)",
                    ExpressionAttributeNames={"#PK": PK, "#GSI2PK": "GSI2PK", "#GSI2SK": GSI2_SK},
                    ExpressionAttributeValues={
                        ":pk": {"S": EVENT_START_INDEX + typed[PK]["S"]},
                        ":sk": {"S": event_start_sk(start, typed["event_id"]["S"])},
                    },
                )
                given += 1
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
        last = page.get("LastEvaluatedKey")
        if not last:
            return given
        params["ExclusiveStartKey"] = last


class DynamoDbEventStore:
    """`EventStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    # -- sync state ----------------------------------------------------------------------------

    async def get_sync_state(self, account_id: str, calendar_id: str) -> SyncState | None:
        found = await self._table.get(sync_key(account_id, calendar_id))
        return None if found is None else sync_state_from(calendar_id, found)

    async def begin_full_sync(self, account_id: str, calendar_id: str) -> int:
        await self._table.put(calendar_data_item(account_id, calendar_id))
        attributes = await self._table.update(
            sync_key(account_id, calendar_id),
            "SET #kind = :kind, #calendar_id = :calendar_id REMOVE #sync_token "
            "ADD #generation :one",
            {":kind": "sync_state", ":calendar_id": calendar_id, ":one": 1},
            return_values="UPDATED_NEW",
        )
        assert attributes is not None
        return int(attributes["generation"]["N"])

    async def apply_events_page(self, account_id: str, page: EventsPageWrite) -> None:
        # Upserts, then cancellations, then (last page) the clean-up, then the token: a page
        # interrupted half-way is fetched again, as the token is written last.
        calendar_id = page.calendar_id
        items = [calendar_data_item(account_id, calendar_id)]
        for event in page.upserts:
            # A blind put of the Google-owned item: calbot's own fields live in the state
            # item, which this never touches, so BatchWriteItem can carry a whole page.
            items.append(event_item(account_id, event, page.generation))
            items.append(event_pointer_item(account_id, calendar_id, event))
        items.extend(
            override_item(account_id, calendar_id, entry, page.generation)
            for entry in page.overrides
        )
        await self._table.put_items(items)
        await bounded(
            self._cancel_event(account_id, (calendar_id, google_id))
            for google_id in dict.fromkeys(page.cancelled_google_ids)
        )
        if page.sync_token is None:
            return
        if page.full_sync:
            await self._drop_older_generations(account_id, calendar_id, page.generation)
        await self._table.update(
            sync_key(account_id, calendar_id),
            "SET #kind = :kind, #calendar_id = :calendar_id, #sync_token = :token, "
            "#last_synced_at = :at, #generation = if_not_exists(#generation, :generation)",
            {
                ":kind": "sync_state",
                ":calendar_id": calendar_id,
                ":token": page.sync_token,
                ":at": time_text(page.synced_at),
                ":generation": page.generation,
            },
        )

    async def _cancel_event(self, account_id: str, location: tuple[str, str]) -> None:
        """Mark an event cancelled (if stored) and drop its series' exceptions."""
        await self._table.transact(
            [
                self._table.action(
                    "Update",
                    Key=event_key(account_id, *location),
                    update="SET #status = :cancelled, #schedule_cancelled = :yes "
                    "REMOVE #next_occurrence_start, #next_occurrence_end",
                    condition="attribute_exists(#PK)",
                    values={":cancelled": EventStatus.CANCELLED.value, ":yes": True},
                ),
                state_update_action(
                    self._table,
                    account_id,
                    location,
                    "#schedule_status = :status",
                    {":status": ScheduleStatus.CANCELLED.value},
                ),
            ]
        )
        overrides = await self._overrides_of(account_id, *location)
        await self._table.delete_keys(base_key(typed) for typed in overrides)

    async def _drop_older_generations(
        self, account_id: str, calendar_id: str, generation: int
    ) -> None:
        """After a complete full sync, drop what it did not return (with the events' state
        items and pointers): what leaves nothing stale after a 410."""
        items = [
            plain(typed)
            for typed in await self._table.partition(
                calendar_pk(account_id, calendar_id),
                projection="#PK, #SK, #kind, #generation, #event_id, #google_event_id",
            )
        ]
        live_events = {
            data["google_event_id"]
            for data in items
            if data.get("kind") == "event"
            and not dropped_by_full_sync(data["generation"], generation)
        }
        doomed: list[Item] = []
        for data in items:
            kind = data.get("kind")
            dropped = kind in ("event", "override") and dropped_by_full_sync(
                data["generation"], generation
            )
            orphan = kind == "event_state" and data["google_event_id"] not in live_events
            if dropped or orphan:
                doomed.append(key(data[PK], data[SK]))
            if dropped and kind == "event":
                doomed.append(event_pointer_key(account_id, data["event_id"]))
        await self._table.delete_keys(doomed)

    # -- reads ---------------------------------------------------------------------------------

    async def _load_event(self, account_id: str, location: tuple[str, str]) -> Event | None:
        items = await self._table.batch_get(
            [event_key(account_id, *location), event_state_key(account_id, *location)]
        )
        events = events_from(items)
        return events[0] if events else None

    async def _event_location(self, account_id: str, event_id: str) -> tuple[str, str] | None:
        """(calendar id, Google id) of a calbot event id, from its pointer item."""
        pointer = await self._table.get(event_pointer_key(account_id, event_id))
        if pointer is None:
            return None
        return pointer["calendar_id"]["S"], pointer["google_event_id"]["S"]

    async def get_event(self, account_id: str, event_id: str) -> Event | None:
        location = await self._event_location(account_id, event_id)
        if location is None:
            return None
        event = await self._load_event(account_id, location)
        return event if event is not None and event.event_id == event_id else None

    async def get_event_by_google_id(
        self, account_id: str, calendar_id: str, google_event_id: str
    ) -> Event | None:
        return await self._load_event(account_id, (calendar_id, google_event_id))

    async def _calendar_events(self, account_id: str, calendar_id: str) -> list[Event]:
        items = await self._table.partition(calendar_pk(account_id, calendar_id), EVENT_PREFIX)
        return events_from(items)

    async def list_events(self, account_id: str, calendar_id: str) -> list[EventRow]:
        events, pending = await asyncio.gather(
            self._calendar_events(account_id, calendar_id),
            self._events_with_pending_bots(account_id),
        )
        events.sort(key=lambda event: (time_text(event.start_time), event.event_id))
        return [EventRow(event, event.event_id in pending) for event in events]

    async def list_events_page(
        self,
        account_id: str,
        calendar_id: str,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[EventRow]:
        # A Query of the calendar's GSI2 partition from `after` for `limit` keys, then the
        # items themselves, consistently. A GSI lags its table: an entry whose item has moved
        # or gone since is left out (the item shows at its new place once the index has it).
        bound = None if after is None else event_start_sk(*after)
        entries, pending = await asyncio.gather(
            self._table.index(
                GSI2, event_start_pk(account_id, calendar_id), above=bound, max_items=limit
            ),
            self._events_with_pending_bots(account_id),
        )
        keys: list[Item] = []
        for entry in entries:
            keys.append(base_key(entry))
            keys.append(key(entry[PK]["S"], entry[SK]["S"] + EVENT_STATE_SUFFIX))
        events = events_from(await self._table.batch_get(keys))
        placed = {event_start_sk(e.start_time, e.event_id): e for e in events}
        rows: list[EventRow] = []
        for entry in entries:
            event = placed.get(entry[GSI2_SK]["S"])
            if event is not None:
                rows.append(EventRow(event, event.event_id in pending))
        return rows

    async def _events_with_pending_bots(self, account_id: str) -> set[str]:
        """Event ids with a scheduled or launching bot: exactly those with a DEDUP item."""
        items = await self._table.partition(account_pk(account_id), PENDING_PREFIX, "#event_id")
        return {typed["event_id"]["S"] for typed in items}

    async def _overrides_of(self, account_id: str, calendar_id: str, series_id: str) -> list[Item]:
        items = await self._table.partition(
            calendar_pk(account_id, calendar_id), overrides_prefix(series_id)
        )
        return [typed for typed in items if typed["series_google_event_id"]["S"] == series_id]

    async def list_overrides(
        self, account_id: str, calendar_id: str, series_google_event_ids: list[str]
    ) -> dict[str, list[OccurrenceOverride]]:
        series_ids = list(dict.fromkeys(series_google_event_ids))
        results = await bounded(
            self._overrides_of(account_id, calendar_id, series_id) for series_id in series_ids
        )
        found: dict[str, list[OccurrenceOverride]] = {}
        for series_id, items in zip(series_ids, results, strict=True):
            if items:
                found[series_id] = [override_from(plain(typed)) for typed in items]
        return found

    async def list_series_needing_next_occurrence(
        self, account_id: str, calendar_id: str, now: datetime
    ) -> list[Event]:
        events = await self._calendar_events(account_id, calendar_id)
        return [event for event in events if series_needs_next_occurrence(event, stored(now))]

    async def list_auto_schedule_candidates(
        self, account_id: str, window_start: datetime, window_end: datetime
    ) -> list[Event]:
        calendars = sorted(await calendars_with_data(self._table, account_id))
        per_calendar = await bounded(
            self._calendar_events(account_id, calendar_id) for calendar_id in calendars
        )
        start, end = stored(window_start), stored(window_end)
        return [
            event
            for events in per_calendar
            for event in events
            if auto_schedule_candidate(event, start, end)
        ]

    async def auto_schedule_candidates_page(
        self,
        account_id: str,
        window_start: datetime,
        window_end: datetime,
        *,
        after: str | None,
        limit: int,
    ) -> tuple[list[Event], str | None]:
        # The account's event pointers in id order from `after` (one Query, Limit = limit),
        # then those events and their state items (BatchGetItem): never a whole calendar.
        # BETWEEN is inclusive: the pointer of `after` itself is read once more and dropped.
        first = f"{EVENT_POINTER_PREFIX}{after or ''}"
        condition = "#PK = :pk AND #SK BETWEEN :from AND :to"
        values: dict[str, object] = {
            ":pk": account_pk(account_id),
            ":from": first,
            ":to": EVENT_POINTER_PREFIX[:-1] + "$",  # "$" sorts right after "#"
        }
        wanted = limit + 1 if after else limit
        params: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ConsistentRead": True,
            "Limit": wanted,
        }
        found = await self._table.query(expression(params, values, condition), wanted)
        pointers = [pointer for pointer in found if pointer[SK]["S"] != first][:limit]
        keys: list[Item] = []
        for pointer in pointers:
            location = (pointer["calendar_id"]["S"], pointer["google_event_id"]["S"])
            keys += [event_key(account_id, *location), event_state_key(account_id, *location)]
        # One events_from per calendar: the same Google id may be on two calendars.
        by_calendar: dict[str, list[Item]] = {}
        for typed in await self._table.batch_get(keys):
            by_calendar.setdefault(typed[PK]["S"], []).append(typed)
        events = [event for items in by_calendar.values() for event in events_from(items)]
        start, end = stored(window_start), stored(window_end)
        chosen = sorted(
            (event for event in events if auto_schedule_candidate(event, start, end)),
            key=lambda event: event.event_id,
        )
        last = pointers[-1][SK]["S"].removeprefix(EVENT_POINTER_PREFIX) if pointers else None
        return chosen, last if len(found) == wanted else None

    # -- calbot's writes -----------------------------------------------------------------------

    async def set_next_occurrences(
        self,
        account_id: str,
        values: list[tuple[str, datetime | None, datetime | None]],
    ) -> None:
        latest = {event_id: (start, end) for event_id, start, end in values}
        if not latest:
            return
        pointers = await self._table.batch_get(
            event_pointer_key(account_id, event_id) for event_id in latest
        )
        located = {
            pointer[SK]["S"].removeprefix(EVENT_POINTER_PREFIX): (
                pointer["calendar_id"]["S"],
                pointer["google_event_id"]["S"],
            )
            for pointer in pointers
        }
        await bounded(
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
        update = set_or_remove(
            {
                "next_occurrence_start": text_or_none(start),
                "next_occurrence_end": text_or_none(end),
            },
            values,
        )
        await self._table.update(event_key(account_id, *location), update, values, _SAME_EVENT)

    async def set_schedule_status(
        self, account_id: str, event_id: str, status: ScheduleStatus
    ) -> None:
        location = await self._event_location(account_id, event_id)
        if location is None:
            return
        await self._table.transact(
            [
                event_flag_action(self._table, account_id, event_id, location, status),
                state_update_action(
                    self._table,
                    account_id,
                    location,
                    "#schedule_status = :status",
                    {":status": status.value},
                ),
            ]
        )

    async def set_recurring_enabled(self, account_id: str, event_id: str, enabled: bool) -> None:
        await self._set_state(
            account_id, event_id, "#recurring_enabled = :enabled", {":enabled": enabled}
        )

    async def _set_state(
        self, account_id: str, event_id: str, assignment: str, values: dict[str, Any]
    ) -> tuple[str, str] | None:
        """Set calbot-owned fields on the event's state item, only while the event is still
        the one with this id (a resync may have replaced it); returns its location, or None
        when the event is gone."""
        location = await self._event_location(account_id, event_id)
        if location is None:
            return None
        await self._table.transact(
            [
                self._table.action(
                    "ConditionCheck",
                    Key=event_key(account_id, *location),
                    condition=_SAME_EVENT,
                    values={":event_id": event_id},
                ),
                state_update_action(self._table, account_id, location, assignment, values),
            ]
        )
        return location

    async def set_auto_schedule_mode(
        self, account_id: str, event_id: str, mode: AutoScheduleMode
    ) -> None:
        location = await self._set_state(
            account_id, event_id, "#auto_schedule_mode = :mode", {":mode": mode.value}
        )
        if location is None:
            return
        calendar_id = location[0]
        own = await self._table.partition(
            calendar_pk(account_id, calendar_id),
            f"{OCCURRENCE_MODE_PREFIX}{event_id}#",
            "#PK, #SK",
        )
        await self._table.delete_keys(base_key(typed) for typed in own)

    async def set_occurrence_mode(
        self, account_id: str, event_id: str, occurrence: OccurrenceKey, mode: AutoScheduleMode
    ) -> None:
        location = await self._event_location(account_id, event_id)
        if location is None:
            return
        calendar_id = location[0]
        await self._table.transact(
            [
                self._table.action(
                    "ConditionCheck",
                    Key=event_key(account_id, *location),
                    condition=_SAME_EVENT,
                    values={":event_id": event_id},
                ),
                self._table.action(
                    "Update",
                    Key=occurrence_mode_key(account_id, calendar_id, event_id, occurrence),
                    update="SET #kind = :kind, #event_id = :event_id, "
                    "#occurrence_key = :occurrence, #mode = :mode",
                    values={
                        ":kind": "occurrence_mode",
                        ":event_id": event_id,
                        ":occurrence": str(occurrence),
                        ":mode": mode.value,
                    },
                ),
            ]
        )

    async def list_occurrence_modes(
        self, account_id: str, calendar_id: str | None = None
    ) -> dict[tuple[str, OccurrenceKey], AutoScheduleMode]:
        if calendar_id is None:
            calendars = sorted(await calendars_with_data(self._table, account_id))
        else:
            calendars = [calendar_id]
        per_calendar = await bounded(
            self._table.partition(calendar_pk(account_id, calendar), OCCURRENCE_MODE_PREFIX)
            for calendar in calendars
        )
        return {
            (typed["event_id"]["S"], OccurrenceKey.parse(typed["occurrence_key"]["S"])): (
                AutoScheduleMode(typed["mode"]["S"])
            )
            for items in per_calendar
            for typed in items
        }

"""calbot's one DynamoDB table: its key schema and indexes, how every item is keyed, and how
the table and the client are made. docs/dynamodb.md draws the same design as tables.

`#` separates the parts of a key. Nothing is ever parsed back out of a key (Google ids may
contain `#`): items carry their ids as attributes. Each item type has its own partition prefix
or sort-key prefix, so no `begins_with` query can match another type.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Final

from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from app.domain import OccurrenceKey, utc_text

Item = dict[str, Any]
"""An item or key in DynamoDB's typed form: {"name": {"S": "value"}}."""

PK: Final = "PK"
SK: Final = "SK"
GSI1: Final = "GSI1"
"""Due work by time: scheduled bots by join_at, launching bots by claim time, active series
schedules by next check, channels by expiration, calendars' sync health by the time since
which they have not synced well. Sharded partition keys, KEYS_ONLY."""
GSI1_PK: Final = "GSI1PK"
GSI1_SK: Final = "GSI1SK"
GSI2: Final = "GSI2"
"""Account sets: accounts with auto-schedule on, accounts with an active connection; every
bot by the end of its occurrence (what the housekeeping purge looks through); and each
calendar's events by (start, event_id), one GSI partition per calendar (the listing's pages)."""
GSI2_PK: Final = "GSI2PK"
GSI2_SK: Final = "GSI2SK"
GSI3: Final = "GSI3"
"""Channel by id (webhooks carry no account)."""
GSI3_PK: Final = "GSI3PK"

INDEX_KEYS: Final[dict[str, tuple[str, str | None]]] = {
    GSI1: (GSI1_PK, GSI1_SK),
    GSI2: (GSI2_PK, GSI2_SK),
    GSI3: (GSI3_PK, None),
}
"""Each index's (partition key, sort key) attribute names."""

SHARDS: Final = 4
"""Partitions each constant GSI key is spread over; readers query all of them. Raising it is
safe (old items stay in shards readers still query); lowering it hides items."""

PENDING_QUEUE: Final = "PENDING#"
LAUNCHING_QUEUE: Final = "LAUNCHING#"
SERIES_QUEUE: Final = "SERIES#"
CHANNEL_QUEUE: Final = "CHANNELEXP#"
PAUSE_QUEUE: Final = "PAUSE#"
AUTO_SET: Final = "AUTO#"
CONNECTED_SET: Final = "CONNECTED#"
BOT_END_INDEX: Final = "BOTEND#"
EVENT_START_INDEX: Final = "EVENTSTART#"
SYNC_AGE_QUEUE: Final = "SYNCAGE#"

# Sort-key prefixes of the account partition (and of a calendar partition for EVENT#, OVR#).
API_KEY_PREFIX: Final = "KEY#"
CALENDAR_PREFIX: Final = "CAL#"
CALENDAR_DATA_PREFIX: Final = "CALDATA#"
EVENT_PREFIX: Final = "EVENT#"
EVENT_POINTER_PREFIX: Final = "EVENTID#"
EVENT_STATE_SUFFIX: Final = "#STATE"
BOT_PREFIX: Final = "BOT#"
PENDING_PREFIX: Final = "DEDUP#"
PENDING_MEETING_PREFIX: Final = "MEETING#"
OCCURRENCE_CLAIM_PREFIX: Final = "OCC#"
SERIES_PREFIX: Final = "SERIES#"
OCCURRENCE_MODE_PREFIX: Final = "OCCMODE#"
CHANNEL_PREFIX: Final = "CHANNEL#"

API_KEYS_PK: Final = "APIKEYS"

TIME_CHARS: Final = len("2026-01-01T00:00:00Z")


def dynamodb_client_config() -> Config:
    """What the DynamoDB client should be built with: botocore's standard retry mode (capped
    exponential backoff with jitter on throttling and 5xx) and bounded timeouts."""
    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=10,
    )


def error_code(error: ClientError) -> str:
    """DynamoDB's error code: errors are matched by code, never by HTTP status."""
    return str(error.response.get("Error", {}).get("Code", ""))


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
            GlobalSecondaryIndexes=[_index(name) for name in INDEX_KEYS],
        )
        created = True
    except ClientError as error:
        if error_code(error) != "ResourceInUseException":
            raise
        created = False
    waiter = client.get_waiter("table_exists")
    await waiter.wait(TableName=table_name, WaiterConfig={"Delay": 2, "MaxAttempts": 90})
    return created


def _index(name: str) -> dict[str, Any]:
    hash_key, range_key = INDEX_KEYS[name]
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key is not None:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return {"IndexName": name, "KeySchema": schema, "Projection": {"ProjectionType": "KEYS_ONLY"}}


# -- times in keys -----------------------------------------------------------------------------


def time_text(when: datetime) -> str:
    """UTC, second precision, `Z`: sorts as text in time order (as the SQLite store)."""
    return utc_text(when)


def just_below(when: datetime) -> str:
    """A sort-key bound: `{time}#{id}` keys sort below it iff time <= when."""
    return time_text(when) + "$"  # "$" is the character after "#"


def shard(value: str) -> int:
    """The shard of a constant GSI key an item goes to: a stable hash of its id."""
    digest = hashlib.blake2b(value.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % SHARDS


# -- base-table keys ---------------------------------------------------------------------------


def key(pk: str, sk: str) -> Item:
    return {PK: {"S": pk}, SK: {"S": sk}}


def base_key(item: Item) -> Item:
    """The base-table key of an item (or of a GSI entry, which carries it)."""
    return {PK: item[PK], SK: item[SK]}


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def calendar_pk(account_id: str, calendar_id: str) -> str:
    return f"ACCOUNT#{account_id}#CAL#{calendar_id}"


def account_key(account_id: str) -> Item:
    return key(account_pk(account_id), "META")


def api_key_key(key_id: str) -> Item:
    return key(API_KEYS_PK, f"{API_KEY_PREFIX}{key_id}")


def key_hash_key(key_hash: str) -> Item:
    return key(f"KEYHASH#{key_hash}", "KEYHASH")


def connection_key(account_id: str) -> Item:
    return key(account_pk(account_id), "CONNECTION")


def calendar_key(account_id: str, calendar_id: str) -> Item:
    return key(account_pk(account_id), f"{CALENDAR_PREFIX}{calendar_id}")


def calendar_data_key(account_id: str, calendar_id: str) -> Item:
    """The marker saying a calendar partition may hold data, listed or not."""
    return key(account_pk(account_id), f"{CALENDAR_DATA_PREFIX}{calendar_id}")


def sync_key(account_id: str, calendar_id: str) -> Item:
    return key(calendar_pk(account_id, calendar_id), "SYNC")


def sync_health_key(account_id: str, calendar_id: str) -> Item:
    return key(calendar_pk(account_id, calendar_id), "SYNCHEALTH")


def event_key(account_id: str, calendar_id: str, google_event_id: str) -> Item:
    return key(calendar_pk(account_id, calendar_id), f"{EVENT_PREFIX}{google_event_id}")


def event_state_key(account_id: str, calendar_id: str, google_event_id: str) -> Item:
    return key(
        calendar_pk(account_id, calendar_id), f"{EVENT_PREFIX}{google_event_id}{EVENT_STATE_SUFFIX}"
    )


def event_pointer_key(account_id: str, event_id: str) -> Item:
    return key(account_pk(account_id), f"{EVENT_POINTER_PREFIX}{event_id}")


def overrides_prefix(series_google_event_id: str) -> str:
    return f"OVR#{series_google_event_id}#"


def override_key(account_id: str, calendar_id: str, series_id: str, original_start: str) -> Item:
    return key(calendar_pk(account_id, calendar_id), overrides_prefix(series_id) + original_start)


def occurrence_mode_key(
    account_id: str, calendar_id: str, event_id: str, occurrence_key: OccurrenceKey
) -> Item:
    """A single occurrence's own auto-schedule mode, in its calendar's partition (dropped with
    the calendar, untouched by syncs)."""
    return key(
        calendar_pk(account_id, calendar_id),
        f"{OCCURRENCE_MODE_PREFIX}{event_id}#{occurrence_key}",
    )


def bot_key(account_id: str, bot_id: str) -> Item:
    return key(account_pk(account_id), f"{BOT_PREFIX}{bot_id}")


def bot_pointer_key(bot_id: str) -> Item:
    return key(f"BOT#{bot_id}", "BOT")


def pending_key(account_id: str, event_id: str, occurrence_key: OccurrenceKey) -> Item:
    """The pending-dedup item: exists exactly while the occurrence has a pending bot."""
    return key(account_pk(account_id), f"{PENDING_PREFIX}{event_id}#{occurrence_key}")


def occurrence_claim_key(account_id: str, event_id: str, occurrence_key: OccurrenceKey) -> Item:
    """The occurrence claim: exists once the occurrence ever had a bot."""
    return key(account_pk(account_id), f"{OCCURRENCE_CLAIM_PREFIX}{event_id}#{occurrence_key}")


def meeting_digest(meeting_key: str) -> str:
    """A meeting key in a sort key: hashed, as a key built from a meeting link may be longer
    than a sort key may be."""
    return hashlib.blake2b(meeting_key.encode(), digest_size=16).hexdigest()


def pending_meeting_key(account_id: str, meeting_key: str) -> Item:
    """The pending-meeting item: exists exactly while the meeting occurrence has a pending bot
    (on any calendar)."""
    return key(account_pk(account_id), f"{PENDING_MEETING_PREFIX}{meeting_digest(meeting_key)}")


def meeting_claim_key(account_id: str, meeting_key: str) -> Item:
    """The meeting claim: exists once the meeting occurrence had a bot, until calbot releases
    it (its copy vanished)."""
    return key(account_pk(account_id), f"MEETINGOCC#{meeting_digest(meeting_key)}")


def series_key(account_id: str, event_id: str) -> Item:
    return key(account_pk(account_id), f"{SERIES_PREFIX}{event_id}")


def auto_schedule_key(account_id: str) -> Item:
    return key(account_pk(account_id), "AUTOSCHEDULE")


def channel_key(account_id: str, channel_id: str) -> Item:
    return key(account_pk(account_id), f"{CHANNEL_PREFIX}{channel_id}")


def channel_index_pk(channel_id: str) -> str:
    """GSI3's partition key of a channel."""
    return f"CHANNEL#{channel_id}"


def lease_key(name: str) -> Item:
    return key(f"LEASE#{name}", "LEASE")


def sealed_secret_key(account_id: str) -> Item:
    return key(account_pk(account_id), "SECRET")


def idempotency_record_key(request_key: str) -> Item:
    return key(f"IDEMPOTENCY#{request_key}", "IDEMPOTENCY")


# -- GSI keys ----------------------------------------------------------------------------------


def pending_queue(bot_id: str, join_at: datetime) -> tuple[str, str]:
    """GSI1 keys of a scheduled bot: due by its join_at."""
    return f"{PENDING_QUEUE}{shard(bot_id)}", f"{time_text(join_at)}#{bot_id}"


def launching_queue(bot_id: str, claimed_at: datetime) -> tuple[str, str]:
    """GSI1 keys of a launching bot: by the last renewal of its claim, so a launch whose
    launcher went quiet is found again."""
    return f"{LAUNCHING_QUEUE}{shard(bot_id)}", f"{time_text(claimed_at)}#{bot_id}"


def series_queue_pk(account_id: str, event_id: str) -> str:
    return f"{SERIES_QUEUE}{shard(f'{account_id}#{event_id}')}"


def series_queue(account_id: str, event_id: str, next_check_at: datetime) -> tuple[str, str]:
    """GSI1 keys of an active series schedule (the sort key stays while it is paused)."""
    sort_key = f"{time_text(next_check_at)}#{account_id}#{event_id}"
    return series_queue_pk(account_id, event_id), sort_key


def channel_queue(channel_id: str, expiration: datetime) -> tuple[str, str]:
    return f"{CHANNEL_QUEUE}{shard(channel_id)}", f"{time_text(expiration)}#{channel_id}"


def event_start_pk(account_id: str, calendar_id: str) -> str:
    """GSI2 partition of a calendar's events, ordered by `event_start_sk`."""
    return f"{EVENT_START_INDEX}{calendar_pk(account_id, calendar_id)}"


def event_start_sk(start: datetime, event_id: str) -> str:
    """An event's place in its calendar's listing: start, then id (ids hold no `#`)."""
    return f"{time_text(start)}#{event_id}"


def pause_queue(account_id: str, paused_until: datetime) -> tuple[str, str]:
    """GSI1 keys of a paused account's settings: by the end of the pause, so the resume pass
    finds the pauses that ran out."""
    return f"{PAUSE_QUEUE}{shard(account_id)}", f"{time_text(paused_until)}#{account_id}"


def sync_age_queue(account_id: str, calendar_id: str, healthy_since: datetime) -> tuple[str, str]:
    """GSI1 keys of a calendar's sync health: by `domain.sync_healthy_since`, so `/readyz`
    reads only the stale ones."""
    calendar = f"{account_id}#{calendar_id}"
    return f"{SYNC_AGE_QUEUE}{shard(calendar)}", f"{time_text(healthy_since)}#{calendar}"


def bot_end_index(bot_id: str, occurrence_end: datetime) -> tuple[str, str]:
    """GSI2 keys of every bot: by its occurrence's end, so the purge of finished bots reads
    only those whose meeting is long over."""
    return f"{BOT_END_INDEX}{shard(bot_id)}", f"{time_text(occurrence_end)}#{bot_id}"


def connected_set_pk(account_id: str) -> str:
    return f"{CONNECTED_SET}{shard(account_id)}"


def auto_set_pk(account_id: str) -> str:
    return f"{AUTO_SET}{shard(account_id)}"

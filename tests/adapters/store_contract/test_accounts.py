"""AccountStore, ConnectionStore and SealedSecretStore: every backend, one contract."""

from __future__ import annotations

import dataclasses

from app.adapters.ports import Stores
from app.domain import (
    Account,
    ApiKey,
    AutoScheduleSettings,
    BotStatus,
    ConnectionStatus,
)
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    CAL,
    NOW,
    OTHER,
    PRIMARY,
    SHARED,
    TEAM,
    WEEKLY,
    at,
    bot,
    channel,
    connection,
    event,
    override,
    page,
    series_schedule,
    synced,
)

# -- accounts and keys -------------------------------------------------------------------------


async def test_an_account_reads_back_as_created(stores: Stores) -> None:
    account = Account(ACCOUNT, "Ada", NOW)
    await stores.accounts.create_account(account)

    assert await stores.accounts.get_account(ACCOUNT) == account
    assert await stores.accounts.get_account(OTHER) is None


async def test_api_keys_resolve_by_hash_until_revoked_and_list_oldest_first(stores: Stores) -> None:
    await stores.accounts.create_account(Account(ACCOUNT, "Ada", NOW))
    newer = ApiKey("key_b", ACCOUNT, "ci", at(1))
    older = ApiKey("key_a", ACCOUNT, "laptop", at(0))
    await stores.accounts.add_api_key(newer, "hash-b")
    await stores.accounts.add_api_key(older, "hash-a")

    assert await stores.accounts.account_for_key_hash("hash-a") == ACCOUNT
    assert await stores.accounts.account_for_key_hash("hash-unknown") is None
    assert await stores.accounts.revoke_api_key("key_a", at(2)) is True
    assert await stores.accounts.revoke_api_key("key_a", at(3)) is False
    assert await stores.accounts.revoke_api_key("key_unknown", at(3)) is False
    assert await stores.accounts.account_for_key_hash("hash-a") is None
    assert await stores.accounts.account_for_key_hash("hash-b") == ACCOUNT
    assert await stores.accounts.list_api_keys() == [
        dataclasses.replace(older, revoked_at=at(2)),
        newer,
    ]


# -- connection and calendars ------------------------------------------------------------------


async def test_saving_a_connection_says_whether_it_replaced_one(stores: Stores) -> None:
    assert await stores.connections.save_connection(connection(), [SHARED, PRIMARY]) is False
    assert await stores.connections.save_connection(connection(), [SHARED, PRIMARY]) is True

    assert await stores.connections.get_connection(ACCOUNT) == connection()
    assert await stores.connections.get_connection(OTHER) is None
    assert await stores.connections.list_calendars(ACCOUNT) == [PRIMARY, SHARED]
    await stores.connections.set_connection_status(ACCOUNT, ConnectionStatus.REVOKED)
    assert await stores.connections.get_connection(ACCOUNT) == connection(
        status=ConnectionStatus.REVOKED
    )


async def test_a_connection_and_its_calendars_read_together_as_apart(stores: Stores) -> None:
    assert await stores.connections.connection_and_calendars(ACCOUNT) is None
    await stores.connections.save_connection(connection(), [SHARED, PRIMARY])
    await stores.connections.save_connection(connection(account_id=OTHER), [PRIMARY])

    assert await stores.connections.connection_and_calendars(ACCOUNT) == (
        connection(),
        [PRIMARY, SHARED],
    )
    await stores.connections.save_connection(connection(), [])
    assert await stores.connections.connection_and_calendars(ACCOUNT) == (connection(), [])
    await stores.connections.delete_connection(ACCOUNT, NOW)
    assert await stores.connections.connection_and_calendars(ACCOUNT) is None


async def test_calendars_left_out_of_a_new_connection_lose_their_data(stores: Stores) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY, SHARED])
    mine = event("mine", recurrence=WEEKLY)
    team = event("team", calendar_id=TEAM, recurrence=WEEKLY)
    await synced(stores.events, mine)
    await synced(stores.events, team, calendar_id=TEAM)
    await stores.events.apply_events_page(
        ACCOUNT, page(calendar_id=TEAM, overrides=(override("team", at(168), cancelled=True),))
    )

    assert await stores.connections.save_connection(connection(), [PRIMARY]) is True

    assert await stores.connections.list_calendars(ACCOUNT) == [PRIMARY]
    assert await stores.events.get_event(ACCOUNT, team.event_id) is None
    assert await stores.events.list_events(ACCOUNT, TEAM) == []
    assert await stores.events.list_overrides(ACCOUNT, TEAM, ["team"]) == {}
    assert await stores.events.get_sync_state(ACCOUNT, TEAM) is None
    assert await _generation(stores, ACCOUNT, TEAM) == 0
    assert await stores.events.get_event(ACCOUNT, mine.event_id) == mine


async def test_delete_connection_cancels_pending_bots_and_keeps_settings(stores: Stores) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY])
    meeting = event("m1", at(2), recurrence=WEEKLY)
    await synced(stores.events, meeting)
    scheduled = bot(meeting, bot_id="bot_1", occurrence_start=at(2))
    launching = bot(meeting, bot_id="bot_2", occurrence_start=at(170), join_at=at(-1))
    launched = bot(meeting, bot_id="bot_3", occurrence_start=at(-166))
    for each in (scheduled, launching):
        await stores.bots.insert_or_update_pending_bot(each)
    await stores.bots.insert_bots_unless_exist([launched])
    await stores.bots.claim_bot("bot_2", NOW, stale_launching_before=at(-1))
    claimed = await stores.bots.claim_bot("bot_3", NOW, stale_launching_before=at(-1))
    assert claimed is not None
    claimed.status, claimed.updated_at = BotStatus.LAUNCHED, NOW
    assert await stores.bots.update_bot(claimed, expected_status=BotStatus.LAUNCHING)
    settings = AutoScheduleSettings(True, {"bot_name": "Auto"}, at(-1))
    await stores.auto_schedule.save_auto_schedule(ACCOUNT, settings)
    await stores.series.save_series_schedule(series_schedule(meeting))
    await stores.channels.save_channel(channel("ch_1"))
    await stores.sealed_secrets.put_sealed_secret(ACCOUNT, b"nonce", b"cipher")

    assert await stores.connections.delete_connection(ACCOUNT, at(1)) == 2

    statuses = {b.bot_id: (b.status, b.updated_at) for b in await stores.bots.list_bots(ACCOUNT)}
    assert statuses == {
        "bot_1": (BotStatus.CANCELLED, at(1)),
        "bot_2": (BotStatus.CANCELLED, at(1)),
        "bot_3": (BotStatus.LAUNCHED, NOW),
    }
    assert await stores.connections.get_connection(ACCOUNT) is None
    assert await stores.connections.list_calendars(ACCOUNT) == []
    assert await stores.events.get_event(ACCOUNT, meeting.event_id) is None
    assert await stores.events.get_sync_state(ACCOUNT, CAL) is None
    assert await stores.series.get_series_schedule(ACCOUNT, meeting.event_id) is None
    assert await stores.channels.list_channels(ACCOUNT) == []
    assert await stores.channels.get_channel("ch_1") is None
    assert await stores.bots.due_bots(at(500), 10, stale_launching_before=at(500)) == []
    assert await stores.auto_schedule.get_auto_schedule(ACCOUNT) == settings
    assert await stores.sealed_secrets.get_sealed_secret(ACCOUNT) == (b"nonce", b"cipher")
    assert await stores.connections.delete_connection(ACCOUNT, at(2)) == 0


async def test_after_delete_connection_only_launched_bots_still_claim_their_occurrence(
    stores: Stores,
) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY])
    series = event("series", at(-200), recurrence=WEEKLY)
    await synced(stores.events, series)
    scheduled = bot(series, bot_id="bot_scheduled", occurrence_start=at(2))
    cancelled = bot(series, bot_id="bot_cancelled", occurrence_start=at(26))
    launched = bot(series, bot_id="bot_launched", occurrence_start=at(-1), join_at=at(-2))
    await stores.bots.insert_bots_unless_exist([scheduled, cancelled, launched])
    cancelled.status = BotStatus.CANCELLED
    assert await stores.bots.update_bot(cancelled, expected_status=BotStatus.SCHEDULED)
    claimed = await stores.bots.claim_bot("bot_launched", NOW, stale_launching_before=at(-1))
    assert claimed is not None  # written back from the claimed copy (its version)
    claimed.status, claimed.updated_at = BotStatus.LAUNCHED, NOW
    assert await stores.bots.update_bot(claimed, expected_status=BotStatus.LAUNCHING)

    await stores.connections.delete_connection(ACCOUNT, at(1))
    await stores.connections.save_connection(connection(), [PRIMARY])
    await synced(stores.events, series)
    again = [
        bot(series, bot_id=f"again_{hours}", occurrence_start=at(hours)) for hours in (2, 26, -1)
    ]
    inserted = await stores.bots.insert_bots_unless_exist(again)

    assert [b.bot_id for b in inserted] == ["again_2", "again_26"]
    assert await stores.bots.insert_bots_unless_exist(again) == []
    history = {b.bot_id: b.status for b in await stores.bots.list_bots(ACCOUNT)}
    assert history == {
        "bot_scheduled": BotStatus.CANCELLED,
        "bot_cancelled": BotStatus.CANCELLED,
        "bot_launched": BotStatus.LAUNCHED,
        "again_2": BotStatus.SCHEDULED,
        "again_26": BotStatus.SCHEDULED,
    }


# -- sealed secrets ----------------------------------------------------------------------------


async def test_sealed_secrets_are_replaced_and_forgotten(stores: Stores) -> None:
    assert await stores.sealed_secrets.get_sealed_secret(ACCOUNT) is None
    await stores.sealed_secrets.put_sealed_secret(ACCOUNT, b"\x00nonce", b"\xffcipher")
    await stores.sealed_secrets.put_sealed_secret(ACCOUNT, b"nonce-2", b"cipher-2")

    assert await stores.sealed_secrets.get_sealed_secret(ACCOUNT) == (b"nonce-2", b"cipher-2")
    assert await stores.sealed_secrets.get_sealed_secret(OTHER) is None
    await stores.sealed_secrets.delete_sealed_secret(ACCOUNT)
    await stores.sealed_secrets.delete_sealed_secret(ACCOUNT)
    assert await stores.sealed_secrets.get_sealed_secret(ACCOUNT) is None


async def _generation(stores: Stores, account_id: str, calendar_id: str) -> int:
    """The generation of the calendar's last full sync, as the sync reads it (0 before any)."""
    state = await stores.events.get_sync_state(account_id, calendar_id)
    return 0 if state is None else state.generation

"""AutoScheduleStore, ChannelStore and LeaseStore."""

from __future__ import annotations

import asyncio
import dataclasses

from app.adapters.ports import Stores
from app.domain import (
    AutoScheduleSettings,
    ConnectionStatus,
    Event,
    EventStatus,
)
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    NOW,
    OTHER,
    PRIMARY,
    SHARED,
    TEAM,
    WEEKLY,
    at,
    channel,
    connection,
    event,
    synced,
)

# -- auto-scheduling ---------------------------------------------------------------------------


async def test_auto_schedule_settings_default_to_disabled_and_select_accounts(
    stores: Stores,
) -> None:
    assert await stores.auto_schedule.get_auto_schedule(ACCOUNT) == AutoScheduleSettings()
    on = AutoScheduleSettings(True, {"bot_name": "Auto"}, NOW)
    for account_id in (ACCOUNT, OTHER, "acc_three"):
        await stores.auto_schedule.save_auto_schedule(account_id, on)
    await stores.auto_schedule.save_auto_schedule(
        "acc_three", AutoScheduleSettings(False, {}, None)
    )
    for account_id in (ACCOUNT, OTHER, "acc_three", "acc_four"):
        await stores.connections.save_connection(connection(account_id), [PRIMARY])
    await stores.connections.set_connection_status(OTHER, ConnectionStatus.REVOKED)

    assert await stores.auto_schedule.get_auto_schedule(ACCOUNT) == on
    assert await stores.auto_schedule.accounts_with_auto_schedule() == [ACCOUNT]
    assert await stores.connections.connected_accounts() == ["acc_four", ACCOUNT, "acc_three"]
    await stores.connections.set_connection_status(OTHER, ConnectionStatus.ACTIVE)
    assert await stores.auto_schedule.accounts_with_auto_schedule() == [ACCOUNT, OTHER]


async def _candidates_fixture(stores: Stores) -> list[Event]:
    """Events of every kind the candidate rule looks at; returns the candidates among them."""
    inside = event("inside", at(2))
    overlapping = event("overlapping", at(-0.25))
    team = event("team", at(3), calendar_id=TEAM)
    # The same meeting on both calendars (one Google id): two events, both candidates.
    shared = event("inside", at(2), calendar_id=TEAM, summary="Shared copy")
    live_series = event("live-series", at(-500), recurrence=WEEKLY, next_occurrence_start=at(-400))
    # The rules decide about a declined meeting (response_status, a per-event "always").
    declined = event("declined", at(2), self_declined=True)
    excluded = [
        event("before", at(-2)),
        event("ended-as-the-window-opens", at(-0.5)),
        event("after", at(24)),
        event("no-link", at(2), meeting_link=None),
        event("tentative-cancelled", at(2), status=EventStatus.CANCELLED),
        event("over-series", at(-500), recurrence=WEEKLY),
        event("future-series", at(25), recurrence=WEEKLY, next_occurrence_start=at(25)),
    ]
    await stores.connections.save_connection(connection(), [PRIMARY, SHARED])
    await synced(stores.events, inside, overlapping, live_series, declined, *excluded)
    await synced(stores.events, team, shared, calendar_id=TEAM)
    await synced(stores.events, event("foreign", at(2), account_id=OTHER), account_id=OTHER)
    return sorted(
        [inside, overlapping, team, shared, live_series, declined], key=lambda e: e.event_id
    )


async def test_auto_schedule_candidates_may_overlap_the_window(stores: Stores) -> None:
    expected = await _candidates_fixture(stores)

    found = await stores.events.list_auto_schedule_candidates(ACCOUNT, NOW, at(24))

    assert sorted(found, key=lambda e: e.event_id) == expected


async def test_auto_schedule_candidates_come_a_page_of_events_at_a_time(stores: Stores) -> None:
    expected = await _candidates_fixture(stores)

    for limit in (1, 2, 5, 13, 14, 100):
        found: list[Event] = []
        after: str | None = None
        pages = 0
        while True:
            chosen, after = await stores.events.auto_schedule_candidates_page(
                ACCOUNT, NOW, at(24), after=after, limit=limit
            )
            assert len(chosen) <= limit
            found += chosen
            pages += 1
            if after is None:
                break
        assert found == expected, limit  # in event_id order, each once
        assert pages >= 13 // limit  # the account's 13 events, `limit` at a time
    assert await stores.events.auto_schedule_candidates_page(
        OTHER, NOW, at(24), after=None, limit=10
    ) == ([await stores.events.get_event(OTHER, event("foreign", account_id=OTHER).event_id)], None)


# -- push channels -----------------------------------------------------------------------------


async def test_channels_are_found_by_id_by_account_and_by_expiry(stores: Stores) -> None:
    late, early = channel("ch_late", at(48)), channel("ch_early", at(2))
    foreign = channel("ch_foreign", at(1), account_id=OTHER)
    for each in (late, early, foreign):
        await stores.channels.save_channel(each)

    assert await stores.channels.get_channel("ch_late") == late
    assert await stores.channels.get_channel("ch_unknown") is None
    assert await stores.channels.list_channels(ACCOUNT) == [early, late]
    assert await stores.channels.channels_expiring_before(at(2)) == [foreign]
    assert await stores.channels.channels_expiring_before(at(48.5)) == [foreign, early, late]

    renewed = dataclasses.replace(early, expiration=at(72))
    await stores.channels.save_channel(renewed)
    await stores.channels.delete_channel("ch_late")
    await stores.channels.delete_channel("ch_unknown")

    assert await stores.channels.get_channel("ch_late") is None
    assert await stores.channels.list_channels(ACCOUNT) == [renewed]
    assert await stores.channels.channels_expiring_before(at(48.5)) == [foreign]


# -- leases ------------------------------------------------------------------------------------


async def test_a_lease_is_exclusive_until_it_expires_or_is_released(stores: Stores) -> None:
    assert await stores.leases.try_acquire_lease("sync", "replica-a", NOW, at(1))
    assert not await stores.leases.try_acquire_lease("sync", "replica-b", at(0.5), at(1.5))
    assert await stores.leases.try_acquire_lease("sync", "replica-a", at(0.5), at(1.5))
    assert not await stores.leases.try_acquire_lease("sync", "replica-b", at(1), at(2))
    assert await stores.leases.try_acquire_lease("other-pass", "replica-b", NOW, at(1))

    assert await stores.leases.try_acquire_lease("sync", "replica-b", at(1.5), at(2.5))
    await stores.leases.release_lease("sync", "replica-a")
    assert not await stores.leases.try_acquire_lease("sync", "replica-a", at(2), at(3))
    await stores.leases.release_lease("sync", "replica-b")
    assert await stores.leases.try_acquire_lease("sync", "replica-a", at(2), at(3))


async def test_of_replicas_racing_for_a_free_lease_one_gets_it(stores: Stores) -> None:
    holders = [f"replica-{n}" for n in range(10)]

    taken = await asyncio.gather(
        *(stores.leases.try_acquire_lease("pass", holder, NOW, at(1)) for holder in holders)
    )

    assert sum(taken) == 1

"""SyncHealthStore: what sync, push and polling record for `GET /sync-status` and `/readyz`."""

from __future__ import annotations

import asyncio

from app.adapters.ports import Stores
from app.domain import SyncHealth
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    CAL,
    OTHER,
    PRIMARY,
    SHARED,
    TEAM,
    at,
    connection,
)

GOOGLE_DOWN = "Google Calendar is unavailable; try again shortly."


async def test_failures_count_in_a_row_and_a_success_clears_them(stores: Stores) -> None:
    health = stores.sync_health
    await health.record_sync_success(ACCOUNT, CAL, at(0))
    first = await health.record_sync_failure(ACCOUNT, CAL, at(1), GOOGLE_DOWN)
    second = await health.record_sync_failure(ACCOUNT, CAL, at(2), "Google refused.")

    assert (first.consecutive_failures, second.consecutive_failures) == (1, 2)
    assert second == SyncHealth(
        ACCOUNT,
        CAL,
        last_sync_at=at(2),
        last_success_at=at(0),
        last_error="Google refused.",
        consecutive_failures=2,
        failing_since=at(1),
    )

    await health.record_sync_success(ACCOUNT, CAL, at(3))
    assert await health.list_sync_health(ACCOUNT) == [
        SyncHealth(ACCOUNT, CAL, last_sync_at=at(3), last_success_at=at(3))
    ]


async def test_concurrent_failures_are_each_counted(stores: Stores) -> None:
    counts = await asyncio.gather(
        *(
            stores.sync_health.record_sync_failure(ACCOUNT, CAL, at(1), GOOGLE_DOWN)
            for _ in range(4)
        )
    )
    assert sorted(h.consecutive_failures for h in counts) == [1, 2, 3, 4]


async def test_a_notification_is_recorded_without_touching_the_sync_record(
    stores: Stores,
) -> None:
    health = stores.sync_health
    await health.record_notification(ACCOUNT, TEAM, at(1))
    await health.record_sync_failure(ACCOUNT, TEAM, at(2), GOOGLE_DOWN)
    await health.record_notification(ACCOUNT, TEAM, at(3))

    assert await health.list_sync_health(ACCOUNT) == [
        SyncHealth(
            ACCOUNT,
            TEAM,
            last_sync_at=at(2),
            last_error=GOOGLE_DOWN,
            consecutive_failures=1,
            failing_since=at(2),
            last_notification_at=at(3),
        )
    ]
    assert await health.list_sync_health(OTHER) == []


async def test_stale_calendars_of_every_account_are_found_by_their_last_success(
    stores: Stores,
) -> None:
    health = stores.sync_health
    await health.record_sync_success(ACCOUNT, CAL, at(0))  # old success: stale
    await health.record_sync_success(ACCOUNT, TEAM, at(0))
    await health.record_sync_success(ACCOUNT, TEAM, at(10))  # recent success: fine
    await health.record_sync_failure(OTHER, CAL, at(1), GOOGLE_DOWN)  # never succeeded
    await health.record_sync_failure(OTHER, CAL, at(9), GOOGLE_DOWN)  # ... since at(1)
    await health.record_notification(OTHER, TEAM, at(0))  # notified only: nothing to age

    stale = await health.unhealthy_since_before(at(5), limit=10)

    assert [(h.account_id, h.calendar_id) for h in stale] == [(ACCOUNT, CAL), (OTHER, CAL)]
    assert len(await health.unhealthy_since_before(at(5), limit=1)) == 1


async def test_disconnect_forgets_the_calendars_sync_health(stores: Stores) -> None:
    await stores.connections.save_connection(connection(), [PRIMARY, SHARED])
    await stores.sync_health.record_sync_success(ACCOUNT, CAL, at(0))
    await stores.sync_health.record_sync_failure(ACCOUNT, TEAM, at(0), GOOGLE_DOWN)

    await stores.connections.delete_connection(ACCOUNT, at(1))

    assert await stores.sync_health.list_sync_health(ACCOUNT) == []
    assert await stores.sync_health.unhealthy_since_before(at(5), limit=10) == []

"""calbot's services wired as `app.main` wires them, over the memory backend and the recording
fakes of tests/fakes: no HTTP, no SQLite, no sleeping.

    calbot = wire(FakeClock(NOW))
    calbot.google.put_event(CAL, meeting("m1", at(1), at(2)))
    await calbot.connect()
    await calbot.refresh()
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.adapters.memory import memory_stores
from app.adapters.ports import Stores
from app.domain import GoogleCredentials, ScheduledBot, event_id_for
from app.services.auto_schedule import AutoScheduleService
from app.services.connection import ConnectionService
from app.services.guard import DoNotRecordGuard
from app.services.launch_check import LaunchCheck
from app.services.launcher import Launcher
from app.services.notifications import CalendarRefresher, PushService
from app.services.reconcile import BotReconciler
from app.services.scheduling import SchedulingService
from app.services.sync import SyncOutcome, SyncService
from tests.fakes import (
    FakeBotApi,
    FakeClock,
    FakeGoogleCalendar,
    FakeSecretBox,
    RecordingBotScheduler,
)
from tests.fakes.google import REFRESH_TOKEN

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
ACCOUNT = "acc_unit"
CAL = "user@example.com"
JOIN_LEAD = timedelta(minutes=3)
LOOKAHEAD = timedelta(hours=24)
LINK = "https://meet.google.com/abc-defg-hij"
CREDENTIALS = GoogleCredentials("client-id.apps.googleusercontent.com", "secret", REFRESH_TOKEN)


def event_ids(*google_ids: str) -> list[str]:
    """calbot's ids of these events of CAL, in order."""
    return [event_id_for(ACCOUNT, CAL, google_id) for google_id in google_ids]


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def google_time(when: datetime) -> dict[str, str]:
    return {"dateTime": when.isoformat().replace("+00:00", "Z")}


def meeting(
    event_id: str, start: datetime, end: datetime, *, link: str | None = LINK, **fields: Any
) -> dict[str, Any]:
    """A Google Event resource, with its Meet link in hangoutLink unless `link` is None."""
    resource: dict[str, Any] = {
        "id": event_id,
        "summary": f"Meeting {event_id}",
        "start": google_time(start),
        "end": google_time(end),
        **fields,
    }
    if link is not None:
        resource["hangoutLink"] = link
    return resource


@dataclass
class Calbot:
    clock: FakeClock
    stores: Stores
    google: FakeGoogleCalendar
    bot_api: FakeBotApi
    scheduler: RecordingBotScheduler
    secrets: FakeSecretBox
    sync: SyncService
    scheduling: SchedulingService
    reconciler: BotReconciler
    auto_schedule: AutoScheduleService
    refresher: CalendarRefresher
    connections: ConnectionService
    launcher: Launcher
    launch_check: LaunchCheck

    async def connect(self, account_id: str = ACCOUNT) -> None:
        await self.connections.connect(account_id, CREDENTIALS)

    async def refresh(self, calendar_id: str = CAL, account_id: str = ACCOUNT) -> SyncOutcome:
        """Sync the calendar with Google; bots follow, new meetings get auto-scheduled."""
        return await self.refresher.refresh(account_id, calendar_id)

    async def event_id(self, google_id: str, calendar_id: str = CAL) -> str:
        event = await self.stores.events.get_event_by_google_id(ACCOUNT, calendar_id, google_id)
        assert event is not None, f"{google_id} is not stored"
        return event.event_id

    async def bots(self, account_id: str = ACCOUNT) -> list[ScheduledBot]:
        return await self.stores.bots.list_bots(account_id)


def wire(clock: FakeClock, stores: Stores | None = None) -> Calbot:
    """calbot over `stores` (a fresh memory backend unless given)."""
    stores = memory_stores() if stores is None else stores
    google, bot_api = FakeGoogleCalendar(), FakeBotApi()
    scheduler, secrets = RecordingBotScheduler(), FakeSecretBox()
    google.add_calendar(CAL, primary=True, time_zone="Europe/Berlin")
    sync = SyncService(
        connections=stores.connections,
        events=stores.events,
        secrets=secrets,
        google=google,
        clock=clock,
        leases=stores.leases,
        replica_id="unit-replica",
        sync_health=stores.sync_health,
    )
    guard = DoNotRecordGuard(stores.auto_schedule)
    scheduling = SchedulingService(
        events=stores.events,
        bots=stores.bots,
        series=stores.series,
        scheduler=scheduler,
        guard=guard,
        clock=clock,
        join_lead=JOIN_LEAD,
    )
    reconciler = BotReconciler(
        events=stores.events,
        bots=stores.bots,
        scheduler=scheduler,
        scheduling=scheduling,
        guard=guard,
        clock=clock,
        join_lead=JOIN_LEAD,
    )
    auto_schedule = AutoScheduleService(
        auto_schedule=stores.auto_schedule,
        connections=stores.connections,
        events=stores.events,
        bots=stores.bots,
        scheduler=scheduler,
        clock=clock,
        lookahead=LOOKAHEAD,
        join_lead=JOIN_LEAD,
    )
    refresher = CalendarRefresher(sync, reconciler, auto_schedule)
    push = PushService(
        channels=stores.channels,
        connections=stores.connections,
        secrets_box=secrets,
        google=google,
        clock=clock,
        refresher=refresher,
        public_base_url=None,
        ttl_seconds=604800,
        sync_health=stores.sync_health,
    )
    connections = ConnectionService(
        connections=stores.connections,
        bots=stores.bots,
        secrets=secrets,
        google=google,
        clock=clock,
        push=push,
        bot_scheduler=scheduler,
    )
    launch_check = LaunchCheck(
        events=stores.events, sync=sync, google=google, reconciler=reconciler, clock=clock
    )
    launcher = Launcher(
        bots=stores.bots,
        auto_schedule=stores.auto_schedule,
        bot_api=bot_api,
        clock=clock,
        check=launch_check,
    )
    return Calbot(
        clock,
        stores,
        google,
        bot_api,
        scheduler,
        secrets,
        sync,
        scheduling,
        reconciler,
        auto_schedule,
        refresher,
        connections,
        launcher,
        launch_check,
    )

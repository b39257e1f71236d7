"""A listing given from memory is always the listing calbot would compute now (issue 13).

Hypothesis drives the API through random sequences of what Google, the user and time do
(meetings added, moved, cancelled; bots scheduled and unscheduled; per-event modes; the clock
passing a series' occurrence), reading GET /get_events between them, twice. After every step
the answer, which may come from memory (app/fresh_listing.py, app/services/fresh_answers.py),
must be what a store with nothing decoded yet reads at that moment, encoded through the pydantic
models with nothing kept. SQLite, the backend that keeps answers.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.adapters.sqlite.events import SqliteEventStore
from app.config import Settings
from app.container import Container
from app.main import create_app
from app.routers.event_json import event_read
from app.schemas import EventList
from tests.conftest import BOT_API_URL, GOOD_CREDENTIALS, NOW, meeting, new_auth
from tests.fake_google import API_URL, TOKEN_URL, FakeGoogle
from tests.fakes import FakeClock, FakeResolver

PRIMARY = "user@example.com"
GET_EVENTS = "/api/v1/calendar/get_events"
MEETINGS = [f"m{n}" for n in range(4)]

Step = tuple[str, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["add_or_move", "cancel", "sync", "schedule", "unschedule", "mode", "clock", "read"]
        ),
        st.integers(0, len(MEETINGS) - 1),
        st.integers(1, 72),
    ),
    min_size=1,
    max_size=12,
)


def _google_meeting(name: str, hours: int) -> dict[str, Any]:
    start = NOW.replace(minute=0) + timedelta(hours=hours)
    end = start + timedelta(minutes=30)
    event = meeting(name, start.isoformat(), end.isoformat())
    if name == "m0":  # one weekly series: the clock moves it on
        event["recurrence"] = ["RRULE:FREQ=WEEKLY"]
        event["start"]["timeZone"] = event["end"]["timeZone"] = "UTC"
    return event


async def _run(steps_taken: list[Step], data_dir: Path) -> None:
    clock = FakeClock(NOW)
    google = FakeGoogle()
    google.add_calendar(PRIMARY, summary="Me", primary=True, tz="UTC")
    app_settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        google_oauth_token_url=TOKEN_URL,
        google_calendar_api_url=API_URL,
        bot_api_url=BOT_API_URL,
    )
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=TOKEN_URL).mock(side_effect=google.handle)
        router.route(url__startswith=API_URL).mock(side_effect=google.handle)
        app = create_app(app_settings, clock=clock, run_background=False, resolver=FakeResolver())
        async with app.router.lifespan_context(app):
            container: Container = app.state.container
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                auth = await new_auth(container)
                connected = await client.post(
                    "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=auth
                )
                assert connected.status_code == 201, connected.text
                for number, name in enumerate(MEETINGS):  # all there at first, the series next
                    google.put_event(PRIMARY, _google_meeting(name, 1 + 5 * number))
                for step in [("sync", 0, 1), *steps_taken]:
                    await _take(step, client, auth, google, clock)
                    await _answers_are_the_truth(client, auth, container)


async def _take(
    step: Step,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    google: FakeGoogle,
    clock: FakeClock,
) -> None:
    action, which, hours = step
    name = MEETINGS[which]
    listed = (await client.get(GET_EVENTS, headers=auth)).json()["events"]
    ids = {event["google_event_id"]: event["event_id"] for event in listed}
    if action == "add_or_move":
        google.put_event(PRIMARY, _google_meeting(name, hours))
    elif action == "cancel" and name in ids:
        google.cancel_event(PRIMARY, name)
    elif action == "sync":
        assert (await client.get("/api/v1/calendar/events", headers=auth)).status_code == 200
    elif action == "schedule" and name in ids:
        await client.post(
            f"/api/v1/calendar/schedule/{ids[name]}",
            json={"bot_config": {"video_required": False}},
            headers=auth,
        )
    elif action == "unschedule" and name in ids:
        await client.delete(f"/api/v1/calendar/schedule/{ids[name]}", headers=auth)
    elif action == "mode" and name in ids:
        mode = ("always", "never", "rules")[hours % 3]
        await client.put(
            f"/api/v1/calendar/events/{ids[name]}/auto-schedule", json={"mode": mode}, headers=auth
        )
    elif action == "clock":
        clock.advance(hours * 3600)


async def _answers_are_the_truth(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    """Two answers in a row (the second is the one most likely given from memory), then the
    truth: the page read by a store of its own (nothing decoded before) and encoded through
    the pydantic models (no encoded event kept). The answers move due series on themselves,
    so the truth reads the store as they left it."""
    answers = []
    for _ in range(2):
        answer = await client.get(GET_EVENTS, headers=auth)
        assert answer.status_code == 200, answer.text
        answers.append(orjson.loads(answer.content))
    account_id = await container.api_keys.authenticate(auth["Authorization"].split()[1])
    database = container.stores.events._db  # type: ignore[attr-defined]  # the same file
    rows = await SqliteEventStore(database).list_events_page(
        account_id, PRIMARY, after=None, limit=1000
    )
    truth = EventList(events=[event_read(row) for row in rows], next_cursor=None)
    assert answers == [orjson.loads(truth.model_dump_json())] * 2


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps)
def test_a_listing_from_memory_is_always_the_listing_of_now(steps_taken: list[Step]) -> None:
    with tempfile.TemporaryDirectory(prefix="fresh-listing-") as workdir:
        asyncio.run(_run(steps_taken, Path(workdir) / "data"))

"""events (sync, then list) and get_events (store only), against a stateful fake Google."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import orjson
import pytest
import respx

from app.adapters.google_answers import GOOGLE_CALL_DEADLINE
from app.container import Container
from tests.conftest import meeting
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

EVENTS = "/api/v1/calendar/events"
GET_EVENTS = "/api/v1/calendar/get_events"
PRIMARY = "user@example.com"
GOOGLE_THINKS_SECONDS = 10.0


async def _events(client: httpx.AsyncClient, auth: dict[str, str], **params: str) -> list[Any]:
    response = await client.get(EVENTS, headers=auth, params=params)
    assert response.status_code == 200, response.text
    events: list[Any] = response.json()["events"]
    return events


async def test_first_call_runs_a_full_sync_over_every_page(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.page_size = 2
    for day in range(5, 0, -1):
        fake_google.put_event(
            PRIMARY, meeting(f"m{day}", f"2026-12-0{day}T09:00:00Z", f"2026-12-0{day}T10:00:00Z")
        )

    events = await _events(client, connected)

    assert [e["google_event_id"] for e in events] == ["m1", "m2", "m3", "m4", "m5"]
    requests = fake_google.api_requests("/events")
    assert len(requests) == 3
    assert all("syncToken" not in r.url.params for r in requests)
    assert requests[0].url.params["timeMin"] == "2026-10-26T12:00:00Z"
    assert requests[0].url.params["singleEvents"] == "false"


async def test_event_fields_follow_the_contract(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(
        PRIMARY,
        meeting(
            "zoom1",
            "2026-11-26T15:00:00+01:00",
            "2026-11-26T16:00:00+01:00",
            link=None,
            location="https://us02web.zoom.us/j/85512345678?pwd=abcDEF123",
        ),
    )

    [event] = await _events(client, connected)

    assert event["event_id"].startswith("evt_")
    assert event == {
        "event_id": event["event_id"],
        "google_event_id": "zoom1",
        "calendar_id": PRIMARY,
        "summary": "Meeting zoom1",
        "start_time": "2026-11-26T14:00:00Z",
        "end_time": "2026-11-26T15:00:00Z",
        "all_day": False,
        "meeting_link": "https://us02web.zoom.us/j/85512345678?pwd=abcDEF123",
        "meeting_platform": "zoom",
        "is_recurring": False,
        "recurring_enabled": True,
        "next_occurrence_start": None,
        "bot_join_status": False,
        "schedule_status": "unscheduled",
        "status": "confirmed",
        "unreadable_reason": None,
        "meeting_key": "ical:zoom1@google.com",
        "auto_schedule_mode": "rules",
    }


async def test_all_day_events_start_at_midnight_in_the_calendars_zone(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(
        PRIMARY,
        {"id": "offsite", "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-03"}},
    )

    [event] = await _events(client, connected)

    assert event["all_day"] is True
    assert event["start_time"] == "2026-12-01T00:00:00+01:00"
    assert event["end_time"] == "2026-12-03T00:00:00+01:00"


async def test_later_calls_sync_incrementally_with_the_sync_token(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(PRIMARY, meeting("a", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))
    fake_google.put_event(PRIMARY, meeting("b", "2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z"))
    await _events(client, connected)
    fake_google.requests.clear()

    fake_google.put_event(PRIMARY, meeting("c", "2026-11-30T09:00:00Z", "2026-11-30T10:00:00Z"))
    fake_google.put_event(PRIMARY, meeting("a", "2026-12-03T09:00:00Z", "2026-12-03T10:00:00Z"))
    fake_google.cancel_event(PRIMARY, "b")
    events = await _events(client, connected)

    [request] = fake_google.api_requests("/events")
    assert request.url.params["syncToken"] == "tok-2"
    assert "timeMin" not in request.url.params
    assert [(e["google_event_id"], e["start_time"], e["status"]) for e in events] == [
        ("c", "2026-11-30T09:00:00Z", "confirmed"),
        ("b", "2026-12-02T09:00:00Z", "cancelled"),
        ("a", "2026-12-03T09:00:00Z", "confirmed"),
    ]
    cancelled = next(e for e in events if e["google_event_id"] == "b")
    assert cancelled["schedule_status"] == "cancelled"


async def test_event_ids_stay_stable_across_syncs(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(PRIMARY, meeting("a", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))
    [before] = await _events(client, connected)
    fake_google.put_event(PRIMARY, meeting("a", "2026-12-01T11:00:00Z", "2026-12-01T12:00:00Z"))
    fake_google.expire_sync_tokens = True
    [after] = await _events(client, connected)

    assert after["event_id"] == before["event_id"]
    assert after["start_time"] == "2026-12-01T11:00:00Z"


async def test_410_gone_runs_a_clean_full_resync_without_duplicates_or_stale_events(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.page_size = 2
    for name in ("a", "b", "c"):
        fake_google.put_event(
            PRIMARY, meeting(name, "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z")
        )
    await _events(client, connected)
    # While the token is dead, "b" disappears without a tombstone and "d" appears.
    fake_google.forget_event(PRIMARY, "b")
    fake_google.put_event(PRIMARY, meeting("d", "2026-12-01T09:30:00Z", "2026-12-01T10:00:00Z"))
    fake_google.expire_sync_tokens = True
    fake_google.requests.clear()

    events = await _events(client, connected)

    assert sorted(e["google_event_id"] for e in events) == ["a", "c", "d"]
    requests = fake_google.api_requests("/events")
    assert "syncToken" in requests[0].url.params
    assert all("syncToken" not in r.url.params for r in requests[1:])
    fake_google.expire_sync_tokens = False
    fake_google.requests.clear()
    await _events(client, connected)
    assert "syncToken" in fake_google.api_requests("/events")[0].url.params


async def test_a_series_with_moved_and_cancelled_occurrences_is_one_event(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    series = meeting(
        "standup",
        "2026-11-23T09:00:00+01:00",
        "2026-11-23T09:15:00+01:00",
        recurrence=["RRULE:FREQ=DAILY;COUNT=10"],
    )
    series["start"]["timeZone"] = series["end"]["timeZone"] = "Europe/Berlin"
    fake_google.put_event(PRIMARY, series)
    # Now is 2026-11-25T12:00Z. The 26th is cancelled, the 27th moved to 14:00 Berlin.
    fake_google.put_event(
        PRIMARY,
        {
            "id": "standup_20261126T080000Z",
            "status": "cancelled",
            "recurringEventId": "standup",
            "originalStartTime": {"dateTime": "2026-11-26T09:00:00+01:00"},
        },
    )
    moved = meeting(
        "standup_20261127T080000Z",
        "2026-11-27T14:00:00+01:00",
        "2026-11-27T14:15:00+01:00",
        recurringEventId="standup",
        originalStartTime={"dateTime": "2026-11-27T09:00:00+01:00"},
    )
    fake_google.put_event(PRIMARY, moved)

    events = await _events(client, connected)

    assert [e["google_event_id"] for e in events] == ["standup"]
    assert events[0]["is_recurring"] is True
    assert events[0]["next_occurrence_start"] == "2026-11-27T13:00:00Z"

    # The moved occurrence is cancelled too: the next one is the 28th at 09:00 Berlin.
    fake_google.cancel_event(PRIMARY, "standup_20261127T080000Z")
    events = await _events(client, connected)
    assert events[0]["next_occurrence_start"] == "2026-11-28T08:00:00Z"


async def test_next_occurrence_moves_on_as_time_passes_without_a_sync(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    clock: Any,
) -> None:
    weekly = meeting(
        "weekly",
        "2026-11-25T15:00:00Z",
        "2026-11-25T16:00:00Z",
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=2"],
    )
    weekly["start"]["timeZone"] = "UTC"
    fake_google.put_event(PRIMARY, weekly)
    [event] = await _events(client, connected)
    assert event["next_occurrence_start"] == "2026-11-25T15:00:00Z"
    fake_google.requests.clear()

    clock.advance(5 * 3600)  # the first occurrence has ended
    [event] = (await client.get(GET_EVENTS, headers=connected)).json()["events"]
    assert event["next_occurrence_start"] == "2026-12-02T15:00:00Z"
    clock.advance(8 * 86400)  # the series is over
    [event] = (await client.get(GET_EVENTS, headers=connected)).json()["events"]
    assert event["next_occurrence_start"] is None
    assert fake_google.requests == []


async def test_get_events_answers_from_the_store_without_calling_google(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(PRIMARY, meeting("a", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))
    await _events(client, connected)
    fake_google.put_event(PRIMARY, meeting("b", "2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z"))
    fake_google.requests.clear()

    response = await client.get(GET_EVENTS, headers=connected)

    assert [e["google_event_id"] for e in response.json()["events"]] == ["a"]
    assert fake_google.requests == []


async def test_get_events_before_any_sync_is_empty(
    client: httpx.AsyncClient, connected: dict[str, str]
) -> None:
    response = await client.get(GET_EVENTS, headers=connected)
    assert response.json() == {"events": [], "next_cursor": None}


async def test_calendar_id_selects_another_calendar(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    team = "team@group.calendar.google.com"
    fake_google.put_event(PRIMARY, meeting("mine", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))
    fake_google.put_event(team, meeting("ours", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))

    events = await _events(client, connected, calendar_id=team)

    assert [(e["google_event_id"], e["calendar_id"]) for e in events] == [("ours", team)]
    assert "team%40group.calendar.google.com" in str(fake_google.api_requests("/events")[0].url)


async def test_events_that_ended_before_the_window_are_not_kept(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(PRIMARY, meeting("old", "2026-09-01T09:00:00Z", "2026-09-01T10:00:00Z"))
    fake_google.put_event(PRIMARY, meeting("new", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))
    events = await _events(client, connected)
    assert [e["google_event_id"] for e in events] == ["new"]


async def test_non_meeting_event_types_are_skipped(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(
        PRIMARY,
        {
            "id": "ooo",
            "eventType": "outOfOffice",
            "start": {"dateTime": "2026-12-01T09:00:00Z"},
            "end": {"dateTime": "2026-12-01T17:00:00Z"},
        },
    )
    fake_google.put_event(PRIMARY, meeting("m", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))
    events = await _events(client, connected)
    assert [e["google_event_id"] for e in events] == ["m"]


async def test_google_failures_are_retried_then_answer_502(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(PRIMARY, meeting("a", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))
    fake_google.fail_next = [503, 429]
    assert len(await _events(client, connected)) == 1

    fake_google.fail_next = [503] * 30
    response = await client.get(EVENTS, headers=connected)
    assert response.status_code == 502
    assert response.json()["error"] == "google_unavailable"
    fake_google.fail_next = []
    # Nothing was lost: the store still answers, and the next sync picks up where it was.
    assert len((await client.get(GET_EVENTS, headers=connected)).json()["events"]) == 1


async def test_routes_need_a_connection(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    for path in (EVENTS, GET_EVENTS, "/api/v1/calendar/calendars"):
        response = await client.get(path, headers=auth)
        assert response.status_code == 404
        assert response.json()["detail"] == "No calendar connected"


async def test_lists_page_with_limit_and_cursor(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    for day in range(1, 6):
        fake_google.put_event(
            PRIMARY, meeting(f"m{day}", f"2026-12-0{day}T09:00:00Z", f"2026-12-0{day}T10:00:00Z")
        )
    everything = await _events(client, connected)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(GET_EVENTS, headers=connected, params=params)).json()
        seen += [e["google_event_id"] for e in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["google_event_id"] for e in everything] == ["m1", "m2", "m3", "m4", "m5"]


@pytest.mark.parametrize(
    "params",
    [{"cursor": "garbage"}, {"limit": "0"}, {"limit": "1001"}],
    ids=["bad-cursor", "zero", "too-many"],
)
async def test_bad_paging_parameters_answer_422(
    client: httpx.AsyncClient, connected: dict[str, str], params: dict[str, str]
) -> None:
    response = await client.get(GET_EVENTS, headers=connected, params=params)
    assert response.status_code == 422


async def test_time_window_keeps_overlapping_events_and_series(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(PRIMARY, meeting("early", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))
    fake_google.put_event(
        PRIMARY, meeting("inside", "2026-12-05T09:00:00Z", "2026-12-05T10:00:00Z")
    )
    fake_google.put_event(PRIMARY, meeting("late", "2026-12-20T09:00:00Z", "2026-12-20T10:00:00Z"))
    weekly = meeting(
        "weekly",
        "2026-11-02T09:00:00Z",
        "2026-11-02T10:00:00Z",
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO"],
    )
    weekly["start"]["timeZone"] = "UTC"
    fake_google.put_event(PRIMARY, weekly)
    over = meeting(
        "over",
        "2026-11-03T09:00:00Z",
        "2026-11-03T10:00:00Z",
        recurrence=["RRULE:FREQ=DAILY;COUNT=2"],
    )
    over["start"]["timeZone"] = "UTC"
    fake_google.put_event(PRIMARY, over)
    await _events(client, connected)

    window = {"time_min": "2026-12-04T00:00:00Z", "time_max": "2026-12-10T00:00:00Z"}
    listed = (await client.get(GET_EVENTS, headers=connected, params=window)).json()["events"]

    assert sorted(e["google_event_id"] for e in listed) == ["inside", "weekly"]
    backwards = {"time_min": "2026-12-10T00:00:00Z", "time_max": "2026-12-04T00:00:00Z"}
    assert (await client.get(GET_EVENTS, headers=connected, params=backwards)).status_code == 422
    naive = {"time_min": "2026-12-04T00:00:00"}
    assert (await client.get(GET_EVENTS, headers=connected, params=naive)).status_code == 422


async def test_one_calendar_is_never_synced_twice_at_once(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    google_mock: respx.MockRouter,
) -> None:
    await _events(client, connected)
    in_flight = most = 0

    async def slow_google(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return fake_google.handle(request)

    google_mock.routes["google-api"].side_effect = slow_google
    fake_google.requests.clear()
    responses = await asyncio.gather(*(client.get(EVENTS, headers=connected) for _ in range(4)))

    assert {r.status_code for r in responses} == {200}
    assert len(fake_google.api_requests("/events")) == 4  # each caller gets a fresh sync...
    assert most == 1  # ...one after the other


async def test_without_a_public_url_no_channel_is_opened_and_polling_keeps_up(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    assert fake_google.watch_requests == []
    fake_google.put_event(PRIMARY, meeting("a", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"))
    assert await container.push.poll_all() == 2
    listed = (await client.get(GET_EVENTS, headers=connected)).json()["events"]
    assert [e["google_event_id"] for e in listed] == ["a"]


async def test_a_slow_failing_google_answers_502_within_the_call_deadline(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    google_mock: respx.MockRouter,
    clock: FakeClock,
) -> None:
    def slow_and_failing(request: httpx.Request) -> httpx.Response:
        allowed = request.extensions["timeout"]["read"]  # what calbot gave this attempt
        if allowed < GOOGLE_THINKS_SECONDS:
            clock.advance(allowed)
            raise httpx.ReadTimeout("no answer in time", request=request)
        clock.advance(GOOGLE_THINKS_SECONDS)
        return httpx.Response(503, json={"error": {"code": 503, "message": "Backend Error"}})

    google_mock.routes["google-api"].side_effect = slow_and_failing
    started = clock.now()

    response = await client.get(EVENTS, headers=connected)

    assert response.status_code == 502
    assert response.json()["detail"].startswith("Google Calendar")
    assert clock.now() - started <= GOOGLE_CALL_DEADLINE


async def test_get_events_shows_a_bot_scheduled_or_cancelled_since_the_last_listing(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    # The listing answers from event JSON encoded once; the bot state is never taken from it.
    fake_google.put_event(PRIMARY, meeting("m", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"))
    [listed] = await _events(client, connected)
    assert (listed["bot_join_status"], listed["schedule_status"]) == (False, "unscheduled")
    schedule = f"/api/v1/calendar/schedule/{listed['event_id']}"

    scheduled = await client.post(schedule, json={"bot_config": {}}, headers=connected)
    assert scheduled.status_code == 201, scheduled.text
    [event] = (await client.get(GET_EVENTS, headers=connected)).json()["events"]
    assert (event["bot_join_status"], event["schedule_status"]) == (True, "scheduled")

    cancelled = await client.delete(schedule, headers=connected)
    assert cancelled.status_code == 200, cancelled.text
    [event] = (await client.get(GET_EVENTS, headers=connected)).json()["events"]
    assert (event["bot_join_status"], event["schedule_status"]) == (False, "unscheduled")


async def test_pages_of_get_events_follow_each_other_across_ties_on_start(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    for n in range(7):
        start = f"2026-12-0{1 + n % 3}T09:00:00Z"  # three starts shared by seven events
        fake_google.put_event(PRIMARY, meeting(f"m{n}", start, start.replace("T09", "T10")))
    whole = await _events(client, connected)

    paged: list[Any] = []
    cursor: str | None = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        answer = (await client.get(GET_EVENTS, headers=connected, params=params)).json()
        paged.extend(answer["events"])
        cursor = answer["next_cursor"]
        if cursor is None:
            break

    assert paged == whole
    assert [e["start_time"] for e in whole] == sorted(e["start_time"] for e in whole)


async def test_get_events_reads_one_page_of_the_store_never_the_whole_calendar(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(5):
        fake_google.put_event(
            PRIMARY, meeting(f"m{n}", f"2026-12-0{n + 1}T09:00:00Z", f"2026-12-0{n + 1}T10:00:00Z")
        )
    await _events(client, connected)
    store = container.stores.events
    limits: list[int] = []
    read_page = store.list_events_page

    async def counted(*args: Any, **kwargs: Any) -> Any:
        limits.append(kwargs["limit"])
        return await read_page(*args, **kwargs)

    async def whole(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the listing read the whole calendar")

    monkeypatch.setattr(store, "list_events_page", counted)
    for name in ("list_events", "list_series_needing_next_occurrence", "list_overrides"):
        monkeypatch.setattr(store, name, whole)

    answer = await client.get(GET_EVENTS, headers=connected, params={"limit": "2"})

    assert [e["google_event_id"] for e in answer.json()["events"]] == ["m0", "m1"]
    assert limits == [3]  # the page and one more, to know whether another follows


@pytest.mark.parametrize(
    "sort_key",
    [["not a time", "evt_x"], ["2026-12-01T09:00:00", "evt_x"], ["0001-01-01T00:00:00+01:00", "x"]],
)
async def test_a_cursor_naming_no_position_is_refused_with_422(
    client: httpx.AsyncClient, connected: dict[str, str], sort_key: list[str]
) -> None:
    cursor = base64.urlsafe_b64encode(orjson.dumps(["events", *sort_key])).decode().rstrip("=")
    answer = await client.get(GET_EVENTS, headers=connected, params={"cursor": cursor})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_cursor"

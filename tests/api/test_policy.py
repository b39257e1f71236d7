"""Per-event policy, pause and the do-not-record guard over HTTP, on SQLite (CONTRACT section 7).

Time is a FakeClock at 2026-11-25T12:00Z; Google is the strict fake behind respx; the Create
Bot API is a respx route that must not be called while a bot is paused or guarded.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
import respx

from app.container import Container
from app.domain import AutoScheduleRules
from app.services.launcher import Launcher
from tests.conftest import BOT_API_URL, meeting
from tests.fake_google import FakeGoogle
from tests.fakes import FakeClock

PRIMARY = "user@example.com"
EVENTS = "/api/v1/calendar/events"
BOTS = "/api/v1/calendar/scheduled_bots"
PAUSE = "/api/v1/calendar/pause"
ENABLE = "/api/v1/calendar/auto-schedule/enable"
CONFIG = {"video_required": False}
LEGAL: dict[str, Any] = {
    "attendees": [
        {"email": "user@example.com", "self": True, "responseStatus": "accepted"},
        {"email": "counsel@legal.example", "responseStatus": "accepted"},
    ]
}


@pytest.fixture
def create_bot(google_mock: respx.MockRouter) -> respx.Route:
    return google_mock.post(BOT_API_URL).mock(
        return_value=httpx.Response(201, json={"bot_id": "ext-1"})
    )


async def synced_events(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    response = await client.get(EVENTS, headers=auth)
    assert response.status_code == 200, response.text
    return {e["google_event_id"]: e for e in response.json()["events"]}


async def stored_events(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/calendar/get_events", headers=auth)
    assert response.status_code == 200, response.text
    return {e["google_event_id"]: e for e in response.json()["events"]}


async def bots(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = await client.get(BOTS, headers=auth)
    assert response.status_code == 200, response.text
    return {b["google_event_id"]: b for b in response.json()["scheduled_bots"]}


async def set_mode(
    client: httpx.AsyncClient, auth: dict[str, str], event_id: str, **body: Any
) -> httpx.Response:
    return await client.put(
        f"/api/v1/calendar/events/{event_id}/auto-schedule", json=body, headers=auth
    )


async def launch(launcher: Launcher) -> int:
    started = await launcher.launch_due()
    await launcher.wait_for_launches()
    return started


async def guard_domains(container: Container, auth: dict[str, str], *domains: str) -> None:
    """Save rules with a do-not-record list, as `enable` with rules does."""
    account_id = await container.api_keys.authenticate(auth["Authorization"].split()[1])
    store = container.stores.auto_schedule
    current = await store.get_auto_schedule(account_id)
    rules = AutoScheduleRules(never_record_domains=domains)
    await store.save_auto_schedule(account_id, dataclasses.replace(current, rules=rules))


# -- per-event policy -------------------------------------------------------------------------


async def test_the_mode_is_answered_shown_on_events_and_survives_every_sync(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(
        PRIMARY, meeting("standup", "2026-11-25T15:00:00Z", "2026-11-25T15:15:00Z")
    )
    event_id = (await synced_events(client, connected))["standup"]["event_id"]
    assert (await stored_events(client, connected))["standup"]["auto_schedule_mode"] == "rules"

    response = await set_mode(client, connected, event_id, mode="never")

    assert response.status_code == 200, response.text
    assert response.json() == {"event_id": event_id, "mode": "never", "occurrence_date": None}
    assert (await stored_events(client, connected))["standup"]["auto_schedule_mode"] == "never"

    # Google changes the meeting (an incremental sync), then forgets our token (410: full).
    fake_google.put_event(
        PRIMARY,
        meeting("standup", "2026-11-25T16:00:00Z", "2026-11-25T16:15:00Z", summary="Moved"),
    )
    assert (await synced_events(client, connected))["standup"]["auto_schedule_mode"] == "never"
    fake_google.expire_sync_tokens = True
    resynced = await synced_events(client, connected)
    assert (resynced["standup"]["summary"], resynced["standup"]["auto_schedule_mode"]) == (
        "Moved",
        "never",
    )


async def test_never_cancels_the_pending_auto_bot_at_once_and_a_manual_bot_stays(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(PRIMARY, meeting("auto", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z"))
    fake_google.put_event(PRIMARY, meeting("mine", "2026-11-25T17:00:00Z", "2026-11-25T18:00:00Z"))
    events = await synced_events(client, connected)
    scheduled = await client.post(
        f"/api/v1/calendar/schedule/{events['mine']['event_id']}",
        json={"bot_config": CONFIG},
        headers=connected,
    )
    assert scheduled.status_code == 201
    assert (
        await client.post(ENABLE, json={"default_bot_config": CONFIG}, headers=connected)
    ).is_success
    assert (await bots(client, connected))["auto"]["status"] == "scheduled"

    for google_id in ("auto", "mine"):
        answer = await set_mode(client, connected, events[google_id]["event_id"], mode="never")
        assert answer.status_code == 200

    after = await bots(client, connected)
    assert after["auto"]["status"] == "cancelled"
    assert "never" in after["auto"]["last_error"]
    assert (after["mine"]["source"], after["mine"]["status"]) == ("manual", "scheduled")


async def test_a_dated_mode_needs_an_occurrence_that_day(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    weekly = meeting(
        "weekly", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z", recurrence=["RRULE:FREQ=WEEKLY"]
    )
    weekly["start"]["timeZone"] = weekly["end"]["timeZone"] = "UTC"
    fake_google.put_event(PRIMARY, weekly)
    fake_google.put_event(PRIMARY, meeting("once", "2026-11-26T15:00:00Z", "2026-11-26T16:00:00Z"))
    events = await synced_events(client, connected)
    weekly_id, once_id = events["weekly"]["event_id"], events["once"]["event_id"]

    next_week = await set_mode(
        client, connected, weekly_id, mode="always", occurrence_date="2026-12-02"
    )
    no_meeting = await set_mode(
        client, connected, weekly_id, mode="always", occurrence_date="2026-12-03"
    )
    other_day = await set_mode(
        client, connected, once_id, mode="never", occurrence_date="2026-11-27"
    )
    own_day = await set_mode(client, connected, once_id, mode="never", occurrence_date="2026-11-26")

    assert next_week.status_code == 200
    assert next_week.json() == {
        "event_id": weekly_id,
        "mode": "always",
        "occurrence_date": "2026-12-02",
    }
    assert no_meeting.status_code == 422
    assert "2026-12-03" in no_meeting.json()["detail"]
    assert other_day.status_code == 422
    assert "2026-11-26" in other_day.json()["detail"]
    assert own_day.status_code == 200
    listed = await stored_events(client, connected)
    # One occurrence's mode is not the series': the event still shows the rules.
    assert (listed["weekly"]["auto_schedule_mode"], listed["once"]["auto_schedule_mode"]) == (
        "rules",
        "never",
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"mode": "sometimes"},
        {"mode": "never", "extra": 1},
        {"mode": "never", "occurrence_date": "soon"},
    ],
    ids=["missing", "unknown-mode", "unknown-field", "bad-date"],
)
async def test_a_bad_mode_body_is_a_422(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    body: dict[str, Any],
) -> None:
    fake_google.put_event(PRIMARY, meeting("m", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z"))
    event_id = (await synced_events(client, connected))["m"]["event_id"]

    response = await set_mode(client, connected, event_id, **body)

    assert response.status_code == 422
    assert all(set(item) == {"loc", "msg", "type"} for item in response.json()["detail"])


async def test_an_unknown_event_is_a_404_and_routes_need_a_connection(
    client: httpx.AsyncClient, auth: dict[str, str], connected: dict[str, str]
) -> None:
    assert (await set_mode(client, connected, "evt_nowhere", mode="never")).status_code == 404


async def test_without_a_connection_policy_and_pause_answer_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    answers = [
        await set_mode(client, auth, "evt_x", mode="never"),
        await client.post(PAUSE, json={"until": "2026-11-26T00:00:00Z"}, headers=auth),
        await client.delete(PAUSE, headers=auth),
    ]
    assert [(a.status_code, a.json()["detail"]) for a in answers] == [
        (404, "No calendar connected")
    ] * 3


# -- pause ------------------------------------------------------------------------------------


async def test_a_pause_cancels_due_bots_with_the_reason_and_nothing_launches(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    fake_google.put_event(PRIMARY, meeting("soon", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z"))
    fake_google.put_event(PRIMARY, meeting("later", "2026-11-27T15:00:00Z", "2026-11-27T16:00:00Z"))
    fake_google.put_event(PRIMARY, meeting("lunch", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"))
    events = await synced_events(client, connected)
    for google_id in ("soon", "later"):
        response = await client.post(
            f"/api/v1/calendar/schedule/{events[google_id]['event_id']}",
            json={"bot_config": CONFIG},
            headers=connected,
        )
        assert response.status_code == 201

    paused = await client.post(
        PAUSE, json={"until": "2026-11-26T09:00:00+01:00"}, headers=connected
    )

    assert paused.status_code == 200, paused.text
    assert paused.json() == {"paused_until": "2026-11-26T08:00:00Z"}
    listed = await bots(client, connected)
    assert listed["soon"]["status"] == "cancelled"
    assert "paused" in listed["soon"]["last_error"]
    assert listed["later"]["status"] == "scheduled"
    settings = await client.get("/api/v1/calendar/auto-schedule/settings", headers=connected)
    assert settings.json()["paused_until"] == "2026-11-26T08:00:00Z"

    # A bot scheduled during the pause is not launched when it comes due.
    lunch = await client.post(
        f"/api/v1/calendar/schedule/{events['lunch']['event_id']}",
        json={"bot_config": CONFIG},
        headers=connected,
    )
    assert lunch.status_code == 201
    clock.set(clock.now().replace(hour=12, minute=57))
    await launch(container.launcher)
    assert create_bot.call_count == 0
    after = await bots(client, connected)
    assert after["lunch"]["status"] == "cancelled"
    assert "paused" in after["lunch"]["last_error"]


@pytest.mark.parametrize(
    "until",
    ["2026-11-25T11:00:00Z", "2026-11-25T12:00:00Z", "2027-11-27T12:00:00Z", "2026-11-26T08:00:00"],
    ids=["past", "now", "too-far", "no-offset"],
)
async def test_a_pause_must_end_in_the_future_within_366_days(
    client: httpx.AsyncClient, connected: dict[str, str], until: str
) -> None:
    response = await client.post(PAUSE, json={"until": until}, headers=connected)

    assert response.status_code == 422
    settings = await client.get("/api/v1/calendar/auto-schedule/settings", headers=connected)
    assert settings.json()["paused_until"] is None


async def test_resume_sweeps_at_once(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(PRIMARY, meeting("soon", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z"))
    await synced_events(client, connected)
    paused = await client.post(PAUSE, json={"until": "2026-11-30T00:00:00Z"}, headers=connected)
    assert paused.status_code == 200
    enabled = await client.post(ENABLE, json={"default_bot_config": CONFIG}, headers=connected)
    assert enabled.json()["paused_until"] == "2026-11-30T00:00:00Z"
    assert await bots(client, connected) == {}  # paused: auto-scheduling creates nothing

    resumed = await client.delete(PAUSE, headers=connected)

    assert resumed.status_code == 200
    assert resumed.json() == {"paused_until": None}
    assert [(b["source"], b["status"]) for b in (await bots(client, connected)).values()] == [
        ("auto_schedule", "scheduled")
    ]
    again = await client.delete(PAUSE, headers=connected)
    assert again.json() == {"paused_until": None}


async def test_a_pause_that_runs_out_resumes_and_sweeps(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
) -> None:
    fake_google.put_event(
        PRIMARY, meeting("evening", "2026-11-25T20:00:00Z", "2026-11-25T21:00:00Z")
    )
    await synced_events(client, connected)
    await client.post(PAUSE, json={"until": "2026-11-25T14:00:00Z"}, headers=connected)
    await client.post(ENABLE, json={"default_bot_config": CONFIG}, headers=connected)
    assert await bots(client, connected) == {}

    clock.set(clock.now().replace(hour=14))
    assert await container.policy.resume_ended_pauses() == 1

    assert list(await bots(client, connected)) == ["evening"]
    settings = await client.get("/api/v1/calendar/auto-schedule/settings", headers=connected)
    assert settings.json()["paused_until"] is None


# -- the do-not-record guard ------------------------------------------------------------------


async def test_scheduling_a_guarded_meeting_is_a_409_naming_the_guard(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    fake_google.put_event(
        PRIMARY, meeting("legal", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z", **LEGAL)
    )
    event_id = (await synced_events(client, connected))["legal"]["event_id"]
    await guard_domains(container, connected, "legal.example")

    response = await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": CONFIG}, headers=connected
    )

    assert response.status_code == 409
    assert response.json()["error"] == "never_record_domain"
    assert "never_record_domains" in response.json()["detail"]
    assert "legal.example" in response.json()["detail"]
    assert await bots(client, connected) == {}


async def test_a_sync_showing_a_guarded_attendee_cancels_a_manual_bot_before_its_launch(
    client: httpx.AsyncClient,
    connected: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
    clock: FakeClock,
    create_bot: respx.Route,
) -> None:
    await guard_domains(container, connected, "legal.example")
    fake_google.put_event(
        PRIMARY, meeting("review", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z")
    )
    event_id = (await synced_events(client, connected))["review"]["event_id"]
    scheduled = await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": CONFIG}, headers=connected
    )
    assert scheduled.status_code == 201

    fake_google.put_event(
        PRIMARY, meeting("review", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z", **LEGAL)
    )
    await synced_events(client, connected)

    bot = (await bots(client, connected))["review"]
    assert bot["status"] == "cancelled"
    assert "never_record_domains" in bot["last_error"]
    assert "legal.example" in bot["last_error"]
    patched = await client.patch(
        f"{BOTS}/{bot['bot_id']}", json={"bot_name": "x"}, headers=connected
    )
    assert patched.status_code == 409
    clock.set(clock.now().replace(hour=14, minute=57))
    await launch(container.launcher)
    assert create_bot.call_count == 0


# -- what the auto-schedule pass makes of the modes -------------------------------------------


async def test_always_beats_the_rules_and_a_dated_never_skips_one_occurrence(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    daily = meeting(
        "daily", "2026-11-24T13:00:00Z", "2026-11-24T13:30:00Z", recurrence=["RRULE:FREQ=DAILY"]
    )
    daily["start"]["timeZone"] = daily["end"]["timeZone"] = "UTC"
    fake_google.put_event(PRIMARY, daily)
    fake_google.put_event(
        PRIMARY,
        meeting("sync", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z", summary="Interview sync"),
    )
    events = await synced_events(client, connected)
    # Today's 13:00 occurrence of the series gets none; tomorrow's is out of the lookahead.
    dated = await set_mode(
        client, connected, events["daily"]["event_id"], mode="never", occurrence_date="2026-11-25"
    )
    assert dated.status_code == 200
    forced = await set_mode(client, connected, events["sync"]["event_id"], mode="always")
    assert forced.status_code == 200

    enabled = await client.post(
        ENABLE,
        json={"default_bot_config": CONFIG, "rules": {"title_exclude": ["interview"]}},
        headers=connected,
    )

    assert enabled.status_code == 200, enabled.text
    listed = await bots(client, connected)
    assert sorted(listed) == ["sync"]  # excluded by the title, but `always`
    assert listed["sync"]["source"] == "auto_schedule"
    explained = await client.get(
        f"/api/v1/calendar/events/{events['daily']['event_id']}/explain",
        params={"occurrence_date": "2026-11-25"},
        headers=connected,
    )
    assert explained.status_code == 200, explained.text
    assert "mode_never" in [reason["code"] for reason in explained.json()["reasons"]]
    assert explained.json()["will_get_bot"] is False


async def test_enabling_a_do_not_record_domain_cancels_a_manual_bot_in_the_same_request(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(
        PRIMARY, meeting("legal", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z", **LEGAL)
    )
    event_id = (await synced_events(client, connected))["legal"]["event_id"]
    scheduled = await client.post(
        f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": CONFIG}, headers=connected
    )
    assert scheduled.status_code == 201
    forced = await set_mode(client, connected, event_id, mode="always")
    assert forced.status_code == 200

    enabled = await client.post(
        ENABLE,
        json={"default_bot_config": CONFIG, "rules": {"never_record_domains": ["Legal.Example"]}},
        headers=connected,
    )

    assert enabled.status_code == 200, enabled.text
    [bot] = (await bots(client, connected)).values()
    assert (bot["source"], bot["status"]) == ("manual", "cancelled")
    assert "legal.example" in bot["last_error"].lower()


async def test_the_guard_wins_over_always(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> None:
    fake_google.put_event(
        PRIMARY, meeting("legal", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z", **LEGAL)
    )
    event_id = (await synced_events(client, connected))["legal"]["event_id"]
    assert (await set_mode(client, connected, event_id, mode="always")).status_code == 200

    enabled = await client.post(
        ENABLE,
        json={"default_bot_config": CONFIG, "rules": {"never_record_domains": ["legal.example"]}},
        headers=connected,
    )

    assert enabled.status_code == 200, enabled.text
    assert await bots(client, connected) == {}

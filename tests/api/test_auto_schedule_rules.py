"""Rules in `POST /auto-schedule/enable` (CONTRACT section 7): validated strictly, echoed with
defaults filled in, applied by the pass, and a change of rules settles the pending bots."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.container import Container
from tests.conftest import meeting
from tests.fake_google import FakeGoogle

PRIMARY = "user@example.com"
TEAM = "team@group.calendar.google.com"
ENABLE = "/api/v1/calendar/auto-schedule/enable"
SETTINGS = "/api/v1/calendar/auto-schedule/settings"
DEFAULT = {"bot_name": "Notes"}
ME = {"email": PRIMARY, "self": True}


def invited(
    event: dict[str, Any], *others: str, answer: str = "accepted", organizer: str | None = None
) -> dict[str, Any]:
    """The event with attendees: me (answering `answer`) and `others`; organised by
    `organizer` (default: me)."""
    boss = organizer or PRIMARY
    event["organizer"] = {"email": boss, "self": boss == PRIMARY}
    event["attendees"] = [
        {**ME, "responseStatus": answer, "organizer": boss == PRIMARY},
        *({"email": email, "responseStatus": "accepted"} for email in others),
    ]
    return event


# Now is Wednesday 2026-11-25 12:00 UTC (13:00 in Berlin, the primary calendar's zone).
MEETINGS: list[tuple[str, dict[str, Any]]] = [
    (
        PRIMARY,
        invited(
            meeting("internal", "2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z"), "ann@example.com"
        ),
    ),
    (
        PRIMARY,
        invited(
            meeting("customer", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z"),
            "bob@customer.example",
            "ann@example.com",
        ),
    ),
    (
        PRIMARY,
        invited(
            meeting("lawyers", "2026-11-25T16:00:00Z", "2026-11-25T17:00:00Z"),
            "eve@eu.legal.example",
            "bob@customer.example",
        ),
    ),
    (
        PRIMARY,
        invited(
            meeting(
                "their-call",
                "2026-11-25T17:00:00Z",
                "2026-11-25T18:00:00Z",
                summary="Interview with Carol",
            ),
            "bob@customer.example",
            answer="tentative",
            organizer="bob@customer.example",
        ),
    ),
    (
        PRIMARY,
        invited(
            meeting("declined", "2026-11-25T18:00:00Z", "2026-11-25T19:00:00Z"),
            "bob@customer.example",
            answer="declined",
            organizer="bob@customer.example",
        ),
    ),
    (
        PRIMARY,
        meeting(
            "early",
            "2026-11-26T06:00:00Z",
            "2026-11-26T06:30:00Z",
            link="https://zoom.us/j/123456789",
        ),
    ),
    (TEAM, meeting("team", "2026-11-26T08:00:00Z", "2026-11-26T09:00:00Z")),
]


@pytest.fixture
async def calendar(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> dict[str, str]:
    for calendar_id, event in MEETINGS:
        fake_google.put_event(calendar_id, event)
    for calendar_id in (PRIMARY, TEAM):
        response = await client.get(
            "/api/v1/calendar/events", params={"calendar_id": calendar_id}, headers=connected
        )
        assert response.status_code == 200
    return connected


async def _bots(client: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/calendar/scheduled_bots", headers=auth)
    bots: list[dict[str, Any]] = response.json()["scheduled_bots"]
    return bots


async def _pending(client: httpx.AsyncClient, auth: dict[str, str]) -> list[str]:
    return sorted(
        b["google_event_id"] for b in await _bots(client, auth) if b["status"] == "scheduled"
    )


async def _enable(
    client: httpx.AsyncClient, auth: dict[str, str], rules: dict[str, Any] | None
) -> httpx.Response:
    body: dict[str, Any] = {"default_bot_config": DEFAULT}
    if rules is not None:
        body["rules"] = rules
    response = await client.post(ENABLE, json=body, headers=auth)
    assert response.status_code == 200, response.text
    return response


ALL = ["customer", "early", "internal", "lawyers", "team", "their-call"]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param({}, ALL, id="defaults: everything but the declined one"),
        pytest.param({"response_status": ["declined"]}, ["declined"], id="response_status"),
        pytest.param({"calendar_ids": [TEAM]}, ["team"], id="calendar_ids"),
        pytest.param(
            {"organizer": "self"},
            ["customer", "early", "internal", "lawyers", "team"],
            id="organizer self",
        ),
        pytest.param({"organizer": "others"}, ["their-call"], id="organizer others"),
        pytest.param(
            {"attendees": "external"}, ["customer", "lawyers", "their-call"], id="external"
        ),
        pytest.param(
            {"attendees": "internal_only"}, ["early", "internal", "team"], id="internal_only"
        ),
        pytest.param(
            {"attendees": "internal_only", "internal_domains": ["example.com", "customer.example"]},
            ["customer", "early", "internal", "team", "their-call"],
            id="internal_domains",
        ),
        pytest.param({"min_attendees": 3}, ["customer", "lawyers"], id="min_attendees"),
        pytest.param(
            {"max_attendees": 1}, ["early", "team"], id="max_attendees (alone counts one)"
        ),
        pytest.param({"title_include": ["INTERVIEW"]}, ["their-call"], id="title_include"),
        pytest.param(
            {"title_exclude": ["interview", "Meeting team"]},
            ["customer", "early", "internal", "lawyers"],
            id="title_exclude",
        ),
        pytest.param({"platforms": ["zoom"]}, ["early"], id="platforms"),
        pytest.param({"weekdays": [4]}, ["early", "team"], id="weekdays (Thursday)"),
        pytest.param(
            {"local_time_from": "16:00", "local_time_to": "18:00"},
            ["customer", "lawyers"],
            id="local time in Berlin",
        ),
        pytest.param(
            {"local_time_to": "09:00", "time_zone": "America/New_York"},
            ["early", "team"],
            id="local time in another zone",
        ),
        pytest.param(
            {"never_record_domains": ["legal.example"]},
            ["customer", "early", "internal", "team", "their-call"],
            id="never_record_domains",
        ),
    ],
)
async def test_each_rule_decides_which_meetings_get_a_bot(
    client: httpx.AsyncClient,
    calendar: dict[str, str],
    rules: dict[str, Any],
    expected: list[str],
) -> None:
    await _enable(client, calendar, rules)
    assert await _pending(client, calendar) == expected


async def test_the_worked_example_external_weekday_meetings_never_legal(
    client: httpx.AsyncClient, calendar: dict[str, str]
) -> None:
    rules = {
        "attendees": "external",
        "weekdays": [1, 2, 3, 4, 5],
        "never_record_domains": ["legal.example"],
    }
    response = await _enable(client, calendar, rules)

    assert await _pending(client, calendar) == ["customer", "their-call"]
    shown = response.json()["rules"]
    assert shown["attendees"] == "external"
    assert shown["internal_domains"] == ["example.com"]  # the account's email domain
    assert shown["time_zone"] == "Europe/Berlin"  # the primary calendar's zone
    assert shown["never_record_domains"] == ["legal.example"]


async def test_rules_are_kept_without_rules_and_reset_by_an_empty_object(
    client: httpx.AsyncClient, calendar: dict[str, str]
) -> None:
    await _enable(client, calendar, {"title_exclude": ["Interview"], "min_attendees": 2})
    kept = await _enable(client, calendar, None)
    assert kept.json()["rules"]["title_exclude"] == ["Interview"]
    assert (await client.post("/api/v1/calendar/auto-schedule/disable", headers=calendar)).json()[
        "rules"
    ]["min_attendees"] == 2

    reset = await _enable(client, calendar, {})
    settings = (await client.get(SETTINGS, headers=calendar)).json()
    assert reset.json()["rules"] == settings["rules"]
    assert settings["rules"]["title_exclude"] == []
    assert settings["rules"]["min_attendees"] is None
    assert settings["paused_until"] is None


async def test_changing_the_rules_cancels_what_no_longer_passes_and_creates_what_now_does(
    client: httpx.AsyncClient, calendar: dict[str, str], container: Container
) -> None:
    events = (await client.get("/api/v1/calendar/get_events", headers=calendar)).json()["events"]
    internal = next(e["event_id"] for e in events if e["google_event_id"] == "internal")
    manual = await client.post(
        f"/api/v1/calendar/schedule/{internal}", json={"bot_config": {}}, headers=calendar
    )
    assert manual.status_code == 201
    await _enable(client, calendar, {"attendees": "internal_only"})
    assert await _pending(client, calendar) == ["early", "internal", "team"]

    await _enable(client, calendar, {"attendees": "external"})

    bots = await _bots(client, calendar)
    assert await _pending(client, calendar) == ["customer", "internal", "lawyers", "their-call"]
    cancelled = {b["google_event_id"]: b["last_error"] for b in bots if b["status"] == "cancelled"}
    assert set(cancelled) == {"early", "team"}
    assert all("rule attendees" in error for error in cancelled.values())
    kept = next(b for b in bots if b["google_event_id"] == "internal")
    assert (kept["bot_id"], kept["source"]) == (manual.json()["bot_id"], "manual")

    # Back to the defaults: the meetings the rules had cancelled get bots again, once.
    await _enable(client, calendar, {})
    assert await container.auto_schedule.run_pass() == 0
    assert await _pending(client, calendar) == ALL


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"organizer": "me"}, "organizer"),
        ({"attendees": "outsiders"}, "attendees"),
        ({"response_status": ["maybe"]}, "response_status"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"title_exclude": [f"word {n}" for n in range(101)]}, "title_exclude"),
        ({"never_record_domains": ["ann@legal.example"]}, "never_record_domains"),
        ({"internal_domains": ["https://example.com"]}, "internal_domains"),
        ({"local_time_from": "9:00"}, "local_time_from"),
        ({"local_time_to": "24:00"}, "local_time_to"),
        ({"local_time_from": "18:00", "local_time_to": "09:00"}, "local_time_to"),
        ({"min_attendees": 5, "max_attendees": 2}, "max_attendees"),
        ({"min_attendees": "3"}, "min_attendees"),
        ({"min_attendees": -1}, "min_attendees"),
        ({"weekdays": [0]}, "weekdays"),
        ({"weekdays": [True]}, "weekdays"),
        ({"platforms": ["skype"]}, "platforms"),
        ({"calendar_ids": "primary"}, "calendar_ids"),
        ({"title_include": [""]}, "title_include"),
    ],
)
async def test_bad_rules_answer_422_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], rules: dict[str, Any], field: str
) -> None:
    response = await client.post(
        ENABLE, json={"default_bot_config": DEFAULT, "rules": rules}, headers=auth
    )

    assert response.status_code == 422
    locations = [item["loc"] for item in response.json()["detail"]]
    assert any(field in location for location in locations), locations
    assert (await client.get(SETTINGS, headers=auth)).json()["enabled"] is False


async def test_the_sweep_after_a_sync_and_the_periodic_pass_apply_the_rules(
    client: httpx.AsyncClient,
    calendar: dict[str, str],
    fake_google: FakeGoogle,
    container: Container,
) -> None:
    await _enable(client, calendar, {"title_exclude": ["interview"], "attendees": "external"})
    before = await _pending(client, calendar)

    fake_google.put_event(
        PRIMARY,
        invited(
            meeting("new-customer", "2026-11-25T20:00:00Z", "2026-11-25T21:00:00Z"),
            "dan@customer.example",
        ),
    )
    fake_google.put_event(
        PRIMARY,
        invited(
            meeting(
                "new-interview",
                "2026-11-25T21:00:00Z",
                "2026-11-25T22:00:00Z",
                summary="Interview: Dan",
            ),
            "dan@customer.example",
        ),
    )
    fake_google.put_event(
        PRIMARY, meeting("new-internal", "2026-11-25T22:00:00Z", "2026-11-25T23:00:00Z")
    )
    synced = await client.get("/api/v1/calendar/events", headers=calendar)
    assert synced.status_code == 200

    assert await _pending(client, calendar) == sorted([*before, "new-customer"])
    assert await container.auto_schedule.run_pass() == 0  # the periodic pass agrees

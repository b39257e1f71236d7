"""Preview (a dry run of the rules) and explain (why one occurrence gets a bot, or not), on the
decision the pass itself makes (CONTRACT section 7)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.container import Container
from tests.api.test_auto_schedule_rules import MEETINGS, PRIMARY, TEAM, invited
from tests.conftest import meeting
from tests.fake_google import FakeGoogle

PREVIEW = "/api/v1/calendar/auto-schedule/preview"
ENABLE = "/api/v1/calendar/auto-schedule/enable"
DEFAULT = {"bot_name": "Notes"}


def _weekly() -> dict[str, Any]:
    series = invited(
        meeting(
            "weekly",
            "2026-11-18T10:00:00Z",
            "2026-11-18T10:30:00Z",
            recurrence=["RRULE:FREQ=WEEKLY"],
            summary="Weekly with customer",
        ),
        "bob@customer.example",
    )
    series["start"]["timeZone"] = "UTC"
    return series


@pytest.fixture
async def calendar(
    client: httpx.AsyncClient, connected: dict[str, str], fake_google: FakeGoogle
) -> dict[str, str]:
    for calendar_id, event in [*MEETINGS, (PRIMARY, _weekly())]:
        fake_google.put_event(calendar_id, event)
    # Today's occurrence of the weekly meeting (the 25th): I declined just this one.
    fake_google.put_event(
        PRIMARY,
        invited(
            meeting(
                "weekly_20261125T100000Z",
                "2026-11-25T10:00:00Z",
                "2026-11-25T10:30:00Z",
                recurringEventId="weekly",
                originalStartTime={"dateTime": "2026-11-25T10:00:00Z"},
            ),
            "bob@customer.example",
            answer="declined",
            organizer="bob@customer.example",
        ),
    )
    for calendar_id in (PRIMARY, TEAM):
        response = await client.get(
            "/api/v1/calendar/events", params={"calendar_id": calendar_id}, headers=connected
        )
        assert response.status_code == 200
    return connected


async def _event_id(client: httpx.AsyncClient, auth: dict[str, str], google_id: str) -> str:
    for calendar_id in (PRIMARY, TEAM):
        listed = await client.get(
            "/api/v1/calendar/get_events", params={"calendar_id": calendar_id}, headers=auth
        )
        for event in listed.json()["events"]:
            if event["google_event_id"] == google_id:
                return str(event["event_id"])
    raise AssertionError(google_id)


async def _bots(client: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/calendar/scheduled_bots", headers=auth)
    bots: list[dict[str, Any]] = response.json()["scheduled_bots"]
    return bots


@pytest.mark.parametrize(
    "rules",
    [
        {},
        {"attendees": "external", "weekdays": [1, 2, 3, 4, 5]},
        {"organizer": "self", "never_record_domains": ["legal.example"]},
        {"title_exclude": ["interview"], "response_status": ["accepted", "declined"]},
    ],
)
async def test_the_preview_shows_exactly_the_bots_enabling_those_rules_creates(
    client: httpx.AsyncClient, calendar: dict[str, str], rules: dict[str, Any]
) -> None:
    preview = await client.post(PREVIEW, json={"rules": rules, "hours": 24}, headers=calendar)
    assert preview.status_code == 200, preview.text
    assert await _bots(client, calendar) == []  # a preview changes nothing

    await client.post(
        ENABLE, json={"default_bot_config": DEFAULT, "rules": rules}, headers=calendar
    )

    rows = preview.json()["occurrences"]
    will = {(r["event_id"], r["occurrence_start"]) for r in rows if r["decision"] == "schedule"}
    made = {(b["event_id"], b["occurrence_start"]) for b in await _bots(client, calendar)}
    assert will == made
    assert will  # every rule set above lets something through


@pytest.mark.parametrize(
    "rules",
    [
        {"attendees": "external", "weekdays": [1, 2, 3, 4, 5]},
        {"attendees": "internal_only", "never_record_domains": ["customer.example"]},
    ],
)
async def test_a_preview_of_a_change_of_rules_shows_the_bots_it_leaves(
    client: httpx.AsyncClient, calendar: dict[str, str], rules: dict[str, Any]
) -> None:
    internal = await _event_id(client, calendar, "internal")
    await client.post(
        f"/api/v1/calendar/schedule/{internal}", json={"bot_config": {}}, headers=calendar
    )
    await client.post(ENABLE, json={"default_bot_config": DEFAULT}, headers=calendar)
    preview = await client.post(PREVIEW, json={"rules": rules, "hours": 24}, headers=calendar)

    await client.post(
        ENABLE, json={"default_bot_config": DEFAULT, "rules": rules}, headers=calendar
    )

    rows = preview.json()["occurrences"]
    kept = {(r["event_id"], r["occurrence_start"]) for r in rows if r["decision"] != "skip"}
    pending = {
        (b["event_id"], b["occurrence_start"])
        for b in await _bots(client, calendar)
        if b["status"] == "scheduled"
    }
    assert kept == pending
    assert (internal, "2026-11-25T14:00:00Z") in pending  # the manual bot stays


async def test_a_preview_lists_every_occurrence_in_order_with_a_reason(
    client: httpx.AsyncClient, calendar: dict[str, str]
) -> None:
    await client.post(ENABLE, json={"default_bot_config": DEFAULT}, headers=calendar)
    response = await client.post(
        PREVIEW, json={"rules": {"attendees": "external"}, "hours": 168}, headers=calendar
    )

    rows = response.json()["occurrences"]
    starts = [row["occurrence_start"] for row in rows]
    assert starts == sorted(starts)
    by_start = {(r["summary"], r["occurrence_start"]): r for r in rows}
    customer = by_start[("Meeting customer", "2026-11-25T15:00:00Z")]
    assert (customer["decision"], customer["reason"]) == ("has_bot", "has_bot")
    saved = (await client.post(PREVIEW, json={"hours": 24}, headers=calendar)).json()
    assert {r["decision"] for r in saved["occurrences"] if r["summary"] != "Meeting declined"} == {
        "has_bot"
    }
    declined = by_start[("Meeting declined", "2026-11-25T18:00:00Z")]
    assert (declined["decision"], declined["reason"]) == ("skip", "declined")
    assert declined["detail"] == "Skipped: you declined this meeting on 25 Nov."
    weekly = by_start[("Weekly with customer", "2026-12-02T10:00:00Z")]
    assert (weekly["decision"], weekly["reason"]) == ("schedule", "will_schedule")
    assert "when it enters the lookahead" in weekly["detail"]
    internal = by_start[("Meeting internal", "2026-11-25T14:00:00Z")]
    assert (internal["decision"], internal["reason"]) == ("skip", "excluded_by_rule")
    assert "rule attendees" in internal["detail"]  # enabling these rules cancels its bot
    assert set(rows[0]) == {
        "event_id",
        "calendar_id",
        "summary",
        "occurrence_start",
        "meeting_link",
        "decision",
        "reason",
        "detail",
    }


async def test_a_preview_with_the_saved_rules_and_before_connecting(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(PREVIEW, json={}, headers=auth)
    assert response.status_code == 200
    assert response.json() == {"occurrences": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hours": 0}, "hours"),
        ({"hours": 745}, "hours"),
        ({"hours": "24"}, "hours"),
        ({"rules": {"weekdays": [9]}}, "weekdays"),
        ({"window": 3}, "window"),
    ],
)
async def test_a_bad_preview_answers_422_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(PREVIEW, json=body, headers=auth)
    assert response.status_code == 422
    assert any(field in item["loc"] for item in response.json()["detail"])


async def test_explain_gives_every_reason_for_one_occurrence(
    client: httpx.AsyncClient, calendar: dict[str, str]
) -> None:
    await client.post(
        ENABLE,
        json={"default_bot_config": DEFAULT, "rules": {"attendees": "internal_only"}},
        headers=calendar,
    )
    weekly = await _event_id(client, calendar, "weekly")

    today = await client.get(
        f"/api/v1/calendar/events/{weekly}/explain",
        params={"occurrence_date": "2026-11-25"},
        headers=calendar,
    )
    assert today.status_code == 200, today.text
    body = today.json()
    assert body["occurrence_start"] == "2026-11-25T10:00:00Z"
    assert body["bot"] is None
    assert body["will_get_bot"] is False
    codes = [reason["code"] for reason in body["reasons"]]
    assert codes == ["ended", "declined", "excluded_by_rule"]
    assert "you declined this meeting on 25 Nov" in body["reasons"][1]["detail"]
    assert "rule attendees" in body["reasons"][2]["detail"]

    internal = await _event_id(client, calendar, "internal")
    upcoming = (
        await client.get(f"/api/v1/calendar/events/{internal}/explain", headers=calendar)
    ).json()
    assert upcoming["will_get_bot"] is True
    assert upcoming["bot"]["source"] == "auto_schedule"
    assert [r["code"] for r in upcoming["reasons"]] == ["has_bot"]


async def test_explain_refuses_what_it_cannot_find(
    client: httpx.AsyncClient, calendar: dict[str, str], auth: dict[str, str], container: Container
) -> None:
    weekly = await _event_id(client, calendar, "weekly")
    no_day = await client.get(
        f"/api/v1/calendar/events/{weekly}/explain",
        params={"occurrence_date": "2026-11-26T00:00"},
        headers=calendar,
    )
    assert no_day.status_code == 422
    not_that_day = await client.get(
        f"/api/v1/calendar/events/{weekly}/explain",
        params={"occurrence_date": "2026-11-24"},
        headers=calendar,
    )
    assert not_that_day.status_code == 422
    assert "no occurrence on 2026-11-24" in not_that_day.json()["detail"]
    unknown = await client.get("/api/v1/calendar/events/evt_nope/explain", headers=calendar)
    assert unknown.status_code == 404

    stranger = await container.api_keys.create("stranger")
    foreign = await client.get(
        f"/api/v1/calendar/events/{weekly}/explain",
        headers={"Authorization": f"Token {stranger.secret}"},
    )
    assert (foreign.status_code, foreign.json()["detail"]) == (404, "No calendar connected")

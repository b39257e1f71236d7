"""A small, stateful fake of Google's token endpoint and Calendar v3, for respx or a real server.

It keeps calendars and events, a change log for sync tokens, pages results, can expire sync
tokens (410), revoke refresh tokens (invalid_grant) and fail the next requests with given
statuses. It reads one event (events.get) or one occurrence of a series (events.instances with
originalStart, tests/google_instances.py). Like a strict Google, it refuses with Google's 400
any request that breaks a rule of tests/google_rules.py, remembering which query each page and
sync token was issued for.
`handle` takes an httpx.Request and answers an httpx.Response, so the same fake serves respx
routes in-process and a loopback HTTP server in end-to-end tests and benchmarks.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx

from tests.google_instances import find_instance
from tests.google_requests import GoogleRequest, TokenMemory
from tests.google_rules import refusal

TOKEN_URL = "https://oauth2.fake-google.test/token"
API_URL = "https://calendar.fake-google.test/calendar/v3"

GOOD_CLIENT_ID = "client-123.apps.googleusercontent.com"
GOOD_CLIENT_SECRET = "GOCSPX-very-secret-value"
GOOD_REFRESH_TOKEN = "1//refresh-token-that-must-stay-secret"
CALENDAR_SCOPES = (
    "https://www.googleapis.com/auth/calendar.readonly "
    "https://www.googleapis.com/auth/calendar.events.readonly "
    "https://www.googleapis.com/auth/userinfo.email"
)


def ical_uid_of(event: dict[str, Any]) -> str:
    """What Google gives an event it made without one: shared by a series' instances (as by
    every copy of a meeting on other calendars, which tests set explicitly)."""
    return f"{event.get('recurringEventId') or event['id']}@google.com"


def _error(status: int, reason: str, message: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "error": {
                "errors": [{"domain": "calendar", "reason": reason, "message": message}],
                "code": status,
                "message": message,
            }
        },
    )


@dataclass
class FakeCalendar:
    entry: dict[str, Any]
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed_at: dict[str, int] = field(default_factory=dict)


class FakeGoogle:
    def __init__(self, token_url: str = TOKEN_URL, api_url: str = API_URL) -> None:
        self.token_url = token_url
        self.api_url = api_url.rstrip("/")
        self.calendars: dict[str, FakeCalendar] = {}
        self.seq = 0
        self.page_size = 250
        self.clients = {GOOD_CLIENT_ID: GOOD_CLIENT_SECRET}
        self.refresh_tokens = {GOOD_REFRESH_TOKEN}
        self.scope = CALENDAR_SCOPES
        self.expire_sync_tokens = False
        self.fail_next: list[int] = []
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.access_tokens: set[str] = set()
        self.watch_requests: list[dict[str, Any]] = []
        self.stopped_channels: list[dict[str, Any]] = []
        self.refuse_watch: set[str] = set()
        self.channel_expiration_ms = "1798761600000"  # 2027-01-01T00:00:00Z
        self.memory = TokenMemory()
        self.refused: list[GoogleRequest] = []
        self.gone: set[str] = set()  # event ids events.get/instances answer 410 (deleted)

    # -- arranging state --------------------------------------------------------------------

    def add_calendar(
        self, calendar_id: str, *, summary: str = "", primary: bool = False, tz: str = "UTC"
    ) -> None:
        entry: dict[str, Any] = {
            "kind": "calendar#calendarListEntry",
            "id": calendar_id,
            "summary": summary or calendar_id,
            "timeZone": tz,
            "accessRole": "owner" if primary else "reader",
        }
        if primary:
            entry["primary"] = True
        self.calendars[calendar_id] = FakeCalendar(entry)

    def put_event(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an event (any Google Event resource); records it as changed."""
        self.seq += 1
        stored = {"kind": "calendar#event", "status": "confirmed", **copy.deepcopy(event)}
        stored.setdefault("iCalUID", ical_uid_of(stored))
        stored["updated"] = f"2026-11-25T10:{self.seq // 60 % 60:02d}:{self.seq % 60:02d}.000Z"
        calendar = self.calendars[calendar_id]
        calendar.events[stored["id"]] = stored
        calendar.changed_at[stored["id"]] = self.seq
        return stored

    def cancel_event(self, calendar_id: str, event_id: str) -> None:
        """Delete an event as Google does: a cancelled tombstone in incremental results."""
        calendar = self.calendars[calendar_id]
        old = calendar.events[event_id]
        tombstone: dict[str, Any] = {
            "kind": "calendar#event",
            "id": event_id,
            "status": "cancelled",
        }
        for key in ("recurringEventId", "originalStartTime"):
            if key in old:
                tombstone[key] = old[key]
        self.put_event(calendar_id, tombstone)

    def forget_event(self, calendar_id: str, event_id: str) -> None:
        """Drop an event with no tombstone (what a full sync after 410 sees)."""
        calendar = self.calendars[calendar_id]
        calendar.events.pop(event_id, None)
        calendar.changed_at.pop(event_id, None)

    def revoke_access(self) -> None:
        """The user removed calbot at myaccount.google.com: every token stops working."""
        self.refresh_tokens.clear()
        self.access_tokens.clear()

    def api_requests(self, path_suffix: str = "") -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if str(r.url).startswith(self.api_url) and r.url.path.endswith(path_suffix)
        ]

    # -- serving ----------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_next:
            return _error(self.fail_next.pop(0), "backendError", "Backend Error")
        seen = self.memory.describe(request)
        refused = refusal(seen) if seen is not None else None
        if seen is not None and refused is not None:
            self.refused.append(seen)
            return refused
        response = self._serve(request)
        if response.is_success and response.content:
            self.memory.remember_answer(request, response.json())
        return response

    def _serve(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url.startswith(self.token_url):
            return self._token(request)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.access_tokens:
            return _error(401, "authError", "Invalid Credentials")
        prefix = httpx.URL(self.api_url).path
        path = request.url.raw_path.decode().split("?")[0][len(prefix) :]
        query = {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}
        if path == "/users/me/calendarList" and request.method == "GET":
            return self._calendar_list(query)
        if path == "/channels/stop" and request.method == "POST":
            self.stopped_channels.append(json.loads(request.content))
            return httpx.Response(204)
        parts = path.split("/")
        if len(parts) >= 4 and parts[1] == "calendars" and parts[3] == "events":
            calendar = self.calendars.get(unquote(parts[2]))
            if calendar is None:
                return _error(404, "notFound", "Not Found")
            if len(parts) == 5 and parts[4] == "watch" and request.method == "POST":
                if calendar.entry["id"] in self.refuse_watch:
                    return _error(
                        400,
                        "pushNotSupportedForRequestedResource",
                        "Push notifications are not supported by this resource.",
                    )
                return self._watch(request)
            if len(parts) == 4 and request.method == "GET":
                return self._events(calendar, query)
            if len(parts) == 5 and request.method == "GET":
                return self._event(calendar, unquote(parts[4]))
            if len(parts) == 6 and parts[5] == "instances" and request.method == "GET":
                return self._instance(calendar, unquote(parts[4]), query.get("originalStart"))
        return _error(404, "notFound", f"No fake for {request.method} {path}")

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        if self.clients.get(form.get("client_id", "")) != form.get("client_secret"):
            return httpx.Response(
                401, json={"error": "invalid_client", "error_description": "Unauthorized"}
            )
        if form.get("refresh_token") not in self.refresh_tokens:
            return httpx.Response(
                400,
                json={
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                },
            )
        self.tokens_issued += 1
        self.access_tokens.add(f"at-{self.tokens_issued}")
        return httpx.Response(
            200,
            json={
                "access_token": f"at-{self.tokens_issued}",
                "expires_in": 3599,
                "scope": self.scope,
                "token_type": "Bearer",
            },
        )

    def _calendar_list(self, query: dict[str, str]) -> httpx.Response:
        entries = [c.entry for c in self.calendars.values()]
        size = min(int(query.get("maxResults", 100)), self.page_size)
        start = int(query.get("pageToken", "0"))
        body: dict[str, Any] = {
            "kind": "calendar#calendarList",
            "items": entries[start : start + size],
        }
        if start + size < len(entries):
            body["nextPageToken"] = str(start + size)
        else:
            body["nextSyncToken"] = "cl-sync"
        return httpx.Response(200, json=body)

    def _events(self, calendar: FakeCalendar, query: dict[str, str]) -> httpx.Response:
        sync_token = query.get("syncToken")
        page_token = query.get("pageToken")
        if sync_token is not None:
            if self.expire_sync_tokens:
                return _error(
                    410,
                    "fullSyncRequired",
                    "Sync token is no longer valid, a full sync is required.",
                )
            since = int(sync_token.removeprefix("tok-"))
            ids = [i for i, seq in calendar.changed_at.items() if seq > since]
            ids.sort(key=lambda i: calendar.changed_at[i])
        else:
            time_min = query.get("timeMin")
            ids = [
                i
                for i, event in calendar.events.items()
                if self._in_full_sync(event) and self._ends_after(event, time_min)
            ]
        snapshot = int(page_token.split(":")[1]) if page_token else self.seq
        start = int(page_token.split(":")[0]) if page_token else 0
        size = min(int(query.get("maxResults", 250)), self.page_size)
        items = [calendar.events[i] for i in ids[start : start + size] if i in calendar.events]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "summary": calendar.entry["summary"],
            "timeZone": calendar.entry["timeZone"],
            "items": items,
        }
        if start + size < len(ids):
            body["nextPageToken"] = f"{start + size}:{snapshot}"
        else:
            body["nextSyncToken"] = f"tok-{snapshot}"
        return httpx.Response(200, json=body)

    @staticmethod
    def _in_full_sync(event: dict[str, Any]) -> bool:
        # No showDeleted (false by default): deleted events are left out, but cancelled
        # exceptions of a live series are still returned (discovery: events.list.showDeleted).
        return event.get("status") != "cancelled" or "recurringEventId" in event

    @staticmethod
    def _ends_after(event: dict[str, Any], time_min: str | None) -> bool:
        if time_min is None or event.get("recurrence") or "end" not in event:
            return True
        end = event["end"].get("dateTime") or event["end"].get("date") + "T00:00:00+00:00"
        return datetime.fromisoformat(end) > datetime.fromisoformat(time_min)

    def _event(self, calendar: FakeCalendar, event_id: str) -> httpx.Response:
        """events.get: the event, a deleted one included (as its cancelled tombstone)."""
        if event_id in self.gone:
            return _error(410, "deleted", "Resource has been deleted")
        event = calendar.events.get(event_id)
        if event is None:
            return _error(404, "notFound", "Not Found")
        return httpx.Response(200, json=event)

    def _instance(
        self, calendar: FakeCalendar, event_id: str, original_start: str | None
    ) -> httpx.Response:
        """events.instances, as calbot asks it: the one occurrence with `originalStart`."""
        if event_id in self.gone:
            return _error(410, "deleted", "Resource has been deleted")
        if original_start is None:
            return _error(400, "invalid", "This fake only answers instances with originalStart")
        found = find_instance(calendar.events, event_id, original_start)
        if found == "gone":
            return _error(404, "notFound", "Not Found")
        if found == "not-recurring":
            return _error(400, "invalid", "The event is not a recurring event.")
        return httpx.Response(
            200,
            json={
                "kind": "calendar#events",
                "summary": calendar.entry["summary"],
                "timeZone": calendar.entry["timeZone"],
                "items": [] if found == "none" else [found],
            },
        )

    def _watch(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        body["calendar_id"] = unquote(request.url.raw_path.decode().split("/")[-3])
        self.watch_requests.append(body)
        return httpx.Response(
            200,
            json={
                "kind": "api#channel",
                "id": body["id"],
                "resourceId": f"res-{body['id']}",
                "resourceUri": "https://www.googleapis.com/calendar/v3/calendars/x/events",
                "token": body.get("token"),
                "expiration": self.channel_expiration_ms,
            },
        )

"""The per-event work of a sync, made cheaper, writes exactly what it wrote before.

Event ids are part of calbot's API and of every stored bot; stored times are compared as text
by the stores' keys and indexes. Their faster forms (issue 13) must give the very same strings
as the straightforward ones, for any input, or stored ids and orderings would shift.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.domain import event_id_for, utc_text
from app.services.event_mapping import map_items


def reference_event_id(account_id: str, calendar_id: str, google_event_id: str) -> str:
    digest = hashlib.blake2b(
        f"{account_id}\x1f{calendar_id}\x1f{google_event_id}".encode(), digest_size=12
    ).digest()
    return "evt_" + base64.b32encode(digest).decode().rstrip("=").lower()


@given(st.text(), st.text(), st.text())
def test_event_ids_are_the_base32_of_their_digest(account: str, calendar: str, google: str) -> None:
    assert event_id_for(account, calendar, google) == reference_event_id(account, calendar, google)


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.one_of(st.none(), st.just(UTC), offsets),
)
def test_stored_times_read_as_strftime_wrote_them(moment: datetime, zone: timezone | None) -> None:
    aware = moment if zone is None else moment.replace(tzinfo=zone)
    in_utc = aware.replace(tzinfo=UTC) if zone is None else aware.astimezone(UTC)
    assert utc_text(aware) == in_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


class _ClockTime(datetime):
    """A datetime subclass, as a frozen clock library hands out (orjson refuses those)."""


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31)))
def test_a_datetime_subclass_reads_as_its_datetime(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    subclassed = _ClockTime.combine(aware.date(), aware.timetz())
    assert utc_text(subclassed) == utc_text(aware) == aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_page_maps_times_statuses_and_ids_as_google_wrote_them() -> None:
    keep_after = datetime(2026, 1, 1, tzinfo=UTC)
    items: list[dict[str, Any]] = [
        {
            "id": "timed",
            "status": "tentative",
            "start": {"dateTime": "2026-11-25T10:00:00+01:00"},
            "end": {"dateTime": "2026-11-25T10:30:00+01:00"},
        },
        {
            "id": "wall-time",
            "start": {"dateTime": "2026-11-25T10:00:00", "timeZone": "America/New_York"},
            "end": {"dateTime": "2026-11-25T09:00:00", "timeZone": "America/New_York"},
        },
        {"id": "all-day", "status": ["odd"], "start": {"date": "2026-11-26"}, "end": {}},
        {"id": "no-start", "start": "2026-11-25"},
    ]
    page = map_items("acc", "cal", items, calendar_zone="Europe/Berlin", keep_after=keep_after)
    got = {
        e.google_event_id: (e.status.value, e.start_time, e.end_time, e.all_day, e.event_id)
        for e in page.upserts
    }
    assert got == {
        "timed": (
            "tentative",
            datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
            datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
            False,
            reference_event_id("acc", "cal", "timed"),
        ),
        # An end before the start is the start (a zero-length meeting).
        "wall-time": (
            "confirmed",
            datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
            datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
            False,
            reference_event_id("acc", "cal", "wall-time"),
        ),
        # Midnight in the calendar's zone; no end: a day long. A status of the wrong type
        # reads as confirmed.
        "all-day": (
            "confirmed",
            datetime(2026, 11, 25, 23, 0, tzinfo=UTC),
            datetime(2026, 11, 26, 23, 0, tzinfo=UTC),
            True,
            reference_event_id("acc", "cal", "all-day"),
        ),
    }

"""Identities: occurrence and meeting keys, calbot's event ids, and why calbot cancels a bot."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar


def _utc_text(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class OccurrenceKey:
    """Which occurrence of an event a bot is for, unchanged while the occurrence moves.

    An occurrence of a series is identified by its original start (Google's
    `originalStartTime`, which a moved occurrence keeps), in UTC to the second; a one-off event
    has a single occurrence, identified by the event itself (`original_start` None), wherever
    it moves. Stores keep the text form (`str(key)`: "single" or the UTC original start) and
    read it back with `parse`.
    """

    original_start: datetime | None = None

    SINGLE_TEXT: ClassVar[str] = "single"

    def __post_init__(self) -> None:
        if self.original_start is not None:
            moment = self.original_start
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError("an occurrence's original start must be timezone-aware")
            object.__setattr__(
                self, "original_start", moment.astimezone(UTC).replace(microsecond=0)
            )

    @classmethod
    def single(cls) -> OccurrenceKey:
        return cls(None)

    @classmethod
    def parse(cls, text: str) -> OccurrenceKey:
        """The key from its stored text; ValueError for text that is neither form."""
        if text == cls.SINGLE_TEXT:
            return cls.single()
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError(f"occurrence key {text!r} has no UTC offset")
        return cls(moment)

    @property
    def is_single(self) -> bool:
        return self.original_start is None

    def __str__(self) -> str:
        if self.original_start is None:
            return self.SINGLE_TEXT
        return _utc_text(self.original_start)


def occurrence_key_for(original_start: datetime | None) -> OccurrenceKey:
    """The key of a series' occurrence by its original start, or of a one-off's (None)."""
    return OccurrenceKey(original_start)


def meeting_key_for(
    ical_uid: str | None, occurrence: OccurrenceKey, start: datetime, meeting_link: str
) -> str:
    """One meeting occurrence, whichever calendar shows it: the canonical identity.

    `ical:{iCalUID}` for a one-off meeting and `ical:{iCalUID}|{original start}` for one
    occurrence of a series: every copy of a meeting shares Google's iCalUID, and an occurrence
    keeps its original start when it moves. Without an iCalUID, `link:{meeting link}|{start}`:
    the canonical join URL and the occurrence's original start (a one-off's current start), as a
    link alone is often a personal room shared by many meetings.
    """
    if ical_uid:
        if occurrence.is_single:
            return f"ical:{ical_uid}"
        return f"ical:{ical_uid}|{occurrence}"
    return f"link:{meeting_link}|{_utc_text(occurrence.original_start or start)}"


@dataclass(frozen=True, slots=True)
class BotCancellation:
    """Why calbot cancelled a bot by itself: a `reason` code of CONTRACT.md section 8 and the
    sentence kept as the bot's `last_error`."""

    reason: str
    sentence: str


MEETING_CANCELLED = BotCancellation(
    "meeting_cancelled", "The meeting was cancelled in Google Calendar."
)
OCCURRENCE_CANCELLED = BotCancellation(
    "meeting_cancelled", "This occurrence of the meeting was cancelled in Google Calendar."
)
MEETING_DELETED = BotCancellation("meeting_deleted", "The meeting was deleted in Google Calendar.")
OCCURRENCE_DELETED = BotCancellation(
    "meeting_deleted",
    "This occurrence of the meeting no longer exists in Google Calendar (the series was "
    "edited, or the meeting stopped or started repeating).",
)
CALENDAR_DROPPED = BotCancellation(
    "meeting_deleted",
    "The meeting's calendar is no longer connected: create_calendar connected a Google "
    "account without it.",
)
SERIES_ENDED = BotCancellation(
    "series_ended",
    "The series now ends before this occurrence (its recurrence was edited in Google Calendar).",
)
LINK_REMOVED = BotCancellation("link_removed", "The meeting no longer has a meeting link.")
DISCONNECTED = BotCancellation("disconnected", "The Google account was disconnected.")
DUPLICATE_OCCURRENCE = BotCancellation(
    "meeting_moved",
    "The meeting changed so that this occurrence is one another scheduled bot already joins.",
)

MODE_NEVER = BotCancellation(
    "mode_never",
    "The meeting's auto-schedule mode was set to never (PUT /events/{event_id}/auto-schedule).",
)


def paused_cancellation(until: datetime) -> BotCancellation:
    """A bot due while the account is paused (`POST /pause`)."""
    return BotCancellation(
        "paused",
        f"Bots are paused until {_utc_text(until)} (POST /pause), and this bot was due to "
        "join before then.",
    )


def never_record_cancellation(domain: str) -> BotCancellation:
    """A bot of a meeting with someone from a do-not-record domain."""
    return BotCancellation(
        "never_record_domain",
        f"The do-not-record guard (never_record_domains) blocks this meeting: someone from "
        f"{domain} is on it.",
    )


# Pairs of lower-case base32 digits by 10-bit value: `event_id_for` runs once per event of a
# sync, and base64.b32encode (pure Python before 3.13) was a tenth of a full sync's mapping.
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_BASE32_PAIRS = tuple(high + low for high in _BASE32 for low in _BASE32)


def event_id_for(account_id: str, calendar_id: str, google_event_id: str) -> str:
    """calbot's event id: stable across syncs and full resyncs, opaque, scoped to the account.

    "evt_" and the lower-cased, unpadded base32 of a 12-byte BLAKE2b digest: 96 bits, written
    as 20 digits of 5 bits (the last 4 bits zero), exactly as base64.b32encode writes them.
    """
    digest = hashlib.blake2b(
        f"{account_id}\x1f{calendar_id}\x1f{google_event_id}".encode(), digest_size=12
    ).digest()
    bits = int.from_bytes(digest, "big") << 4
    p = _BASE32_PAIRS  # written out, not a loop: 0.73 instead of 1.23 us (a sync runs it per event)
    return (
        f"evt_{p[bits >> 90]}{p[(bits >> 80) & 1023]}{p[(bits >> 70) & 1023]}"
        f"{p[(bits >> 60) & 1023]}{p[(bits >> 50) & 1023]}{p[(bits >> 40) & 1023]}"
        f"{p[(bits >> 30) & 1023]}{p[(bits >> 20) & 1023]}{p[(bits >> 10) & 1023]}{p[bits & 1023]}"
    )

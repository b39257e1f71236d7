"""The nouns of calbot: plain data, no I/O, no wire concerns.

Every datetime here is timezone-aware and in UTC unless a field says otherwise.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

# Re-exported (`X as X`) so `from app.domain import OccurrenceKey` keeps working.
from app.identity import CALENDAR_DROPPED as CALENDAR_DROPPED
from app.identity import DISCONNECTED as DISCONNECTED
from app.identity import DUPLICATE_OCCURRENCE as DUPLICATE_OCCURRENCE
from app.identity import LINK_REMOVED as LINK_REMOVED
from app.identity import MEETING_CANCELLED as MEETING_CANCELLED
from app.identity import MEETING_DELETED as MEETING_DELETED
from app.identity import MODE_NEVER as MODE_NEVER
from app.identity import OCCURRENCE_CANCELLED as OCCURRENCE_CANCELLED
from app.identity import OCCURRENCE_DELETED as OCCURRENCE_DELETED
from app.identity import SERIES_ENDED as SERIES_ENDED
from app.identity import BotCancellation as BotCancellation
from app.identity import OccurrenceKey as OccurrenceKey
from app.identity import event_id_for as event_id_for
from app.identity import meeting_key_for as meeting_key_for
from app.identity import never_record_cancellation as never_record_cancellation
from app.identity import occurrence_key_for as occurrence_key_for
from app.identity import paused_cancellation as paused_cancellation


def utc_text(moment: datetime) -> str:
    """The one text form of an instant: UTC, whole seconds, `Z` (`2026-11-24T15:00:00Z`).

    It sorts as text in time order, which the stores' keys and indexes rely on; a naive
    datetime is taken to be UTC already.
    """
    if moment.tzinfo is not UTC:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment.year < 1000:  # strftime writes such a year unpadded; kept as it always was
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if type(moment) is datetime:  # orjson refuses subclasses
        # The same text as strftime, at a fraction of its cost (this runs for every stored
        # time, twice per event of a sync): 0.61 us a call against 1.43 us for isoformat's.
        return _json_dumps(moment, option=_AS_UTC_TEXT)[1:-1].decode()
    # "YYYY-MM-DDTHH:MM:SS" is the first 19 characters of isoformat, whatever follows.
    return moment.isoformat()[:19] + "Z"


_json_dumps = orjson.dumps
# A UTC datetime as JSON: "2026-11-24T15:00:00Z" with the quotes, the seconds' fraction dropped.
_AS_UTC_TEXT = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


class Platform(enum.StrEnum):
    GOOGLE_MEET = "google_meet"
    ZOOM = "zoom"
    MICROSOFT_TEAMS = "microsoft_teams"
    WEBEX = "webex"
    GOTOMEETING = "gotomeeting"
    BLUEJEANS = "bluejeans"
    WHEREBY = "whereby"


@dataclass(frozen=True, slots=True)
class MeetingLink:
    """A join URL in canonical form (https, wrappers removed, the meeting's own query kept)."""

    url: str
    platform: Platform


class EventStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


class ScheduleStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    UNSCHEDULED = "unscheduled"
    CANCELLED = "cancelled"


class ConnectionStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class BotStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    LAUNCHING = "launching"
    LAUNCHED = "launched"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"


PENDING_BOT_STATUSES = (BotStatus.SCHEDULED, BotStatus.LAUNCHING)

FINISHED_BOT_RETENTION = timedelta(days=30)
"""How long a finished bot (launched, failed, cancelled, missed) is kept, as history, once both
its meeting and its last change are that far in the past; the housekeeping job then deletes it."""

STALE_LAUNCH_AFTER = timedelta(minutes=5)
"""A bot still `launching` this long after its last update has lost its launcher (a killed
process) and may be taken over; the Create Bot call's Idempotency-Key makes the retry safe."""


class BotSource(enum.StrEnum):
    MANUAL = "manual"
    AUTO_SCHEDULE = "auto_schedule"
    RECURRENCE = "recurrence"


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    account_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class GoogleCredentials:
    """What the user gave us to reach their calendar. Lives only in the SecretBox."""

    client_id: str
    client_secret: str
    refresh_token: str

    def __repr__(self) -> str:  # never let a secret reach a log line through repr()
        return (
            f"GoogleCredentials(client_id={self.client_id!r}, client_secret=***, refresh_token=***)"
        )


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_at: datetime
    scopes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"AccessToken(token=***, expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True, slots=True)
class Connection:
    account_id: str
    client_id: str
    primary_calendar_id: str
    status: ConnectionStatus
    connected_at: datetime
    # Which credentials the connection was made with (`credentials_fingerprint`): a sync that
    # failed with other ones (a reconnect happened meanwhile) must not mark it revoked.
    credentials_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Calendar:
    calendar_id: str
    summary: str | None
    primary: bool
    time_zone: str | None
    access_role: str | None = None


@dataclass(frozen=True, slots=True)
class SyncState:
    calendar_id: str
    sync_token: str | None
    last_synced_at: datetime | None
    # The generation of the calendar's last full sync (`EventStore.begin_full_sync` made it),
    # read with the token: an incremental sync writes its pages under it.
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One instance of an event. `original_start` identifies it even when it was moved."""

    original_start: datetime
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class OccurrenceOverride:
    """A Google exception of a recurring series: one occurrence moved, edited or cancelled."""

    original_start: datetime
    cancelled: bool
    start: datetime | None = None
    end: datetime | None = None
    meeting_link: MeetingLink | None = None
    google_event_id: str | None = None
    # A modified occurrence is a whole Google event with its own attendees: the connected
    # user may have declined just this one. None: an exception stored before calbot kept them
    # (the series' facts apply).
    attendees: AttendeeFacts | None = None


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """What recurrence needs to expand a Google series.

    `first_start` is the series' first start as a wall-clock-aware datetime in `time_zone`
    (for an all-day series, midnight of its first date in the calendar's zone).
    """

    recurrence: tuple[str, ...]
    first_start: datetime
    duration_seconds: float
    time_zone: str
    all_day: bool


class ResponseStatus(enum.StrEnum):
    """The connected user's answer to an invitation (Google's `responseStatus`)."""

    ACCEPTED = "accepted"
    TENTATIVE = "tentative"
    NEEDS_ACTION = "needsAction"
    DECLINED = "declined"


class AutoScheduleMode(enum.StrEnum):
    """Per-event policy: `always` and `never` override the rules; `rules` lets them decide."""

    ALWAYS = "always"
    NEVER = "never"
    RULES = "rules"


@dataclass(frozen=True, slots=True)
class AttendeeFacts:
    """What the rules and the guard read from Google's `attendees` and `organizer`.

    `domains` holds the lower-cased email domains of the organizer and of every attendee,
    people and rooms alike (the guard looks at all of them); `people` counts attendees that are
    not resources (rooms, equipment). `self_response` is the connected user's answer: for the
    organizer, and for an event without attendees, `accepted`. `omitted` is Google's
    `attendeesOmitted`: the list was cut short, so the attendee rules cannot be checked fully.
    """

    self_response: ResponseStatus = ResponseStatus.ACCEPTED
    organizer_self: bool = True
    organizer_domain: str | None = None
    domains: tuple[str, ...] = ()
    people: int = 0
    omitted: bool = False


NO_ATTENDEES = AttendeeFacts()


@dataclass(slots=True)
class Event:
    """One stored Google event; a recurring series is one Event with `recurrence` set."""

    event_id: str
    calendar_id: str
    google_event_id: str
    summary: str | None
    status: EventStatus
    start_time: datetime
    end_time: datetime
    all_day: bool
    time_zone: str
    recurrence: tuple[str, ...] = ()
    meeting_link: MeetingLink | None = None
    self_declined: bool = False
    updated: str | None = None
    recurring_enabled: bool = True
    schedule_status: ScheduleStatus = ScheduleStatus.UNSCHEDULED
    next_occurrence_start: datetime | None = None
    next_occurrence_end: datetime | None = None
    # Google's iCalUID: shared by every copy of the meeting on every calendar (and by every
    # occurrence of a series); None for an event stored before calbot kept it.
    ical_uid: str | None = None
    # Who is in the meeting, as far as the rules and the do-not-record guard need to know.
    # Plain defaults (both immutable): a default factory is a Python call per Event built,
    # and a listing builds a thousand per request.
    attendees: AttendeeFacts = NO_ATTENDEES
    # Google shows a video link (conference data or hangoutLink) that is not a join link calbot
    # sends bots to (not on a known meeting host, or a host's start link): explain says so.
    unsafe_link: bool = False
    # The per-event policy of auto-scheduling (`PUT /events/{id}/auto-schedule`): calbot's own
    # state, kept across syncs like `recurring_enabled`.
    auto_schedule_mode: AutoScheduleMode = AutoScheduleMode.RULES

    @property
    def is_recurring(self) -> bool:
        return bool(self.recurrence)


@dataclass(slots=True)
class ScheduledBot:
    bot_id: str
    account_id: str
    event_id: str
    calendar_id: str
    google_event_id: str
    occurrence_key: OccurrenceKey
    occurrence_start: datetime
    occurrence_end: datetime
    join_at: datetime
    meeting_link: str
    meeting_platform: Platform
    bot_config: dict[str, Any]
    source: BotSource
    status: BotStatus
    created_at: datetime
    updated_at: datetime
    bot_name: str | None = None
    custom_attributes: dict[str, Any] | None = None
    external_bot_id: str | None = None
    last_error: str | None = None
    attempts: int = 0
    # Bumped by the store on every write of the bot: `update_bot` is a compare-and-set on it,
    # so a writer holding a stale copy loses instead of overwriting a newer change.
    version: int = 0
    # The meeting occurrence across calendars (`meeting_key_for`); None only for a bot stored
    # before calbot kept it, until a sync gives it one.
    meeting_key: str | None = None


def event_meeting_key(event: Event) -> str | None:
    """The meeting identity listed with an event: a one-off's is its bot's `meeting_key`; a
    series' is `ical:{iCalUID}`, which each occurrence's bot follows with `|{original start}`
    (None for a series without an iCalUID, or an event without one and without a link)."""
    if not event.is_recurring:
        if not event.ical_uid and event.meeting_link is None:
            return None
        link = event.meeting_link.url if event.meeting_link else ""
        return meeting_key_for(event.ical_uid, OccurrenceKey.single(), event.start_time, link)
    return f"ical:{event.ical_uid}" if event.ical_uid else None


@dataclass(slots=True)
class SeriesSchedule:
    """ "All future occurrences" of a series: after each occurrence ends, the next gets a bot."""

    account_id: str
    event_id: str
    bot_config: dict[str, Any]
    bot_name: str | None
    custom_attributes: dict[str, Any] | None
    source: BotSource
    active: bool
    last_original_start: datetime
    next_check_at: datetime


@dataclass(frozen=True, slots=True)
class AutoScheduleRules:
    """Which occurrences auto-scheduling gives a bot (CONTRACT section 7).

    None in `internal_domains` and `time_zone` means "the default": the connected account's
    email domain and the primary calendar's zone, filled in when the rules are shown or applied.
    """

    calendar_ids: tuple[str, ...] | None = None
    response_status: tuple[ResponseStatus, ...] = (
        ResponseStatus.ACCEPTED,
        ResponseStatus.TENTATIVE,
        ResponseStatus.NEEDS_ACTION,
    )
    organizer: str = "any"  # "any" | "self" | "others"
    attendees: str = "any"  # "any" | "internal_only" | "external"
    internal_domains: tuple[str, ...] | None = None
    min_attendees: int | None = None
    max_attendees: int | None = None
    title_include: tuple[str, ...] = ()
    title_exclude: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] | None = None
    weekdays: tuple[int, ...] | None = None
    local_time_from: str | None = None  # "HH:MM"
    local_time_to: str | None = None
    time_zone: str | None = None
    never_record_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AutoScheduleSettings:
    enabled: bool = False
    default_bot_config: dict[str, Any] = field(default_factory=dict)
    last_run_at: datetime | None = None
    rules: AutoScheduleRules = field(default_factory=AutoScheduleRules)
    # No bot of the account launches before this instant (`POST /pause`); None: not paused.
    paused_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Channel:
    """A Google push channel on one calendar's events. Only a hash of its token is kept."""

    channel_id: str
    account_id: str
    calendar_id: str
    resource_id: str
    token_hash: str
    expiration: datetime


# Which rows qualify: written once here, called by every storage backend (SQL may express the
# same predicate in a WHERE clause for speed, naming the function; the store contract suite
# holds every backend to it).


def is_pending(status: BotStatus) -> bool:
    """A bot that may still be launched: scheduled, or being launched right now.

    Manual scheduling deduplicates against pending bots only (a cancelled bot does not stop
    the user from scheduling the meeting again); auto-scheduling against a bot in any status
    (a manual bot is never overridden, a bot the user cancelled never recreated).
    """
    return status in PENDING_BOT_STATUSES


def auto_schedule_candidate(event: Event, window_start: datetime, window_end: datetime) -> bool:
    """An event auto-scheduling should look at for the window: it has a meeting link, is not
    cancelled, and a one-off overlaps the window or a series is not over (a series whose
    stored next occurrence is null is over; a merely stale one still counts). A declined
    meeting is looked at: the rules decide (`response_status`, a per-event `always`, and an
    occurrence of a declined series the user accepted on its own)."""
    if event.meeting_link is None or event.status is EventStatus.CANCELLED:
        return False
    if event.start_time >= window_end:
        return False
    if event.is_recurring:
        return event.next_occurrence_start is not None
    return event.end_time > window_start


def is_paused(settings: AutoScheduleSettings, now: datetime) -> bool:
    """The account's pause (`POST /pause`) still holds: nothing launches, nothing is
    auto-scheduled. A pause whose `paused_until` has passed is over, cleared or not."""
    return settings.paused_until is not None and settings.paused_until > now


OccurrenceModes = Mapping[tuple[str, OccurrenceKey], AutoScheduleMode]
"""Per-occurrence modes (`PUT /events/{id}/auto-schedule` with `occurrence_date`), by
(event id, occurrence key): loaded once per pass, looked up per occurrence."""


def auto_schedule_mode_for(
    event: Event, key: OccurrenceKey, occurrence_modes: OccurrenceModes
) -> AutoScheduleMode:
    """The mode that decides one occurrence: its own when one was set, else the event's (a
    series-wide mode set later replaces the occurrences' own, so the two never disagree)."""
    return occurrence_modes.get((event.event_id, key), event.auto_schedule_mode)


def series_moves_on_at(event: Event) -> datetime | None:
    """When a live series' stored next occurrence ends, and the series is due to move on to
    the one after; None for anything else (a one-off, a cancelled series, one with none)."""
    if event.next_occurrence_end is None or not event.recurrence:
        return None
    return None if event.status is EventStatus.CANCELLED else event.next_occurrence_end


def series_needs_next_occurrence(event: Event, now: datetime) -> bool:
    """A live series whose stored next occurrence has already ended by `now`."""
    moves_on_at = series_moves_on_at(event)
    return moves_on_at is not None and moves_on_at <= now


def schedule_status_after_upsert(previous: ScheduleStatus | None) -> ScheduleStatus:
    """calbot's status of an event Google sends again: kept, except that a meeting seen again
    after it was cancelled is no longer cancelled (it becomes unscheduled)."""
    if previous is None or previous is ScheduleStatus.CANCELLED:
        return ScheduleStatus.UNSCHEDULED
    return previous


def generations_dropped_by_full_sync(completed_generation: int) -> range:
    """After a complete full sync, whatever it did not return (an older generation) no longer
    exists at Google, or left calbot's window, and is dropped: every generation below it (none
    is negative), as a range of step 1. A store of items tests each item against it; SQL deletes
    between its bounds."""
    return range(completed_generation)


def dropped_by_full_sync(seen_in_generation: int, completed_generation: int) -> bool:
    """Whether an item stored in `seen_in_generation` is dropped by that full sync."""
    return seen_in_generation in generations_dropped_by_full_sync(completed_generation)


def credentials_fingerprint(credentials: GoogleCredentials) -> str:
    """A one-way digest telling apart two sets of credentials without keeping either: stored
    on the connection, it says whether the credentials a sync used are still the current ones.
    """
    digest = hashlib.blake2b(
        "\x1f".join(
            (credentials.client_id, credentials.client_secret, credentials.refresh_token)
        ).encode(),
        digest_size=16,
        person=b"calbot-creds",
    ).hexdigest()
    return "cred_" + digest


def claims_occurrence_after_disconnect(status: BotStatus) -> bool:
    """Whether a bot still counts for auto-scheduling's "any status" check once its account
    disconnected: only a launched bot does (it is, or was, in its meeting). The others stay as
    history in the bot list, but a reconnected account gets bots as if it had never connected."""
    return status is BotStatus.LAUNCHED


def purgeable_bot(bot: ScheduledBot, cutoff: datetime) -> bool:
    """A finished bot whose occurrence ended, and which last changed, before the cutoff. No
    pass looks at an occurrence that long over, so deleting its bot changes nothing but the
    history; a cancelled bot of a meeting still ahead stays (auto-scheduling must not bring it
    back)."""
    return not is_pending(bot.status) and bot.occurrence_end < cutoff and bot.updated_at < cutoff


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A webhook message (CONTRACT section 8), written in the same store write as the change it
    reports and delivered later, to every matching endpoint of the account, by the dispatcher.

    `message_id` is `msg_` + random and is the `webhook-id` of every delivery attempt; `data`
    is the message's JSON `data` object exactly as it will be sent.
    """

    message_id: str
    account_id: str
    type: str
    created_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SyncHealth:
    """How a calendar's syncs have been going (CONTRACT section 8, sync status).

    `last_sync_at` is the last attempt, whatever its outcome; `failing_since` the first failure
    of the current run of failures (None once a sync succeeds), so a calendar that never synced
    well still ages towards `stale`. Recorded by every sync (push, polling, a client's read)
    and by every valid push notification.
    """

    account_id: str
    calendar_id: str
    last_sync_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    last_notification_at: datetime | None = None


def sync_healthy_since(health: SyncHealth) -> datetime | None:
    """The instant a calendar's staleness is measured from: its last success, else the start of
    the failures that kept it from ever succeeding (None: nothing happened yet)."""
    return health.last_success_at or health.failing_since


def sync_is_stale(reference: datetime | None, now: datetime, poll_interval_seconds: int) -> bool:
    """Stale: the last success (see `sync_healthy_since`) is older than twice the polling
    interval, so even the safety-net poll has failed or not run at least twice."""
    if reference is None:
        return False
    return now - reference > timedelta(seconds=2 * poll_interval_seconds)


SYNC_FAILED_NOTICE_EVERY = 10


def sync_failure_notified(consecutive_failures: int) -> bool:
    """Whether this failure in a row gets a `calendar.sync_failed` message: the 1st, the 3rd and
    every 10th (CONTRACT section 8), so a calendar failing every poll does not flood a client."""
    return consecutive_failures in (1, 3) or (
        consecutive_failures > 0 and consecutive_failures % SYNC_FAILED_NOTICE_EVERY == 0
    )

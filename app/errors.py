"""Every failure a user can see, as a type that carries its HTTP status and sentence.

    CalbotError
    ├── NotAuthenticated (401)
    ├── NotFound (404)
    │   ├── NoCalendarConnected, CalendarNotFound, EventNotFound, BotNotFound, UnknownChannel
    ├── Unprocessable (422)
    │   ├── NoMeetingLink, NotRecurring, NoOccurrenceOnDate, InvalidCursor, InvalidBotUpdate
    │   └── UnreadableEvent           a time zone or recurrence rule calbot cannot follow
    ├── Conflict (409)
    │   ├── EventCancelled, OccurrenceEnded, NoFurtherOccurrence, BotNotPending
    │   └── CredentialsRevoked        the user withdrew calbot's access: reconnect
    ├── InvalidGoogleCredentials (400) Google refused the client id/secret/refresh token
    ├── GoogleUnavailable (502)        Google failed or was unreachable after retries
    ├── GoogleRateLimited (503)        Google kept rate-limiting us after retries
    ├── UpstreamRejected (502)         Google refused a request for a reason the user can't fix
    └── StorageUnavailable (503)

`SyncTokenExpired` is not a user-facing error: the sync service handles it with a full resync.
"""

from __future__ import annotations


class CalbotError(Exception):
    status_code: int = 500
    code: str = "internal_error"
    detail: str = "Something went wrong."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or type(self).detail
        super().__init__(self.detail)


class NotAuthenticated(CalbotError):
    status_code = 401
    code = "not_authenticated"
    detail = "Send a valid API key as 'Authorization: Token <API_KEY>'."


class NotFound(CalbotError):
    status_code = 404
    code = "not_found"
    detail = "Not found."


class NoCalendarConnected(NotFound):
    code = "no_calendar_connected"
    detail = "No calendar connected"


class CalendarNotFound(NotFound):
    code = "calendar_not_found"
    detail = "Calendar not found among this account's connected calendars."


class EventNotFound(NotFound):
    code = "event_not_found"
    detail = "Event not found."


class UnknownChannel(NotFound):
    code = "unknown_channel"
    detail = "Unknown channel."


class BotNotFound(NotFound):
    code = "bot_not_found"
    detail = "Scheduled bot not found."


class Unprocessable(CalbotError):
    status_code = 422
    code = "unprocessable"


class NoMeetingLink(Unprocessable):
    code = "no_meeting_link"
    detail = "This event has no meeting link a bot could join."


class NotRecurring(Unprocessable):
    code = "not_recurring"
    detail = "This event is not a recurring series."


class NoOccurrenceOnDate(Unprocessable):
    code = "no_occurrence_on_date"
    detail = "The series has no occurrence on that date."


class InvalidCursor(Unprocessable):
    code = "invalid_cursor"
    detail = "This cursor is not valid for this list; start again without it."


class InvalidBotUpdate(Unprocessable):
    code = "invalid_bot_update"


class UnreadableEvent(Unprocessable):
    """The detail is the sentence recurrence or zones gave: which zone or rule, and why."""

    code = "unreadable_event"
    detail = "calbot cannot work out this event's occurrences."


class Conflict(CalbotError):
    status_code = 409
    code = "conflict"


class EventCancelled(Conflict):
    code = "event_cancelled"
    detail = "This meeting was cancelled in Google Calendar."


class OccurrenceEnded(Conflict):
    code = "occurrence_ended"
    detail = "This meeting has already ended."


class NoFurtherOccurrence(Conflict):
    code = "no_further_occurrence"
    detail = "The series has no further occurrence."


class BotNotPending(Conflict):
    code = "bot_not_pending"
    detail = "This bot is no longer scheduled, so it cannot be changed."


class CredentialsRevoked(Conflict):
    code = "credentials_revoked"
    detail = (
        "Google no longer accepts the stored refresh token (access revoked or expired). "
        "Reconnect with POST /api/v1/calendar/create_calendar and a new refresh token."
    )

    def __init__(self, detail: str | None = None, *, google_reason: str | None = None) -> None:
        super().__init__(detail)
        self.google_reason = google_reason


class InvalidGoogleCredentials(CalbotError):
    status_code = 400
    code = "invalid_google_credentials"
    detail = "Google rejected these credentials."


class GoogleUnavailable(CalbotError):
    status_code = 502
    code = "google_unavailable"
    detail = "Google Calendar could not be reached; try again shortly."


class GoogleRateLimited(CalbotError):
    status_code = 503
    code = "google_rate_limited"
    detail = "Google Calendar is rate-limiting requests; try again in a minute."


class UpstreamRejected(CalbotError):
    status_code = 502
    code = "upstream_rejected"
    detail = "Google Calendar refused the request."


class StorageUnavailable(CalbotError):
    status_code = 503
    code = "storage_unavailable"
    detail = "Storage is unavailable; try again shortly."


class SyncTokenExpired(Exception):
    """Google answered 410 Gone to a syncToken: the calendar must be fully re-synced."""


class BotLaunchRejected(Exception):
    """The Create Bot API refused the bot for good (a 4xx other than 408/429)."""

    def __init__(self, status_code: int, reason: str) -> None:
        self.status_code = status_code
        self.reason = reason
        super().__init__(f"Create Bot API answered {status_code}: {reason}")


class BotApiUnavailable(Exception):
    """The Create Bot API kept failing transiently until the meeting ended."""

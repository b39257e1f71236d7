"""Every failure a user can see, as a type that carries its HTTP status and sentence.

    CalbotError
    ├── NotAuthenticated (401)
    ├── NotFound (404)
    │   ├── NoCalendarConnected, CalendarNotFound, EventNotFound, BotNotFound, UnknownChannel
    │   ├── WebhookEndpointNotFound, WebhookDeliveryNotFound
    ├── Unprocessable (422)
    │   ├── NoMeetingLink, NotRecurring, NoOccurrenceOnDate, InvalidCursor, InvalidBotUpdate
    │   ├── UnreadableEvent           a time zone or recurrence rule calbot cannot follow
    │   ├── ConnectLinkClientMissing
    │   └── InvalidWebhookEndpoint    a URL calbot may not POST to, an unknown event type
    ├── Conflict (409)
    │   ├── EventCancelled, OccurrenceEnded, NoFurtherOccurrence, BotNotPending
    │   ├── TooManyWebhookEndpoints   at most 10 per account
    │   └── CredentialsRevoked        the user withdrew calbot's access: reconnect
    ├── InvalidGoogleCredentials (400) Google refused the client id/secret/refresh token
    ├── GoogleUnavailable (502)        Google failed or was unreachable after retries
    ├── GoogleRateLimited (503)        Google kept rate-limiting us after retries
    ├── UpstreamRejected (502)         Google refused a request for a reason the user can't fix
    ├── StorageUnavailable (503)
    └── ConsentFailed (400)            the consent flow cannot go on; `title` heads its page
        ├── ConsentNotConfigured, ConnectLinkInvalid, InvalidConsentState, ConsentDenied,
        │   MissingAuthorizationCode, CodeExchangeRejected, NoRefreshToken,
        │   CalendarScopeNotGranted
        └── CalendarConnectFailed      connecting failed after the exchange; keeps that status

`SyncTokenExpired` is not a user-facing error: the sync service handles it with a full resync.
"""

from __future__ import annotations

import re
from typing import Final

REVOKE_ACCESS_URL: Final = "https://myaccount.google.com/permissions"
_MAX_ECHO_CHARS: Final = 200
_GOOGLE_ERROR_CODE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


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


# -- the consent flow: each error is a page the browser (or `calbot google-auth`) shows ----------


class ConsentFailed(CalbotError):
    status_code = 400
    code = "consent_failed"
    detail = "Google sign-in failed: start again."
    title = "Google sign-in failed"


class ConsentNotConfigured(ConsentFailed):
    code = "consent_not_configured"
    detail = (
        "No Google OAuth client is configured: set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET, "
        "then start again."
    )
    title = "Google OAuth client not configured"


class ConnectLinkInvalid(ConsentFailed):
    code = "connect_link_invalid"
    detail = (
        "This connect link is unknown, expired or already used: ask for a new one "
        "(POST /api/v1/calendar/connect-link)."
    )
    title = "Connect link not valid"


class InvalidConsentState(ConsentFailed):
    code = "invalid_consent_state"
    detail = (
        "This sign-in response is invalid, expired or was already used: start again from the "
        "beginning (the start page or your connect link)."
    )
    title = "Start again"


class ConsentDenied(ConsentFailed):
    """Google redirected back with `?error=...` (the user declined, or an admin policy)."""

    code = "consent_denied"
    detail = "Google did not grant access: start again and allow calbot on the consent screen."
    title = "OAuth Error"

    def __init__(self, google_error: str, description: str | None = None) -> None:
        shown = google_error if _GOOGLE_ERROR_CODE.fullmatch(google_error) else "unknown_error"
        self.google_error = shown
        said = f"{shown}: {clip(description)}" if description else shown
        hint = (
            "access was declined on the consent screen"
            if shown == "access_denied"
            else "Google refused the request"
        )
        super().__init__(
            f"Google said {said} ({hint}). Start again and allow calbot on the consent screen."
        )


class MissingAuthorizationCode(ConsentFailed):
    code = "missing_authorization_code"
    detail = "Google sent no authorization code: start again."
    title = "Missing authorization code"


class CodeExchangeRejected(ConsentFailed):
    """Google's token endpoint refused the code (`{"error", "error_description"}`)."""

    code = "code_exchange_rejected"
    title = "Token Exchange Failed"

    def __init__(self, google_error: str, description: str) -> None:
        self.google_error = google_error
        self.google_description = description
        said = f"Google said: {google_error}: {description}."
        if google_error == "invalid_grant":
            hint = (
                "The authorization code expired, was already used, or the redirect URI or PKCE "
                "verifier did not match: start again."
            )
        elif google_error in ("invalid_client", "unauthorized_client", "deleted_client"):
            hint = "Check the OAuth client id and secret (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET)."
        elif google_error == "redirect_uri_mismatch":
            hint = "Register this redirect URI on the OAuth client in Google Cloud Console."
        else:
            hint = "Start again; if it keeps failing, check the OAuth client's settings."
        super().__init__(f"Google refused to exchange the authorization code. {said} {hint}")


class NoRefreshToken(ConsentFailed):
    code = "no_refresh_token"
    detail = (
        f"Not returned — revoke access at {REVOKE_ACCESS_URL} and try again. Google only returns "
        "a refresh token on the first consent or after a revoke."
    )
    title = "Refresh token not returned"


class CalendarScopeNotGranted(ConsentFailed):
    code = "calendar_scope_not_granted"
    detail = (
        "Google granted access without permission to see your calendars "
        "(calendar.readonly). Start again and tick calendar access on the consent screen."
    )
    title = "Calendar access not granted"


class CalendarConnectFailed(ConsentFailed):
    """The code was exchanged but connecting the calendar failed; keeps that error's status."""

    code = "calendar_connect_failed"
    title = "Could not connect your calendar"

    def __init__(self, cause: CalbotError) -> None:
        self.status_code = cause.status_code
        self.cause_code = cause.code
        super().__init__(cause.detail)


class ConnectLinkClientMissing(Unprocessable):
    code = "connect_link_client_missing"
    detail = (
        "No OAuth client for this link: send google_client_id and google_client_secret in the "
        "body, or configure GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET."
    )


# -- webhooks (CONTRACT section 8) ------------------------------------------------------------


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    detail = "Webhook endpoint not found."


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    detail = "Webhook delivery not found."


class InvalidWebhookEndpoint(Unprocessable):
    """The detail says what is wrong with the URL or the event types."""

    code = "invalid_webhook_endpoint"
    detail = "This webhook endpoint cannot be used."


class TooManyWebhookEndpoints(Conflict):
    code = "too_many_webhook_endpoints"
    detail = (
        "This account already has 10 webhook endpoints, the most it may have: delete one "
        "(DELETE /api/v1/calendar/webhook-endpoints/{endpoint_id}) before adding another."
    )


def clip(text: str | None) -> str:
    """Outside text, trimmed to a length a sentence can quote."""
    text = (text or "").strip()
    return text if len(text) <= _MAX_ECHO_CHARS else text[: _MAX_ECHO_CHARS - 1] + "…"


# -- not user-facing -----------------------------------------------------------------------------


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

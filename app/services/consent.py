"""The built-in Google OAuth consent flow: authorization URL, callback, one-time connect links.

State and PKCE need no server memory, so any replica holding the key can finish a flow:

- `state` is `base64url(payload) "." base64url(HMAC-SHA256(state_key, payload))`. The JSON
  payload carries a random nonce, the redirect URI (the exchange must repeat the authorize one
  exactly [notes §1]), the client id, the connect link id (if any) and an expiry
  `STATE_TTL` away. It is signed, not encrypted: it travels through the browser and Google and
  holds nothing secret.
- The PKCE `code_verifier` is `base64url(HMAC-SHA256(pkce_key, nonce))`: 43 characters of the
  unreserved set (RFC 7636 section 4.1 allows 43-128), re-derived from the nonce at the callback;
  the authorization URL carries only its S256 challenge.
- Both keys are derived from the master key (ENCRYPTION_KEY or the local key file) by HMAC with a
  label, so neither equals the AES key of the secret box.

What does live in this process's memory: the nonces already used (a replayed callback is told to
start again; on another replica Google itself refuses the spent code) and the connect links,
whose client secret is kept in memory only, for at most `CONNECT_LINK_TTL`, until one callback
consumes the link. A link whose flow fails before it connected anything becomes usable again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol
from urllib.parse import quote, urlencode

from app.adapters.ports import Clock, OAuthCodeExchanger
from app.domain import GoogleCredentials
from app.errors import CalbotError, ConsentFailed, Unprocessable
from app.services.connection import CALENDAR_LIST_SCOPES, ConnectedCalendars

# The vendor guide's helper asks for exactly these (seed guide section 1, "Required scopes").
CONSENT_SCOPES: Final = (
    "https://www.googleapis.com/auth/calendar.events.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)
STATE_TTL: Final = timedelta(minutes=10)
CONNECT_LINK_TTL: Final = timedelta(minutes=15)
REVOKE_ACCESS_URL: Final = "https://myaccount.google.com/permissions"
MAX_LIVE_LINKS_PER_ACCOUNT: Final = 10
MAX_REMEMBERED_NONCES: Final = 100_000
_MAX_STATE_CHARS: Final = 2048
_MAX_ECHO_CHARS: Final = 200
_GOOGLE_ERROR_CODE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_STATE_KEY_LABEL: Final = b"calbot/google-consent/state/v1"
_PKCE_KEY_LABEL: Final = b"calbot/google-consent/pkce/v1"


# -- errors: each one is a page the browser (or the CLI) shows -----------------------------------


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
        said = f"{shown}: {_clip(description)}" if description else shown
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


# -- ports ---------------------------------------------------------------------------------------


class CalendarConnector(Protocol):
    async def connect(self, account_id: str, credentials: GoogleCredentials) -> ConnectedCalendars:
        """Check the credentials with Google, list the calendars and store the connection."""
        ...


# -- values --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OAuthClient:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, client_secret=***)"


@dataclass(frozen=True, slots=True)
class ConsentStart:
    """Where to send the browser; `nonce` is what the browser binding (a cookie) must carry."""

    authorize_url: str
    state: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConsentState:
    nonce: str
    redirect_uri: str
    client_id: str
    link_id: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConnectLink:
    link_id: str
    account_id: str
    client: OAuthClient
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConnectLinkIssued:
    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshTokenIssued:
    """The helper outcome: the refresh token, to be shown once and never stored."""

    refresh_token: str
    client_id: str
    scopes: tuple[str, ...]
    access_token_expires_at: datetime
    refresh_token_expires_at: datetime | None

    def __repr__(self) -> str:
        return f"RefreshTokenIssued(client_id={self.client_id!r}, refresh_token=***)"


@dataclass(frozen=True, slots=True)
class CalendarConnected:
    """The connect-link outcome: the account's calendar is connected; no token leaves calbot."""

    account_id: str
    connected: ConnectedCalendars


ConsentOutcome = RefreshTokenIssued | CalendarConnected


# -- the flow ------------------------------------------------------------------------------------


class ConsentService:
    def __init__(
        self,
        exchanger: OAuthCodeExchanger,
        clock: Clock,
        *,
        key: bytes,
        authorize_url: str,
        client_id: str | None,
        client_secret: str | None,
        connector: CalendarConnector | None = None,
        state_ttl: timedelta = STATE_TTL,
        link_ttl: timedelta = CONNECT_LINK_TTL,
    ) -> None:
        """`key` is the master key; `connector` is needed only for connect links."""
        if len(key) < 16:
            raise ValueError("The consent flow needs a key of at least 16 bytes.")
        self._exchanger = exchanger
        self._clock = clock
        self._state_key = hmac.new(key, _STATE_KEY_LABEL, hashlib.sha256).digest()
        self._pkce_key = hmac.new(key, _PKCE_KEY_LABEL, hashlib.sha256).digest()
        self._authorize_url = authorize_url
        self._client_id = client_id or None
        self._client_secret = client_secret or None
        self._connector = connector
        self._state_ttl = state_ttl
        self._link_ttl = link_ttl
        self._links: dict[str, ConnectLink] = {}
        self._used_nonces: dict[str, datetime] = {}

    # -- start ---------------------------------------------------------------------------------

    def begin(
        self,
        *,
        redirect_uri: str,
        client_id: str | None = None,
        link_token: str | None = None,
    ) -> ConsentStart:
        """The authorization URL of a new flow. A connect link brings its own client (and then
        `client_id` is ignored); otherwise the configured one, whose id `client_id` may repeat."""
        link_id: str | None = None
        if link_token:
            link = self._live_link(_link_id(link_token))
            client, link_id = link.client, link.link_id
        else:
            client = self._configured_client(client_id)
        nonce = secrets.token_urlsafe(16)
        expires_at = self._clock.now() + self._state_ttl
        state = self._sign(
            {
                "v": 1,
                "n": nonce,
                "r": redirect_uri,
                "c": client.client_id,
                "l": link_id,
                "e": int(expires_at.timestamp()),
            }
        )
        params = {
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(CONSENT_SCOPES),
            "access_type": "offline",  # without it, no refresh token [notes §1]
            "prompt": "consent",  # re-consent mints a refresh token even for a returning user
            "include_granted_scopes": "true",
            "state": state,
            "code_challenge": pkce_challenge(self.code_verifier(nonce)),
            "code_challenge_method": "S256",
        }
        separator = "&" if "?" in self._authorize_url else "?"
        url = f"{self._authorize_url}{separator}{urlencode(params, quote_via=quote)}"
        return ConsentStart(authorize_url=url, state=state, nonce=nonce, expires_at=expires_at)

    def code_verifier(self, nonce: str) -> str:
        digest = hmac.new(self._pkce_key, nonce.encode(), hashlib.sha256).digest()
        return _b64encode(digest)

    # -- callback ------------------------------------------------------------------------------

    async def finish(
        self,
        *,
        state: str | None,
        code: str | None,
        error: str | None = None,
        error_description: str | None = None,
        browser_nonces: Collection[str] | None = None,
    ) -> ConsentOutcome:
        """Check the state, exchange the code, then hand out the refresh token or connect.

        `browser_nonces` are the nonces the caller's browser vouches for (its cookies); `None`
        when the caller checked the state some other way (the CLI's own listener). Nothing is
        said about Google's `error` unless the state is genuine, so a forged link cannot put
        words on the page.
        """
        consent = self.read_state(state)
        if browser_nonces is not None and consent.nonce not in browser_nonces:
            raise InvalidConsentState(
                "This browser did not start this sign-in (or it blocks cookies): start again "
                "in the same browser."
            )
        self._use_nonce(consent)
        if error:
            raise ConsentDenied(error, error_description)
        if not code:
            raise MissingAuthorizationCode()
        link = self._take_link(consent.link_id) if consent.link_id else None
        try:
            return await self._redeem(consent, code, link)
        except BaseException:
            if link is not None:  # nothing was connected: the link may be tried again
                self._links[link.link_id] = link
            raise

    async def _redeem(
        self, consent: ConsentState, code: str, link: ConnectLink | None
    ) -> ConsentOutcome:
        client = link.client if link else self._configured_client(consent.client_id)
        grant = await self._exchanger.exchange_code(
            client_id=client.client_id,
            client_secret=client.client_secret,
            code=code,
            redirect_uri=consent.redirect_uri,
            code_verifier=self.code_verifier(consent.nonce),
        )
        # Granular consent: the user may untick calendar access [notes §1].
        if grant.scopes and not CALENDAR_LIST_SCOPES & set(grant.scopes):
            raise CalendarScopeNotGranted()
        if not grant.refresh_token:
            raise NoRefreshToken()
        if link is None:
            now = self._clock.now()
            lifetime = grant.refresh_token_expires_in
            return RefreshTokenIssued(
                refresh_token=grant.refresh_token,
                client_id=client.client_id,
                scopes=grant.scopes,
                access_token_expires_at=now + timedelta(seconds=grant.expires_in),
                refresh_token_expires_at=None
                if lifetime is None
                else now + timedelta(seconds=lifetime),
            )
        if self._connector is None:
            raise RuntimeError("Connect links need a ConsentService built with a connector.")
        credentials = GoogleCredentials(
            client_id=client.client_id,
            client_secret=client.client_secret,
            refresh_token=grant.refresh_token,
        )
        try:
            connected = await self._connector.connect(link.account_id, credentials)
        except CalbotError as error:
            raise CalendarConnectFailed(error) from error
        return CalendarConnected(account_id=link.account_id, connected=connected)

    # -- connect links -------------------------------------------------------------------------

    def create_connect_link(
        self,
        account_id: str,
        *,
        start_url: str,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> ConnectLinkIssued:
        """A single-use link to `start_url` that connects the calendar of whoever completes it
        to `account_id`. The client comes from the arguments or else the configuration."""
        if self._connector is None:
            raise RuntimeError("Connect links need a ConsentService built with a connector.")
        client = self._link_client(client_id, client_secret)
        now = self._clock.now()
        self._forget_expired_links(now)
        token = secrets.token_urlsafe(32)
        link = ConnectLink(_link_id(token), account_id, client, now + self._link_ttl)
        own = [item for item in self._links.values() if item.account_id == account_id]
        for oldest in own[: max(len(own) - MAX_LIVE_LINKS_PER_ACCOUNT + 1, 0)]:
            del self._links[oldest.link_id]
        self._links[link.link_id] = link
        separator = "&" if "?" in start_url else "?"
        return ConnectLinkIssued(
            url=f"{start_url}{separator}{urlencode({'link': token})}",
            expires_at=link.expires_at,
        )

    def _link_client(self, client_id: str | None, client_secret: str | None) -> OAuthClient:
        if client_secret:
            if not client_id:
                raise ConnectLinkClientMissing(
                    "Send google_client_id together with google_client_secret."
                )
            return OAuthClient(client_id, client_secret)
        wanted = client_id or self._client_id
        if (
            not wanted
            or not self._client_secret
            or (self._client_id is not None and wanted != self._client_id)
        ):
            raise ConnectLinkClientMissing()
        return OAuthClient(wanted, self._client_secret)

    def _live_link(self, link_id: str) -> ConnectLink:
        link = self._links.get(link_id)
        if link is None or link.expires_at <= self._clock.now():
            raise ConnectLinkInvalid()
        return link

    def _take_link(self, link_id: str) -> ConnectLink:
        link = self._live_link(link_id)
        del self._links[link_id]
        return link

    def _forget_expired_links(self, now: datetime) -> None:
        for link_id in [i for i, link in self._links.items() if link.expires_at <= now]:
            del self._links[link_id]

    # -- clients -------------------------------------------------------------------------------

    def _configured_client(self, requested_id: str | None) -> OAuthClient:
        """The configured client; `requested_id` may name it, or name the client that a
        configured secret without GOOGLE_CLIENT_ID belongs to. A secret never comes from a URL."""
        client_id = (requested_id or "").strip() or self._client_id
        if not client_id:
            raise ConsentNotConfigured()
        if self._client_id is not None and client_id != self._client_id:
            raise ConsentNotConfigured(
                f"calbot has no client secret for the OAuth client {_clip(client_id)}: "
                "GOOGLE_CLIENT_SECRET belongs to GOOGLE_CLIENT_ID. Configure GOOGLE_CLIENT_ID "
                "and GOOGLE_CLIENT_SECRET for this client, or create a connect link "
                "(POST /api/v1/calendar/connect-link) that carries it."
            )
        if self._client_secret is None:
            raise ConsentNotConfigured(
                "GOOGLE_CLIENT_SECRET is not set: Google exchanges the authorization code only "
                "with the client secret. Set GOOGLE_CLIENT_SECRET and start again."
            )
        return OAuthClient(client_id, self._client_secret)

    # -- state ---------------------------------------------------------------------------------

    def _sign(self, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        mac = hmac.new(self._state_key, body, hashlib.sha256).digest()
        return f"{_b64encode(body)}.{_b64encode(mac)}"

    def read_state(self, state: str | None) -> ConsentState:
        """The verified, unexpired state; `InvalidConsentState` for anything else."""
        if not state or len(state) > _MAX_STATE_CHARS or state.count(".") != 1:
            raise InvalidConsentState()
        encoded_body, encoded_mac = state.split(".")
        try:
            body, mac = _b64decode(encoded_body), _b64decode(encoded_mac)
        except ValueError as error:
            raise InvalidConsentState() from error
        expected = hmac.new(self._state_key, body, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise InvalidConsentState()
        try:
            payload = json.loads(body)
            consent = ConsentState(
                nonce=_str(payload["n"]),
                redirect_uri=_str(payload["r"]),
                client_id=_str(payload["c"]),
                link_id=None if payload["l"] is None else _str(payload["l"]),
                expires_at=datetime.fromtimestamp(int(payload["e"]), UTC),
            )
        except (ValueError, KeyError, TypeError, OverflowError, OSError) as error:
            raise InvalidConsentState() from error
        if payload.get("v") != 1 or consent.expires_at <= self._clock.now():
            raise InvalidConsentState()
        return consent

    def _use_nonce(self, consent: ConsentState) -> None:
        if consent.nonce in self._used_nonces:
            raise InvalidConsentState()
        now = self._clock.now()
        for nonce in [n for n, until in self._used_nonces.items() if until <= now]:
            del self._used_nonces[nonce]
        while len(self._used_nonces) >= MAX_REMEMBERED_NONCES:  # Google still refuses reuse
            del self._used_nonces[next(iter(self._used_nonces))]
        self._used_nonces[consent.nonce] = consent.expires_at


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL-no-padding(SHA256(ASCII(verifier)))."""
    return _b64encode(hashlib.sha256(verifier.encode("ascii")).digest())


def _link_id(token: str) -> str:
    """What a link is known by in the state: a digest, so the state never carries the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a non-empty string")
    return value


def _clip(text: str | None) -> str:
    text = (text or "").strip()
    return text if len(text) <= _MAX_ECHO_CHARS else text[: _MAX_ECHO_CHARS - 1] + "…"

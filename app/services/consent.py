"""The built-in Google OAuth consent flow: the authorization URL, then the callback that checks
the state, exchanges the code and either hands out the refresh token or connects the calendar.

Nothing of a flow is kept in this process: the state is signed (`consent_state`), connect links
and spent nonces live in the `ConsentStore` (`connect_links`), so a flow started on one replica
finishes on any other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol
from urllib.parse import quote, urlencode

from app.adapters.ports import Clock, ConsentStore, OAuthCodeExchanger
from app.domain import GoogleCredentials
from app.errors import (
    CalbotError,
    CalendarConnectFailed,
    CalendarScopeNotGranted,
    ConsentDenied,
    InvalidConsentState,
    MissingAuthorizationCode,
    NoRefreshToken,
)
from app.services.connect_links import (
    CONNECT_LINK_TTL,
    ConnectLink,
    ConnectLinkIssued,
    ConnectLinks,
)
from app.services.connection import CALENDAR_LIST_SCOPES, ConnectedCalendars
from app.services.consent_state import (
    STATE_TTL,
    ConsentState,
    ConsentStateSigner,
    new_nonce,
    pkce_challenge,
)
from app.services.oauth_clients import OAuthClients

# The vendor guide's helper asks for exactly these (seed guide section 1, "Required scopes").
CONSENT_SCOPES: Final = (
    "https://www.googleapis.com/auth/calendar.events.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)


class CalendarConnector(Protocol):
    async def connect(self, account_id: str, credentials: GoogleCredentials) -> ConnectedCalendars:
        """Check the credentials with Google, list the calendars and store the connection."""
        ...


@dataclass(frozen=True, slots=True)
class ConsentStart:
    """Where to send the browser; `nonce` is what the browser binding (a cookie) must carry."""

    authorize_url: str
    state: str
    nonce: str
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


class ConsentService:
    def __init__(
        self,
        exchanger: OAuthCodeExchanger,
        clock: Clock,
        store: ConsentStore,
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
        self._exchanger = exchanger
        self._clock = clock
        self._store = store
        self._signer = ConsentStateSigner(key)
        self._clients = OAuthClients(client_id, client_secret)
        self._links = ConnectLinks(store, clock, self._clients, master_key=key, ttl=link_ttl)
        self._authorize_url = authorize_url
        self._connector = connector
        self._state_ttl = state_ttl

    # -- start ---------------------------------------------------------------------------------

    async def begin(
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
            link = await self._links.open(link_token)
            client, link_id = link.client, link.link_id
        else:
            client = self._clients.configured(client_id)
        nonce = new_nonce()
        expires_at = self._clock.now() + self._state_ttl
        state = self._signer.sign(
            ConsentState(nonce, redirect_uri, client.client_id, link_id, expires_at)
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
        return self._signer.code_verifier(nonce)

    def read_state(self, state: str | None) -> ConsentState:
        """The verified, unexpired state; `InvalidConsentState` for anything else."""
        return self._signer.read(state, self._clock.now())

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
        nonce_hash = hashlib.sha256(consent.nonce.encode()).hexdigest()
        if not await self._store.spend_nonce(nonce_hash, consent.expires_at, self._clock.now()):
            raise InvalidConsentState()
        if error:
            raise ConsentDenied(error, error_description)
        if not code:
            raise MissingAuthorizationCode()
        link = await self._links.take(consent.link_id) if consent.link_id else None
        try:
            return await self._redeem(consent, code, link)
        except BaseException:
            if link is not None:  # nothing was connected: the link may be tried again
                await self._links.give_back(link)
            raise

    async def _redeem(
        self, consent: ConsentState, code: str, link: ConnectLink | None
    ) -> ConsentOutcome:
        client = link.client if link else self._clients.configured(consent.client_id)
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
        credentials = GoogleCredentials(
            client_id=client.client_id,
            client_secret=client.client_secret,
            refresh_token=grant.refresh_token,
        )
        try:
            connected = await self._require_connector().connect(link.account_id, credentials)
        except CalbotError as error:
            raise CalendarConnectFailed(error) from error
        return CalendarConnected(account_id=link.account_id, connected=connected)

    # -- connect links -------------------------------------------------------------------------

    async def create_connect_link(
        self,
        account_id: str,
        *,
        start_url: str,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> ConnectLinkIssued:
        """A single-use link to `start_url` that connects the calendar of whoever completes it
        to `account_id`. The client comes from the arguments or else the configuration."""
        self._require_connector()
        return await self._links.issue(
            account_id, start_url=start_url, client_id=client_id, client_secret=client_secret
        )

    def _require_connector(self) -> CalendarConnector:
        if self._connector is None:
            raise RuntimeError("Connect links need a ConsentService built with a connector.")
        return self._connector

"""ConsentService against in-memory fakes (state, PKCE, links, outcomes), and the code exchange
adapter against respx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from app.adapters.google_oauth import GoogleOAuthCodeExchanger
from app.adapters.ports import TokenGrant
from app.adapters.retry import RetryPolicy
from app.domain import Calendar, ConnectionStatus, GoogleCredentials
from app.errors import (
    CalbotError,
    CodeExchangeRejected,
    GoogleRateLimited,
    GoogleUnavailable,
    InvalidGoogleCredentials,
    UpstreamRejected,
)
from app.services.connection import ConnectedCalendars
from app.services.consent import (
    CalendarConnected,
    CalendarConnectFailed,
    CalendarScopeNotGranted,
    ConnectLinkClientMissing,
    ConnectLinkInvalid,
    ConsentDenied,
    ConsentNotConfigured,
    ConsentService,
    InvalidConsentState,
    MissingAuthorizationCode,
    NoRefreshToken,
    RefreshTokenIssued,
    pkce_challenge,
)
from tests.fakes import FakeClock

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = bytes(range(32))
AUTHORIZE_URL = "https://accounts.fake-google.test/o/oauth2/v2/auth"
TOKEN_URL = "https://oauth2.fake-google.test/token"
REDIRECT_URI = "http://localhost:3000/api/google/oauth-callback"
START_URL = "http://localhost:3000/api/google/oauth/start"
CLIENT_ID = "client-123.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-very-secret-value"
READONLY = "https://www.googleapis.com/auth/calendar.readonly"


@dataclass
class FakeExchanger:
    """Records each exchange; answers `grant` or raises `failure`."""

    grant: TokenGrant = field(
        default_factory=lambda: TokenGrant(
            refresh_token="1//fresh-refresh-token",
            access_token="ya29.fresh",
            expires_in=3599,
            scope=f"{READONLY} https://www.googleapis.com/auth/userinfo.email",
        )
    )
    failure: Exception | None = None
    calls: list[dict[str, str]] = field(default_factory=list)

    async def exchange_code(
        self,
        *,
        client_id: str,
        client_secret: str,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenGrant:
        self.calls.append(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )
        if self.failure is not None:
            raise self.failure
        return self.grant


@dataclass
class FakeConnector:
    connected: dict[str, GoogleCredentials] = field(default_factory=dict)
    failure: Exception | None = None

    async def connect(self, account_id: str, credentials: GoogleCredentials) -> ConnectedCalendars:
        if self.failure is not None:
            raise self.failure
        self.connected[account_id] = credentials
        calendar = Calendar("me@example.com", "Me", primary=True, time_zone="UTC")
        return ConnectedCalendars([calendar], "me@example.com", ConnectionStatus.ACTIVE)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def exchanger() -> FakeExchanger:
    return FakeExchanger()


@pytest.fixture
def connector() -> FakeConnector:
    return FakeConnector()


def make_service(
    exchanger: FakeExchanger,
    clock: FakeClock,
    connector: FakeConnector | None = None,
    *,
    key: bytes = KEY,
    client_id: str | None = CLIENT_ID,
    client_secret: str | None = CLIENT_SECRET,
) -> ConsentService:
    return ConsentService(
        exchanger,
        clock,
        key=key,
        authorize_url=AUTHORIZE_URL,
        client_id=client_id,
        client_secret=client_secret,
        connector=connector,
    )


@pytest.fixture
def service(exchanger: FakeExchanger, clock: FakeClock, connector: FakeConnector) -> ConsentService:
    return make_service(exchanger, clock, connector)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# -- PKCE and state ------------------------------------------------------------------------------


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_verifier_is_derived_from_the_nonce_and_the_key(
    service: ConsentService, exchanger: FakeExchanger, clock: FakeClock
) -> None:
    verifier = service.code_verifier("nonce-a")

    assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier)
    assert service.code_verifier("nonce-a") == verifier
    assert service.code_verifier("nonce-b") != verifier
    assert make_service(exchanger, clock, key=b"k" * 32).code_verifier("nonce-a") != verifier


def test_the_state_carries_the_redirect_uri_client_and_expiry(service: ConsentService) -> None:
    start = service.begin(redirect_uri=REDIRECT_URI)

    state = service.read_state(start.state)

    assert state.nonce == start.nonce
    assert state.redirect_uri == REDIRECT_URI
    assert state.client_id == CLIENT_ID
    assert state.link_id is None
    assert state.expires_at == NOW + timedelta(minutes=10)
    assert query_of(start.authorize_url)["code_challenge"] == pkce_challenge(
        service.code_verifier(start.nonce)
    )


def test_each_start_has_its_own_nonce(service: ConsentService) -> None:
    first = service.begin(redirect_uri=REDIRECT_URI)
    second = service.begin(redirect_uri=REDIRECT_URI)

    assert first.nonce != second.nonce
    assert (
        query_of(first.authorize_url)["code_challenge"]
        != (query_of(second.authorize_url)["code_challenge"])
    )


def test_a_state_expires_after_ten_minutes(service: ConsentService, clock: FakeClock) -> None:
    state = service.begin(redirect_uri=REDIRECT_URI).state
    clock.advance(599)
    service.read_state(state)
    clock.advance(1)

    with pytest.raises(InvalidConsentState):
        service.read_state(state)


def _resign(state: str, key: bytes, **changes: object) -> str:
    """A state with changed fields, signed with `key` (not the service's, unless it is)."""
    payload = json.loads(base64.urlsafe_b64decode(state.split(".")[0] + "=="))
    payload.update(changes)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    state_key = hmac.new(key, b"calbot/google-consent/state/v1", hashlib.sha256).digest()
    mac = hmac.new(state_key, body, hashlib.sha256).digest()

    def encode(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{encode(body)}.{encode(mac)}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s: _resign(s, b"x" * 32), id="other key"),
        pytest.param(lambda s: s.split(".")[0] + ".AAAA", id="bad mac"),
        pytest.param(lambda s: s.replace(".", ""), id="no mac"),
        pytest.param(lambda s: s + ".x", id="three parts"),
        pytest.param(lambda s: "é." + s.split(".")[1], id="not ascii"),
        pytest.param(lambda s: "x" * 3000, id="too long"),
        pytest.param(lambda s: "", id="empty"),
        pytest.param(lambda s: _resign(s, KEY, v=2), id="other version"),
        pytest.param(lambda s: _resign(s, KEY, e=1), id="expired long ago"),
        pytest.param(lambda s: _resign(s, KEY, n=""), id="empty nonce"),
        pytest.param(lambda s: _resign(s, KEY, l=7), id="link id not a string"),
    ],
)
def test_forged_or_broken_states_are_refused(service: ConsentService, forge: object) -> None:
    state = service.begin(redirect_uri=REDIRECT_URI).state
    assert callable(forge)

    with pytest.raises(InvalidConsentState):
        service.read_state(forge(state))


def test_resigning_with_the_right_key_is_what_makes_a_state_valid(
    service: ConsentService,
) -> None:
    """Guards the forgery table above: `_resign` with the real key yields a valid state."""
    state = service.begin(redirect_uri=REDIRECT_URI).state
    assert service.read_state(_resign(state, KEY)).client_id == CLIENT_ID


# -- finishing -----------------------------------------------------------------------------------


async def test_finish_exchanges_with_the_state_redirect_uri_and_the_derived_verifier(
    service: ConsentService, exchanger: FakeExchanger
) -> None:
    start = service.begin(redirect_uri=REDIRECT_URI)

    outcome = await service.finish(state=start.state, code="4/code", browser_nonces={start.nonce})

    assert isinstance(outcome, RefreshTokenIssued)
    assert outcome.refresh_token == "1//fresh-refresh-token"
    assert outcome.client_id == CLIENT_ID
    assert outcome.access_token_expires_at == NOW + timedelta(seconds=3599)
    assert outcome.refresh_token_expires_at is None
    assert exchanger.calls == [
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code": "4/code",
            "redirect_uri": REDIRECT_URI,
            "code_verifier": service.code_verifier(start.nonce),
        }
    ]
    assert "fresh-refresh-token" not in repr(outcome)


async def test_a_state_works_once(service: ConsentService, exchanger: FakeExchanger) -> None:
    state = service.begin(redirect_uri=REDIRECT_URI).state
    await service.finish(state=state, code="4/code")

    with pytest.raises(InvalidConsentState):
        await service.finish(state=state, code="4/code")
    assert len(exchanger.calls) == 1


async def test_the_browser_must_vouch_for_the_nonce(
    service: ConsentService, exchanger: FakeExchanger
) -> None:
    start = service.begin(redirect_uri=REDIRECT_URI)

    with pytest.raises(InvalidConsentState, match="This browser did not start"):
        await service.finish(state=start.state, code="4/code", browser_nonces={"other"})
    assert exchanger.calls == []


async def test_googles_error_is_reported_only_for_a_genuine_state(
    service: ConsentService,
) -> None:
    state = service.begin(redirect_uri=REDIRECT_URI).state

    with pytest.raises(InvalidConsentState):
        await service.finish(state="forged", code=None, error="access_denied")
    with pytest.raises(ConsentDenied, match="access_denied") as denied:
        await service.finish(state=state, code=None, error="access_denied")
    assert denied.value.status_code == 400


def test_googles_error_code_is_shown_only_when_it_looks_like_one() -> None:
    assert ConsentDenied("<b>", "why").google_error == "unknown_error"
    assert "x" * 300 not in ConsentDenied("access_denied", "x" * 300).detail


async def test_a_missing_code_is_refused(service: ConsentService) -> None:
    state = service.begin(redirect_uri=REDIRECT_URI).state

    with pytest.raises(MissingAuthorizationCode):
        await service.finish(state=state, code=None)


@pytest.mark.parametrize(
    ("grant", "error"),
    [
        (TokenGrant(None, "ya29", 3599, READONLY), NoRefreshToken),
        (TokenGrant("1//rt", "ya29", 3599, "openid email"), CalendarScopeNotGranted),
        (TokenGrant(None, "ya29", 3599, "openid"), CalendarScopeNotGranted),
    ],
)
async def test_grants_calbot_cannot_use_are_refused(
    service: ConsentService,
    exchanger: FakeExchanger,
    grant: TokenGrant,
    error: type[Exception],
) -> None:
    exchanger.grant = grant
    state = service.begin(redirect_uri=REDIRECT_URI).state

    with pytest.raises(error):
        await service.finish(state=state, code="4/code")


def test_no_refresh_token_says_to_revoke_access_and_retry() -> None:
    assert "https://myaccount.google.com/permissions" in NoRefreshToken().detail
    assert "try again" in NoRefreshToken().detail


async def test_a_grant_that_lists_no_scope_is_accepted(
    service: ConsentService, exchanger: FakeExchanger
) -> None:
    exchanger.grant = TokenGrant("1//rt", "ya29", 3599, "")
    state = service.begin(redirect_uri=REDIRECT_URI).state

    assert isinstance(await service.finish(state=state, code="4/code"), RefreshTokenIssued)


async def test_a_testing_apps_refresh_token_lifetime_is_reported(
    service: ConsentService, exchanger: FakeExchanger
) -> None:
    exchanger.grant = TokenGrant("1//rt", "ya29", 3599, READONLY, refresh_token_expires_in=604799)
    state = service.begin(redirect_uri=REDIRECT_URI).state

    outcome = await service.finish(state=state, code="4/code")

    assert isinstance(outcome, RefreshTokenIssued)
    assert outcome.refresh_token_expires_at == NOW + timedelta(seconds=604799)


def test_secrets_stay_out_of_reprs() -> None:
    grant = TokenGrant("1//rt-secret", "ya29.secret", 3599, READONLY)
    assert "secret" not in repr(grant)


# -- which OAuth client --------------------------------------------------------------------------


def test_the_client_id_parameter_may_repeat_the_configured_one(service: ConsentService) -> None:
    start = service.begin(redirect_uri=REDIRECT_URI, client_id=CLIENT_ID)
    assert query_of(start.authorize_url)["client_id"] == CLIENT_ID


def test_another_client_id_has_no_secret(service: ConsentService) -> None:
    with pytest.raises(ConsentNotConfigured, match="no client secret for the OAuth client other"):
        service.begin(redirect_uri=REDIRECT_URI, client_id="other")


def test_a_secret_without_a_configured_id_serves_the_id_given(
    exchanger: FakeExchanger, clock: FakeClock
) -> None:
    service = make_service(exchanger, clock, client_id=None)
    start = service.begin(redirect_uri=REDIRECT_URI, client_id="given")
    assert query_of(start.authorize_url)["client_id"] == "given"


@pytest.mark.parametrize(
    ("client_id", "client_secret", "said"),
    [
        (None, None, "No Google OAuth client is configured"),
        (None, CLIENT_SECRET, "No Google OAuth client is configured"),
        (CLIENT_ID, None, "GOOGLE_CLIENT_SECRET is not set"),
    ],
)
def test_missing_configuration_is_refused_with_a_sentence(
    exchanger: FakeExchanger,
    clock: FakeClock,
    client_id: str | None,
    client_secret: str | None,
    said: str,
) -> None:
    service = make_service(exchanger, clock, client_id=client_id, client_secret=client_secret)

    with pytest.raises(ConsentNotConfigured, match=said) as refused:
        service.begin(redirect_uri=REDIRECT_URI)
    assert refused.value.status_code == 400


def test_the_secret_never_reaches_the_authorization_url(service: ConsentService) -> None:
    assert CLIENT_SECRET not in service.begin(redirect_uri=REDIRECT_URI).authorize_url


# -- connect links -------------------------------------------------------------------------------


def link_token(url: str) -> str:
    return query_of(url)["link"]


async def test_a_connect_link_connects_its_account_once(
    service: ConsentService, connector: FakeConnector, exchanger: FakeExchanger
) -> None:
    issued = service.create_connect_link("acc_1", start_url=START_URL)
    assert issued.url.startswith(START_URL + "?link=")
    assert issued.expires_at == NOW + timedelta(minutes=15)
    start = service.begin(redirect_uri=REDIRECT_URI, link_token=link_token(issued.url))

    outcome = await service.finish(state=start.state, code="4/code")

    assert isinstance(outcome, CalendarConnected)
    assert outcome.account_id == "acc_1"
    assert connector.connected["acc_1"] == GoogleCredentials(
        CLIENT_ID, CLIENT_SECRET, "1//fresh-refresh-token"
    )
    with pytest.raises(ConnectLinkInvalid):
        service.begin(redirect_uri=REDIRECT_URI, link_token=link_token(issued.url))


async def test_a_link_is_consumed_by_the_first_callback_only(
    service: ConsentService, exchanger: FakeExchanger
) -> None:
    token = link_token(service.create_connect_link("acc_1", start_url=START_URL).url)
    first = service.begin(redirect_uri=REDIRECT_URI, link_token=token)
    second = service.begin(redirect_uri=REDIRECT_URI, link_token=token)
    await service.finish(state=first.state, code="4/one")

    with pytest.raises(ConnectLinkInvalid):
        await service.finish(state=second.state, code="4/two")
    assert len(exchanger.calls) == 1


def test_a_link_expires_after_15_minutes(service: ConsentService, clock: FakeClock) -> None:
    token = link_token(service.create_connect_link("acc_1", start_url=START_URL).url)
    clock.advance(15 * 60)

    with pytest.raises(ConnectLinkInvalid):
        service.begin(redirect_uri=REDIRECT_URI, link_token=token)


def test_an_unknown_link_is_refused(service: ConsentService) -> None:
    with pytest.raises(ConnectLinkInvalid):
        service.begin(redirect_uri=REDIRECT_URI, link_token="made-up")


@pytest.mark.parametrize(
    "failure",
    [
        GoogleUnavailable(),
        CodeExchangeRejected("invalid_grant", "Bad Request"),
        InvalidGoogleCredentials("Google rejected the refresh token."),
    ],
)
async def test_a_link_whose_flow_failed_can_be_used_again(
    service: ConsentService,
    exchanger: FakeExchanger,
    connector: FakeConnector,
    failure: CalbotError,
) -> None:
    if isinstance(failure, InvalidGoogleCredentials):
        connector.failure = failure
    else:
        exchanger.failure = failure
    token = link_token(service.create_connect_link("acc_1", start_url=START_URL).url)
    state = service.begin(redirect_uri=REDIRECT_URI, link_token=token).state

    with pytest.raises(CalbotError) as failed:
        await service.finish(state=state, code="4/code")
    assert failed.value.detail == failure.detail
    assert failed.value.status_code == failure.status_code
    exchanger.failure = connector.failure = None
    retry = service.begin(redirect_uri=REDIRECT_URI, link_token=token)

    assert isinstance(await service.finish(state=retry.state, code="4/again"), CalendarConnected)


async def test_a_link_brings_its_own_client(
    exchanger: FakeExchanger, clock: FakeClock, connector: FakeConnector
) -> None:
    service = make_service(exchanger, clock, connector, client_id=None, client_secret=None)
    issued = service.create_connect_link(
        "acc_1", start_url=START_URL, client_id="own-id", client_secret="own-secret-value"
    )
    start = service.begin(
        redirect_uri=REDIRECT_URI, link_token=link_token(issued.url), client_id="ignored"
    )

    await service.finish(state=start.state, code="4/code")

    assert query_of(start.authorize_url)["client_id"] == "own-id"
    assert "own-secret-value" not in issued.url + start.authorize_url
    assert exchanger.calls[0]["client_secret"] == "own-secret-value"


@pytest.mark.parametrize(
    ("configured_id", "configured_secret", "client_id", "client_secret"),
    [
        (None, None, None, None),
        (CLIENT_ID, None, None, None),
        (CLIENT_ID, CLIENT_SECRET, "other-id", None),
        (None, None, None, "lonely-secret"),
    ],
)
def test_a_link_without_a_usable_client_is_a_422(
    exchanger: FakeExchanger,
    clock: FakeClock,
    connector: FakeConnector,
    configured_id: str | None,
    configured_secret: str | None,
    client_id: str | None,
    client_secret: str | None,
) -> None:
    service = make_service(
        exchanger, clock, connector, client_id=configured_id, client_secret=configured_secret
    )

    with pytest.raises(ConnectLinkClientMissing) as refused:
        service.create_connect_link(
            "acc_1", start_url=START_URL, client_id=client_id, client_secret=client_secret
        )
    assert refused.value.status_code == 422


def test_an_account_keeps_at_most_ten_live_links(service: ConsentService) -> None:
    tokens = [
        link_token(service.create_connect_link("acc_1", start_url=START_URL).url) for _ in range(11)
    ]
    other = link_token(service.create_connect_link("acc_2", start_url=START_URL).url)

    with pytest.raises(ConnectLinkInvalid):
        service.begin(redirect_uri=REDIRECT_URI, link_token=tokens[0])
    for token in [*tokens[1:], other]:
        service.begin(redirect_uri=REDIRECT_URI, link_token=token)


async def test_a_connect_failure_keeps_its_status_and_sentence(
    service: ConsentService, connector: FakeConnector
) -> None:
    connector.failure = GoogleUnavailable("Google Calendar kept failing (503).")
    token = link_token(service.create_connect_link("acc_1", start_url=START_URL).url)
    state = service.begin(redirect_uri=REDIRECT_URI, link_token=token).state

    with pytest.raises(CalendarConnectFailed) as failed:
        await service.finish(state=state, code="4/code")

    assert failed.value.status_code == 502
    assert failed.value.detail == "Google Calendar kept failing (503)."
    assert failed.value.title == "Could not connect your calendar"


def test_links_need_a_connector(exchanger: FakeExchanger, clock: FakeClock) -> None:
    with pytest.raises(RuntimeError):
        make_service(exchanger, clock).create_connect_link("acc_1", start_url=START_URL)


# -- the code exchange adapter (respx) -----------------------------------------------------------

EXCHANGE = {
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
    "code": "4/0Ab-the-authorization-code",
    "redirect_uri": REDIRECT_URI,
    "code_verifier": "v" * 43,
}


@pytest.fixture
async def google_oauth(clock: FakeClock) -> AsyncIterator[GoogleOAuthCodeExchanger]:
    async with httpx.AsyncClient() as http:
        yield GoogleOAuthCodeExchanger(
            http,
            clock,
            token_url=TOKEN_URL,
            retry=RetryPolicy(base_delay=0.5, max_delay=4.0, max_attempts=3, jitter=False),
        )


async def test_the_exchange_posts_the_form_google_documents(
    google_oauth: GoogleOAuthCodeExchanger,
) -> None:
    with respx.mock:
        route = respx.post(TOKEN_URL).respond(
            200,
            json={
                "access_token": "ya29.a",
                "refresh_token": "1//rt",
                "expires_in": 3599,
                "scope": READONLY,
                "token_type": "Bearer",
                "refresh_token_expires_in": 604799,
            },
        )
        grant = await google_oauth.exchange_code(**EXCHANGE)

    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert {k: v[0] for k, v in parse_qs(request.content.decode()).items()} == {
        **EXCHANGE,
        "grant_type": "authorization_code",
    }
    assert grant == TokenGrant("1//rt", "ya29.a", 3599, READONLY, refresh_token_expires_in=604799)


async def test_an_answer_without_refresh_token_or_expiry_is_still_a_grant(
    google_oauth: GoogleOAuthCodeExchanger,
) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).respond(200, json={"access_token": "ya29.a", "scope": READONLY})
        grant = await google_oauth.exchange_code(**EXCHANGE)

    assert grant.refresh_token is None
    assert grant.expires_in == 3599


@pytest.mark.parametrize(
    ("status", "body", "error", "hint"),
    [
        (400, {"error": "invalid_grant", "error_description": "Bad Request"}, "invalid_grant",
         "expired, was already used"),
        (401, {"error": "invalid_client", "error_description": "Unauthorized"}, "invalid_client",
         "Check the OAuth client id and secret"),
        (400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"},
         "redirect_uri_mismatch", "Register this redirect URI"),
        (400, {"nothing": "useful"}, "HTTP 400", "no description given"),
    ],
)  # fmt: skip
async def test_googles_refusals_become_typed_errors_with_its_reason(
    google_oauth: GoogleOAuthCodeExchanger,
    status: int,
    body: dict[str, str],
    error: str,
    hint: str,
) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).respond(status, json=body)
        with pytest.raises(CodeExchangeRejected) as refused:
            await google_oauth.exchange_code(**EXCHANGE)

    assert refused.value.google_error == error
    assert hint in refused.value.detail
    assert refused.value.status_code == 400


async def test_values_we_sent_never_reach_an_error(
    google_oauth: GoogleOAuthCodeExchanger,
) -> None:
    echo = f"code {EXCHANGE['code']} secret {CLIENT_SECRET} verifier {EXCHANGE['code_verifier']}"
    with respx.mock:
        respx.post(TOKEN_URL).respond(
            400, json={"error": "invalid_grant", "error_description": echo}
        )
        with pytest.raises(CodeExchangeRejected) as refused:
            await google_oauth.exchange_code(**EXCHANGE)

    for secret in (EXCHANGE["code"], CLIENT_SECRET, EXCHANGE["code_verifier"]):
        assert secret not in str(refused.value)
        assert secret not in refused.value.detail


async def test_5xx_is_retried_then_google_unavailable(
    google_oauth: GoogleOAuthCodeExchanger, clock: FakeClock
) -> None:
    with respx.mock:
        route = respx.post(TOKEN_URL).respond(503)
        with pytest.raises(GoogleUnavailable) as failed:
            await google_oauth.exchange_code(**EXCHANGE)

    assert route.call_count == 3
    assert clock.slept == [0.5, 1.0]
    assert failed.value.status_code == 502


async def test_timeouts_are_retried(google_oauth: GoogleOAuthCodeExchanger) -> None:
    with respx.mock:
        route = respx.post(TOKEN_URL)
        route.side_effect = [
            httpx.ConnectTimeout("slow"),
            httpx.Response(200, json={"access_token": "ya29.a", "refresh_token": "1//rt"}),
        ]
        grant = await google_oauth.exchange_code(**EXCHANGE)

    assert route.call_count == 2
    assert grant.refresh_token == "1//rt"


async def test_429_is_retried_then_rate_limited(google_oauth: GoogleOAuthCodeExchanger) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).respond(429, headers={"Retry-After": "2"})
        with pytest.raises(GoogleRateLimited):
            await google_oauth.exchange_code(**EXCHANGE)


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(200, json={"refresh_token": "1//rt"}), UpstreamRejected),
        (httpx.Response(200, text="<html>"), GoogleUnavailable),
        (httpx.Response(302), GoogleUnavailable),
    ],
)
async def test_odd_answers_are_upstream_errors(
    google_oauth: GoogleOAuthCodeExchanger, response: httpx.Response, error: type[Exception]
) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=response)
        with pytest.raises(error):
            await google_oauth.exchange_code(**EXCHANGE)

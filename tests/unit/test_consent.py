"""ConsentService against in-memory fakes: the start, the callback and its outcomes, which OAuth
client, and connect links (kept in a MemoryConsentStore, as replicas share a real one)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from app.adapters.memory.consent import MemoryConsentStore
from app.adapters.ports import TokenGrant
from app.domain import Calendar, ConnectionStatus, GoogleCredentials
from app.errors import (
    CalbotError,
    CalendarConnectFailed,
    CalendarScopeNotGranted,
    CodeExchangeRejected,
    ConnectLinkClientMissing,
    ConnectLinkInvalid,
    ConsentDenied,
    ConsentNotConfigured,
    GoogleUnavailable,
    InvalidConsentState,
    InvalidGoogleCredentials,
    MissingAuthorizationCode,
    NoRefreshToken,
)
from app.services.connection import ConnectedCalendars
from app.services.consent import CalendarConnected, ConsentService, RefreshTokenIssued
from app.services.consent_state import pkce_challenge
from tests.fakes import FakeClock

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = bytes(range(32))
AUTHORIZE_URL = "https://accounts.fake-google.test/o/oauth2/v2/auth"
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
    store: MemoryConsentStore | None = None,
) -> ConsentService:
    return ConsentService(
        exchanger,
        clock,
        store or MemoryConsentStore(),
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


# -- the start ------------------------------------------------------------------------------------


async def test_the_state_carries_the_redirect_uri_client_and_expiry(
    service: ConsentService,
) -> None:
    start = await service.begin(redirect_uri=REDIRECT_URI)

    state = service.read_state(start.state)

    assert state.nonce == start.nonce
    assert state.redirect_uri == REDIRECT_URI
    assert state.client_id == CLIENT_ID
    assert state.link_id is None
    assert state.expires_at == NOW + timedelta(minutes=10)
    assert query_of(start.authorize_url)["code_challenge"] == pkce_challenge(
        service.code_verifier(start.nonce)
    )


async def test_each_start_has_its_own_nonce(service: ConsentService) -> None:
    first = await service.begin(redirect_uri=REDIRECT_URI)
    second = await service.begin(redirect_uri=REDIRECT_URI)

    assert first.nonce != second.nonce
    assert (
        query_of(first.authorize_url)["code_challenge"]
        != (query_of(second.authorize_url)["code_challenge"])
    )


async def test_a_state_expires_after_ten_minutes(service: ConsentService, clock: FakeClock) -> None:
    state = (await service.begin(redirect_uri=REDIRECT_URI)).state
    clock.advance(599)
    service.read_state(state)
    clock.advance(1)

    with pytest.raises(InvalidConsentState):
        await service.finish(state=state, code="4/code")


# -- finishing -----------------------------------------------------------------------------------


async def test_finish_exchanges_with_the_state_redirect_uri_and_the_derived_verifier(
    service: ConsentService, exchanger: FakeExchanger
) -> None:
    start = await service.begin(redirect_uri=REDIRECT_URI)

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
    state = (await service.begin(redirect_uri=REDIRECT_URI)).state
    await service.finish(state=state, code="4/code")

    with pytest.raises(InvalidConsentState):
        await service.finish(state=state, code="4/code")
    assert len(exchanger.calls) == 1


async def test_the_browser_must_vouch_for_the_nonce(
    service: ConsentService, exchanger: FakeExchanger
) -> None:
    start = await service.begin(redirect_uri=REDIRECT_URI)

    with pytest.raises(InvalidConsentState, match="This browser did not start"):
        await service.finish(state=start.state, code="4/code", browser_nonces={"other"})
    assert exchanger.calls == []


async def test_googles_error_is_reported_only_for_a_genuine_state(
    service: ConsentService,
) -> None:
    state = (await service.begin(redirect_uri=REDIRECT_URI)).state

    with pytest.raises(InvalidConsentState):
        await service.finish(state="forged", code=None, error="access_denied")
    with pytest.raises(ConsentDenied, match="access_denied") as denied:
        await service.finish(state=state, code=None, error="access_denied")
    assert denied.value.status_code == 400


def test_googles_error_code_is_shown_only_when_it_looks_like_one() -> None:
    assert ConsentDenied("<b>", "why").google_error == "unknown_error"
    assert "x" * 300 not in ConsentDenied("access_denied", "x" * 300).detail


async def test_a_missing_code_is_refused(service: ConsentService) -> None:
    state = (await service.begin(redirect_uri=REDIRECT_URI)).state

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
    state = (await service.begin(redirect_uri=REDIRECT_URI)).state

    with pytest.raises(error):
        await service.finish(state=state, code="4/code")


def test_no_refresh_token_says_to_revoke_access_and_retry() -> None:
    assert "https://myaccount.google.com/permissions" in NoRefreshToken().detail
    assert "try again" in NoRefreshToken().detail


async def test_a_grant_that_lists_no_scope_is_accepted(
    service: ConsentService, exchanger: FakeExchanger
) -> None:
    exchanger.grant = TokenGrant("1//rt", "ya29", 3599, "")
    state = (await service.begin(redirect_uri=REDIRECT_URI)).state

    assert isinstance(await service.finish(state=state, code="4/code"), RefreshTokenIssued)


async def test_a_testing_apps_refresh_token_lifetime_is_reported(
    service: ConsentService, exchanger: FakeExchanger
) -> None:
    exchanger.grant = TokenGrant("1//rt", "ya29", 3599, READONLY, refresh_token_expires_in=604799)
    state = (await service.begin(redirect_uri=REDIRECT_URI)).state

    outcome = await service.finish(state=state, code="4/code")

    assert isinstance(outcome, RefreshTokenIssued)
    assert outcome.refresh_token_expires_at == NOW + timedelta(seconds=604799)


def test_secrets_stay_out_of_reprs() -> None:
    grant = TokenGrant("1//rt-secret", "ya29.secret", 3599, READONLY)
    assert "secret" not in repr(grant)


# -- which OAuth client --------------------------------------------------------------------------


async def test_the_client_id_parameter_may_repeat_the_configured_one(
    service: ConsentService,
) -> None:
    start = await service.begin(redirect_uri=REDIRECT_URI, client_id=CLIENT_ID)
    assert query_of(start.authorize_url)["client_id"] == CLIENT_ID


async def test_another_client_id_has_no_secret(service: ConsentService) -> None:
    with pytest.raises(ConsentNotConfigured, match="no client secret for the OAuth client other"):
        await service.begin(redirect_uri=REDIRECT_URI, client_id="other")


async def test_a_secret_without_a_configured_id_serves_the_id_given(
    exchanger: FakeExchanger, clock: FakeClock
) -> None:
    service = make_service(exchanger, clock, client_id=None)
    start = await service.begin(redirect_uri=REDIRECT_URI, client_id="given")
    assert query_of(start.authorize_url)["client_id"] == "given"


@pytest.mark.parametrize(
    ("client_id", "client_secret", "said"),
    [
        (None, None, "No Google OAuth client is configured"),
        (None, CLIENT_SECRET, "No Google OAuth client is configured"),
        (CLIENT_ID, None, "GOOGLE_CLIENT_SECRET is not set"),
    ],
)
async def test_missing_configuration_is_refused_with_a_sentence(
    exchanger: FakeExchanger,
    clock: FakeClock,
    client_id: str | None,
    client_secret: str | None,
    said: str,
) -> None:
    service = make_service(exchanger, clock, client_id=client_id, client_secret=client_secret)

    with pytest.raises(ConsentNotConfigured, match=said) as refused:
        await service.begin(redirect_uri=REDIRECT_URI)
    assert refused.value.status_code == 400


async def test_the_secret_never_reaches_the_authorization_url(service: ConsentService) -> None:
    assert CLIENT_SECRET not in (await service.begin(redirect_uri=REDIRECT_URI)).authorize_url


# -- connect links -------------------------------------------------------------------------------


def link_token(url: str) -> str:
    return query_of(url)["link"]


async def new_link(service: ConsentService, account_id: str = "acc_1") -> str:
    """The token of a new connect link for `account_id`."""
    return link_token((await service.create_connect_link(account_id, start_url=START_URL)).url)


async def test_a_connect_link_connects_its_account_once(
    service: ConsentService, connector: FakeConnector, exchanger: FakeExchanger
) -> None:
    issued = await service.create_connect_link("acc_1", start_url=START_URL)
    assert issued.url.startswith(START_URL + "?link=")
    assert issued.expires_at == NOW + timedelta(minutes=15)
    start = await service.begin(redirect_uri=REDIRECT_URI, link_token=link_token(issued.url))

    outcome = await service.finish(state=start.state, code="4/code")

    assert isinstance(outcome, CalendarConnected)
    assert outcome.account_id == "acc_1"
    assert connector.connected["acc_1"] == GoogleCredentials(
        CLIENT_ID, CLIENT_SECRET, "1//fresh-refresh-token"
    )
    with pytest.raises(ConnectLinkInvalid):
        await service.begin(redirect_uri=REDIRECT_URI, link_token=link_token(issued.url))


async def test_a_link_is_consumed_by_the_first_callback_only(
    service: ConsentService, exchanger: FakeExchanger
) -> None:
    token = await new_link(service)
    first = await service.begin(redirect_uri=REDIRECT_URI, link_token=token)
    second = await service.begin(redirect_uri=REDIRECT_URI, link_token=token)
    await service.finish(state=first.state, code="4/one")

    with pytest.raises(ConnectLinkInvalid):
        await service.finish(state=second.state, code="4/two")
    assert len(exchanger.calls) == 1


async def test_a_link_expires_after_15_minutes(service: ConsentService, clock: FakeClock) -> None:
    token = await new_link(service)
    clock.advance(15 * 60)

    with pytest.raises(ConnectLinkInvalid):
        await service.begin(redirect_uri=REDIRECT_URI, link_token=token)


async def test_an_unknown_link_is_refused(service: ConsentService) -> None:
    with pytest.raises(ConnectLinkInvalid):
        await service.begin(redirect_uri=REDIRECT_URI, link_token="made-up")


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
    token = await new_link(service)
    state = (await service.begin(redirect_uri=REDIRECT_URI, link_token=token)).state

    with pytest.raises(CalbotError) as failed:
        await service.finish(state=state, code="4/code")
    assert failed.value.detail == failure.detail
    assert failed.value.status_code == failure.status_code
    exchanger.failure = connector.failure = None
    retry = await service.begin(redirect_uri=REDIRECT_URI, link_token=token)

    assert isinstance(await service.finish(state=retry.state, code="4/again"), CalendarConnected)


async def test_a_link_brings_its_own_client(
    exchanger: FakeExchanger, clock: FakeClock, connector: FakeConnector
) -> None:
    service = make_service(exchanger, clock, connector, client_id=None, client_secret=None)
    issued = await service.create_connect_link(
        "acc_1", start_url=START_URL, client_id="own-id", client_secret="own-secret-value"
    )
    start = await service.begin(
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
async def test_a_link_without_a_usable_client_is_a_422(
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
        await service.create_connect_link(
            "acc_1", start_url=START_URL, client_id=client_id, client_secret=client_secret
        )
    assert refused.value.status_code == 422


async def test_an_account_keeps_at_most_ten_live_links(
    service: ConsentService, clock: FakeClock
) -> None:
    tokens = []
    for _ in range(11):
        tokens.append(await new_link(service))
        clock.advance(1)  # the oldest is the one that expires first
    other = await new_link(service, "acc_2")

    with pytest.raises(ConnectLinkInvalid):
        await service.begin(redirect_uri=REDIRECT_URI, link_token=tokens[0])
    for token in [*tokens[1:], other]:
        await service.begin(redirect_uri=REDIRECT_URI, link_token=token)


async def test_a_connect_failure_keeps_its_status_and_sentence(
    service: ConsentService, connector: FakeConnector
) -> None:
    connector.failure = GoogleUnavailable("Google Calendar kept failing (503).")
    token = await new_link(service)
    state = (await service.begin(redirect_uri=REDIRECT_URI, link_token=token)).state

    with pytest.raises(CalendarConnectFailed) as failed:
        await service.finish(state=state, code="4/code")

    assert failed.value.status_code == 502
    assert failed.value.detail == "Google Calendar kept failing (503)."
    assert failed.value.title == "Could not connect your calendar"


async def test_links_need_a_connector(exchanger: FakeExchanger, clock: FakeClock) -> None:
    with pytest.raises(RuntimeError):
        await make_service(exchanger, clock).create_connect_link("acc_1", start_url=START_URL)


# -- connect links across replicas ---------------------------------------------------------------


async def test_a_link_made_on_one_replica_is_redeemed_on_another(
    exchanger: FakeExchanger, clock: FakeClock, connector: FakeConnector
) -> None:
    shared = MemoryConsentStore()
    one = make_service(exchanger, clock, connector, store=shared)
    two = make_service(exchanger, clock, connector, store=shared)
    token = await new_link(one)
    state = (await two.begin(redirect_uri=REDIRECT_URI, link_token=token)).state

    outcome = await one.finish(state=state, code="4/code")

    assert isinstance(outcome, CalendarConnected)
    assert outcome.account_id == "acc_1"
    with pytest.raises(InvalidConsentState):
        await two.finish(state=state, code="4/code")
    with pytest.raises(ConnectLinkInvalid):
        await two.begin(redirect_uri=REDIRECT_URI, link_token=token)


async def test_a_links_own_secret_is_stored_sealed_and_a_configured_one_not_at_all(
    exchanger: FakeExchanger, clock: FakeClock, connector: FakeConnector
) -> None:
    store = MemoryConsentStore()
    service = make_service(exchanger, clock, connector, store=store)
    own = await service.create_connect_link(
        "acc_1", start_url=START_URL, client_id="own-id", client_secret="own-secret-value"
    )
    configured = await service.create_connect_link("acc_2", start_url=START_URL)

    own_record = await store.get_connect_link(link_id(own.url), NOW)
    configured_record = await store.get_connect_link(link_id(configured.url), NOW)

    assert own_record is not None
    assert own_record.sealed_client_secret is not None
    assert b"own-secret-value" not in own_record.sealed_client_secret
    assert configured_record is not None
    assert configured_record.sealed_client_secret is None
    assert configured_record.client_id == CLIENT_ID
    assert link_token(own.url) not in repr(own_record) + own_record.link_hash


async def test_a_sealed_secret_needs_the_same_master_key(
    exchanger: FakeExchanger, clock: FakeClock, connector: FakeConnector
) -> None:
    shared = MemoryConsentStore()
    issuing = make_service(exchanger, clock, connector, store=shared)
    other_key = make_service(exchanger, clock, connector, store=shared, key=b"k" * 32)
    issued = await issuing.create_connect_link(
        "acc_1", start_url=START_URL, client_id="own-id", client_secret="own-secret-value"
    )

    with pytest.raises(ConnectLinkInvalid, match="ENCRYPTION_KEY"):
        await other_key.begin(redirect_uri=REDIRECT_URI, link_token=link_token(issued.url))


def link_id(url: str) -> str:
    return hashlib.sha256(link_token(url).encode()).hexdigest()

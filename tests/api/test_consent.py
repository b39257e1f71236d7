"""The built-in consent flow: /api/google/oauth/start, the callback, connect links, and
`calbot google-auth` (run_google_auth) against a fake Google consent screen and token endpoint."""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import respx
from fastapi import FastAPI

from app.cli_google_auth import run_google_auth
from app.config import Settings
from app.container import Container
from app.main import create_app
from app.services.consent import CONSENT_SCOPES, ConsentService
from tests.conftest import new_auth
from tests.fake_google import (
    API_URL,
    CALENDAR_SCOPES,
    GOOD_CLIENT_ID,
    GOOD_CLIENT_SECRET,
    TOKEN_URL,
    FakeGoogle,
)
from tests.fakes import FakeClock

AUTHORIZE_URL = "https://accounts.fake-google.test/o/oauth2/v2/auth"
BOT_API_URL = "https://bots.fake-meetstream.test/api/v1/bots/create_bot"
START = "/api/google/oauth/start"
CALLBACK = "/api/google/oauth-callback"
REDIRECT_URI = "http://calbot.test/api/google/oauth-callback"
OTHER_CLIENT_ID = "other-999.apps.googleusercontent.com"
OTHER_CLIENT_SECRET = "GOCSPX-the-other-clients-secret"


# -- a fake of Google's consent screen and of the authorization_code grant ----------------------


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class IssuedCode:
    client_id: str
    redirect_uri: str
    code_challenge: str


class FakeConsentScreen:
    """The user allowing access (`approve`) and the token endpoint redeeming the code; refresh
    grants go on to FakeGoogle, which learns every refresh token issued here."""

    def __init__(self, google: FakeGoogle) -> None:
        self.google = google
        self.clients = {GOOD_CLIENT_ID: GOOD_CLIENT_SECRET, OTHER_CLIENT_ID: OTHER_CLIENT_SECRET}
        self.codes: dict[str, IssuedCode] = {}
        self.exchanges: list[dict[str, str]] = []
        self.scope = CALENDAR_SCOPES
        self.with_refresh_token = True
        self.refresh_token_override: str | None = None
        self.fail_next: list[int] = []
        self.issued = 0

    def approve(self, authorize_url: str) -> dict[str, str]:
        """What Google appends to the redirect URI after the user clicks Allow."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        self.issued += 1
        code = f"4/0Ab-code-{self.issued}"
        self.codes[code] = IssuedCode(
            query["client_id"], query["redirect_uri"], query["code_challenge"]
        )
        return {"code": code, "state": query["state"], "scope": query["scope"]}

    def handle(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("grant_type") != "authorization_code":
            return self.google.handle(request)
        self.exchanges.append(form)
        if self.fail_next:
            return httpx.Response(self.fail_next.pop(0), json={"error": "internal_failure"})
        if self.clients.get(form.get("client_id", "")) != form.get("client_secret"):
            return _token_error(401, "invalid_client", "Unauthorized")
        issued = self.codes.pop(form.get("code", ""), None)
        if issued is None:
            return _token_error(400, "invalid_grant", "Malformed auth code.")
        if issued.redirect_uri != form.get("redirect_uri"):
            return _token_error(400, "redirect_uri_mismatch", "Bad Request")
        if s256(form.get("code_verifier", "")) != issued.code_challenge:
            return _token_error(400, "invalid_grant", "Invalid code verifier.")
        refresh_token = self.refresh_token_override or f"1//refresh-from-code-{self.issued}"
        self.google.refresh_tokens.add(refresh_token)
        body: dict[str, Any] = {
            "access_token": f"ya29.from-code-{self.issued}",
            "expires_in": 3599,
            "scope": self.scope,
            "token_type": "Bearer",
        }
        if self.with_refresh_token:
            body["refresh_token"] = refresh_token
        return httpx.Response(200, json=body)


def _token_error(status: int, error: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": description})


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The configured client is FakeGoogle's; `indirect` parametrisation overrides fields."""
    fields: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "google_oauth_token_url": TOKEN_URL,
        "google_oauth_authorize_url": AUTHORIZE_URL,
        "google_calendar_api_url": API_URL,
        "bot_api_url": BOT_API_URL,
        "google_client_id": GOOD_CLIENT_ID,
        "google_client_secret": GOOD_CLIENT_SECRET,
    }
    fields.update(getattr(request, "param", {}))
    return Settings(_env_file=None, **fields)


@pytest.fixture
def consent_screen(fake_google: FakeGoogle) -> FakeConsentScreen:
    return FakeConsentScreen(fake_google)


@pytest.fixture
def google_mock(
    fake_google: FakeGoogle, consent_screen: FakeConsentScreen
) -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=TOKEN_URL).mock(side_effect=consent_screen.handle)
        router.route(url__startswith=API_URL).mock(side_effect=fake_google.handle)
        yield router


@pytest.fixture
def consent(container: Container) -> ConsentService:
    """The app's ConsentService."""
    return container.consent


async def start(client: httpx.AsyncClient, **query: str) -> str:
    """Open the start page; returns Google's authorization URL it redirects to."""
    response = await client.get(START, params=query)
    assert response.status_code == 302, response.text
    location: str = response.headers["location"]
    return location


async def allow_and_return(
    client: httpx.AsyncClient, screen: FakeConsentScreen, **query: str
) -> httpx.Response:
    """The whole browser trip: start, allow on Google's screen, follow the redirect back."""
    authorize_url = await start(client, **query)
    return await client.get(CALLBACK, params=screen.approve(authorize_url))


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def assert_is_a_private_page(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


# -- start ---------------------------------------------------------------------------------------


async def test_start_redirects_to_googles_consent_screen_with_exactly_the_guides_parameters(
    client: httpx.AsyncClient, consent: ConsentService
) -> None:
    response = await client.get(START)

    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(AUTHORIZE_URL + "?")
    params = parse_qs(urlsplit(location).query)
    assert all(len(values) == 1 for values in params.values())
    query = {k: v[0] for k, v in params.items()}
    assert set(query) == {
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "access_type",
        "prompt",
        "include_granted_scopes",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
    assert query["client_id"] == GOOD_CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["response_type"] == "code"
    assert query["scope"] == " ".join(CONSENT_SCOPES)
    assert query["scope"].split() == [
        "https://www.googleapis.com/auth/calendar.events.readonly",
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    ]
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert query["include_granted_scopes"] == "true"
    assert query["code_challenge_method"] == "S256"
    state = consent.read_state(query["state"])
    verifier = consent.code_verifier(state.nonce)
    assert 43 <= len(verifier) <= 128
    assert query["code_challenge"] == s256(verifier)
    assert state.redirect_uri == REDIRECT_URI
    assert GOOD_CLIENT_SECRET not in location
    assert verifier not in location
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"calbot_consent_{state.nonce}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert f"Path={CALLBACK}" in cookie


@pytest.mark.usefixtures("consent")
async def test_the_redirect_uri_follows_the_host_calbot_is_reached_at(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:3000") as http:
        location = await start(http)

    assert query_of(location)["redirect_uri"] == "http://localhost:3000/api/google/oauth-callback"


@pytest.mark.usefixtures("consent")
async def test_start_accepts_the_configured_client_id_as_a_parameter(
    client: httpx.AsyncClient,
) -> None:
    location = await start(client, client_id=GOOD_CLIENT_ID)

    assert query_of(location)["client_id"] == GOOD_CLIENT_ID


@pytest.mark.usefixtures("consent")
async def test_another_client_id_without_its_secret_is_a_400_page(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(START, params={"client_id": OTHER_CLIENT_ID})

    assert response.status_code == 400
    assert_is_a_private_page(response)
    assert "GOOGLE_CLIENT_SECRET" in response.text
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "settings", [{"google_client_id": None, "google_client_secret": None}], indirect=True
)
@pytest.mark.usefixtures("consent")
async def test_start_without_a_configured_client_is_a_400_page_that_says_what_to_set(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(START)

    assert response.status_code == 400
    assert_is_a_private_page(response)
    assert "No Google OAuth client is configured" in response.text
    assert "GOOGLE_CLIENT_ID" in response.text


@pytest.mark.parametrize("settings", [{"google_client_secret": None}], indirect=True)
@pytest.mark.usefixtures("consent")
async def test_start_without_a_client_secret_is_a_400_page(client: httpx.AsyncClient) -> None:
    response = await client.get(START)

    assert response.status_code == 400
    assert "GOOGLE_CLIENT_SECRET is not set" in response.text


@pytest.mark.usefixtures("consent")
async def test_pages_escape_what_comes_from_outside(client: httpx.AsyncClient) -> None:
    hostile = '<script>alert("x")</script>'

    response = await client.get(START, params={"client_id": hostile})

    assert response.status_code == 400
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


# -- callback: the helper behaviour --------------------------------------------------------------


async def test_callback_exchanges_the_code_and_shows_the_refresh_token_once(
    client: httpx.AsyncClient, consent_screen: FakeConsentScreen, consent: ConsentService
) -> None:
    authorize_url = await start(client)
    answer = consent_screen.approve(authorize_url)

    response = await client.get(CALLBACK, params=answer)

    assert response.status_code == 200, response.text
    assert_is_a_private_page(response)
    assert "<pre>1//refresh-from-code-1</pre>" in response.text
    assert "Access token expiry" in response.text
    assert "2026-11-25T12:59:59Z" in response.text  # NOW + expires_in
    assert "ya29." not in response.text  # the access token itself is never shown
    assert GOOD_CLIENT_SECRET not in response.text
    [exchange] = consent_screen.exchanges
    query = query_of(authorize_url)
    assert exchange == {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "client_id": GOOD_CLIENT_ID,
        "client_secret": GOOD_CLIENT_SECRET,
        "redirect_uri": query["redirect_uri"],
        "code_verifier": exchange["code_verifier"],
    }
    assert s256(exchange["code_verifier"]) == query["code_challenge"]

    again = await client.get(CALLBACK, params=answer)

    assert again.status_code == 400
    assert "start again" in again.text
    assert "refresh-from-code" not in again.text
    assert len(consent_screen.exchanges) == 1


@pytest.mark.usefixtures("consent")
async def test_the_refresh_token_is_escaped_on_the_page(
    client: httpx.AsyncClient, consent_screen: FakeConsentScreen
) -> None:
    consent_screen.refresh_token_override = "1//<b>bold</b>&amp"

    response = await allow_and_return(client, consent_screen)

    assert response.status_code == 200
    assert "<pre>1//&lt;b&gt;bold&lt;/b&gt;&amp;amp</pre>" in response.text


@pytest.mark.usefixtures("consent")
async def test_a_forged_state_is_refused(
    client: httpx.AsyncClient, consent_screen: FakeConsentScreen
) -> None:
    answer = consent_screen.approve(await start(client))
    payload, _, mac = answer["state"].partition(".")
    forged_payload = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(payload + "==").replace(
            REDIRECT_URI.encode(), b"https://evil.test/cb"
        )
    ).rstrip(b"=")
    forgeries = [
        f"{forged_payload.decode()}.{mac}",
        f"{payload}.{'A' * len(mac)}",
        "not-a-state",
        "",
    ]

    for forged in forgeries:
        response = await client.get(CALLBACK, params={**answer, "state": forged})
        assert response.status_code == 400, forged
        assert "Start again" in response.text
    assert consent_screen.exchanges == []


@pytest.mark.usefixtures("consent")
async def test_an_expired_state_is_refused(
    client: httpx.AsyncClient, consent_screen: FakeConsentScreen, clock: FakeClock
) -> None:
    answer = consent_screen.approve(await start(client))
    clock.advance(10 * 60 + 1)

    response = await client.get(CALLBACK, params=answer)

    assert response.status_code == 400
    assert "expired" in response.text
    assert consent_screen.exchanges == []


@pytest.mark.usefixtures("consent")
async def test_a_callback_in_a_browser_that_did_not_start_the_flow_is_refused(
    client: httpx.AsyncClient, consent_screen: FakeConsentScreen, app: FastAPI
) -> None:
    answer = consent_screen.approve(await start(client))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as victim:
        response = await victim.get(CALLBACK, params=answer)

    assert response.status_code == 400
    assert "This browser did not start this sign-in" in response.text
    assert consent_screen.exchanges == []


@pytest.mark.usefixtures("consent")
async def test_access_denied_gives_the_guides_oauth_error_page(
    client: httpx.AsyncClient,
) -> None:
    state = query_of(await start(client))["state"]

    response = await client.get(CALLBACK, params={"error": "access_denied", "state": state})

    assert response.status_code == 400
    assert_is_a_private_page(response)
    assert "<h1>OAuth Error</h1>" in response.text
    assert "access_denied" in response.text


@pytest.mark.usefixtures("consent")
async def test_googles_error_words_are_escaped_and_need_a_genuine_state(
    client: httpx.AsyncClient,
) -> None:
    state = query_of(await start(client))["state"]
    hostile = {"error": "<img src=x>", "error_description": "<script>x</script>"}

    genuine = await client.get(CALLBACK, params={**hostile, "state": state})
    forged = await client.get(CALLBACK, params={**hostile, "state": "forged.state"})

    assert genuine.status_code == 400
    assert "unknown_error" in genuine.text
    assert "&lt;script&gt;x&lt;/script&gt;" in genuine.text
    assert "<script>" not in genuine.text
    assert "<img" not in genuine.text
    assert forged.status_code == 400
    assert "script" not in forged.text


@pytest.mark.usefixtures("consent")
async def test_a_callback_without_a_code_is_a_400_page(client: httpx.AsyncClient) -> None:
    state = query_of(await start(client))["state"]

    response = await client.get(CALLBACK, params={"state": state})

    assert response.status_code == 400
    assert "Missing authorization code" in response.text


@pytest.mark.usefixtures("consent")
async def test_no_refresh_token_tells_to_revoke_access_and_try_again(
    client: httpx.AsyncClient, consent_screen: FakeConsentScreen
) -> None:
    consent_screen.with_refresh_token = False

    response = await allow_and_return(client, consent_screen)

    assert response.status_code == 400
    assert_is_a_private_page(response)
    assert "Not returned — revoke access at https://myaccount.google.com/permissions" in (
        response.text
    )
    assert 'href="https://myaccount.google.com/permissions"' in response.text


@pytest.mark.usefixtures("consent")
async def test_a_grant_without_calendar_access_asks_to_grant_it(
    client: httpx.AsyncClient, consent_screen: FakeConsentScreen
) -> None:
    consent_screen.scope = "https://www.googleapis.com/auth/userinfo.email openid"

    response = await allow_and_return(client, consent_screen)

    assert response.status_code == 400
    assert "Calendar access not granted" in response.text
    assert "refresh-from-code" not in response.text


@pytest.mark.usefixtures("consent")
async def test_a_refused_code_shows_googles_reason(
    client: httpx.AsyncClient, consent_screen: FakeConsentScreen
) -> None:
    answer = consent_screen.approve(await start(client))
    consent_screen.codes.clear()  # expired at Google meanwhile

    response = await client.get(CALLBACK, params=answer)

    assert response.status_code == 400
    assert "Token Exchange Failed" in response.text
    assert "invalid_grant: Malformed auth code." in response.text
    assert answer["code"] not in response.text


@pytest.mark.usefixtures("consent")
async def test_a_failing_token_endpoint_is_retried_then_a_502_page(
    client: httpx.AsyncClient, consent_screen: FakeConsentScreen
) -> None:
    consent_screen.fail_next = [500, 503, 502]

    response = await allow_and_return(client, consent_screen)

    assert response.status_code == 502
    assert_is_a_private_page(response)
    assert "<h1>Token Exchange Failed</h1>" in response.text
    assert "kept failing" in response.text
    assert len(consent_screen.exchanges) == 3


@pytest.mark.usefixtures("consent")
async def test_one_token_endpoint_failure_is_retried_transparently(
    client: httpx.AsyncClient, consent_screen: FakeConsentScreen
) -> None:
    consent_screen.fail_next = [503]

    response = await allow_and_return(client, consent_screen)

    assert response.status_code == 200
    assert "refresh-from-code-1" in response.text
    assert len(consent_screen.exchanges) == 2


# -- connect links -------------------------------------------------------------------------------


async def make_link(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, str] | None = None
) -> str:
    response = await client.post("/api/v1/calendar/connect-link", headers=auth, json=body)
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    return url


@pytest.mark.usefixtures("consent")
async def test_connect_link_needs_an_api_key_and_is_a_one_time_start_url(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    anonymous = await client.post("/api/v1/calendar/connect-link")
    response = await client.post("/api/v1/calendar/connect-link", headers=auth)

    assert anonymous.status_code == 401
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"url", "expires_at"}
    assert body["url"].startswith("http://calbot.test/api/google/oauth/start?link=")
    assert body["expires_at"] == "2026-11-25T12:15:00Z"
    assert GOOD_CLIENT_SECRET not in response.text


@pytest.mark.usefixtures("consent")
async def test_a_connect_link_connects_the_calendar_without_showing_a_token(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    consent_screen: FakeConsentScreen,
) -> None:
    link = await make_link(client, auth)

    response = await allow_and_return(client, consent_screen, link=query_of(link)["link"])

    assert response.status_code == 200, response.text
    assert_is_a_private_page(response)
    assert "Calendar connected" in response.text
    assert "Me (<code>user@example.com</code>) — primary" in response.text
    assert "team@group.calendar.google.com" in response.text
    assert "refresh-from-code" not in response.text
    assert "ya29." not in response.text
    calendars = await client.get("/api/v1/calendar/calendars", headers=auth)
    assert calendars.status_code == 200
    assert calendars.json()["primary_calendar_id"] == "user@example.com"
    assert {c["id"] for c in calendars.json()["calendars"]} == {
        "user@example.com",
        "team@group.calendar.google.com",
    }
    events = await client.get("/api/v1/calendar/events", headers=auth)
    assert events.status_code == 200


@pytest.mark.usefixtures("consent")
async def test_a_connect_link_works_once(
    client: httpx.AsyncClient, auth: dict[str, str], consent_screen: FakeConsentScreen
) -> None:
    token = query_of(await make_link(client, auth))["link"]
    first = await start(client, link=token)
    second = await start(client, link=token)  # opened twice before finishing
    assert (await client.get(CALLBACK, params=consent_screen.approve(first))).status_code == 200

    reopened = await client.get(START, params={"link": token})
    raced = await client.get(CALLBACK, params=consent_screen.approve(second))

    assert reopened.status_code == 400
    assert "Connect link not valid" in reopened.text
    assert raced.status_code == 400
    assert "already used" in raced.text
    assert len(consent_screen.exchanges) == 1


@pytest.mark.usefixtures("consent")
async def test_a_connect_link_expires_after_15_minutes(
    client: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock
) -> None:
    token = query_of(await make_link(client, auth))["link"]
    clock.advance(15 * 60)

    response = await client.get(START, params={"link": token})

    assert response.status_code == 400
    assert "expired" in response.text


@pytest.mark.usefixtures("consent")
async def test_a_failed_connect_link_flow_leaves_the_link_usable(
    client: httpx.AsyncClient, auth: dict[str, str], consent_screen: FakeConsentScreen
) -> None:
    token = query_of(await make_link(client, auth))["link"]
    consent_screen.fail_next = [500, 500, 500]

    failed = await allow_and_return(client, consent_screen, link=token)
    retried = await allow_and_return(client, consent_screen, link=token)

    assert failed.status_code == 502
    assert retried.status_code == 200
    assert "Calendar connected" in retried.text


async def test_another_accounts_link_cannot_be_hijacked(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    container: Container,
    consent_screen: FakeConsentScreen,
    consent: ConsentService,
) -> None:
    other_auth = await new_auth(container, "other")
    victim_link = query_of(await make_link(client, auth))["link"]
    own_link = query_of(await make_link(client, other_auth))["link"]
    answer = consent_screen.approve(await start(client, link=own_link))
    own_state = consent.read_state(answer["state"])
    payload, _, mac = answer["state"].partition(".")
    victim_link_id = hashlib.sha256(victim_link.encode()).hexdigest()
    spliced = base64.urlsafe_b64decode(payload + "==").replace(
        own_state.link_id.encode() if own_state.link_id else b"?", victim_link_id.encode()
    )
    spliced_state = f"{base64.urlsafe_b64encode(spliced).rstrip(b'=').decode()}.{mac}"

    hijack = await client.get(CALLBACK, params={**answer, "state": spliced_state})
    own = await client.get(CALLBACK, params=answer)

    assert hijack.status_code == 400
    assert own.status_code == 200
    assert (await client.get("/api/v1/calendar/calendars", headers=other_auth)).status_code == 200
    assert (await client.get("/api/v1/calendar/calendars", headers=auth)).status_code == 404
    assert (await client.get(START, params={"link": victim_link})).status_code == 302


@pytest.mark.parametrize(
    "settings", [{"google_client_id": None, "google_client_secret": None}], indirect=True
)
@pytest.mark.usefixtures("consent")
async def test_a_connect_link_can_carry_its_own_client(
    client: httpx.AsyncClient, auth: dict[str, str], consent_screen: FakeConsentScreen
) -> None:
    missing = await client.post("/api/v1/calendar/connect-link", headers=auth)
    link = await make_link(
        client,
        auth,
        {"google_client_id": OTHER_CLIENT_ID, "google_client_secret": OTHER_CLIENT_SECRET},
    )
    consent_screen.google.clients[OTHER_CLIENT_ID] = OTHER_CLIENT_SECRET

    authorize_url = await start(client, link=query_of(link)["link"])
    response = await client.get(CALLBACK, params=consent_screen.approve(authorize_url))

    assert missing.status_code == 422
    assert "google_client_id and google_client_secret" in missing.json()["detail"]
    assert OTHER_CLIENT_SECRET not in link
    assert OTHER_CLIENT_SECRET not in authorize_url
    assert query_of(authorize_url)["client_id"] == OTHER_CLIENT_ID
    assert response.status_code == 200, response.text
    assert consent_screen.exchanges[0]["client_secret"] == OTHER_CLIENT_SECRET


# -- two replicas on one database ---------------------------------------------------------------


@asynccontextmanager
async def another_replica(settings: Settings, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """A second calbot app on the same settings: the same SQLite file and the same key."""
    replica = create_app(settings, clock=clock, run_background=False)
    async with replica.router.lifespan_context(replica):
        transport = httpx.ASGITransport(app=replica)
        async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as http:
            yield http


async def test_a_connect_link_made_on_one_replica_is_redeemed_on_another_once(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    settings: Settings,
    clock: FakeClock,
    consent_screen: FakeConsentScreen,
) -> None:
    async with another_replica(settings, clock) as second:
        token = query_of(await make_link(client, auth))["link"]
        answer = consent_screen.approve(await start(second, link=token))

        redeemed = await second.get(CALLBACK, params=answer)
        client.cookies.update(second.cookies)  # the same browser, now answered by replica one
        replayed = await client.get(CALLBACK, params=answer)
        reopened = await client.get(START, params={"link": token})
        calendars = await client.get("/api/v1/calendar/calendars", headers=auth)

    assert redeemed.status_code == 200, redeemed.text
    assert "Calendar connected" in redeemed.text
    assert replayed.status_code == 400
    assert "already used" in replayed.text
    assert reopened.status_code == 400
    assert "Connect link not valid" in reopened.text
    assert calendars.status_code == 200
    assert calendars.json()["primary_calendar_id"] == "user@example.com"
    assert len(consent_screen.exchanges) == 1


async def test_a_callback_finished_on_one_replica_cannot_be_replayed_on_another(
    client: httpx.AsyncClient,
    settings: Settings,
    clock: FakeClock,
    consent_screen: FakeConsentScreen,
) -> None:
    async with another_replica(settings, clock) as second:
        answer = consent_screen.approve(await start(second))
        finished = await second.get(CALLBACK, params=answer)
        client.cookies.update(second.cookies)
        replayed = await client.get(CALLBACK, params=answer)

    assert finished.status_code == 200, finished.text
    assert replayed.status_code == 400
    assert "already used" in replayed.text
    assert len(consent_screen.exchanges) == 1  # refused before Google was asked again


async def test_a_connect_link_expires_on_every_replica(
    client: httpx.AsyncClient, auth: dict[str, str], settings: Settings, clock: FakeClock
) -> None:
    async with another_replica(settings, clock) as second:
        token = query_of(await make_link(second, auth))["link"]
        live = await client.get(START, params={"link": token})
        clock.advance(15 * 60)
        expired = await client.get(START, params={"link": token})

    assert live.status_code == 302
    assert expired.status_code == 400
    assert "expired" in expired.text


# -- OpenAPI -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("consent")
async def test_the_consent_routes_are_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    start_op = spec["paths"][START]["get"]
    callback_op = spec["paths"][CALLBACK]["get"]
    link_op = spec["paths"]["/api/v1/calendar/connect-link"]["post"]

    for operation in (start_op, callback_op, link_op):
        assert operation["tags"] == ["Google consent"]
        assert operation["summary"]
        assert len(operation["description"]) > 40
    assert "security" not in start_op
    assert "security" not in callback_op
    assert link_op["security"] == [{"Token": []}]
    assert "302" in start_op["responses"]
    assert "text/html" in start_op["responses"]["400"]["content"]
    assert "text/html" in callback_op["responses"]["200"]["content"]
    assert "text/html" in callback_op["responses"]["400"]["content"]
    assert "422" in link_op["responses"]


# -- calbot google-auth --------------------------------------------------------------------------


class FakeBrowser(io.StringIO):
    """Stands in for stderr: when run_google_auth prints the consent URL, a thread plays the
    user's browser (Google approves, then the real loopback callback request)."""

    def __init__(self, screen: FakeConsentScreen, answer: dict[str, str] | None = None) -> None:
        super().__init__()
        self.screen = screen
        self.answer = answer
        self.authorize_url: str | None = None
        self.page_status: int | None = None
        self.page = ""
        self._thread: threading.Thread | None = None

    def write(self, text: str) -> int:
        if text.startswith(AUTHORIZE_URL) and self._thread is None:
            self.authorize_url = text.strip()
            self._thread = threading.Thread(target=self._come_back, daemon=True)
            self._thread.start()
        return super().write(text)

    def _come_back(self) -> None:
        assert self.authorize_url is not None
        redirect_uri = query_of(self.authorize_url)["redirect_uri"]
        answer = self.answer or self.screen.approve(self.authorize_url)
        if self.answer and "state" not in answer:
            answer = {**answer, "state": query_of(self.authorize_url)["state"]}
        try:
            with urllib.request.urlopen(f"{redirect_uri}?{urlencode(answer)}", timeout=10) as page:
                self.page_status, self.page = page.status, page.read().decode()
        except urllib.error.HTTPError as error:
            self.page_status, self.page = error.code, error.read().decode()
            error.close()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=10)


@pytest.mark.usefixtures("google_mock")
def test_google_auth_prints_the_refresh_token_alone_on_stdout(
    settings: Settings, consent_screen: FakeConsentScreen
) -> None:
    out = io.StringIO()
    browser = FakeBrowser(consent_screen)

    code = run_google_auth(
        GOOD_CLIENT_ID,
        GOOD_CLIENT_SECRET,
        settings=settings,
        open_browser=False,
        timeout_seconds=10,
        stdout=out,
        stderr=browser,
    )
    browser.join()

    assert code == 0, browser.getvalue()
    assert out.getvalue() == "1//refresh-from-code-1\n"
    assert browser.authorize_url is not None
    query = query_of(browser.authorize_url)
    redirect = urlsplit(query["redirect_uri"])
    assert redirect.scheme == "http"
    assert redirect.hostname == "127.0.0.1"
    assert redirect.port
    assert redirect.path == CALLBACK
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert GOOD_CLIENT_SECRET not in browser.authorize_url
    [exchange] = consent_screen.exchanges
    assert exchange["redirect_uri"] == query["redirect_uri"]
    assert s256(exchange["code_verifier"]) == query["code_challenge"]
    assert browser.page_status == 200
    assert "return to your terminal" in browser.page
    assert "refresh-from-code" not in browser.page
    assert "refresh-from-code" not in browser.getvalue()


@pytest.mark.usefixtures("google_mock")
def test_google_auth_exits_1_when_google_reports_an_error(
    settings: Settings, consent_screen: FakeConsentScreen
) -> None:
    out = io.StringIO()
    browser = FakeBrowser(consent_screen, answer={"error": "access_denied"})

    code = run_google_auth(
        GOOD_CLIENT_ID,
        GOOD_CLIENT_SECRET,
        settings=settings,
        open_browser=False,
        timeout_seconds=10,
        stdout=out,
        stderr=browser,
    )
    browser.join()

    assert code == 1
    assert out.getvalue() == ""
    assert "access_denied" in browser.getvalue()
    assert browser.page_status == 400
    assert consent_screen.exchanges == []


@pytest.mark.usefixtures("google_mock")
def test_google_auth_exits_2_when_no_answer_comes_in_time(settings: Settings) -> None:
    out, err = io.StringIO(), io.StringIO()

    code = run_google_auth(
        GOOD_CLIENT_ID,
        GOOD_CLIENT_SECRET,
        settings=settings,
        open_browser=False,
        timeout_seconds=0.2,
        stdout=out,
        stderr=err,
    )

    assert code == 2
    assert out.getvalue() == ""
    assert "no answer from Google" in err.getvalue()
    assert AUTHORIZE_URL in err.getvalue()


@pytest.mark.parametrize(
    "settings", [{"google_client_id": None, "google_client_secret": None}], indirect=True
)
def test_google_auth_without_a_client_is_a_usage_error(settings: Settings) -> None:
    err = io.StringIO()

    code = run_google_auth(
        None, None, settings=settings, open_browser=False, timeout_seconds=1, stderr=err
    )

    assert code == 2
    assert "--client-id" in err.getvalue()


def test_google_auth_reuses_the_configured_client_and_refuses_a_busy_port(
    settings: Settings,
) -> None:
    err = io.StringIO()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        code = run_google_auth(
            None, None, settings=settings, open_browser=False, port=port, stderr=err
        )

    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err.getvalue()

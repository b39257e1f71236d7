"""End to end in a real browser: the consent flow, from `/api/google/oauth/start` to the token.

calbot runs for real (`calbot serve`, a subprocess) on a loopback port; its Google is a small fake
consent screen and token endpoint on another loopback port (real HTTP, below). Debian's headless
Chromium, driven by Playwright, opens the start URL, lands on the fake consent screen, clicks
Allow (or Deny) and lands back on calbot's callback page:

- Allow: the page shows the refresh token exactly as the fake issued it, after calbot redeemed
  the code with the PKCE verifier whose S256 challenge the browser carried; the client secret
  and the verifier never reach the browser; reloading the page does not show the token again.
- Deny: calbot's error page (400) headed "OAuth Error", as the vendor guide's helper says it.

The browser may reach calbot's and the fake's origins only: other requests are aborted (and
fail the test), redirects included (they are watched too, and no other host name resolves).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.e2e.servers import (
    LOOPBACK,
    LOOPBACK_ONLY_RESOLVER,
    QuietHandler,
    calbot_env,
    calbot_serving,
    free_port,
    launch_chromium,
    only_origins,
    requires_chromium,
    serving_http,
)

pytestmark = requires_chromium

START_PATH = "/api/google/oauth/start"
CALLBACK_PATH = "/api/google/oauth-callback"
AUTHORIZE_PATH = "/o/oauth2/v2/auth"
DECIDE_PATH = "/o/oauth2/v2/decide"
TOKEN_PATH = "/token"
CLIENT_ID = "e2e-consent-1234.apps.googleusercontent.com"
CLIENT_SECRET = "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a-browser"
# The vendor guide's helper asks for exactly these (seed guide section 1, "Required scopes").
GUIDE_SCOPES = (
    "https://www.googleapis.com/auth/calendar.events.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)
AUTHORIZE_PARAMETERS = frozenset(
    {
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
)
CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # BASE64URL(SHA256(...)), no padding
CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 section 4.1
CONSENT_HEADING = "calbot wants to see your calendars"
STEP_TIMEOUT_MS = 10_000


def s256(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL-no-padding(SHA256(ASCII(verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# -- a fake of Google's consent screen and token endpoint, over real HTTP -----------------------


@dataclass(frozen=True)
class IssuedCode:
    """An authorization code handed out on Allow, with what the token endpoint must see again."""

    code: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    scope: str


@dataclass(frozen=True)
class Exchange:
    """One POST to the token endpoint: the form as sent and what the fake answered."""

    form: dict[str, str]
    content_type: str
    status: int
    answer: dict[str, Any]


@dataclass
class FakeConsentGoogle:
    """Google's consent screen for one OAuth client, and its authorization_code grant.

    `problems` collects every check the requests failed (either endpoint); `unexpected` every
    request to a path this fake does not serve (calbot must not call anything else here)."""

    client_id: str
    client_secret: str
    redirect_uris: frozenset[str]
    authorize_queries: list[dict[str, str]] = field(default_factory=list)
    issued: dict[str, IssuedCode] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: dict[str, dict[str, str]] = field(default_factory=dict)
    _redeemable: set[str] = field(default_factory=set)

    # -- GET /o/oauth2/v2/auth -------------------------------------------------------------

    def authorize(self, query: str) -> tuple[int, str]:
        """The consent page for a well-formed request, else Google's 400 error page."""
        params = parse_qs(query, keep_blank_values=True)
        given = {name: values[-1] for name, values in params.items()}
        problems = [f"{name} given {len(v)} times" for name, v in params.items() if len(v) != 1]
        if set(given) != AUTHORIZE_PARAMETERS:
            problems.append(f"parameters {sorted(given)}, not {sorted(AUTHORIZE_PARAMETERS)}")
        expected = {
            "client_id": self.client_id,
            "response_type": "code",
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
            "code_challenge_method": "S256",
        }
        problems += [
            f"{name}={given.get(name)!r}, expected {value!r}"
            for name, value in expected.items()
            if given.get(name) != value
        ]
        if given.get("redirect_uri") not in self.redirect_uris:
            problems.append(f"redirect_uri_mismatch: {given.get('redirect_uri')!r}")
        scopes = given.get("scope", "").split(" ")
        if sorted(scopes) != sorted(GUIDE_SCOPES):
            problems.append(f"scope {given.get('scope')!r}")
        if not given.get("state"):
            problems.append("no state")
        if not CODE_CHALLENGE.fullmatch(given.get("code_challenge", "")):
            problems.append(f"code_challenge {given.get('code_challenge')!r}")
        with self.lock:
            self.authorize_queries.append(given)
            if problems:
                self.problems.extend(problems)
                items = "".join(f"<li>{escape(problem)}</li>" for problem in problems)
                return 400, _html("Error 400: invalid_request", f"<ul>{items}</ul>")
            ticket = secrets.token_urlsafe(16)
            self._pending[ticket] = given
        body = (
            f"<p>{escape(given['client_id'])} wants to access your Google Account "
            "(user@example.com):</p>"
            "<ul><li>See events on all your calendars</li>"
            "<li>See and download any calendar you can access</li>"
            "<li>See your primary email address</li>"
            "<li>See your personal info</li></ul>"
            f'<form method="post" action="{DECIDE_PATH}">'
            f'<input type="hidden" name="ticket" value="{escape(ticket)}">'
            '<button name="decision" value="deny">Deny</button> '
            '<button name="decision" value="allow">Allow</button>'
            "</form>"
        )
        return 200, _html(CONSENT_HEADING, body)

    # -- POST /o/oauth2/v2/decide (the consent page's form) ----------------------------------

    def decide(self, form: dict[str, str]) -> tuple[int, str]:
        """Where the browser goes next: Location of a 302 to the redirect URI, or an error."""
        with self.lock:
            given = self._pending.pop(form.get("ticket", ""), None)
            if given is None:
                self.problems.append(f"consent decision without a pending request: {form}")
                return 400, ""
            if form.get("decision") == "allow":
                code = f"4/0Ab-fake-{secrets.token_urlsafe(24)}"
                self.issued[code] = IssuedCode(
                    code=code,
                    client_id=given["client_id"],
                    redirect_uri=given["redirect_uri"],
                    code_challenge=given["code_challenge"],
                    scope=given["scope"],
                )
                self._redeemable.add(code)
                back = {"code": code, "state": given["state"], "scope": given["scope"]}
            else:
                back = {"error": "access_denied", "state": given["state"]}
        separator = "&" if "?" in given["redirect_uri"] else "?"
        return 302, f"{given['redirect_uri']}{separator}{urlencode(back)}"

    # -- POST /token -------------------------------------------------------------------------

    def token(self, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        params = parse_qs(body.decode(), keep_blank_values=True)
        form = {name: values[-1] for name, values in params.items()}
        with self.lock:
            status, answer = self._redeem(content_type, params, form)
            self.exchanges.append(Exchange(form, content_type, status, answer))
            if status != 200:
                self.problems.append(f"token endpoint answered {status} {answer}")
        return status, answer

    def _redeem(
        self, content_type: str, params: dict[str, list[str]], form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if content_type.split(";")[0].strip() != "application/x-www-form-urlencoded":
            return _token_error(400, "invalid_request", f"Content-Type {content_type}")
        if any(len(values) != 1 for values in params.values()):
            return _token_error(400, "invalid_request", "A parameter was repeated.")
        if form.get("grant_type") != "authorization_code":
            return _token_error(400, "unsupported_grant_type", "Invalid grant_type.")
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return _token_error(401, "invalid_client", "Unauthorized")
        code = form.get("code", "")
        if code not in self._redeemable:
            return _token_error(400, "invalid_grant", "Malformed auth code.")
        self._redeemable.discard(code)  # single use, even when the rest is wrong
        issued = self.issued[code]
        if issued.client_id != form["client_id"]:
            return _token_error(400, "invalid_grant", "Code issued to another client.")
        if form.get("redirect_uri") != issued.redirect_uri:
            return _token_error(400, "redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier", "")
        if not CODE_VERIFIER.fullmatch(verifier) or s256(verifier) != issued.code_challenge:
            return _token_error(400, "invalid_grant", "Invalid code verifier.")
        return 200, {
            "access_token": f"ya29.fake-{secrets.token_urlsafe(24)}",
            "expires_in": 3599,
            "refresh_token": f"1//fake-refresh-{secrets.token_urlsafe(24)}",
            "scope": issued.scope,
            "token_type": "Bearer",
        }

    # -- what the tests read -------------------------------------------------------------------

    def exchanges_of(self, code: str) -> list[Exchange]:
        with self.lock:
            return [exchange for exchange in self.exchanges if exchange.form.get("code") == code]

    def seen(self) -> tuple[list[str], list[str]]:
        """(problems, unexpected) so far."""
        with self.lock:
            return list(self.problems), list(self.unexpected)


def _html(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} - Google Accounts (fake)</title></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _token_error(status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "error_description": description}


@contextmanager
def fake_consent_google(redirect_uri: str) -> Iterator[tuple[FakeConsentGoogle, str]]:
    """The fake on a loopback port, `redirect_uri` its client's one authorized redirect URI;
    yields the fake and its origin."""
    google = FakeConsentGoogle(CLIENT_ID, CLIENT_SECRET, frozenset({redirect_uri}))

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == AUTHORIZE_PATH:
                status, page = google.authorize(url.query)
                self.answer(status, page.encode(), "text/html; charset=utf-8")
            else:
                self._not_found()

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = self.body()
            if path == DECIDE_PATH:
                form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
                status, location = google.decide(form)
                headers = {"Location": location} if status == 302 else {}
                self.answer(status, b"", "text/html; charset=utf-8", headers)
            elif path == TOKEN_PATH:
                content_type = self.headers.get("Content-Type", "")
                status, answer = google.token(content_type, body)
                self.answer(status, json.dumps(answer).encode(), "application/json; charset=utf-8")
            else:
                self._not_found()

        def _not_found(self) -> None:
            if self.path != "/favicon.ico":  # the browser's own guess, not calbot's
                with google.lock:
                    google.unexpected.append(f"{self.command} {self.path}")
            self.answer(404, b"Not Found", "text/plain")

    with serving_http(Handler) as port:
        yield google, f"http://{LOOPBACK}:{port}"


# -- fixtures: one calbot, one fake and one browser for the module ------------------------------


@dataclass(frozen=True)
class Stack:
    google: FakeConsentGoogle
    google_origin: str
    calbot: str
    calbot_log: Path
    browser: Browser

    @property
    def callback_url(self) -> str:
        return self.calbot + CALLBACK_PATH

    def log(self) -> str:
        return self.calbot_log.read_text(errors="replace")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("consent")
    data_dir = root / "data"
    data_dir.mkdir()
    port = free_port()  # the redirect URI registered on the fake client names it
    calbot_origin = f"http://{LOOPBACK}:{port}"
    with ExitStack() as stack:
        google, origin = stack.enter_context(fake_consent_google(calbot_origin + CALLBACK_PATH))
        env = calbot_env(
            data_dir,
            google_client_id=CLIENT_ID,
            google_client_secret=CLIENT_SECRET,
            google_oauth_authorize_url=origin + AUTHORIZE_PATH,
            google_oauth_token_url=origin + TOKEN_PATH,
            # Everything else calbot could call lands on the fake too (and is `unexpected`).
            google_userinfo_url=origin + "/v1/userinfo",
            google_calendar_api_url=origin + "/calendar/v3",
            bot_api_url=origin + "/api/v1/bots/create_bot",
        )
        log_path = root / "calbot.log"
        base_url = stack.enter_context(calbot_serving(env, log_path, port))
        playwright = stack.enter_context(sync_playwright())
        browser = launch_chromium(playwright, LOOPBACK_ONLY_RESOLVER)
        stack.callback(browser.close)
        yield Stack(google, origin, base_url, log_path, browser)


@dataclass
class Visit:
    """A fresh browser context that may reach calbot and the fake only, with every URL it
    asked for (redirect hops included) and the ones it was refused."""

    page: Page
    requested: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def off_loopback(self, *origins: str) -> list[str]:
        """What the page asked for outside `origins`, blocked or (a redirect hop) not."""
        allowed = tuple(origin + "/" for origin in origins)
        return [url for url in [*self.requested, *self.blocked] if not url.startswith(allowed)]


@pytest.fixture
def visit(stack: Stack) -> Iterator[Visit]:
    context: BrowserContext = stack.browser.new_context(viewport={"width": 1000, "height": 700})
    try:
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
        visit = Visit(context.new_page())
        context.on("request", lambda request: visit.requested.append(request.url))
        context.route(
            "**/*", only_origins(stack.calbot, stack.google_origin, blocked=visit.blocked)
        )
        yield visit
    finally:
        context.close()


def _to_consent_screen(stack: Stack, page: Page) -> dict[str, str]:
    """Open calbot's start URL; returns the query Google's consent screen was opened with."""
    before = len(stack.google.authorize_queries)
    page.goto(stack.calbot + START_PATH)
    expect(page).to_have_url(re.compile(re.escape(stack.google_origin + AUTHORIZE_PATH) + r"\?"))
    problems, _ = stack.google.seen()
    assert problems == [], f"the consent screen refused calbot's request: {problems}"
    expect(page.get_by_role("heading", level=1)).to_have_text(CONSENT_HEADING)
    [query] = stack.google.authorize_queries[before:]
    return query


def _decide(stack: Stack, page: Page, button: str) -> Response:
    """Click `button` on the consent screen; returns calbot's answer to the redirect back."""
    with page.expect_response(lambda r: r.url.startswith(stack.callback_url + "?")) as back:
        page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
    return back.value


def _screenshot(page: Page, path: Path) -> None:
    with suppress(PlaywrightError):
        page.screenshot(path=path, full_page=True)


def test_allow_shows_the_refresh_token_that_google_issued_for_the_pkce_verifier(
    stack: Stack, visit: Visit, tmp_path: Path
) -> None:
    page = visit.page
    screenshot = tmp_path / "consent-allowed.png"
    try:
        query = _to_consent_screen(stack, page)
        _screenshot(page, tmp_path / "consent-screen.png")
        landed = _decide(stack, page, "Allow")
        shown_html = page.content()
        shown_text = page.locator("body").inner_text()
    finally:
        _screenshot(page, screenshot)
    where = f"{shown_text}\n(screenshot: {screenshot})\ncalbot's log:\n{stack.log()}"

    back = {k: v[0] for k, v in parse_qs(urlsplit(landed.url).query).items()}
    assert back["state"] == query["state"]
    [exchange] = stack.google.exchanges_of(back["code"])
    assert exchange.status == 200, f"{exchange.answer} {where}"
    assert landed.status == 200, where
    assert page.get_by_role("heading", level=1).inner_text() == "Success!", where
    # Exactly as issued: nothing added, trimmed or escaped away.
    assert page.locator("pre").inner_text() == exchange.answer["refresh_token"], where

    # The token endpoint saw the verifier whose challenge went through the browser.
    verifier = exchange.form["code_verifier"]
    assert CODE_VERIFIER.fullmatch(verifier), verifier
    assert s256(verifier) == query["code_challenge"]
    assert exchange.form == {
        "code": back["code"],
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": stack.callback_url,
        "grant_type": "authorization_code",
        "code_verifier": verifier,
    }
    assert exchange.content_type.startswith("application/x-www-form-urlencoded")
    assert query["redirect_uri"] == stack.callback_url

    # Neither the client secret nor the verifier ever reached the browser.
    assert CLIENT_SECRET not in shown_html, where
    assert CLIENT_SECRET not in shown_text, where
    for url in visit.requested:
        assert CLIENT_SECRET not in url, url
        assert verifier not in url, url

    # The page shows the token once: a reload (the same callback URL) is refused, unredeemed.
    reloaded = page.reload()
    assert reloaded is not None
    assert reloaded.status == 400, where
    expect(page.get_by_role("heading", level=1)).to_have_text("Start again")
    assert exchange.answer["refresh_token"] not in page.content()
    assert len(stack.google.exchanges_of(back["code"])) == 1

    assert stack.google.seen() == ([], []), where
    assert visit.off_loopback(stack.calbot, stack.google_origin) == []
    print(f"screenshot: {screenshot}")  # noqa: T201 (for -s runs)


def test_deny_shows_calbots_oauth_error_page(stack: Stack, visit: Visit, tmp_path: Path) -> None:
    page = visit.page
    screenshot = tmp_path / "consent-denied.png"
    exchanges_before = len(stack.google.exchanges)
    try:
        query = _to_consent_screen(stack, page)
        landed = _decide(stack, page, "Deny")
        shown_text = page.locator("body").inner_text()
        shown_html = page.content()
    finally:
        _screenshot(page, screenshot)
    where = f"{shown_text}\n(screenshot: {screenshot})\ncalbot's log:\n{stack.log()}"

    back = {k: v[0] for k, v in parse_qs(urlsplit(landed.url).query).items()}
    assert back == {"error": "access_denied", "state": query["state"]}
    assert landed.status == 400, where
    assert page.get_by_role("heading", level=1).inner_text() == "OAuth Error", where
    assert "access_denied" in shown_text, where
    assert CLIENT_SECRET not in shown_html, where
    assert len(stack.google.exchanges) == exchanges_before  # nothing to redeem
    assert stack.google.seen() == ([], []), where
    assert visit.off_loopback(stack.calbot, stack.google_origin) == []
    print(f"screenshot: {screenshot}")  # noqa: T201 (for -s runs)

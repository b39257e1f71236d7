"""End to end in a real browser: `/docs` authorises with an API key and lists the calendars.

Debian's headless Chromium (/usr/bin/chromium, installed by scripts/install-browser.sh), driven by
Playwright for Python, opens calbot's Swagger UI, which calbot serves from its own files
(app/routers/docs.py), never from a CDN. calbot runs for real under uvicorn on a loopback port in
a thread of this process, its Google being tests.fake_google.FakeGoogle behind a socket
(tests/e2e/servers.py); the API key comes from `calbot api-key create`.
The browser may only reach calbot's loopback origin: any other request the page makes is blocked
and fails the test.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import FloatRect, Page, Request, expect, sync_playwright

from app.config import Settings
from app.main import create_app
from app.routers.docs import DOCS_ASSETS_PATH, install_local_docs
from tests.conftest import GOOD_CREDENTIALS
from tests.e2e.servers import (
    LOOPBACK,
    LOOPBACK_ONLY_RESOLVER,
    PRIMARY,
    calbot_env,
    create_api_key,
    fake_google_server,
    launch_chromium,
    only_origins,
    requires_chromium,
)

CALENDARS_PATH = "/api/v1/calendar/calendars"
STEP_TIMEOUT_MS = 15_000
START_TIMEOUT_S = 15.0


async def _docs_html(app: FastAPI) -> str:
    """What `/docs` serves, asked in-process (no lifespan needed for that page)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as http:
        return (await http.get("/docs")).text


def _app_with_local_docs(settings: Settings) -> FastAPI:
    """calbot's app; with Swagger UI served locally even while create_app does not do it yet."""
    app = create_app(settings)
    if DOCS_ASSETS_PATH not in asyncio.run(_docs_html(app)):
        install_local_docs(app)
    assert DOCS_ASSETS_PATH in asyncio.run(_docs_html(app))
    return app


@contextmanager
def uvicorn_serving(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn, lifespan and all, on an ephemeral loopback port in a thread."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not server.started:
                assert thread.is_alive(), "uvicorn stopped while starting"
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.05)
            yield f"http://{LOOPBACK}:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            assert not thread.is_alive(), "uvicorn did not stop"


def _authorize_list_calendars(page: Page, base_url: str, key: str) -> Request:
    """The person's clicks on /docs; returns the request Swagger UI sent for GET /calendars."""
    page.goto(f"{base_url}/docs")
    page.locator(".auth-wrapper").get_by_role("button", name="Authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    expect(dialog).to_be_visible()
    scheme = dialog.locator(".auth-container").filter(has_text="Authorization")
    scheme.locator("input[type=text]").fill(f"Token {key}")
    scheme.get_by_role("button", name="Apply credentials").click()
    expect(scheme.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    block = page.locator(".opblock-get").filter(
        has=page.locator(".opblock-summary-path", has_text=CALENDARS_PATH)
    )
    block.locator(".opblock-summary").first.click()
    block.get_by_role("button", name="Try it out").click()
    with page.expect_request(lambda request: request.url == base_url + CALENDARS_PATH) as sent:
        block.get_by_role("button", name="Execute").click()
    expect(block.locator(".live-responses-table")).to_be_visible()
    return sent.value


def _screenshot(page: Page, path: Path) -> None:
    """The page from its top down to the live response when there is one, else all of it."""
    bottom = page.evaluate(
        """() => {
            const live = document.querySelector(".live-responses-table");
            return live ? live.getBoundingClientRect().bottom + window.scrollY : null;
        }"""
    )
    if bottom is None:
        page.screenshot(path=path, full_page=True)
    else:
        width = page.viewport_size["width"] if page.viewport_size else 1280
        clip: FloatRect = {"x": 0, "y": 0, "width": width, "height": bottom + 24}
        page.screenshot(path=path, full_page=True, clip=clip)


@requires_chromium
def test_docs_authorises_with_an_api_key_and_lists_calendars(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    screenshot = tmp_path / "docs-get-calendars.png"
    blocked: list[str] = []
    with fake_google_server() as (_, token_url, api_url):
        env = calbot_env(
            data_dir, google_oauth_token_url=token_url, google_calendar_api_url=api_url
        )
        key = create_api_key(env, "browser")
        settings = Settings(
            _env_file=None,
            data_dir=data_dir,
            google_oauth_token_url=token_url,
            google_calendar_api_url=api_url,
        )
        with uvicorn_serving(_app_with_local_docs(settings)) as base_url:
            connected = httpx.post(
                f"{base_url}/api/v1/calendar/create_calendar",
                json=GOOD_CREDENTIALS,
                headers={"Authorization": f"Token {key}"},
                timeout=10,
                trust_env=False,
            )
            assert connected.status_code == 201, connected.text

            with sync_playwright() as playwright:
                browser = launch_chromium(playwright, LOOPBACK_ONLY_RESOLVER)
                try:
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    context.set_default_timeout(STEP_TIMEOUT_MS)
                    context.route("**/*", only_origins(base_url, blocked=blocked))
                    page = context.new_page()
                    try:
                        sent = _authorize_list_calendars(page, base_url, key)
                        block = page.locator(".opblock-get").filter(has_text=CALENDARS_PATH)
                        live = block.locator(".live-responses-table .response").first
                        code = live.locator(".response-col_status").inner_text().strip()
                        body = live.locator(".response-col_description pre").first.inner_text()
                        curl = block.locator(".curl-command").inner_text()
                    except PlaywrightError as error:
                        raise AssertionError(
                            f"{error}\nblocked off-origin requests: {blocked}\n"
                            f"screenshot: {screenshot}"
                        ) from error
                    finally:
                        with suppress(PlaywrightError):
                            _screenshot(page, screenshot)
                    request_headers = sent.all_headers()
                finally:
                    browser.close()

    where = f"(screenshot: {screenshot})"
    assert code == "200", f"{code}: {body} {where}"
    assert PRIMARY in body, f"{body} {where}"
    assert '"primary_calendar_id"' in body, f"{body} {where}"
    assert f"Token {key}" in curl, f"{curl} {where}"
    assert request_headers.get("authorization") == f"Token {key}", request_headers
    assert blocked == [], f"the page asked for more than calbot's loopback origin: {blocked}"
    print(f"screenshot: {screenshot}")  # noqa: T201 (for -s runs)

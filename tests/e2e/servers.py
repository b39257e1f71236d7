"""Shared pieces of the end-to-end tests: loopback servers, calbot as a subprocess, Chromium.

Everything here listens on 127.0.0.1 only, on ports the OS hands out, and stops by itself when
its context manager exits. calbot's environment is built from scratch on top of this process's
(without proxies or calbot settings of its own), so a developer's shell cannot point a test
elsewhere.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from app.config import Settings
from tests.fake_google import FakeGoogle
from tests.google_traffic import record_received

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright, Route

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
PRIMARY = "user@example.com"
# Loopback only: a proxy from the environment must not carry calbot's calls elsewhere.
PROXY_VARIABLES = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"})
_console_script = Path(sys.executable).with_name("calbot")
CALBOT = [str(_console_script)] if _console_script.exists() else [sys.executable, "-m", "app.cli"]
CALBOT_START_TIMEOUT_S = 15.0

CHROMIUM = Path("/usr/bin/chromium")
# The flags known to work as root on these machines; Playwright adds a fresh --user-data-dir.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # loopback only, whatever proxy the environment names
]
# Extra flag: every host name, IP literals included, fails to resolve except 127.0.0.1, so not
# even a redirect (which Playwright's routes never see) can take the browser off loopback.
LOOPBACK_ONLY_RESOLVER = f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}"
CHROMIUM_LAUNCH_TIMEOUT_MS = 30_000
requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"Chromium is not installed at {CHROMIUM}: run scripts/install-browser.sh (as root)",
)

T = TypeVar("T")


# -- small things -------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on the loopback interface that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def poll(probe: Callable[[], T | None], *, timeout: float, every: float = 0.05) -> T | None:
    """Call `probe` until it answers something, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(every)


def iso(when: datetime) -> str:
    """`when` in UTC as Google writes it: 2026-11-25T12:00:00Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- stdlib HTTP servers on loopback ------------------------------------------------------------


@contextmanager
def serving_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threaded stdlib HTTP server on an ephemeral loopback port (yielded), shut down on exit."""
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler without access log, with helpers to read the body and answer."""

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(
        self,
        status: int,
        content: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)


# -- fake Create Bot API ------------------------------------------------------------------------


@dataclass
class Arrival:
    """One Create Bot request: when it arrived (time.time()), its headers and JSON body."""

    at: float
    headers: dict[str, str]
    body: Any


@dataclass
class FakeBotApi:
    """What the fake Create Bot API received, safe to read from the test's thread."""

    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Arrival]:
        with self.lock:
            return list(self.arrivals)


@contextmanager
def fake_bot_api() -> Iterator[tuple[FakeBotApi, str]]:
    """A fake Create Bot API answering every POST 201 `{"bot_id": "ext-1"}`; yields its record
    and its create_bot URL."""
    api = FakeBotApi()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            arrived = time.time()
            body = self.body()
            with api.lock:
                api.arrivals.append(Arrival(arrived, dict(self.headers.items()), json.loads(body)))
            self.answer(201, b'{"bot_id": "ext-1"}', "application/json")

    with serving_http(Handler) as port:
        yield api, f"http://{LOOPBACK}:{port}/api/v1/bots/create_bot"


# -- fake Google --------------------------------------------------------------------------------


@contextmanager
def fake_google_server() -> Iterator[tuple[FakeGoogle, str, str]]:
    """tests.fake_google.FakeGoogle.handle behind a real socket (requests converted to and from
    httpx), with PRIMARY as a primary calendar in Europe/Berlin; yields the fake, its token URL
    and its Calendar API URL."""
    google = FakeGoogle()
    lock = threading.Lock()
    origin: list[str] = []  # set once the port is known, before any request can arrive

    class Handler(QuietHandler):
        # Keep-alive, as Google's own servers: a client that pools connections (calbot's
        # httpx client does) reuses one instead of connecting for every call. Every answer
        # carries Content-Length (QuietHandler.answer), which HTTP/1.1 needs.
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: without TCP_NODELAY the second waits for the
        # client's delayed ACK (40 ms) on a kept-alive connection.
        disable_nagle_algorithm = True

        def _forward(self) -> None:
            request = httpx.Request(
                self.command,
                origin[0] + self.path,
                headers=dict(self.headers.items()),
                content=self.body(),
            )
            with lock:
                response = google.handle(request)
            record_received(request, response)
            content_type = response.headers.get("Content-Type", "application/json")
            self.answer(response.status_code, response.content, content_type)

        do_GET = do_POST = do_DELETE = _forward

    with serving_http(Handler) as port:
        origin.append(f"http://{LOOPBACK}:{port}")
        token_url = f"http://{LOOPBACK}:{port}/token"
        api_url = f"http://{LOOPBACK}:{port}/calendar/v3"
        with lock:
            google.token_url, google.api_url = token_url, api_url
            google.add_calendar(PRIMARY, summary="Me", primary=True, tz="Europe/Berlin")
        yield google, token_url, api_url


# -- calbot as a subprocess ---------------------------------------------------------------------


def calbot_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment without proxies or calbot settings of its own, plus DATA_DIR,
    PYTHONPATH (this checkout) and `settings` (keyword names are Settings fields, any case)."""
    dropped = PROXY_VARIABLES | {name.upper() for name in Settings.model_fields}
    inherited = {k: v for k, v in os.environ.items() if k.upper() not in dropped}
    named = {name.upper(): value for name, value in settings.items()}
    return {**inherited, "PYTHONPATH": str(REPO), "DATA_DIR": str(data_dir), **named}


def create_api_key(env: dict[str, str], name: str = "e2e") -> str:
    """A new API key, made by `calbot api-key create` on env's DATA_DIR."""
    created = subprocess.run(
        [*CALBOT, "api-key", "create", "--name", name],
        env=env,
        cwd=env["DATA_DIR"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


@contextmanager
def calbot_serving(env: dict[str, str], log_path: Path, port: int | None = None) -> Iterator[str]:
    """`calbot serve` as a subprocess on loopback, its output in `log_path`; yields its base URL
    once /healthz answers 200. `port` is for when the environment must name it beforehand
    (PUBLIC_BASE_URL, a registered redirect URI); else a free one. Terminated, then killed if
    need be, on exit."""
    port = free_port() if port is None else port
    base_url = f"http://{LOOPBACK}:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*CALBOT, "serve", "--host", LOOPBACK, "--port", str(port)],
            env=env,
            cwd=env["DATA_DIR"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def healthy() -> bool | None:
                assert process.poll() is None, log_path.read_text(errors="replace")
                try:
                    answer = httpx.get(f"{base_url}/healthz", timeout=1, trust_env=False)
                except httpx.TransportError:
                    return None
                return answer.status_code == 200 or None

            started = poll(healthy, timeout=CALBOT_START_TIMEOUT_S)
            assert started, "calbot did not start:\n" + log_path.read_text(errors="replace")
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


# -- Chromium -----------------------------------------------------------------------------------


def launch_chromium(playwright: Playwright, *extra_args: str) -> Browser:
    """Debian's headless Chromium with CHROMIUM_ARGS (and `extra_args`)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, *extra_args],
        timeout=CHROMIUM_LAUNCH_TIMEOUT_MS,
    )


def only_origins(*origins: str, blocked: list[str]) -> Callable[[Route], None]:
    """A route handler that lets the page reach `origins` alone; anything else is aborted and
    its URL appended to `blocked`. Playwright routes only the first request of a redirect chain:
    watch `request` events as well (and launch with LOOPBACK_ONLY_RESOLVER) to cover redirects."""
    prefixes = tuple(origin + "/" for origin in origins)

    def handle(route: Route) -> None:
        if route.request.url.startswith(prefixes):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    return handle

"""End to end on loopback, real clock: `calbot serve` launches a bot within 2 s of join_at.

Three servers: a fake Google (tests.fake_google.FakeGoogle over HTTP), a fake Create Bot API that
records when each request arrived, and calbot itself as a subprocess (`python -m app.cli serve`),
with its API key made by `calbot api-key create` on the same DATA_DIR.
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
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.conftest import GOOD_CREDENTIALS, meeting
from tests.fake_google import FakeGoogle

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
PRIMARY = "user@example.com"
BOT_API_KEY = "e2e-bot-api-key-0123456789"
BOT_CONFIG: dict[str, Any] = {"bot_name": "E2E Notetaker", "video_required": False}
JOIN_LEAD_SECONDS = 2
# Loopback only: a proxy from the environment must not carry calbot's calls elsewhere.
PROXY_VARIABLES = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}

T = TypeVar("T")


@dataclass
class Arrival:
    at: float
    headers: dict[str, str]
    body: Any


@dataclass
class FakeBotApi:
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Arrival]:
        with self.lock:
            return list(self.arrivals)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threaded stdlib HTTP server on an ephemeral loopback port, shut down on exit."""
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


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, content: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


@contextmanager
def fake_bot_api() -> Iterator[tuple[FakeBotApi, str]]:
    api = FakeBotApi()

    class Handler(_QuietHandler):
        def do_POST(self) -> None:
            arrived = time.time()
            body = self._body()
            with api.lock:
                api.arrivals.append(Arrival(arrived, dict(self.headers.items()), json.loads(body)))
            self._answer(201, b'{"bot_id": "ext-1"}', "application/json")

    with _serving(Handler) as port:
        yield api, f"http://{LOOPBACK}:{port}/api/v1/bots/create_bot"


@contextmanager
def fake_google_server() -> Iterator[tuple[FakeGoogle, str, str]]:
    """FakeGoogle.handle behind a real socket: requests converted to and from httpx."""
    google = FakeGoogle()
    lock = threading.Lock()
    origin: list[str] = []  # set once the port is known, before any request can arrive

    class Handler(_QuietHandler):
        def _forward(self) -> None:
            request = httpx.Request(
                self.command,
                origin[0] + self.path,
                headers=dict(self.headers.items()),
                content=self._body(),
            )
            with lock:
                response = google.handle(request)
            content_type = response.headers.get("Content-Type", "application/json")
            self._answer(response.status_code, response.content, content_type)

        do_GET = do_POST = do_DELETE = _forward

    with _serving(Handler) as port:
        origin.append(f"http://{LOOPBACK}:{port}")
        token_url = f"http://{LOOPBACK}:{port}/token"
        api_url = f"http://{LOOPBACK}:{port}/calendar/v3"
        with lock:
            google.token_url, google.api_url = token_url, api_url
            google.add_calendar(PRIMARY, summary="Me", primary=True, tz="Europe/Berlin")
        yield google, token_url, api_url


def _poll(probe: Callable[[], T | None], *, timeout: float, every: float = 0.05) -> T | None:
    """Call `probe` until it answers something, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(every)


@contextmanager
def calbot_serving(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`calbot serve` as a subprocess; terminated (then killed) on exit."""
    port = _free_port()
    base_url = f"http://{LOOPBACK}:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", LOOPBACK, "--port", str(port)],
            env=env,
            cwd=env["DATA_DIR"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def ready() -> bool | None:
                assert process.poll() is None, log_path.read_text()
                try:
                    return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200 or None
                except httpx.TransportError:
                    return None

            assert _poll(ready, timeout=15), "calbot did not start:\n" + log_path.read_text()
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_calbot_serve_launches_a_scheduled_bot_within_two_seconds_of_join_at(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with fake_bot_api() as (bot_api, bot_api_url), fake_google_server() as (google, token, api):
        env = {
            **{k: v for k, v in os.environ.items() if k.upper() not in PROXY_VARIABLES},
            "PYTHONPATH": str(REPO),
            "DATA_DIR": str(data_dir),
            "BOT_API_URL": bot_api_url,
            "BOT_API_KEY": BOT_API_KEY,
            "BOT_JOIN_LEAD_SECONDS": str(JOIN_LEAD_SECONDS),
            "GOOGLE_OAUTH_TOKEN_URL": token,
            "GOOGLE_CALENDAR_API_URL": api,
        }
        created = subprocess.run(
            [sys.executable, "-m", "app.cli", "api-key", "create", "--name", "e2e"],
            env=env,
            cwd=data_dir,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        auth = {"Authorization": f"Token {created.stdout.strip()}"}

        log_path = tmp_path / "calbot.log"

        def log_text() -> str:
            return log_path.read_text(errors="replace")

        with (
            calbot_serving(env, log_path) as base_url,
            httpx.Client(base_url=f"{base_url}/api/v1/calendar", headers=auth, timeout=5) as http,
        ):
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
            google.put_event(
                PRIMARY, meeting("e2e", _iso(start), _iso(start + timedelta(minutes=30)))
            )
            connected = http.post("/create_calendar", json=GOOD_CREDENTIALS)
            assert connected.status_code == 201, connected.text
            [event] = http.get("/events").json()["events"]
            scheduled = http.post(f"/schedule/{event['event_id']}", json={"bot_config": BOT_CONFIG})
            assert scheduled.status_code == 201, scheduled.text
            bot = scheduled.json()
            join_at = datetime.fromisoformat(bot["join_at"])
            assert join_at == start - timedelta(seconds=JOIN_LEAD_SECONDS)

            arrivals = _poll(lambda: bot_api.received() or None, timeout=15)
            assert arrivals, "the Create Bot API was never called:\n" + log_text()
            arrival = arrivals[0]
            lateness = arrival.at - join_at.timestamp()
            assert -1.0 <= lateness <= 2.0, f"arrived {lateness:+.3f} s from join_at"

            def launched() -> dict[str, Any] | None:
                [shown] = http.get("/scheduled_bots").json()["scheduled_bots"]
                return None if shown["status"] in ("scheduled", "launching") else shown

            shown = _poll(launched, timeout=5)
            time.sleep(0.5)  # room for a duplicate to show up, if calbot were to send one
            received = bot_api.received()

    assert len(received) == 1, [a.headers.get("Idempotency-Key") for a in received]
    assert arrival.headers["Idempotency-Key"] == bot["bot_id"]
    assert arrival.headers["Authorization"] == f"Token {BOT_API_KEY}"
    assert arrival.body == {**BOT_CONFIG, "meeting_link": "https://meet.google.com/abc-defg-hij"}
    assert shown is not None
    assert (shown["status"], shown["external_bot_id"]) == ("launched", "ext-1")
    print(f"launch arrived {lateness:+.3f} s from join_at")  # noqa: T201 (timing for -s runs)

"""What every benchmark shares: contenders run side by side, medians, and one RESULT line.

A benchmark measures calbot and a baseline in the same run, interleaved (A, B, A, B, ...), so a
busy neighbour on this shared machine slows both alike; it prints the median of each, then one
line that `bench/run_all.py` (and `make bench`) collects:

    RESULT <name>: calbot=<x><unit> baseline=<y><unit> ratio=<calbot/baseline> goal=<g> PASS|MISS

The pieces here are the same for every script: a fake Google on loopback holding a generated
calendar (tests/e2e/servers.py around tests/fake_google.py), `calbot serve` as a subprocess on a
fresh DATA_DIR with an API key made by the CLI and the calendar connected through the public API,
a bare FastAPI app under uvicorn for comparison, timers, a load generator and /proc readings.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from tests.e2e.servers import (
    LOOPBACK,
    PRIMARY,
    REPO,
    calbot_env,
    calbot_serving,
    create_api_key,
    fake_google_server,
    free_port,
    poll,
)
from tests.fake_google import GOOD_CLIENT_ID, GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN, FakeGoogle

CALENDAR_PATH = "/api/v1/calendar"
GOOGLE_PAGE_SIZE = 2500  # Google's largest events.list page, and calbot's page size
ZOOM_INVITE = (
    "Join Zoom Meeting\nhttps://us02web.zoom.us/j/8551234567?pwd=abc\nMeeting ID: 855 123 4567"
)
IDLE_CONNECTION_S = 4.0  # uvicorn closes a keep-alive connection idle for 5 s
SLOW_REQUEST_TIMEOUT_S = 900.0  # a first GET /events fully syncs a calendar of up to 100k events


class BenchError(RuntimeError):
    """The benchmark could not measure (a server did not start, a request failed)."""


# -- results ------------------------------------------------------------------------------------


def figure(value: float) -> str:
    """A figure with the digits that matter: 2225, 25.3, 3.89, 0.215."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


@dataclass(frozen=True, slots=True)
class Result:
    """One benchmark's verdict. `goal` reads as a condition, e.g. `ratio<=1.30`."""

    name: str
    unit: str
    calbot: float
    baseline: float
    goal: str
    passed: bool

    @property
    def ratio(self) -> float:
        return self.calbot / self.baseline if self.baseline else float("inf")

    def line(self) -> str:
        return (
            f"RESULT {self.name}: calbot={figure(self.calbot)}{self.unit} "
            f"baseline={figure(self.baseline)}{self.unit} ratio={self.ratio:.2f} "
            f"goal={self.goal} {'PASS' if self.passed else 'MISS'}"
        )


def report(result: Result) -> None:
    """Print the RESULT line (last line of every benchmark's output)."""
    print(result.line(), flush=True)


def show(label: str, samples: list[float], unit: str, scale: float = 1.0) -> float:
    """Print `label: median (min..max, n)` of `samples` times `scale`; return the median."""
    scaled = [sample * scale for sample in samples]
    middle = statistics.median(scaled)
    print(
        f"  {label:<44} {figure(middle):>8} {unit:<4}"
        f" (min {figure(min(scaled))}, max {figure(max(scaled))}, n={len(scaled)})",
        flush=True,
    )
    return middle


# -- timing -------------------------------------------------------------------------------------


def interleave(
    contenders: Mapping[str, Callable[[], float]], rounds: int, *, warm_up: int = 1
) -> dict[str, list[float]]:
    """Call each contender once per round, in turn (A, B, A, B, ...); their samples by name.
    The first `warm_up` rounds (caches, imports, connections) are not kept."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for round_number in range(warm_up + rounds):
        for name, measure in contenders.items():
            sample = measure()
            if round_number >= warm_up:
                samples[name].append(sample)
    return samples


def stopwatch(work: Callable[[], object]) -> float:
    """Seconds `work()` took."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


# -- fake Google --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoogleServer:
    """A FakeGoogle on loopback with a generated primary calendar (events from `first` on)."""

    google: FakeGoogle
    token_url: str
    api_url: str
    first: datetime

    @property
    def origin(self) -> str:
        return f"http://{urlsplit(self.api_url).netloc}"


def generated_event(
    number: int, first: datetime, *, moved_by: timedelta = timedelta()
) -> dict[str, Any]:
    """Meeting `number`: hourly from `first`, half an hour long, with a Zoom link; one in ten is
    a weekly series in Europe/Berlin. `moved_by` shifts it (a change in Google)."""
    start = first + timedelta(hours=number) + moved_by
    event: dict[str, Any] = {
        "id": f"e{number}",
        "summary": f"Meeting {number}",
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(minutes=30)).isoformat()},
        "description": ZOOM_INVITE,
        "attendees": [{"email": "me@example.com", "self": True, "responseStatus": "accepted"}],
    }
    if number % 10 == 0:
        event["recurrence"] = ["RRULE:FREQ=WEEKLY"]
        event["start"]["timeZone"] = "Europe/Berlin"
    return event


def fill_calendar(google: FakeGoogle, events: int, first: datetime) -> None:
    """`events` generated meetings in the primary calendar, served in pages of 2,500."""
    google.page_size = GOOGLE_PAGE_SIZE
    for index in range(events):
        google.put_event(PRIMARY, generated_event(index, first))


@contextmanager
def google_with_calendar(events: int) -> Iterator[GoogleServer]:
    """A fake Google on loopback whose primary calendar holds `events` generated meetings,
    starting tomorrow (so every one is inside calbot's full-sync window)."""
    first = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first += timedelta(days=1)
    with fake_google_server() as (google, token_url, api_url):
        started = time.perf_counter()
        fill_calendar(google, events, first)
        print(
            f"  fake Google: {events} events in {time.perf_counter() - started:.1f} s", flush=True
        )
        yield GoogleServer(google, token_url, api_url, first)


@dataclass(frozen=True, slots=True)
class GoogleEndpoints:
    """Where a fake Google serves, when it runs in another process (`google_in_child`)."""

    token_url: str
    api_url: str
    pid: int | None = None  # the child's, to read its CPU time

    @property
    def origin(self) -> str:
        return f"http://{urlsplit(self.api_url).netloc}"

    def cpu_seconds(self) -> float:
        """CPU time the fake Google's process has used so far, all its threads (Linux /proc)."""
        if self.pid is None:
            raise BenchError("the fake Google's process is not known")
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def google_in_child(events: int) -> Iterator[GoogleEndpoints]:
    """`google_with_calendar(events)` in a child process (bench/google_process.py): what it
    serves, until the block ends. The fake's work (a page of 2,500 events is ~50 ms of JSON
    encoding) then runs beside this process, as Google's own does, instead of taking turns
    with it for one GIL."""
    command = [sys.executable, "-m", "bench.google_process", "--events", str(events)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            for line in process.stdout:
                if line.startswith("READY "):
                    token_url, api_url = line.split()[1:3]
                    break
                print(line, end="", flush=True)
            else:
                raise BenchError("the fake Google's process ended before it served")
            yield GoogleEndpoints(token_url, api_url, process.pid)
        finally:
            process.stdin.close()  # it serves until its standard input closes
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def google_access_token(server: GoogleServer | GoogleEndpoints) -> str:
    """An access token from the fake's token endpoint, as any OAuth client refreshes one."""
    answer = httpx.post(
        server.token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": GOOD_CLIENT_ID,
            "client_secret": GOOD_CLIENT_SECRET,
            "refresh_token": GOOD_REFRESH_TOKEN,
        },
        trust_env=False,
    )
    if answer.status_code != 200:
        raise BenchError(f"the fake Google refused a token refresh: {answer.text}")
    token: str = answer.json()["access_token"]
    return token


def events_list_path(server: GoogleServer | GoogleEndpoints, **params: str) -> str:
    """The path and query of events.list on the primary calendar, with calbot's own query
    (singleEvents=false, pages of 2,500, no showDeleted) plus `params`."""
    query = {"singleEvents": "false", "maxResults": str(GOOGLE_PAGE_SIZE)}
    api_path = urlsplit(server.api_url).path
    calendar = quote(PRIMARY, safe="")
    return f"{api_path}/calendars/{calendar}/events?{urlencode({**query, **params})}"


# -- HTTP on loopback ---------------------------------------------------------------------------


class Loopback:
    """Blocking HTTP/1.1 to one origin on loopback, reusing its connection while the server
    keeps it open (http.client: little client-side cost to blur what is measured)."""

    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None) -> None:
        origin = urlsplit(base_url)
        self._connection = http.client.HTTPConnection(
            origin.hostname or LOOPBACK, origin.port, timeout=SLOW_REQUEST_TIMEOUT_S
        )
        self._headers = dict(headers or {})
        self._last_used = time.monotonic()

    def get(self, path: str, **params: str | int) -> bytes:
        """The body of a 200 answer to GET `path`; anything else is a BenchError."""
        target = f"{path}?{urlencode(params)}" if params else path
        if time.monotonic() - self._last_used > IDLE_CONNECTION_S:
            self._connection.close()  # the server has dropped it or is about to: reconnect
        try:
            response = self._send(target)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self._connection.close()  # dropped while idle after all: a GET may be sent again
            response = self._send(target)
        body = response.read()
        self._last_used = time.monotonic()
        if response.status != 200:
            raise BenchError(f"GET {target} answered {response.status}: {body[:500]!r}")
        return body

    def _send(self, target: str) -> http.client.HTTPResponse:
        self._connection.request("GET", target, headers=self._headers)
        return self._connection.getresponse()

    def timed_get(self, path: str, **params: str | int) -> float:
        """Seconds from sending GET `path` to having read the whole 200 answer."""
        return stopwatch(lambda: self.get(path, **params))

    def close(self) -> None:
        self._connection.close()


# -- calbot as a server -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calbot:
    """`calbot serve` on loopback: its URL, an API key of the account, its process id."""

    base_url: str
    api_key: str
    pid: int
    log_path: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.api_key}"}

    def client(self) -> Loopback:
        return Loopback(self.base_url, self.auth)


def _child_pid(port: int) -> int:
    """The process this one started that serves `port` (found through /proc)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == me and str(port).encode() in arguments:
            return int(entry.name)
    raise BenchError(f"no child process of {me} serves port {port}")


@contextmanager
def calbot_server(google: GoogleServer, workdir: Path) -> Iterator[Calbot]:
    """`calbot serve` on a fresh DATA_DIR under `workdir`, pointed at the fake Google, with an
    API key from `calbot api-key create` and the Google account connected through
    POST /create_calendar (nothing synced yet)."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True)
    env = calbot_env(
        data_dir, google_oauth_token_url=google.token_url, google_calendar_api_url=google.api_url
    )
    api_key = create_api_key(env, "bench")
    log_path = workdir / "calbot.log"
    with calbot_serving(env, log_path) as base_url:
        calbot = Calbot(base_url, api_key, _child_pid(urlsplit(base_url).port or 0), log_path)
        connected = httpx.post(
            f"{base_url}{CALENDAR_PATH}/create_calendar",
            headers=calbot.auth,
            json={
                "google_client_id": GOOD_CLIENT_ID,
                "google_client_secret": GOOD_CLIENT_SECRET,
                "google_refresh_token": GOOD_REFRESH_TOKEN,
            },
            timeout=30,
            trust_env=False,
        )
        if connected.status_code != 201:
            raise BenchError(f"create_calendar answered {connected.status_code}: {connected.text}")
        yield calbot


def first_sync(calbot: Calbot) -> float:
    """Seconds the first GET /events took: a full sync of the calendar, then its first page."""
    client = calbot.client()
    try:
        seconds = client.timed_get(f"{CALENDAR_PATH}/events")
    finally:
        client.close()
    print(f"  calbot: first GET /events (full sync) in {seconds:.1f} s", flush=True)
    return seconds


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (peak resident) of `pid`, in MB, from /proc."""
    readings: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        field, _, value = line.partition(":")
        if field in ("VmRSS", "VmHWM"):
            readings[field] = int(value.split()[0]) / 1024  # kB
    return readings


# -- a bare FastAPI app, for comparison ---------------------------------------------------------


@contextmanager
def bare_fastapi(body: bytes, workdir: Path) -> Iterator[str]:
    """bench/bare_app.py under uvicorn as a subprocess on loopback, serving `body`; yields its
    base URL once it answers, stops it on exit."""
    body_path = workdir / "bare-body.json"
    body_path.write_bytes(body)
    port = free_port()
    base_url = f"http://{LOOPBACK}:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bench.bare_app", "--port", str(port), str(body_path)]
    with (workdir / "bare.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:

            def answers() -> bool | None:
                if process.poll() is not None:
                    raise BenchError((workdir / "bare.log").read_text(errors="replace"))
                try:
                    return httpx.get(f"{base_url}/bytes", trust_env=False).status_code == 200
                except httpx.TransportError:
                    return None

            if not poll(answers, timeout=15):
                raise BenchError("the bare FastAPI app did not start")
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=10)


# -- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Throughput:
    requests: int
    per_second: float
    p50_ms: float


async def _keep_asking(
    host: str, port: int, request: bytes, deadline: float, latencies: list[float]
) -> None:
    """One keep-alive connection sending `request` again as soon as each answer is read."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            writer.write(request)
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            status = head.split(" ", 2)[1]
            length = next(
                (
                    int(line.partition(":")[2])
                    for line in head.split("\r\n")
                    if line.lower().startswith("content-length:")
                ),
                None,
            )
            if length is None:
                raise BenchError(f"an answer without Content-Length: {head!r}")
            body = await reader.readexactly(length)
            if status != "200":
                raise BenchError(f"answered {status}: {body[:500]!r}")
            latencies.append(time.perf_counter() - sent)
    finally:
        writer.close()
        await writer.wait_closed()


def throughput(
    url: str, headers: Mapping[str, str], *, connections: int = 10, seconds: float = 3.0
) -> Throughput:
    """Requests per second to GET `url` over `connections` keep-alive connections, each sending
    its next request when the previous answer is in, for `seconds` (closed loop; the requests
    are bounded by the time, those in flight at the deadline are completed and counted)."""
    origin = urlsplit(url)
    host, port = origin.hostname or LOOPBACK, origin.port or 80
    target = f"{origin.path}?{origin.query}" if origin.query else origin.path
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []

    async def run() -> float:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(_keep_asking(host, port, request, deadline, latencies) for _ in range(connections))
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    return Throughput(len(latencies), len(latencies) / elapsed, statistics.median(latencies) * 1000)

"""Every request calbot sends to Google during a test session, checked against the rule table.

Requests are caught where they leave an httpx client of this process, whatever answers them
(the fake Google, a test's own respx route, nothing at all), and where the loopback fake Google
of the end-to-end tests receives them from a calbot subprocess. Each is kept with the test that
sent it; the answers teach a per-test `TokenMemory` which query each page and sync token was
issued for. `google_conformance` (a session fixture, imported by tests/conftest.py) fails the run
at the end if any recorded request breaks a rule of tests/google_rules.py, so a new call site
cannot slip by even where no fake refused it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pytest

from tests.google_requests import GoogleRequest, TokenMemory
from tests.google_rules import RULES, Violation, violations

OUTSIDE_ANY_TEST: Final = "(outside any test)"
_REPORT_MAX_LINES: Final = 40


@dataclass(frozen=True, slots=True)
class SentRequest:
    test: str
    request: GoogleRequest


class GoogleTraffic:
    """The session's record of requests to Google (thread-safe: loopback servers use threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._memories: dict[str, TokenMemory] = {}
        self.sent: list[SentRequest] = []

    def record(self, request: httpx.Request, response: httpx.Response | None) -> None:
        test = current_test()
        with self._lock:
            memory = self._memories.setdefault(test, TokenMemory())
            seen = memory.describe(request)
            if seen is None:
                return  # not for Google
            self.sent.append(SentRequest(test, seen))
            if response is not None and response.is_success:
                memory.remember_answer(request, _json_or_none(response))

    def broken(self) -> list[tuple[SentRequest, Violation]]:
        with self._lock:
            sent = list(self.sent)
        return [(one, violation) for one in sent for violation in violations(one.request)]

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Record every request sent through `httpx.AsyncClient` / `httpx.Client` meanwhile."""
        async_send, sync_send = httpx.AsyncClient.send, httpx.Client.send
        traffic = self

        async def send_async(client: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
            try:
                response = await async_send(client, request, **kw)
            except BaseException:
                traffic.record(request, None)
                raise
            traffic.record(request, response)
            return response

        def send_sync(client: httpx.Client, request: httpx.Request, **kw: Any) -> Any:
            try:
                response = sync_send(client, request, **kw)
            except BaseException:
                traffic.record(request, None)
                raise
            traffic.record(request, response)
            return response

        global _active
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(httpx.AsyncClient, "send", send_async)
            patch.setattr(httpx.Client, "send", send_sync)
            _active = self
            try:
                yield
            finally:
                _active = None


_active: GoogleTraffic | None = None


def record_received(request: httpx.Request, response: httpx.Response) -> None:
    """For a fake Google behind a real socket: a request that came from another process."""
    if _active is not None:
        _active.record(request, response)


def current_test() -> str:
    """The node id of the test running now (setup, call or teardown)."""
    running = os.environ.get("PYTEST_CURRENT_TEST")
    return running.rsplit(" ", 1)[0] if running else OUTSIDE_ANY_TEST


def report(broken: list[tuple[SentRequest, Violation]], total: int) -> str:
    requests = len({id(sent) for sent, _ in broken})
    lines = [
        f"{requests} of the {total} requests calbot sent to Google during this session break "
        f"Google's documented rules (tests/google_rules.py), {len(broken)} times in all:"
    ]
    for sent, violation in broken[:_REPORT_MAX_LINES]:
        request = sent.request
        lines.append(f"- {sent.test}: {request.http_method} {request.url}")
        lines.append(f"    {violation}")
        lines.append(f"    rule: {violation.rule.quote!r} ({violation.rule.source.where})")
    if len(broken) > _REPORT_MAX_LINES:
        lines.append(f"... and {len(broken) - _REPORT_MAX_LINES} more")
    return "\n".join(lines)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (httpx.ResponseNotRead, ValueError):
        return None


_summary: list[str] = []  # one line for the terminal summary, once the session fixture ended


@pytest.fixture(scope="session", autouse=True)
def google_conformance() -> Iterator[GoogleTraffic]:
    """Records the whole session's Google traffic; fails the run if a request broke a rule."""
    traffic = GoogleTraffic()
    with traffic.recording():
        yield traffic
    broken = traffic.broken()
    _summary.append(
        f"{len(traffic.sent)} requests to Google checked against the {len(RULES)} rules "
        f"of tests/google_rules.py: {len(broken)} broken"
    )
    if broken:
        pytest.fail(report(broken, len(traffic.sent)), pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _summary:
        terminalreporter.write_line(f"google conformance: {line}")

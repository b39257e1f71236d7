"""`calbot google-auth`: the consent flow from a terminal, printing the refresh token.

It listens on 127.0.0.1 (a free port unless `--port` is given) for Google's redirect to
`http://127.0.0.1:{port}/api/google/oauth-callback`, prints the authorization URL to stderr (and
opens it in a graphical browser when there is one), waits for the callback, exchanges the code
with the same `ConsentService` as the HTTP routes, and prints the refresh token alone on stdout.

Exit codes: 0 the token was printed; 1 Google refused (declined consent, refused exchange, no
refresh token, calendar scope not granted, Google unreachable); 2 usage (no client id/secret,
port unavailable) or no callback before the timeout.

This module is the composition root of a one-shot command: it builds its own token-endpoint
client, signs states with a key that lives only as long as the command, and keeps the flow's
nonce in memory (one process, one flow, no connect links).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import threading
import webbrowser
from dataclasses import dataclass
from html import escape
from http import HTTPStatus
from typing import Final, TextIO
from urllib.parse import parse_qs

from app.adapters.clock import SystemClock
from app.adapters.google_oauth import open_google_oauth
from app.adapters.memory.consent import MemoryConsentStore
from app.cli import DEFAULT_TIMEOUT_SECONDS
from app.config import Settings
from app.errors import CalbotError, ConsentFailed
from app.services.consent import ConsentOutcome, ConsentService, RefreshTokenIssued

EXIT_OK: Final = 0
EXIT_GOOGLE_ERROR: Final = 1
EXIT_USAGE: Final = 2
CALLBACK_PATH: Final = "/api/google/oauth-callback"
_REQUEST_HEAD_LIMIT: Final = 16 * 1024
_REQUEST_READ_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class _Answer:
    outcome: ConsentOutcome | None
    failure: CalbotError | None


def run_google_auth(
    client_id: str | None,
    client_secret: str | None,
    *,
    settings: Settings,
    open_browser: bool,
    port: int = 0,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the flow; returns the exit code. `client_id`/`client_secret` default to settings."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    client_id = (client_id or settings.google_client_id or "").strip()
    configured_secret = settings.google_client_secret
    client_secret = (
        client_secret or (configured_secret.get_secret_value() if configured_secret else "")
    ).strip()
    if not client_id or not client_secret:
        _say(
            err,
            "error: give --client-id and --client-secret (or GOOGLE_CLIENT_ID and "
            "GOOGLE_CLIENT_SECRET).",
        )
        return EXIT_USAGE
    if not 0 <= port <= 65535:
        _say(err, "error: --port must be between 0 (any free port) and 65535.")
        return EXIT_USAGE
    if timeout_seconds <= 0:
        _say(err, "error: --timeout must be positive.")
        return EXIT_USAGE
    flow = _TerminalFlow(settings, client_id, client_secret, out, err)
    return asyncio.run(flow.run(port=port, wait_seconds=timeout_seconds, open_browser=open_browser))


class _TerminalFlow:
    def __init__(
        self, settings: Settings, client_id: str, client_secret: str, out: TextIO, err: TextIO
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self._client_secret = client_secret
        self._out = out
        self._err = err

    async def run(self, *, port: int, wait_seconds: float, open_browser: bool) -> int:
        clock = SystemClock()
        token_url = self._settings.google_oauth_token_url
        async with open_google_oauth(clock, token_url=token_url) as exchanger:
            service = ConsentService(
                exchanger,
                clock,
                MemoryConsentStore(),
                key=secrets.token_bytes(32),
                authorize_url=self._settings.google_oauth_authorize_url,
                client_id=self._client_id,
                client_secret=self._client_secret,
            )
            listener = _CallbackListener(service)
            try:
                server = await asyncio.start_server(
                    listener.handle, "127.0.0.1", port, limit=_REQUEST_HEAD_LIMIT
                )
            except OSError as error:
                _say(self._err, f"error: cannot listen on 127.0.0.1:{port} ({error.strerror}).")
                return EXIT_USAGE
            async with server:
                bound_port = server.sockets[0].getsockname()[1]
                redirect_uri = f"http://127.0.0.1:{bound_port}{CALLBACK_PATH}"
                start = await service.begin(redirect_uri=redirect_uri)
                listener.expect(start.state)
                self._tell(start.authorize_url, redirect_uri, wait_seconds)
                if open_browser:
                    _open_in_graphical_browser(start.authorize_url)
                try:
                    answer = await asyncio.wait_for(listener.answered, wait_seconds)
                except TimeoutError:
                    _say(
                        self._err,
                        f"error: no answer from Google within {wait_seconds:g} s; run "
                        "calbot google-auth again.",
                    )
                    return EXIT_USAGE
        return self._report(answer)

    def _tell(self, url: str, redirect_uri: str, wait_seconds: float) -> None:
        _say(self._err, "Open this URL in a browser, sign in and allow calendar access:")
        _say(self._err, "")
        _say(self._err, url)
        _say(self._err, "")
        _say(
            self._err,
            f"Redirect URI: {redirect_uri} (a Web application client must have it "
            "registered; Desktop app clients accept any loopback port).",
        )
        _say(self._err, f"Waiting up to {wait_seconds:g} s for Google's answer...")

    def _report(self, answer: _Answer) -> int:
        if answer.failure is not None:
            _say(self._err, f"error: {answer.failure.detail}")
            return EXIT_GOOGLE_ERROR
        if not isinstance(answer.outcome, RefreshTokenIssued):
            _say(self._err, "error: Google's answer did not carry a refresh token.")
            return EXIT_GOOGLE_ERROR
        issued = answer.outcome
        _say(
            self._err,
            f"Access token expires at {issued.access_token_expires_at.isoformat()}; "
            f"scopes: {' '.join(issued.scopes) or '(not listed)'}.",
        )
        if issued.refresh_token_expires_at is not None:
            _say(
                self._err,
                "warning: Google says this refresh token expires at "
                f"{issued.refresh_token_expires_at.isoformat()} (OAuth app in Testing status: "
                "publish it to production for a lasting token).",
            )
        _say(self._err, "Refresh token (stdout):")
        _say(self._out, issued.refresh_token)
        return EXIT_OK


class _CallbackListener:
    """A minimal HTTP/1.1 server for one path: Google's redirect back to the loopback port."""

    def __init__(self, service: ConsentService) -> None:
        self._service = service
        self._expected_state: str | None = None
        self._finishing = False
        self.answered: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()

    def expect(self, state: str) -> None:
        self._expected_state = state

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answer: _Answer | None = None
        try:
            reply, answer = await self._reply_to(reader)
            writer.write(reply.encode())
            await writer.drain()
        except (
            ConnectionError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            pass  # a client that went away or spoke nonsense: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            # Settled only now, so the browser has its page before the command exits.
            if answer is not None and not self.answered.done():
                self.answered.set_result(answer)

    async def _reply_to(self, reader: asyncio.StreamReader) -> tuple[str, _Answer | None]:
        request_line = await asyncio.wait_for(_read_request_line(reader), _REQUEST_READ_SECONDS)
        method, target, _version = request_line.split(" ", 2)
        path, _, query = target.partition("?")
        if path != CALLBACK_PATH:
            return _reply("404 Not Found", "Not found", "Nothing here but Google's callback."), None
        if method != "GET":
            return _reply("405 Method Not Allowed", "Method not allowed", "Use GET."), None
        params = {name: values[0] for name, values in parse_qs(query).items()}
        if self.answered.done() or self._finishing:
            return _reply("409 Conflict", "Already done", "Return to your terminal."), None
        if params.get("state") != self._expected_state:
            text = "This answer does not belong to the running calbot google-auth: use its URL."
            return _reply("400 Bad Request", "Start again", text), None
        self._finishing = True
        try:
            outcome = await self._service.finish(
                state=params.get("state"),
                code=params.get("code"),
                error=params.get("error"),
                error_description=params.get("error_description"),
            )
        except CalbotError as failure:
            title = failure.title if isinstance(failure, ConsentFailed) else "Token Exchange Failed"
            status = f"{failure.status_code} {HTTPStatus(failure.status_code).phrase}"
            return _reply(status, title, failure.detail), _Answer(None, failure)
        except Exception as unexpected:  # still end the command instead of waiting for the timeout
            broken = CalbotError(f"calbot hit an unexpected {type(unexpected).__name__}.")
            return _reply("500 Internal Server Error", "Error", broken.detail), _Answer(
                None, broken
            )
        text = "calbot got the refresh token: return to your terminal."
        return _reply("200 OK", "Success!", text), _Answer(outcome, None)


def _reply(status: str, title: str, text: str) -> str:
    page = (
        f"<!doctype html><meta charset=utf-8><title>{escape(title)}</title>"
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p>"
    )
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(page.encode())}\r\nCache-Control: no-store\r\n"
        f"Referrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{page}"
    )


async def _read_request_line(reader: asyncio.StreamReader) -> str:
    """The request line of an HTTP/1.x request; its headers are read and ignored (the reader's
    limit bounds them)."""
    head = await reader.readuntil(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode("ascii")


def _open_in_graphical_browser(url: str) -> None:
    """Open `url` when a graphical browser is available. Console browsers (lynx, w3m) would take
    over this terminal, so they are skipped; the call runs on a daemon thread because some
    browsers block until they exit."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return
    if type(browser) is webbrowser.GenericBrowser:
        return
    if isinstance(browser, webbrowser.UnixBrowser) and not browser.background:
        return
    threading.Thread(target=browser.open, args=(url,), daemon=True).start()


def _say(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()

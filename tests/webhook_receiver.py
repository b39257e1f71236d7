"""A webhook receiver on 127.0.0.1 for tests: a bare asyncio HTTP/1.1 server that records every
request and answers with the statuses it is told to (or holds the request open, unanswered)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()
    wall: float  # time.time()


@dataclass
class Receiver:
    """`answers` are used in turn, then `status` for every later request; `hold` keeps each
    request open without an answer until the receiver stops."""

    status: int = 204
    answers: deque[int] = field(default_factory=deque)
    hold: bool = False
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> Receiver:
        self._released.clear()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, count: int, within: float = 5.0) -> list[Received]:
        """Until at least `count` requests arrived (TimeoutError after `within` seconds)."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                async with self._arrived:
                    self.received.append(
                        Received(path, headers, body, time.monotonic(), time.time())
                    )
                    self._arrived.notify_all()
                if self.hold:
                    await self._released.wait()
                    return
                status = self.answers.popleft() if self.answers else self.status
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

"""The Idempotency-Key middleware's claim on a running request: renewed while the request runs,
given up when it ends. Driven over a two-route ASGI app, a memory store and a clock moved by
hand; the renewal heartbeat is shortened to milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.adapters.memory import MemoryIdempotencyStore
from app.idempotency import CLAIM_TTL, IdempotencyMiddleware
from tests.fakes import FakeClock

HEADERS = {"Authorization": "Token t", "Idempotency-Key": "slow-1"}


class SlowApp:
    """POST /slow: its first run waits until released; every run is counted."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.runs = 0
        self.clock = FakeClock()
        self.records = MemoryIdempotencyStore()

    async def slow(self, request: Request) -> JSONResponse:
        self.runs += 1
        self.started.set()
        if self.runs == 1:
            await self.release.wait()
        return JSONResponse({"run": self.runs}, status_code=201)

    def asgi(self, renew_seconds: float) -> Starlette:
        app = Starlette(routes=[Route("/slow", self.slow, methods=["POST"])])
        app.state.container = SimpleNamespace(idempotency=self.records, clock=self.clock)
        app.add_middleware(IdempotencyMiddleware, renew_seconds=renew_seconds)
        return app


@pytest.fixture
def slow_app() -> SlowApp:
    return SlowApp()


@pytest.fixture
async def client(slow_app: SlowApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=slow_app.asgi(renew_seconds=0.01))
    async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as http:
        yield http


async def test_a_running_request_renews_its_claim_so_its_key_stays_taken(
    slow_app: SlowApp, client: httpx.AsyncClient
) -> None:
    first = asyncio.create_task(client.post("/slow", json={}, headers=HEADERS))
    await slow_app.started.wait()

    for _ in range(5):  # ten minutes of the clock, renewed as they pass
        slow_app.clock.advance(CLAIM_TTL.total_seconds() - 1)
        await asyncio.sleep(0.05)
        again = await client.post("/slow", json={}, headers=HEADERS)
        assert again.status_code == 409

    slow_app.release.set()
    assert (await first).status_code == 201
    replayed = await client.post("/slow", json={}, headers=HEADERS)
    assert (replayed.headers["idempotent-replayed"], slow_app.runs) == ("true", 1)


def _renewals() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if "_keep_claimed" in repr(t.get_coro())]


async def test_the_renewal_stops_with_the_request(
    slow_app: SlowApp, client: httpx.AsyncClient
) -> None:
    first = asyncio.create_task(client.post("/slow", json={}, headers=HEADERS))
    await slow_app.started.wait()
    assert len(_renewals()) == 1

    slow_app.release.set()
    await first
    await asyncio.sleep(0.05)

    assert _renewals() == []

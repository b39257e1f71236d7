"""Sync pages are fetched one ahead, and nothing leaks when the consumer stops early."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from app.adapters.ports import EventsPage
from app.services.sync import prefetched


async def test_the_next_page_is_fetched_while_the_current_one_is_processed() -> None:
    log: list[str] = []

    async def pages() -> AsyncIterator[EventsPage]:
        for number in range(3):
            log.append(f"fetched {number}")
            yield EventsPage(items=[{"id": str(number)}], next_sync_token=None)

    async for page in prefetched(pages()):
        await asyncio.sleep(0)  # processing yields to the loop, as storing a page does
        log.append(f"processed {page.items[0]['id']}")

    assert log.index("fetched 1") < log.index("processed 0")
    assert log[-1] == "processed 2"


async def test_an_error_on_a_later_page_reaches_the_caller() -> None:
    async def pages() -> AsyncIterator[EventsPage]:
        yield EventsPage(items=[], next_sync_token=None)
        raise RuntimeError("410 on page two")

    seen: list[EventsPage] = []

    async def consume() -> None:
        async for page in prefetched(pages()):
            seen.append(page)

    with pytest.raises(RuntimeError, match="page two"):
        await consume()
    assert len(seen) == 1


async def test_stopping_early_leaves_no_pending_fetch() -> None:
    async def pages() -> AsyncIterator[EventsPage]:
        yield EventsPage(items=[], next_sync_token=None)
        raise RuntimeError("never collected")

    stream = prefetched(pages())
    async for _ in stream:
        break
    assert isinstance(stream, AsyncGenerator)
    await stream.aclose()  # with filterwarnings=error, a never-retrieved error would fail here

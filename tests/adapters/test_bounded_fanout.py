"""A store call's fan-out (`bounded`): at most CONCURRENCY requests in flight, and nothing left
behind when one fails or the call is cancelled."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from app.adapters.aws.dynamodb.transactions import CONCURRENCY, bounded


@pytest.fixture
def unraisable() -> Iterator[list[str]]:
    """What Python could not raise meanwhile (a coroutine never awaited warns so at collection)."""
    seen: list[str] = []
    previous = sys.unraisablehook

    def hook(report: Any) -> None:
        seen.append(repr(report.exc_value))

    sys.unraisablehook = hook
    try:
        yield seen
    finally:
        gc.collect()
        sys.unraisablehook = previous


async def test_results_in_order_with_at_most_concurrency_in_flight() -> None:
    in_flight = most = 0

    async def job(n: int) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001 * (n % 3))
        in_flight -= 1
        return n

    assert await bounded(job(n) for n in range(3 * CONCURRENCY)) == list(range(3 * CONCURRENCY))
    assert most == CONCURRENCY


async def test_a_failure_cancels_the_rest_and_leaves_no_job_unawaited(
    unraisable: list[str],
) -> None:
    started: list[int] = []
    finished: list[int] = []

    async def job(n: int) -> int:
        started.append(n)
        if n == 0:
            raise RuntimeError("throttled")
        await asyncio.sleep(0.05)
        finished.append(n)
        return n

    with pytest.raises(RuntimeError, match="throttled"):
        await bounded(job(n) for n in range(3 * CONCURRENCY))
    await asyncio.sleep(0.1)  # time enough for a job left running to finish

    assert finished == []
    # The failed job's turn went to the next one before the failure reached the caller; the
    # other jobs still waiting for a turn never started.
    assert len(started) == CONCURRENCY + 1
    gc.collect()
    assert unraisable == []


async def test_a_cancelled_call_leaves_no_job_unawaited(unraisable: list[str]) -> None:
    started: list[int] = []
    all_turns_taken = asyncio.Event()

    async def job(n: int) -> int:
        started.append(n)
        if len(started) == CONCURRENCY:
            all_turns_taken.set()
        await asyncio.sleep(10)
        return n

    call = asyncio.create_task(bounded(job(n) for n in range(3 * CONCURRENCY)))
    await all_turns_taken.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    assert len(started) == CONCURRENCY
    gc.collect()
    assert unraisable == []

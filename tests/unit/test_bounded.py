"""Per-key process memory stays bounded: the capped cache and the locks that leave with use."""

from __future__ import annotations

import asyncio

import pytest

from app.bounded import BoundedCache, KeyedLocks


def test_a_cache_past_its_cap_drops_the_least_recently_used() -> None:
    cache: BoundedCache[str, int] = BoundedCache(max_entries=3)
    for number, key in enumerate("abc"):
        cache.put(key, number)
    assert cache.get("a") == 0  # "a" is now the most recently used

    cache.put("d", 3)

    assert len(cache) == 3
    assert cache.get("b") is None
    assert [cache.get(key) for key in "acd"] == [0, 2, 3]


def test_ten_thousand_keys_through_a_small_cache_leave_it_at_its_cap() -> None:
    cache: BoundedCache[int, int] = BoundedCache(max_entries=100)
    for key in range(10_000):
        cache.put(key, key)
    assert len(cache) == 100
    assert cache.get(9_999) == 9_999


def test_stale_entries_can_be_dropped_and_a_zero_cap_is_refused() -> None:
    cache: BoundedCache[str, int] = BoundedCache(max_entries=10)
    for number, key in enumerate("abcd"):
        cache.put(key, number)
    cache.drop_where(lambda value: value % 2 == 0)
    cache.pop("b")
    assert (len(cache), cache.get("d")) == (1, 3)
    with pytest.raises(ValueError, match="at least one"):
        BoundedCache[str, int](max_entries=0)


async def test_a_lock_serialises_its_key_and_is_forgotten_when_unused() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    order: list[str] = []

    async def hold(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(hold("cal", "first"), hold("cal", "second"), hold("other", "third"))

    assert order.index("first out") < order.index("second in")  # one key: one at a time
    assert order.index("third in") < order.index("first out")  # another key: not held up
    assert len(locks) == 0


async def test_many_keys_leave_no_lock_behind_even_when_a_holder_fails() -> None:
    locks: KeyedLocks[int] = KeyedLocks()

    async def fail(key: int) -> None:
        async with locks.hold(key):
            raise RuntimeError("sync failed")

    for key in range(1_000):
        async with locks.hold(key):
            pass
        with pytest.raises(RuntimeError):
            await fail(key)

    assert len(locks) == 0


async def test_a_waiter_being_woken_shares_the_lock_of_its_key() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    inside = 0
    most_inside = 0

    async def hold() -> None:
        nonlocal inside, most_inside
        async with locks.hold("cal"):
            inside += 1
            most_inside = max(most_inside, inside)
            await asyncio.sleep(0)
            inside -= 1

    # Waves arriving while the previous holder releases and its waiter is being woken.
    for _ in range(20):
        await asyncio.gather(*(hold() for _ in range(5)))
    assert (most_inside, len(locks)) == (1, 0)

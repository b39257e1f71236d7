"""Keyset paging over lists that are already ordered by a unique key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

SortKey = tuple[str, ...]
DEFAULT_LIMIT = 1000
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_after: SortKey | None


def page(
    items: Sequence[T], key: Callable[[T], SortKey], *, after: SortKey | None, limit: int
) -> Page[T]:
    """The items after `after` (exclusive), at most `limit`, and where the next page starts."""
    start = 0
    if after is not None:
        start = next((i for i, item in enumerate(items) if key(item) > after), len(items))
    chosen = list(items[start : start + limit])
    more = start + limit < len(items)
    return Page(chosen, key(chosen[-1]) if more and chosen else None)

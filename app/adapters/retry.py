"""The one retry policy both HTTP adapters share: capped exponential backoff with full jitter.

Google asks for truncated exponential backoff whose delays grow up to a 32-64 s cap
(https://cloud.google.com/storage/docs/retry-strategy#exponential-backoff, linked from the
Calendar quota guide); full jitter spreads clients that failed together
(https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
What counts as retryable is the adapter's business: it raises `RetryableFailure` from an attempt.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, TypeVar

from app.adapters.ports import Clock

RETRYABLE_STATUSES: Final[frozenset[int]] = frozenset({408, 429, 500, 502, 503, 504})
"""Answers that say "try again later" for any HTTP API (timeout, throttled, server trouble)."""

_MAX_EXPONENT: Final = 30  # 2**30 s is far past any cap; keeps float arithmetic finite

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait between attempts, and how many attempts to make.

    `max_attempts=None` means "until the deadline" (the Create Bot call); the Google adapters keep
    a small count as well as their total deadline (`GOOGLE_CALL_DEADLINE`).
    """

    base_delay: float = 1.0
    max_delay: float = 32.0
    max_attempts: int | None = 5
    jitter: bool = True
    retry_after_cap: float = 60.0
    jitter_source: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def delay_for(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the `attempt`-th attempt (1-based) failed.

        A server's `Retry-After` wins over the backoff (it knows when it will be ready), but is
        capped so a hostile or broken header cannot park a caller for hours.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        ceiling = min(self.max_delay, self.base_delay * 2.0**exponent)
        return self.jitter_source() * ceiling if self.jitter else ceiling


class RetryableFailure(Exception):
    """Raised inside an attempt to ask for another one.

    `give_up_with` is what the caller sees when no attempt is left; `retry_after` is the server's
    own hint in seconds, if it sent one.
    """

    def __init__(self, give_up_with: Exception, *, retry_after: float | None = None) -> None:
        super().__init__(str(give_up_with))
        self.give_up_with = give_up_with
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from `now` that a `Retry-After` header asks for (delta-seconds or HTTP-date).

    RFC 9110 section 10.2.3. Unparseable values are ignored (None), past dates mean "now" (0).
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT; parsedate yields naive for a "-0000" zone
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


async def run_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    clock: Clock,
    give_up_at: datetime | None = None,
) -> T:
    """Run `attempt` until it returns, raises anything but `RetryableFailure`, or we give up.

    We give up after `policy.max_attempts` attempts or when the next attempt would start at or
    after `give_up_at`, whichever comes first; a sleep never crosses the deadline. The first
    attempt is always made: the caller decided the call was worth making.
    """
    attempts = 0
    while True:
        attempts += 1
        try:
            return await attempt()
        except RetryableFailure as failure:
            if policy.max_attempts is not None and attempts >= policy.max_attempts:
                raise failure.give_up_with from failure.__cause__
            delay = policy.delay_for(attempts, failure.retry_after)
            if give_up_at is not None:
                remaining = (give_up_at - clock.now()).total_seconds()
                if delay >= remaining:
                    raise failure.give_up_with from failure.__cause__
            await clock.sleep(delay)

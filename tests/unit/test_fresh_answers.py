"""FreshAnswers: an answer is given again only at the stamp it was read at, before its end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.adapters.ports import no_change_stamp
from app.services.fresh_answers import FreshAnswers
from tests.fakes import FakeClock

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


class Stamp:
    def __init__(self) -> None:
        self.value = 1

    def __call__(self) -> int:
        return self.value


def test_an_answer_lives_while_the_stamp_holds_and_its_end_has_not_come() -> None:
    stamp, clock = Stamp(), FakeClock(NOW)
    answers: FreshAnswers[bytes] = FreshAnswers(stamp, clock)
    answers.keep("k", answers.stamp(), NOW + timedelta(minutes=5), b"one", 3)

    kept = answers.get("k")
    assert kept is not None
    assert kept.value == b"one"
    clock.advance(5 * 60)
    assert answers.get("k") is None  # its end came

    answers.keep("k", answers.stamp(), None, b"two", 3)
    stamp.value = 2  # something was committed
    assert answers.get("k") is None
    assert len(answers) == 0


def test_an_answer_read_before_a_commit_is_never_given_after_it() -> None:
    stamp = Stamp()
    answers: FreshAnswers[bytes] = FreshAnswers(stamp, FakeClock(NOW))
    taken = answers.stamp()
    stamp.value = 2  # committed while the answer was being read
    answers.keep("k", taken, None, b"maybe stale", 11)

    assert answers.get("k") is None


def test_a_backend_that_cannot_tell_has_nothing_kept() -> None:
    answers: FreshAnswers[bytes] = FreshAnswers(no_change_stamp, FakeClock(NOW))
    answers.keep("k", answers.stamp(), None, b"x", 1)

    assert answers.get("k") is None
    assert len(answers) == 0


def test_memory_is_bounded_by_bytes_least_recently_used_first() -> None:
    answers: FreshAnswers[bytes] = FreshAnswers(Stamp(), FakeClock(NOW), max_bytes=10)
    for name in ("a", "b", "c"):
        answers.keep(name, 1, None, name.encode() * 4, 4)
    assert answers.get("a") is None  # 12 bytes > 10: the oldest went
    assert answers.get("b") is not None  # b is now the most recently used
    answers.keep("d", 1, None, b"dddd", 4)
    assert answers.get("c") is None
    assert answers.get("b") is not None
    assert answers.get("d") is not None
    answers.keep("huge", 1, None, b"x" * 11, 11)  # larger than the whole budget: not kept
    assert answers.get("huge") is None
    assert len(answers) == 2

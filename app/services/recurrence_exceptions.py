"""Google's modified and cancelled instances of a series, keyed by the start they replace."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from app.domain import Occurrence, OccurrenceOverride
from app.services.recurrence_expansion import Expansion
from app.services.recurrence_instants import aware_utc, to_the_second

__all__ = ["Exceptions"]


@dataclass(frozen=True, slots=True)
class Exceptions:
    """Exceptions by the original start each replaces; those not cancelled as occurrences."""

    by_original: dict[datetime, OccurrenceOverride]  # keyed by UTC original start, to the second
    occurrences: tuple[Occurrence, ...]  # every exception that is not cancelled, at its times

    @classmethod
    def of(cls, expansion: Expansion, overrides: Iterable[OccurrenceOverride]) -> Exceptions:
        by_original = {
            to_the_second(aware_utc(override.original_start, "original_start")): override
            for override in overrides
        }
        occurrences = tuple(
            _moved(expansion, original, override)
            for original, override in by_original.items()
            if not override.cancelled
        )
        return cls(by_original, occurrences)


def _moved(expansion: Expansion, original: datetime, override: OccurrenceOverride) -> Occurrence:
    """An exception's occurrence: its own times; a missing time falls back to the series'."""
    start = original if override.start is None else aware_utc(override.start, "start")
    end = expansion.end_of(start) if override.end is None else aware_utc(override.end, "end")
    return Occurrence(original_start=original, start=start, end=end)

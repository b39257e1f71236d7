"""The do-not-record guard (CONTRACT section 7): an occurrence whose organizer or any attendee
has an email in `never_record_domains` (exact or subdomain) never gets a bot, from any source.

Scheduling by hand answers 409 (`NeverRecordGuard`), a PATCH cannot bring such a bot back, the
series passes skip the occurrence, and a pending bot is cancelled as soon as a sync (or the
launch check, or a change of the rules) shows such an attendee. Which domain matches is
`rules.guard_hits`; this module says whose attendees count and where the list comes from.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from app.adapters.ports import AutoScheduleStore
from app.domain import AttendeeFacts, Event, OccurrenceOverride
from app.errors import NeverRecordGuard
from app.services.rules import guard_hits


def occurrence_attendees(
    event: Event, overrides: Iterable[OccurrenceOverride], original_start: datetime | None
) -> AttendeeFacts:
    """Who is in one occurrence: a modified occurrence's own list when Google gave it one (it
    is a whole event of its own), else the event's."""
    if original_start is not None:
        for override in overrides:
            if override.original_start == original_start and override.attendees is not None:
                return override.attendees
    return event.attendees


def guarded_domain(
    event: Event,
    overrides: Iterable[OccurrenceOverride],
    original_start: datetime | None,
    never_record_domains: Iterable[str],
) -> str | None:
    """The `never_record_domains` entry one occurrence's people match, else None."""
    domains = tuple(never_record_domains)
    if not domains:
        return None
    return guard_hits(occurrence_attendees(event, overrides, original_start), domains)


class DoNotRecordGuard:
    """The guard as the services use it: the account's list, read when it is needed."""

    def __init__(self, auto_schedule: AutoScheduleStore) -> None:
        self._auto_schedule = auto_schedule

    async def domains(self, account_id: str) -> tuple[str, ...]:
        """The account's `never_record_domains` (none when it never saved rules)."""
        settings = await self._auto_schedule.get_auto_schedule(account_id)
        return settings.rules.never_record_domains

    async def check(
        self,
        account_id: str,
        event: Event,
        overrides: Iterable[OccurrenceOverride],
        original_start: datetime | None,
    ) -> None:
        """Raise `NeverRecordGuard` (409, naming the domain) for a guarded occurrence."""
        domain = guarded_domain(event, overrides, original_start, await self.domains(account_id))
        if domain is not None:
            raise NeverRecordGuard.for_domain(domain)

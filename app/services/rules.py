"""Which occurrences auto-scheduling gives a bot: the rules of CONTRACT section 7 and the
do-not-record guard, as pure functions of what the store keeps (no I/O).

`RuleSet` is the account's rules with their defaults filled in and their text prepared once
(zone resolved, titles case-folded), so checking one occurrence is a few comparisons.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, tzinfo

from app.domain import AttendeeFacts, AutoScheduleRules, MeetingLink, ResponseStatus
from app.services.zones import resolve_zone

# Google's own addresses for rooms and resources (`...@resource.calendar.google.com`) and for
# group calendars: never a person's domain, so never internal or external.
_GOOGLE_CALENDAR_DOMAIN = "calendar.google.com"


def domain_matches(domain: str, listed: str) -> bool:
    """`domain` is `listed` or one of its subdomains (case-insensitive): `eu.legal.example`
    matches `legal.example`, `notlegal.example` does not."""
    domain, listed = domain.lower(), listed.lower().strip(".")
    return bool(listed) and (domain == listed or domain.endswith("." + listed))


def _suffixes(domain: str) -> list[str]:
    """`a.b.example` -> [`a.b.example`, `b.example`, `example`]."""
    parts = domain.lower().split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


class DomainList:
    """A list of domains to match (exact or subdomain, case-insensitive) many times over: a
    lookup of each suffix of a domain, answers cached per attendee domain list."""

    def __init__(self, listed: Iterable[str]) -> None:
        self.listed = tuple(listed)
        self._by_suffix: dict[str, str] = {}
        for entry in reversed(self.listed):  # the first listed entry wins
            self._by_suffix[entry.lower().strip(".")] = entry
        self._seen: dict[tuple[str, ...], str | None] = {}
        self._seen_lists: dict[tuple[str, ...], tuple[str, ...]] = {}

    def match(self, domain: str) -> str | None:
        by_suffix = self._by_suffix
        for suffix in _suffixes(domain):
            if suffix in by_suffix:
                return by_suffix[suffix]
        return None

    def first_hit(self, domains: tuple[str, ...]) -> str | None:
        """The entry matched by the first of `domains` that matches one, else None."""
        if not self._by_suffix:
            return None
        if domains not in self._seen:
            if len(self._seen) > 4096:
                self._seen.clear()
            self._seen[domains] = next(
                (hit for d in domains if (hit := self.match(d)) is not None), None
            )
        return self._seen[domains]

    def unmatched(self, domains: tuple[str, ...]) -> tuple[str, ...]:
        """Those of `domains` that match no entry (cached per list, like `first_hit`)."""
        if domains not in self._seen_lists:
            if len(self._seen_lists) > 4096:
                self._seen_lists.clear()
            self._seen_lists[domains] = tuple(d for d in domains if self.match(d) is None)
        return self._seen_lists[domains]


def matching_domain(domains: Iterable[str], listed: Iterable[str]) -> str | None:
    """The first entry of `listed` that one of `domains` matches, else None."""
    wanted = tuple(listed)
    for domain in domains:
        for entry in wanted:
            if domain_matches(domain, entry):
                return entry
    return None


def guard_hits(facts: AttendeeFacts, never_record_domains: Iterable[str]) -> str | None:
    """The do-not-record guard: the `never_record_domains` entry matched by the organizer's or
    any attendee's email domain (rooms included), else None."""
    return matching_domain(facts.domains, never_record_domains)


def email_domain(email: str | None) -> str | None:
    """The lower-cased domain of an email address, or None when it is not one."""
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower().rstrip(".") or None


def parse_local_time(text: str) -> time:
    """`HH:MM` (24-hour) as a time; ValueError otherwise."""
    hours, sep, minutes = text.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2:
        raise ValueError("not HH:MM")
    if not (hours.isdigit() and minutes.isdigit()):
        raise ValueError("not HH:MM")
    return time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """One rule an occurrence does not pass: the rule's field and a sentence saying why."""

    rule: str
    sentence: str


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules with every default filled in, ready to check occurrences against."""

    rules: AutoScheduleRules
    zone: tzinfo
    time_from: time | None
    time_to: time | None
    title_include: tuple[str, ...]
    title_exclude: tuple[str, ...]
    guard: DomainList = field(compare=False)
    internal: DomainList = field(compare=False)

    @classmethod
    def of(
        cls,
        rules: AutoScheduleRules,
        *,
        account_email: str | None,
        primary_zone: str | None,
    ) -> RuleSet:
        """`internal_domains` defaults to the account's email domain (none when calbot does
        not know it), `time_zone` to the primary calendar's zone (UTC when unknown)."""
        filled = with_defaults(rules, account_email=account_email, primary_zone=primary_zone)
        return cls(
            rules=filled,
            zone=resolve_zone(filled.time_zone) or UTC,
            time_from=_time_or_none(filled.local_time_from),
            time_to=_time_or_none(filled.local_time_to),
            title_include=tuple(t.casefold() for t in filled.title_include),
            title_exclude=tuple(t.casefold() for t in filled.title_exclude),
            guard=DomainList(filled.never_record_domains),
            internal=DomainList(filled.internal_domains or ()),
        )

    @property
    def attendee_rules_set(self) -> bool:
        rules = self.rules
        return (
            rules.attendees != "any"
            or rules.min_attendees is not None
            or rules.max_attendees is not None
        )

    def failures(
        self,
        *,
        calendar_id: str,
        summary: str | None,
        start: datetime,
        link: MeetingLink | None,
        facts: AttendeeFacts,
    ) -> Iterator[RuleFailure]:
        """Every rule (of those that filter; the guard and the RSVP `declined` are the
        caller's) the occurrence does not pass, in the table's order, each sentence made only
        when asked for."""
        rules = self.rules
        if rules.calendar_ids is not None and calendar_id not in rules.calendar_ids:
            yield RuleFailure("calendar_ids", "its calendar is not in calendar_ids")
        answer = facts.self_response
        if answer is not ResponseStatus.DECLINED and answer not in rules.response_status:
            yield RuleFailure(
                "response_status", f'your answer "{answer.value}" is not in response_status'
            )
        if rules.organizer == "self" and not facts.organizer_self:
            yield RuleFailure("organizer", "someone else organises it")
        if rules.organizer == "others" and facts.organizer_self:
            yield RuleFailure("organizer", "you organise it")
        if self.attendee_rules_set:
            yield from self._attendee_failures(facts)
        if self.title_include or self.title_exclude:
            yield from self._title_failures(summary)
        if rules.platforms is not None and (link is None or link.platform not in rules.platforms):
            platform = link.platform.value if link else "none"
            yield RuleFailure("platforms", f"its platform ({platform}) is not listed")
        if rules.weekdays is not None or self.time_from is not None or self.time_to is not None:
            yield from self._time_failures(start)

    def _attendee_failures(self, facts: AttendeeFacts) -> Iterator[RuleFailure]:
        """Judged on the attendees Google listed: when it omitted some (`omitted`), a rule the
        listed ones already break fails, and any other passes."""
        rules = self.rules
        if rules.attendees != "any":
            external = self._external(facts.domains)
            if rules.attendees == "internal_only" and external:
                yield RuleFailure(
                    "attendees", f"someone from {external[0]} is invited (internal_only)"
                )
            if rules.attendees == "external" and not external and not facts.omitted:
                yield RuleFailure("attendees", "everyone invited is internal (external)")
        low, high = rules.min_attendees, rules.max_attendees
        if low is not None and facts.people < low and not facts.omitted:
            yield RuleFailure("min_attendees", f"it has {facts.people} attendees, fewer than {low}")
        if high is not None and facts.people > high:
            yield RuleFailure("max_attendees", f"it has {facts.people} attendees, more than {high}")

    def _external(self, domains: tuple[str, ...]) -> tuple[str, ...]:
        """The people's domains that are not internal (Google's room and resource addresses
        are nobody's)."""
        return tuple(
            d for d in self.internal.unmatched(domains) if not d.endswith(_GOOGLE_CALENDAR_DOMAIN)
        )

    def _title_failures(self, summary: str | None) -> Iterator[RuleFailure]:
        title = (summary or "").casefold()
        if self.title_include and not any(word in title for word in self.title_include):
            yield RuleFailure("title_include", "its title has none of title_include")
        for index, word in enumerate(self.title_exclude):
            if word in title:
                original = self.rules.title_exclude[index]
                yield RuleFailure("title_exclude", f'its title contains "{original}"')
                break

    def _time_failures(self, start: datetime) -> Iterator[RuleFailure]:
        rules = self.rules
        local = start.astimezone(self.zone)
        if rules.weekdays is not None and local.isoweekday() not in rules.weekdays:
            yield RuleFailure("weekdays", f"it is on a {local:%A} in {rules.time_zone}")
        wall = local.time().replace(tzinfo=None)
        if self.time_from is not None and wall < self.time_from:
            yield RuleFailure(
                "local_time_from", f"it starts at {wall:%H:%M}, before {rules.local_time_from}"
            )
        if self.time_to is not None and wall >= self.time_to:
            yield RuleFailure(
                "local_time_to", f"it starts at {wall:%H:%M}, not before {rules.local_time_to}"
            )


def with_defaults(
    rules: AutoScheduleRules, *, account_email: str | None, primary_zone: str | None
) -> AutoScheduleRules:
    """The rules as shown and applied: `internal_domains` and `time_zone` filled in."""
    internal = rules.internal_domains
    if internal is None:
        domain = email_domain(account_email)
        internal = (domain,) if domain else ()
    zone = rules.time_zone
    if zone is None:
        zone = primary_zone if resolve_zone(primary_zone) is not None else "UTC"
    return dataclasses.replace(rules, internal_domains=internal, time_zone=zone)


def _time_or_none(text: str | None) -> time | None:
    return None if text is None else parse_local_time(text)

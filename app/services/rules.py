"""Which occurrences auto-scheduling gives a bot: the rules of CONTRACT section 7 and the
do-not-record guard, as pure functions of what the store keeps (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable

from app.domain import AttendeeFacts


def domain_matches(domain: str, listed: str) -> bool:
    """`domain` is `listed` or one of its subdomains (case-insensitive): `eu.legal.example`
    matches `legal.example`, `notlegal.example` does not."""
    domain, listed = domain.lower(), listed.lower().strip(".")
    return domain == listed or domain.endswith("." + listed)


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

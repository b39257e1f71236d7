"""Which time zone a name from a calendar means: the one rule every part of calbot uses.

A name is read as an IANA zone first (old spellings such as `Asia/Calcutta` and `US/Pacific`
included, from the tzdata package), then as a Windows zone name, which events created in
Exchange or Outlook carry (`W. Europe Standard Time`), through CLDR's table. Case, surrounding
quotes and runs of whitespace do not matter. A name that is neither answers None, and the caller
decides what that costs: an event's times keep the offset Google wrote, while anything that needs
the zone's wall clock (a series' occurrences, an occurrence date) is refused with
`unreadable_zone_reason`.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib import resources
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.data.windows_zones import WINDOWS_TO_IANA

__all__ = ["resolve_zone", "unreadable_zone_reason"]

# Longer than any IANA or Windows name; anything longer is not a zone name.
_MAX_NAME_LENGTH = 64


@lru_cache(maxsize=1024)
def resolve_zone(name: str | None) -> ZoneInfo | None:
    """The zone `name` means, or None when calbot cannot read it."""
    if not name:
        return None
    text = " ".join(name.strip().strip('"').split())
    if not text or len(text) > _MAX_NAME_LENGTH:
        return None
    folded = text.casefold()
    for candidate in (
        text,
        _iana_by_folded_name().get(folded),
        _windows_by_folded_name().get(folded),
    ):
        if candidate and (found := _zone_info(candidate)) is not None:
            return found
    return None


def unreadable_zone_reason(name: str | None) -> str:
    """The sentence shown when `name` cannot be resolved."""
    shown = (name or "")[:_MAX_NAME_LENGTH]
    return (
        f"calbot cannot read the time zone {shown!r} (neither an IANA nor a Windows zone name), "
        "so it cannot work out this event's local times."
    )


def _zone_info(key: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@cache
def _iana_by_folded_name() -> MappingProxyType[str, str]:
    """Every IANA name tzdata ships, by its case-folded spelling (read once, a few ms)."""
    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return MappingProxyType({name.casefold(): name for name in names})


@cache
def _windows_by_folded_name() -> MappingProxyType[str, str]:
    return MappingProxyType({name.casefold(): iana for name, iana in WINDOWS_TO_IANA.items()})

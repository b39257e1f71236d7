"""Which zone a calendar's zone name means: IANA names old and new, Windows names, garbage."""

from __future__ import annotations

import tomllib
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.data.windows_zones import WINDOWS_TO_IANA
from app.services.zones import resolve_zone, unreadable_zone_reason

SUMMER = datetime(2026, 7, 1, 12, tzinfo=UTC)
WINTER = datetime(2026, 1, 15, 12, tzinfo=UTC)


def offsets(name: str) -> tuple[timedelta | None, timedelta | None]:
    """The zone's UTC offset in July and in January 2026: what a meeting's time depends on."""
    zone = resolve_zone(name)
    assert zone is not None, name
    return SUMMER.astimezone(zone).utcoffset(), WINTER.astimezone(zone).utcoffset()


def hours(summer: float, winter: float) -> tuple[timedelta, timedelta]:
    return timedelta(hours=summer), timedelta(hours=winter)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("Europe/Berlin", hours(2, 1), id="IANA"),
        pytest.param("Asia/Calcutta", hours(5.5, 5.5), id="old IANA name of Asia/Kolkata"),
        pytest.param("US/Pacific", hours(-7, -8), id="old IANA alias of America/Los_Angeles"),
        pytest.param("Europe/Kiev", hours(3, 2), id="old IANA name of Europe/Kyiv"),
        pytest.param("UTC", hours(0, 0), id="UTC"),
        pytest.param("W. Europe Standard Time", hours(2, 1), id="Windows: Berlin"),
        pytest.param("Pacific Standard Time", hours(-7, -8), id="Windows: Los Angeles"),
        pytest.param("India Standard Time", hours(5.5, 5.5), id="Windows: India"),
        pytest.param("Eastern Standard Time", hours(-4, -5), id="Windows: New York"),
        pytest.param("AUS Eastern Standard Time", hours(10, 11), id="Windows: Sydney"),
        pytest.param("Tokyo Standard Time", hours(9, 9), id="Windows: Tokyo"),
        pytest.param("Nepal Standard Time", hours(5.75, 5.75), id="Windows: Kathmandu"),
        pytest.param(
            "  pacific   STANDARD time ", hours(-7, -8), id="Windows, any case and spaces"
        ),
        pytest.param('"W. Europe Standard Time"', hours(2, 1), id="quoted, as in a TZID"),
        pytest.param("america/new_york", hours(-4, -5), id="IANA in lower case"),
    ],
)
def test_zone_names_from_the_wild_resolve(name: str, expected: tuple[timedelta, timedelta]) -> None:
    assert offsets(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "   ",
        "Mars/Olympus",
        "Pacific Standard Time (Mars)",
        "../../etc/passwd",
        "/etc/localtime",
        "Europe/Berlin\x00",
        "GMT+05:30",
        "x" * 500,
    ],
)
def test_names_that_are_no_zone_resolve_to_none(name: str | None) -> None:
    assert resolve_zone(name) is None


def test_every_windows_name_of_the_cldr_table_resolves_to_its_iana_zone() -> None:
    assert len(WINDOWS_TO_IANA) > 130  # the whole "001" table, not a sample
    for windows_name, iana_name in WINDOWS_TO_IANA.items():
        zone = resolve_zone(windows_name)
        assert zone is not None, windows_name
        # Same rules as the IANA zone (an IANA name that is also a Windows name, such as
        # "UTC", resolves as IANA first: same offsets either way).
        assert (
            SUMMER.astimezone(zone).utcoffset()
            == SUMMER.astimezone(ZoneInfo(iana_name)).utcoffset()
        )


def test_windows_names_are_unique_whatever_their_case() -> None:
    folded = [name.casefold() for name in WINDOWS_TO_IANA]
    assert len(folded) == len(set(folded))


@pytest.fixture
def no_system_zoneinfo() -> Iterator[None]:
    """Like the slim Docker image: no /usr/share/zoneinfo, only the tzdata package."""
    zoneinfo.reset_tzpath(to=[])
    ZoneInfo.clear_cache()
    resolve_zone.cache_clear()
    try:
        yield
    finally:
        zoneinfo.reset_tzpath()
        ZoneInfo.clear_cache()
        resolve_zone.cache_clear()


@pytest.mark.usefixtures("no_system_zoneinfo")
@pytest.mark.parametrize("name", ["Asia/Calcutta", "US/Pacific", "Europe/Berlin", "UTC"])
def test_zones_resolve_without_the_systems_zone_files(name: str) -> None:
    assert zoneinfo.TZPATH == ()
    assert resolve_zone(name) is not None


def test_tzdata_is_a_runtime_dependency() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    dependencies = pyproject["project"]["dependencies"]
    assert any(dependency.split(">")[0].strip() == "tzdata" for dependency in dependencies)


def test_the_reason_names_the_zone() -> None:
    reason = unreadable_zone_reason("Mars/Olympus")
    assert "'Mars/Olympus'" in reason
    assert reason.endswith(".")

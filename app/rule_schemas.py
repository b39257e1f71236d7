"""The wire form of the auto-schedule rules (CONTRACT section 7): strictly validated in
`POST /auto-schedule/enable` and the preview, echoed with defaults filled in by every settings
answer."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from app.domain import AutoScheduleRules, Platform, ResponseStatus

MAX_ENTRIES: Final = 100

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
_LOCAL_TIME = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")


def _domain(text: str) -> str:
    lowered = text.strip().lower().rstrip(".")
    if not _DOMAIN.match(lowered):
        raise ValueError("must be an email domain such as example.com (no @, no scheme)")
    return lowered


def _local_time(text: str) -> str:
    if not _LOCAL_TIME.match(text):
        raise ValueError('must be a 24-hour time "HH:MM", such as "09:00"')
    return text


@lru_cache(maxsize=256)
def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _zone(name: str) -> str:
    if not _known_zone(name):
        raise ValueError("must be an IANA time zone such as Europe/Berlin")
    return name


Domain = Annotated[str, StringConstraints(max_length=253), AfterValidator(_domain)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LocalTime = Annotated[str, AfterValidator(_local_time)]
Weekday = Annotated[StrictInt, Field(ge=1, le=7)]
Count = Annotated[StrictInt, Field(ge=0, le=100_000)]
CalendarId = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Organizer = Literal["any", "self", "others"]
Attendees = Literal["any", "internal_only", "external"]
ResponseText = Literal["accepted", "tentative", "needsAction", "declined"]
_DEFAULT_RESPONSES: list[ResponseText] = ["accepted", "tentative", "needsAction"]

_RULES_EXAMPLE: dict[str, Any] = {
    "attendees": "external",
    "weekdays": [1, 2, 3, 4, 5],
    "never_record_domains": ["legal.example"],
}


class AutoScheduleRulesIn(BaseModel):
    """Which meetings auto-scheduling gives a bot; every field is optional and defaults as in
    the settings answer. Lists hold at most 100 entries."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_RULES_EXAMPLE]})

    calendar_ids: list[CalendarId] | None = Field(
        default=None,
        max_length=MAX_ENTRIES,
        description="Only meetings on these calendars (null: every connected calendar).",
    )
    response_status: list[ResponseText] = Field(
        default_factory=lambda: list(_DEFAULT_RESPONSES),
        max_length=MAX_ENTRIES,
        description="Only meetings you answered with one of these; the organizer and meetings "
        "without attendees count as accepted.",
    )
    organizer: Organizer = Field(
        default="any", description='"self": meetings you organise; "others": the rest.'
    )
    attendees: Attendees = Field(
        default="any",
        description='"internal_only": every attendee\'s domain is internal; "external": at '
        "least one is not. Rooms and resources are not attendees. When Google omitted "
        "attendees (attendeesOmitted), a meeting passes unless those it listed break the rule.",
    )
    internal_domains: list[Domain] | None = Field(
        default=None,
        max_length=MAX_ENTRIES,
        description="Domains counted as internal, exact or subdomain, case-insensitive "
        "(null: the connected account's email domain).",
    )
    min_attendees: Count | None = Field(
        default=None, description="At least this many attendees (people, not rooms)."
    )
    max_attendees: Count | None = Field(
        default=None, description="At most this many attendees (people, not rooms)."
    )
    title_include: list[Title] = Field(
        default_factory=list,
        max_length=MAX_ENTRIES,
        description="When any: the title contains one of these (case-insensitive substring).",
    )
    title_exclude: list[Title] = Field(
        default_factory=list,
        max_length=MAX_ENTRIES,
        description="The title contains none of these (case-insensitive substring).",
    )
    platforms: list[Platform] | None = Field(
        default=None, max_length=MAX_ENTRIES, description="Only these platforms (null: all)."
    )
    weekdays: list[Weekday] | None = Field(
        default=None,
        max_length=MAX_ENTRIES,
        description="ISO weekdays (1 = Monday) of the start in time_zone (null: all).",
    )
    local_time_from: LocalTime | None = Field(
        default=None, description='Starts at or after this "HH:MM" in time_zone.'
    )
    local_time_to: LocalTime | None = Field(
        default=None, description='Starts before this "HH:MM" in time_zone.'
    )
    time_zone: Annotated[str, StringConstraints(max_length=64), AfterValidator(_zone)] | None = (
        Field(default=None, description="IANA zone (null: the primary calendar's zone).")
    )
    never_record_domains: list[Domain] = Field(
        default_factory=list,
        max_length=MAX_ENTRIES,
        description="The do-not-record guard: a meeting with anyone from these domains (exact "
        "or subdomain) never gets a bot from any source.",
    )

    @field_validator("max_attendees")
    @classmethod
    def _not_below_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_attendees")
        if value is not None and low is not None and value < low:
            raise ValueError("must not be less than min_attendees")
        return value

    @field_validator("local_time_to")
    @classmethod
    def _after_from(cls, value: str | None, info: ValidationInfo) -> str | None:
        start = info.data.get("local_time_from")
        if value is not None and start is not None and value <= start:
            raise ValueError("must be later than local_time_from")
        return value

    def to_domain(self) -> AutoScheduleRules:
        def unique(values: list[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(values))

        return AutoScheduleRules(
            calendar_ids=None if self.calendar_ids is None else unique(self.calendar_ids),
            response_status=tuple(
                ResponseStatus(status) for status in dict.fromkeys(self.response_status)
            ),
            organizer=self.organizer,
            attendees=self.attendees,
            internal_domains=None
            if self.internal_domains is None
            else unique(self.internal_domains),
            min_attendees=self.min_attendees,
            max_attendees=self.max_attendees,
            title_include=unique(self.title_include),
            title_exclude=unique(self.title_exclude),
            platforms=None if self.platforms is None else tuple(dict.fromkeys(self.platforms)),
            weekdays=None if self.weekdays is None else tuple(sorted(set(self.weekdays))),
            local_time_from=self.local_time_from,
            local_time_to=self.local_time_to,
            time_zone=self.time_zone,
            never_record_domains=unique(self.never_record_domains),
        )


class AutoScheduleRulesRead(BaseModel):
    """The rules in force, every default filled in."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "calendar_ids": None,
                    "response_status": ["accepted", "tentative", "needsAction"],
                    "organizer": "any",
                    "attendees": "external",
                    "internal_domains": ["example.com"],
                    "min_attendees": None,
                    "max_attendees": None,
                    "title_include": [],
                    "title_exclude": [],
                    "platforms": None,
                    "weekdays": [1, 2, 3, 4, 5],
                    "local_time_from": None,
                    "local_time_to": None,
                    "time_zone": "Europe/Berlin",
                    "never_record_domains": ["legal.example"],
                }
            ]
        }
    )

    calendar_ids: list[str] | None
    response_status: list[ResponseStatus]
    organizer: Organizer
    attendees: Attendees
    internal_domains: list[str]
    min_attendees: int | None
    max_attendees: int | None
    title_include: list[str]
    title_exclude: list[str]
    platforms: list[Platform] | None
    weekdays: list[int] | None
    local_time_from: str | None
    local_time_to: str | None
    time_zone: str
    never_record_domains: list[str]

    @classmethod
    def of(cls, rules: AutoScheduleRules) -> AutoScheduleRulesRead:
        """From rules whose defaults are filled in (`services.rules.with_defaults`)."""
        return cls(
            calendar_ids=None if rules.calendar_ids is None else list(rules.calendar_ids),
            response_status=list(rules.response_status),
            organizer=_organizer(rules.organizer),
            attendees=_attendees(rules.attendees),
            internal_domains=list(rules.internal_domains or ()),
            min_attendees=rules.min_attendees,
            max_attendees=rules.max_attendees,
            title_include=list(rules.title_include),
            title_exclude=list(rules.title_exclude),
            platforms=None if rules.platforms is None else list(rules.platforms),
            weekdays=None if rules.weekdays is None else list(rules.weekdays),
            local_time_from=rules.local_time_from,
            local_time_to=rules.local_time_to,
            time_zone=rules.time_zone or "UTC",
            never_record_domains=list(rules.never_record_domains),
        )


def _organizer(value: str) -> Organizer:
    """The stored text as the wire's literal (the request model only lets these through)."""
    choices: dict[str, Organizer] = {"self": "self", "others": "others"}
    return choices.get(value, "any")


def _attendees(value: str) -> Attendees:
    choices: dict[str, Attendees] = {"internal_only": "internal_only", "external": "external"}
    return choices.get(value, "any")

"""The one decision: does auto-scheduling give this occurrence a bot, and why (CONTRACT
section 7, explain and preview). Pure and in memory, so the pass, the preview and explain all
call it per occurrence with data loaded once, and cannot disagree."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from app.domain import (
    AttendeeFacts,
    AutoScheduleMode,
    BotSource,
    BotStatus,
    Event,
    EventStatus,
    MeetingLink,
    Occurrence,
    OccurrenceKey,
    OccurrenceModes,
    ResponseStatus,
    ScheduledBot,
    auto_schedule_mode_for,
)
from app.services.rules import RuleSet


class Decision(enum.StrEnum):
    SCHEDULE = "schedule"
    HAS_BOT = "has_bot"
    SKIP = "skip"


class ReasonCode(enum.StrEnum):
    HAS_BOT = "has_bot"
    NO_MEETING_LINK = "no_meeting_link"
    UNSAFE_MEETING_LINK = "unsafe_meeting_link"
    CANCELLED = "cancelled"
    ENDED = "ended"
    DECLINED = "declined"
    OUTSIDE_LOOKAHEAD = "outside_lookahead"
    AUTO_SCHEDULE_DISABLED = "auto_schedule_disabled"
    PAUSED = "paused"
    EXCLUDED_BY_RULE = "excluded_by_rule"
    NEVER_RECORD_DOMAIN = "never_record_domain"
    MODE_NEVER = "mode_never"
    MODE_ALWAYS = "mode_always"
    CANCELLED_BY_USER = "cancelled_by_user"
    RECURRENCE_DISABLED = "recurrence_disabled"
    WILL_SCHEDULE = "will_schedule"


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    detail: str


# Per-occurrence modes (`domain.OccurrenceModes`): an occurrence without one follows its
# event's `auto_schedule_mode` (`domain.auto_schedule_mode_for`).
NO_OCCURRENCE_MODES: OccurrenceModes = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Situation:
    """What is the same for every occurrence of one account in one pass, preview or explain."""

    rules: RuleSet
    enabled: bool
    paused_until: datetime | None
    now: datetime
    lookahead_end: datetime
    join_lead: timedelta
    modes: OccurrenceModes = field(default_factory=lambda: NO_OCCURRENCE_MODES)

    def mode_of(self, event: Event, key: OccurrenceKey) -> AutoScheduleMode:
        return auto_schedule_mode_for(event, key, self.modes)


@dataclass(frozen=True, slots=True)
class OccurrenceView:
    """One occurrence as the decision sees it: the event's, with its exception applied."""

    event: Event
    key: OccurrenceKey
    occurrence: Occurrence
    link: MeetingLink | None
    attendees: AttendeeFacts
    cancelled: bool = False

    @property
    def start(self) -> datetime:
        return self.occurrence.start

    @property
    def end(self) -> datetime:
        return self.occurrence.end


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reasons: tuple[Reason, ...]

    @property
    def reason(self) -> Reason:
        """The reason a preview row shows: `will_schedule`, `has_bot`, or the first skip."""
        wanted = {
            Decision.SCHEDULE: ReasonCode.WILL_SCHEDULE,
            Decision.HAS_BOT: ReasonCode.HAS_BOT,
        }.get(self.decision)
        return next(
            (r for r in self.reasons if wanted is None or r.code is wanted), self.reasons[0]
        )


# Reasons that stop auto-scheduling; the others (mode_always, outside_lookahead, has_bot,
# will_schedule) only say more about the decision.
_BLOCKING = frozenset(ReasonCode) - {
    ReasonCode.MODE_ALWAYS,
    ReasonCode.OUTSIDE_LOOKAHEAD,
    ReasonCode.HAS_BOT,
    ReasonCode.WILL_SCHEDULE,
}


RULES_CHANGED = "Cancelled because the auto-schedule rules changed: "


def cancelled_by_rules(bot: ScheduledBot) -> bool:
    """An auto-scheduled bot a change of rules cancelled (`last_error` says so)."""
    return (
        bot.status is BotStatus.CANCELLED
        and bot.source is BotSource.AUTO_SCHEDULE
        and (bot.last_error or "").startswith(RULES_CHANGED)
    )


def bot_blocks(bot: ScheduledBot) -> ReasonCode | None:
    """What an existing bot of the occurrence means to auto-scheduling, which never adds a
    second bot to an occurrence: `has_bot` (any bot but one the user cancelled, which is
    `cancelled_by_user`: auto-scheduling does not bring it back), except a bot a change of
    rules cancelled (None: the rules decide again)."""
    if cancelled_by_rules(bot):
        return None
    if bot.status is BotStatus.CANCELLED and bot.last_error is None:
        return ReasonCode.CANCELLED_BY_USER
    return ReasonCode.HAS_BOT


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day(moment: datetime, situation: Situation) -> str:
    """`2 Dec`: the occurrence's date in the rules' zone, as the sentences say it."""
    local = moment.astimezone(situation.rules.zone)
    return f"{local.day} {_MONTHS[local.month - 1]}"


def decide(
    view: OccurrenceView,
    situation: Situation,
    bot: ScheduledBot | None = None,
    *,
    every: bool = True,
) -> Verdict:
    """The decision for one occurrence and every reason that applies (`every=False`: the
    reasons up to the first that decides, which is all a pass or a preview row needs; the
    decision is the same).

    `bot` is the occurrence's existing bot (pending or launched first), when the caller knows
    it; the pass leaves it None because its store write refuses a second bot anyway.
    """
    existing = bot_blocks(bot) if bot is not None else None
    reasons: list[Reason] = []
    for reason in _reasons(view, situation, bot, existing):
        reasons.append(reason)
        if not every and (reason.code in _BLOCKING or reason.code is ReasonCode.HAS_BOT):
            break
    return _verdict(reasons, existing is ReasonCode.HAS_BOT, view, situation)


def _reasons(
    view: OccurrenceView,
    situation: Situation,
    bot: ScheduledBot | None,
    existing: ReasonCode | None,
) -> Iterator[Reason]:
    """Every reason that applies, in the order explain lists them (a bot first, then what
    stops auto-scheduling, the mode, the rules, and the lookahead last)."""
    event, rules, now = view.event, situation.rules, situation.now

    def day() -> str:  # only a sentence that names the date pays for it
        return _day(view.start, situation)

    if existing is ReasonCode.HAS_BOT and bot is not None:
        yield Reason(
            ReasonCode.HAS_BOT, f"It already has a bot ({bot.source.value}, {bot.status.value})."
        )
    if view.cancelled or event.status is EventStatus.CANCELLED:
        yield Reason(
            ReasonCode.CANCELLED, f"Skipped: the meeting on {day()} was cancelled in Google."
        )
    if view.end <= now:
        yield Reason(ReasonCode.ENDED, f"Skipped: the meeting on {day()} has ended.")
    if view.link is None and event.unsafe_link:
        yield Reason(
            ReasonCode.UNSAFE_MEETING_LINK,
            "Skipped: the event's video link is not a join link calbot sends bots to (an "
            "unknown host, or a host's start link).",
        )
    elif view.link is None:
        yield Reason(ReasonCode.NO_MEETING_LINK, "Skipped: no meeting link was found in the event.")
    if (hit := rules.guard.first_hit(view.attendees.domains)) is not None:
        yield Reason(
            ReasonCode.NEVER_RECORD_DOMAIN,
            f"Never recorded: someone from {hit} is invited (the do-not-record guard).",
        )
    if existing is ReasonCode.CANCELLED_BY_USER:
        yield Reason(
            ReasonCode.CANCELLED_BY_USER,
            f"Skipped: you cancelled the bot of the meeting on {day()}; auto-scheduling does not "
            "bring it back.",
        )
    mode = situation.mode_of(event, view.key)
    if mode is AutoScheduleMode.NEVER:
        yield Reason(ReasonCode.MODE_NEVER, "Skipped: this meeting's auto-schedule mode is never.")
    if not situation.enabled:
        yield Reason(ReasonCode.AUTO_SCHEDULE_DISABLED, "Skipped: auto-scheduling is turned off.")
    join_at = view.start - situation.join_lead
    if situation.paused_until is not None and join_at < situation.paused_until:
        yield Reason(
            ReasonCode.PAUSED,
            f"Skipped: bots are paused until {situation.paused_until:%Y-%m-%d %H:%M} UTC.",
        )
    if mode is AutoScheduleMode.ALWAYS:
        yield Reason(
            ReasonCode.MODE_ALWAYS, "This meeting's auto-schedule mode is always: rules skipped."
        )
    else:
        yield from _rule_reasons(view, situation, day)
    if view.start >= situation.lookahead_end:
        yield Reason(
            ReasonCode.OUTSIDE_LOOKAHEAD,
            f"It starts after the lookahead; it is looked at from "
            f"{view.start - (situation.lookahead_end - now):%Y-%m-%d %H:%M} UTC.",
        )


def _rule_reasons(
    view: OccurrenceView, situation: Situation, day: Callable[[], str]
) -> Iterator[Reason]:
    event, rules = view.event, situation.rules
    if event.is_recurring and not event.recurring_enabled:
        yield Reason(
            ReasonCode.RECURRENCE_DISABLED,
            "Skipped: scheduling of this series' occurrences is turned off (toggle-recurrence).",
        )
    facts = view.attendees
    if (
        facts.self_response is ResponseStatus.DECLINED
        and ResponseStatus.DECLINED not in rules.rules.response_status
    ):
        yield Reason(ReasonCode.DECLINED, f"Skipped: you declined this meeting on {day()}.")
    for failure in rules.failures(
        calendar_id=event.calendar_id,
        summary=event.summary,
        start=view.start,
        link=view.link,
        facts=facts,
    ):
        yield Reason(
            ReasonCode.EXCLUDED_BY_RULE, f"Skipped by the rule {failure.rule}: {failure.sentence}."
        )


def _verdict(
    reasons: list[Reason], has_bot: bool, view: OccurrenceView, situation: Situation
) -> Verdict:
    omitted = (
        " Google did not list every attendee, so the attendee rules were checked on those it "
        "listed only."
        if view.attendees.omitted and situation.rules.attendee_rules_set
        else ""
    )
    if has_bot:
        return Verdict(Decision.HAS_BOT, tuple(reasons))
    if any(reason.code in _BLOCKING for reason in reasons):
        if omitted:
            reasons = [
                Reason(r.code, r.detail + omitted) if r.code is ReasonCode.EXCLUDED_BY_RULE else r
                for r in reasons
            ]
        return Verdict(Decision.SKIP, tuple(reasons))
    when = "now" if view.start < situation.lookahead_end else "when it enters the lookahead"
    reasons.append(
        Reason(
            ReasonCode.WILL_SCHEDULE,
            f"Will get a bot {when}, joining at "
            f"{view.start - situation.join_lead:%Y-%m-%d %H:%M} UTC.{omitted}",
        )
    )
    return Verdict(Decision.SCHEDULE, tuple(reasons))

"""Hands-free auto-scheduling and its rules (CONTRACT.md sections 2 and 7)."""

from __future__ import annotations

from fastapi import APIRouter

from app.decision_schemas import AutoSchedulePreview, AutoSchedulePreviewRequest, PreviewRow
from app.deps import AutoScheduleServiceDep, CurrentAccount, ExplainServiceDep, PolicyServiceDep
from app.domain import AutoScheduleSettings
from app.errors import StorageUnavailable, Unprocessable
from app.routers.responses import error_responses
from app.rule_schemas import AutoScheduleRulesRead
from app.schemas import AutoScheduleEnable, AutoScheduleSettingsRead

router = APIRouter(prefix="/api/v1/calendar/auto-schedule", tags=["Auto-scheduling"])

_RULES_HELP = """

**Rules** (`rules`, optional): which meetings get a bot. Every field is optional; the settings
answer shows each with its default filled in. `calendar_ids`, `response_status` (your RSVP; the
organizer and meetings without attendees count as `accepted`), `organizer` (`any`/`self`/
`others`), `attendees` (`any`/`internal_only`/`external`, against `internal_domains`, default your
account's email domain; rooms are not attendees), `min_attendees`/`max_attendees`,
`title_include`/`title_exclude` (case-insensitive substrings), `platforms`, `weekdays` (ISO,
1 = Monday), `local_time_from`/`local_time_to` (`"HH:MM"` in `time_zone`, default the primary
calendar's zone) and `never_record_domains` (the do-not-record guard: such a meeting never gets
a bot, even by hand). When Google omitted attendees (`attendeesOmitted`), the attendee rules are
judged on the attendees it listed: the meeting passes unless those already break a rule.
Without `rules` the saved rules are kept; `"rules": {}` resets them to the defaults. When the
rules change, pending auto-scheduled bots they no longer let through are cancelled (their
`last_error` names the rule; their `bot.cancelled` webhook says `reason: unscheduled_by_user`)
and meetings that now pass get bots, in this same request. Bots you scheduled by hand are never
touched by rules, but the do-not-record guard is: every pending bot, of any source, of a meeting
it covers is cancelled here too (`reason: never_record_domain`). Unknown fields, bad values,
an unknown zone or more than 100 entries in a list answer `422` naming the field."""


def _read(settings: AutoScheduleSettings, lookahead_seconds: int) -> AutoScheduleSettingsRead:
    return AutoScheduleSettingsRead(
        enabled=settings.enabled,
        default_bot_config=settings.default_bot_config,
        lookahead_seconds=lookahead_seconds,
        last_run_at=settings.last_run_at,
        rules=AutoScheduleRulesRead.of(settings.rules),
        paused_until=settings.paused_until,
    )


@router.post(
    "/enable",
    summary="Turn auto-scheduling on, with rules",
    response_model=AutoScheduleSettingsRead,
    responses=error_responses(Unprocessable, StorageUnavailable),
    description="""Every meeting with a link that starts within the lookahead and passes the
rules gets a bot with `default_bot_config` (`source: auto_schedule`): at once, on every run of
the periodic job, and as soon as a push notification or poll reveals a new or moved meeting.
Meetings that already have a bot are skipped (a manual schedule is never overwritten). Works
before a calendar is connected."""
    + _RULES_HELP,
)
async def enable(
    body: AutoScheduleEnable,
    account_id: CurrentAccount,
    auto: AutoScheduleServiceDep,
    policy: PolicyServiceDep,
) -> AutoScheduleSettingsRead:
    rules = None if body.rules is None else body.rules.to_domain()
    settings = await auto.enable(account_id, body.default_bot_config, rules)
    # The do-not-record guard covers bots of every source, not only the rules' auto bots.
    await policy.enforce_guard(account_id)
    return _read(settings, auto.lookahead_seconds)


@router.post(
    "/disable",
    summary="Turn auto-scheduling off",
    response_model=AutoScheduleSettingsRead,
    responses=error_responses(StorageUnavailable),
)
async def disable(
    account_id: CurrentAccount, auto: AutoScheduleServiceDep
) -> AutoScheduleSettingsRead:
    """No new bots are auto-scheduled; bots already scheduled stay (cancel them one by one
    with DELETE /scheduled_bots/{bot_id}). The rules are kept for the next enable."""
    return _read(await auto.disable(account_id), auto.lookahead_seconds)


@router.get(
    "/settings",
    summary="Auto-scheduling settings",
    response_model=AutoScheduleSettingsRead,
    responses=error_responses(StorageUnavailable),
)
async def settings(
    account_id: CurrentAccount, auto: AutoScheduleServiceDep
) -> AutoScheduleSettingsRead:
    """Whether auto-scheduling is on, its default config, how far ahead it looks, when it last
    ran for this account, the rules in force (defaults filled in) and the pause, if any."""
    return _read(await auto.settings(account_id), auto.lookahead_seconds)


@router.post(
    "/preview",
    summary="Preview which meetings would get a bot (dry run)",
    response_model=AutoSchedulePreview,
    responses=error_responses(Unprocessable, StorageUnavailable),
)
async def preview(
    body: AutoSchedulePreviewRequest, account_id: CurrentAccount, explain: ExplainServiceDep
) -> AutoSchedulePreview:
    """What auto-scheduling decides for every occurrence starting within `hours` (default
    168, at most 744; a meeting under way is included), with candidate `rules` or, without
    them, the saved ones, as if auto-scheduling were on. Answered from the store alone; changes
    nothing. One row per occurrence, by start: `decision` is `schedule` (gets a bot now, or
    when it enters the lookahead; `reason: will_schedule`), `has_bot` (already has a bot, or
    another calendar's copy of the meeting has it) or `skip`, with `reason` the first code that
    applies (the codes of GET /events/{event_id}/explain) and `detail` a sentence. The pass
    makes exactly the same decisions: enabling these rules gives a bot to exactly the
    `schedule` rows within the lookahead. Works before a calendar is connected (no rows)."""
    rules = None if body.rules is None else body.rules.to_domain()
    items = await explain.preview(account_id, rules, body.hours)
    return AutoSchedulePreview(
        occurrences=[
            PreviewRow(
                event_id=item.view.event.event_id,
                calendar_id=item.view.event.calendar_id,
                summary=item.view.event.summary,
                occurrence_start=item.view.start,
                meeting_link=item.view.link.url if item.view.link else None,
                decision=item.verdict.decision.value,
                reason=item.verdict.reason.code.value,
                detail=item.verdict.reason.detail,
            )
            for item in items
        ]
    )

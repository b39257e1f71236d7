"""Hands-free auto-scheduling (CONTRACT.md section 2, auto-schedule)."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import AutoScheduleServiceDep, CurrentAccount, PolicyServiceDep
from app.domain import AutoScheduleSettings
from app.errors import StorageUnavailable, Unprocessable
from app.routers.responses import error_responses
from app.schemas import AutoScheduleEnable, AutoScheduleSettingsRead

router = APIRouter(prefix="/api/v1/calendar/auto-schedule", tags=["Auto-scheduling"])


def _read(settings: AutoScheduleSettings, lookahead_seconds: int) -> AutoScheduleSettingsRead:
    return AutoScheduleSettingsRead(
        enabled=settings.enabled,
        default_bot_config=settings.default_bot_config,
        lookahead_seconds=lookahead_seconds,
        last_run_at=settings.last_run_at,
        paused_until=settings.paused_until,
    )


@router.post(
    "/enable",
    summary="Turn auto-scheduling on",
    response_model=AutoScheduleSettingsRead,
    responses=error_responses(Unprocessable, StorageUnavailable),
)
async def enable(
    body: AutoScheduleEnable,
    account_id: CurrentAccount,
    auto: AutoScheduleServiceDep,
    policy: PolicyServiceDep,
) -> AutoScheduleSettingsRead:
    """Every meeting with a link that starts within the lookahead gets a bot with
    `default_bot_config` (`source: auto_schedule`): at once, on every run of the periodic job,
    and as soon as a push notification or poll reveals a new or moved meeting. Meetings that
    already have a bot are skipped (a manual schedule is never overwritten), and so are
    meetings you declined. Works before a calendar is connected.

    A pending bot of any source whose meeting has someone from one of the rules'
    `never_record_domains` is cancelled in the same request (`last_error` names the guard)."""
    settings = await auto.enable(account_id, body.default_bot_config)
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
    with DELETE /scheduled_bots/{bot_id})."""
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
    """Whether auto-scheduling is on, its default config, how far ahead it looks, and when it
    last ran for this account."""
    return _read(await auto.settings(account_id), auto.lookahead_seconds)

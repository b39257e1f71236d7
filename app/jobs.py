"""APScheduler wiring of the periodic passes, each with a stable name.

Jobs coalesce (a late run is run once, not once per missed period), never overlap, and are
spread with jitter so that many calbot instances do not hit Google in step (Google's quota guide
asks for randomised schedules). The passes themselves are services; this only says when.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.adapters.ports import Clock, LeaseStore

log = logging.getLogger(__name__)

AUTO_SCHEDULE_JOB = "auto-schedule"
SAFETY_NET_SYNC_JOB = "safety-net-sync"
CHANNEL_RENEWAL_JOB = "channel-renewal"
SERIES_JOB = "recurring-series"
LAUNCH_SAFETY_NET_JOB = "launch-safety-net"
HOUSEKEEPING_JOB = "housekeeping"
PAUSE_RESUME_JOB = "pause-resume"
PAUSE_RESUME_SECONDS = 30
HOUSEKEEPING_SECONDS = 3600
MAX_CHANNEL_RENEWAL_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    job_id: str
    run: Callable[[], Awaitable[Any]]
    seconds: int


def channel_renewal_seconds(ttl_seconds: int) -> int:
    """Often enough that a channel is always renewed well before it expires."""
    return max(1, min(MAX_CHANNEL_RENEWAL_SECONDS, ttl_seconds // 4))


def leased(job: PeriodicJob, leases: LeaseStore, clock: Clock, holder: str) -> PeriodicJob:
    """The same job, run by whichever replica takes its lease for this period.

    The lease is not released after the pass: it covers the period, so the other replicas skip
    it. A replica that dies mid-pass simply lets the lease expire; the next period another one
    takes it.
    """

    async def run() -> Any:
        now = clock.now()
        period = timedelta(seconds=job.seconds * 0.9)
        if not await leases.try_acquire_lease(job.job_id, holder, now, now + period):
            log.debug("%s: another replica holds this period's lease", job.job_id)
            return None
        return await job.run()

    return PeriodicJob(job.job_id, run, job.seconds)


def build_scheduler(jobs: list[PeriodicJob]) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    for job in jobs:
        scheduler.add_job(
            job.run,
            "interval",
            seconds=job.seconds,
            id=job.job_id,
            name=job.job_id,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, job.seconds // 2),
            jitter=min(300, max(1, job.seconds // 10)),
        )
    return scheduler

"""APScheduler wiring of the periodic passes, each with a stable name.

Jobs coalesce (a late run is run once, not once per missed period), never overlap, and are
spread with jitter so that many calbot instances do not hit Google in step (Google's quota guide
asks for randomised schedules). The passes themselves are services; this only says when.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

AUTO_SCHEDULE_JOB = "auto-schedule"
SAFETY_NET_SYNC_JOB = "safety-net-sync"
CHANNEL_RENEWAL_JOB = "channel-renewal"
MAX_CHANNEL_RENEWAL_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    job_id: str
    run: Callable[[], Awaitable[Any]]
    seconds: int


def channel_renewal_seconds(ttl_seconds: int) -> int:
    """Often enough that a channel is always renewed well before it expires."""
    return max(1, min(MAX_CHANNEL_RENEWAL_SECONDS, ttl_seconds // 4))


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

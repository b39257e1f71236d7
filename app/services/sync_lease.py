"""The store-held lease that keeps two replicas from syncing one calendar at once."""

from __future__ import annotations

from datetime import timedelta

from app.adapters.ports import Clock, LeaseStore

# A sync's lease lasts this long and is renewed once a third of it has passed, between pages: a
# page (one Google call, 25 s at most, and its write) always fits in what is left, and a replica
# that died mid-sync frees the calendar within this time.
SYNC_LEASE_SECONDS = 90
# How long a sync waits for another replica's sync of the same calendar before leaving it to
# that one: about one incremental sync, short enough for a GET /events to answer in time.
SYNC_LEASE_WAIT_SECONDS = 5.0
_LEASE_POLL_SECONDS = 0.5


def sync_lease_name(account_id: str, calendar_id: str) -> str:
    """The lease held in the store while a replica syncs this calendar."""
    return f"calendar-sync:{account_id}:{calendar_id}"


class CalendarLease:
    """The store-held lease of one calendar's sync, taken, kept and given back by one run."""

    def __init__(self, leases: LeaseStore, clock: Clock, name: str, holder: str) -> None:
        self._leases = leases
        self._clock = clock
        self._name = name
        self._holder = holder
        self._taken_at = clock.now()

    async def _take(self) -> bool:
        now = self._clock.now()
        until = now + timedelta(seconds=SYNC_LEASE_SECONDS)
        if not await self._leases.try_acquire_lease(self._name, self._holder, now, until):
            return False
        self._taken_at = now
        return True

    async def acquire(self) -> bool:
        """Take the lease, waiting up to SYNC_LEASE_WAIT_SECONDS while another holds it."""
        waited = 0.0
        while not await self._take():
            if waited >= SYNC_LEASE_WAIT_SECONDS:
                return False
            await self._clock.sleep(_LEASE_POLL_SECONDS)
            waited += _LEASE_POLL_SECONDS
        return True

    async def keep(self) -> bool:
        """Renew the lease once a third of it has passed; False if it was lost meanwhile."""
        elapsed = (self._clock.now() - self._taken_at).total_seconds()
        if elapsed < SYNC_LEASE_SECONDS / 3:
            return True
        return await self._take()

    async def release(self) -> None:
        await self._leases.release_lease(self._name, self._holder)

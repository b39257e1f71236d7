"""Named leases, in memory."""

from __future__ import annotations

from datetime import datetime

from app.adapters.memory.tables import Lease, MemoryTables


class MemoryLeaseStore:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    async def try_acquire_lease(
        self, name: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        lease = self._tables.leases.get(name)
        if lease is not None and lease.holder != holder and lease.expires_at > now:
            return False
        self._tables.leases[name] = Lease(holder, until)
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        lease = self._tables.leases.get(name)
        if lease is not None and lease.holder == holder:
            del self._tables.leases[name]

"""The local secret box: credentials sealed in the store, decrypted ones cached for a minute."""

from __future__ import annotations

import asyncio
import secrets

from app.adapters.local_secrets import LocalSecretBox
from app.adapters.memory.sealed_secrets import MemorySealedSecretStore
from app.adapters.memory.tables import MemoryTables
from app.domain import GoogleCredentials
from tests.fakes import FakeClock

ACCOUNT = "acc_1"
CREDENTIALS = GoogleCredentials("id.apps.googleusercontent.com", "secret", "1//refresh")
RECONNECTED = GoogleCredentials("id.apps.googleusercontent.com", "secret", "1//new-refresh")


class CountingStore(MemorySealedSecretStore):
    """The in-memory sealed-secret store, counting its reads (a trip to the database each)."""

    def __init__(self, tables: MemoryTables) -> None:
        super().__init__(tables)
        self.reads = 0

    async def get_sealed_secret(self, account_id: str) -> tuple[bytes, bytes] | None:
        self.reads += 1
        return await super().get_sealed_secret(account_id)


def replicas(count: int, clock: FakeClock) -> tuple[list[LocalSecretBox], CountingStore]:
    """Boxes of `count` replicas sharing one store and key."""
    store = CountingStore(MemoryTables())
    key = secrets.token_bytes(32)
    return [LocalSecretBox(store, key, clock) for _ in range(count)], store


async def test_a_second_get_within_a_minute_does_not_read_the_store() -> None:
    clock = FakeClock()
    (box,), store = replicas(1, clock)
    await box.put(ACCOUNT, CREDENTIALS)

    assert await box.get(ACCOUNT) == CREDENTIALS
    clock.advance(59)
    assert await box.get(ACCOUNT) == CREDENTIALS
    assert store.reads == 1

    clock.advance(2)
    assert await box.get(ACCOUNT) == CREDENTIALS
    assert store.reads == 2


async def test_put_and_delete_on_this_replica_are_seen_at_once() -> None:
    (box,), _ = replicas(1, FakeClock())
    await box.put(ACCOUNT, CREDENTIALS)
    await box.get(ACCOUNT)

    await box.put(ACCOUNT, RECONNECTED)
    assert await box.get(ACCOUNT) == RECONNECTED
    await box.delete(ACCOUNT)
    assert await box.get(ACCOUNT) is None


async def test_another_replicas_put_is_seen_by_a_fresh_read() -> None:
    (this_replica, other_replica), _ = replicas(2, FakeClock())
    await this_replica.put(ACCOUNT, CREDENTIALS)
    assert await this_replica.get(ACCOUNT) == CREDENTIALS

    await other_replica.put(ACCOUNT, RECONNECTED)
    assert await this_replica.get(ACCOUNT) == CREDENTIALS  # its own cache, within the minute
    assert await this_replica.get(ACCOUNT, fresh=True) == RECONNECTED
    assert await this_replica.get(ACCOUNT) == RECONNECTED  # the fresh read refreshed the cache


async def test_missing_credentials_are_not_cached() -> None:
    (this_replica, other_replica), store = replicas(2, FakeClock())
    assert await this_replica.get(ACCOUNT) is None
    await other_replica.put(ACCOUNT, CREDENTIALS)
    assert await this_replica.get(ACCOUNT) == CREDENTIALS
    assert store.reads == 2


class SlowStore(MemorySealedSecretStore):
    """The in-memory store, whose reads wait until `release` is set (a slow database)."""

    def __init__(self, tables: MemoryTables) -> None:
        super().__init__(tables)
        self.release = asyncio.Event()

    async def get_sealed_secret(self, account_id: str) -> tuple[bytes, bytes] | None:
        found = await super().get_sealed_secret(account_id)
        await self.release.wait()
        return found


async def test_a_read_overtaken_by_a_reconnect_or_disconnect_is_not_kept() -> None:
    store = SlowStore(MemoryTables())
    box = LocalSecretBox(store, secrets.token_bytes(32), FakeClock())
    for overtaking in ("reconnect", "disconnect"):
        store.release.clear()
        await box.put(ACCOUNT, CREDENTIALS)
        reading = asyncio.create_task(box.get(ACCOUNT))
        await asyncio.sleep(0)  # the read has the old secret and waits on the database
        if overtaking == "reconnect":
            await box.put(ACCOUNT, RECONNECTED)
        else:
            await box.delete(ACCOUNT)
        store.release.set()
        assert await reading == CREDENTIALS  # what was stored when it read

        expected = RECONNECTED if overtaking == "reconnect" else None
        assert await box.get(ACCOUNT) == expected, overtaking

"""A dispatcher in a process of its own, over a SQLite file, for the kill -9 test:

    python -m tests.webhooks.worker DATABASE_PATH CLAIM_SECONDS

It delivers until killed. Its attempts time out only after 60 s, so a receiver that holds the
request open keeps it mid-delivery for as long as the test needs."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from app.adapters.sqlite import sqlite_stores
from app.adapters.sqlite.database import Database
from tests.webhooks.hub import build_hub


async def main(path: Path, claim_seconds: float) -> None:
    database = Database(path)
    await database.open()
    async with httpx.AsyncClient(trust_env=False) as http:
        hub = build_hub(sqlite_stores(database), http, timeout=60, claim_seconds=claim_seconds)
        await hub.dispatcher.run()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2])))

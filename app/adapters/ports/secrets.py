"""Where Google credentials are kept."""

from __future__ import annotations

from typing import Protocol

from app.domain import GoogleCredentials


class SecretBox(Protocol):
    """Where Google credentials live, encrypted; one entry per account."""

    async def put(self, account_id: str, credentials: GoogleCredentials) -> None:
        """Store (or replace) the account's credentials."""
        ...

    async def get(self, account_id: str, *, fresh: bool = False) -> GoogleCredentials | None:
        """The account's credentials, or None.

        A box may serve them from a short-lived cache, which another replica's `put` does not
        reach; `fresh` reads them from where they are kept (and refreshes the cache).
        """
        ...

    async def delete(self, account_id: str) -> None:
        """Forget the account's credentials; deleting what is not there is not an error."""
        ...

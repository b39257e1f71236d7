"""The SecretBox port, in a dict."""

from __future__ import annotations

from app.domain import GoogleCredentials


class FakeSecretBox:
    def __init__(self) -> None:
        self.credentials: dict[str, GoogleCredentials] = {}

    async def put(self, account_id: str, credentials: GoogleCredentials) -> None:
        self.credentials[account_id] = credentials

    async def get(self, account_id: str, *, fresh: bool = False) -> GoogleCredentials | None:
        return self.credentials.get(account_id)

    async def delete(self, account_id: str) -> None:
        self.credentials.pop(account_id, None)

"""ConsentStore in this process's memory: for tests and for the one-shot `calbot google-auth`.

Single use holds because no method awaits anything, so no two coroutines interleave inside one.
Expired entries are dropped on every write.
"""

from __future__ import annotations

from datetime import datetime

from app.adapters.ports import ConnectLinkRecord


class MemoryConsentStore:
    def __init__(self) -> None:
        self._links: dict[str, ConnectLinkRecord] = {}
        self._nonces: dict[str, datetime] = {}

    async def save_connect_link(self, link: ConnectLinkRecord, now: datetime) -> None:
        self._forget_expired(now)
        self._links[link.link_hash] = link

    async def get_connect_link(self, link_hash: str, now: datetime) -> ConnectLinkRecord | None:
        link = self._links.get(link_hash)
        return link if link is not None and link.expires_at > now else None

    async def take_connect_link(self, link_hash: str, now: datetime) -> ConnectLinkRecord | None:
        link = self._links.get(link_hash)
        if link is None or link.expires_at <= now:
            return None
        del self._links[link_hash]
        return link

    async def connect_links_of(self, account_id: str, now: datetime) -> list[str]:
        live = [
            link
            for link in self._links.values()
            if link.account_id == account_id and link.expires_at > now
        ]
        live.sort(key=lambda link: (link.expires_at, link.link_hash))
        return [link.link_hash for link in live]

    async def spend_nonce(self, nonce_hash: str, expires_at: datetime, now: datetime) -> bool:
        self._forget_expired(now)
        if nonce_hash in self._nonces:
            return False
        self._nonces[nonce_hash] = expires_at
        return True

    def _forget_expired(self, now: datetime) -> None:
        for link_hash in [h for h, link in self._links.items() if link.expires_at <= now]:
            del self._links[link_hash]
        for nonce_hash in [h for h, until in self._nonces.items() if until <= now]:
            del self._nonces[nonce_hash]

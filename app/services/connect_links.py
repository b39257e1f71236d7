"""One-time connect links: a URL that connects whoever completes the consent flow to an account.

A link lives in the `ConsentStore`, shared by every replica, under the SHA-256 of its token (the
token itself is only ever in the URL). It is single use: the callback takes it from the store
atomically, and gives it back when the flow fails before anything was connected. A client secret
sent with the link is stored sealed (AES-256-GCM under a key derived from the master key, the
link's hash bound in as associated data); a link that uses the configured client stores no
secret at all. Replicas must therefore share the master key (ENCRYPTION_KEY), as they must to
read each other's consent states.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlencode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.adapters.ports import Clock, ConnectLinkRecord, ConsentStore
from app.errors import ConnectLinkInvalid
from app.services.consent_state import derive_key
from app.services.oauth_clients import OAuthClient, OAuthClients

CONNECT_LINK_TTL: Final = timedelta(minutes=15)
MAX_LIVE_LINKS_PER_ACCOUNT: Final = 10
_SECRET_KEY_LABEL: Final = b"calbot/google-consent/link-secret/v1"
_SEAL_NONCE_BYTES: Final = 12


@dataclass(frozen=True, slots=True)
class ConnectLink:
    link_id: str
    """The SHA-256 hex of the link's token: its key in the store and its name in the state."""
    account_id: str
    client: OAuthClient
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConnectLinkIssued:
    url: str
    expires_at: datetime


def link_id_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConnectLinks:
    def __init__(
        self,
        store: ConsentStore,
        clock: Clock,
        clients: OAuthClients,
        *,
        master_key: bytes,
        ttl: timedelta = CONNECT_LINK_TTL,
    ) -> None:
        self._store = store
        self._clock = clock
        self._clients = clients
        self._aead = AESGCM(derive_key(master_key, _SECRET_KEY_LABEL))
        self._ttl = ttl

    async def issue(
        self,
        account_id: str,
        *,
        start_url: str,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> ConnectLinkIssued:
        """A link to `start_url` for `account_id`. The client comes from the arguments or else
        the configuration. An account keeps its newest `MAX_LIVE_LINKS_PER_ACCOUNT` links."""
        client = self._clients.for_link(client_id, client_secret)
        now = self._clock.now()
        token = secrets.token_urlsafe(32)
        link = ConnectLink(link_id_of(token), account_id, client, now + self._ttl)
        live = await self._store.connect_links_of(account_id, now)
        for oldest in live[: max(len(live) - MAX_LIVE_LINKS_PER_ACCOUNT + 1, 0)]:
            await self._store.take_connect_link(oldest, now)
        await self._store.save_connect_link(self._record(link), now)
        separator = "&" if "?" in start_url else "?"
        return ConnectLinkIssued(
            url=f"{start_url}{separator}{urlencode({'link': token})}",
            expires_at=link.expires_at,
        )

    async def open(self, token: str) -> ConnectLink:
        """The live link of this token, left in place; `ConnectLinkInvalid` otherwise."""
        record = await self._store.get_connect_link(link_id_of(token), self._clock.now())
        if record is None:
            raise ConnectLinkInvalid()
        return self._link(record)

    async def take(self, link_id: str) -> ConnectLink:
        """Remove the live link from the store for this flow; `ConnectLinkInvalid` when it is
        gone (used, expired, or taken by a concurrent callback)."""
        record = await self._store.take_connect_link(link_id, self._clock.now())
        if record is None:
            raise ConnectLinkInvalid()
        return self._link(record)

    async def give_back(self, link: ConnectLink) -> None:
        """Make a taken link usable again (its flow failed before connecting anything)."""
        await self._store.save_connect_link(self._record(link), self._clock.now())

    def _record(self, link: ConnectLink) -> ConnectLinkRecord:
        sealed = None
        if not self._clients.is_configured(link.client):
            nonce = secrets.token_bytes(_SEAL_NONCE_BYTES)
            secret = link.client.client_secret.encode()
            sealed = nonce + self._aead.encrypt(nonce, secret, link.link_id.encode())
        return ConnectLinkRecord(
            link_hash=link.link_id,
            account_id=link.account_id,
            client_id=link.client.client_id,
            sealed_client_secret=sealed,
            expires_at=link.expires_at,
        )

    def _link(self, record: ConnectLinkRecord) -> ConnectLink:
        if record.sealed_client_secret is None:
            client = self._clients.configured(record.client_id)
        else:
            sealed = record.sealed_client_secret
            nonce, ciphertext = sealed[:_SEAL_NONCE_BYTES], sealed[_SEAL_NONCE_BYTES:]
            try:
                secret = self._aead.decrypt(nonce, ciphertext, record.link_hash.encode())
            except InvalidTag as error:
                raise ConnectLinkInvalid(
                    "This connect link was made under another ENCRYPTION_KEY, so its client "
                    "secret cannot be read: ask for a new one (POST /api/v1/calendar/connect-link)."
                ) from error
            client = OAuthClient(record.client_id, secret.decode())
        return ConnectLink(record.link_hash, record.account_id, client, record.expires_at)

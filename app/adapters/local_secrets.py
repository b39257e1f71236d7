"""Local SecretBox: Google credentials sealed with AES-256-GCM, kept in the SealedSecretStore.

The key comes from `ENCRYPTION_KEY` (URL-safe base64 of 32 bytes) or from a key file generated
once under `DATA_DIR` with mode 0600. The account id is bound in as associated data, so a
ciphertext copied onto another account's row does not decrypt.

Decrypted credentials are cached in-process for a short time, as the SSM box does: each sync
reads them, and the store's read (a trip to the database's thread) is most of what that costs.
The cache is this replica's: a `put` on another replica sharing the database does not reach it;
a sync checks what it got against the connection's credentials fingerprint and reads again with
`fresh=True` (`SyncService.credentials`).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.adapters.ports import Clock, SealedSecretStore
from app.bounded import BoundedCache
from app.domain import GoogleCredentials
from app.errors import StorageUnavailable

KEY_FILE_NAME = "encryption.key"
CACHE_SECONDS = 60.0
MAX_CACHED_ACCOUNTS = 10_000


class InvalidEncryptionKey(ValueError):
    """ENCRYPTION_KEY is not URL-safe base64 of 32 bytes."""


def decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode() + b"==")
    except (binascii.Error, ValueError) as error:
        raise InvalidEncryptionKey(
            "ENCRYPTION_KEY must be URL-safe base64 of 32 random bytes."
        ) from error
    if len(key) != 32:
        raise InvalidEncryptionKey("ENCRYPTION_KEY must be URL-safe base64 of 32 random bytes.")
    return key


def generate_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def load_or_create_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, else the key file under `data_dir`, created (0600) on first use."""
    if configured:
        return decode_key(configured)
    path = data_dir / KEY_FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return decode_key(path.read_text())
    with os.fdopen(descriptor, "w") as key_file:
        key_file.write(generate_key_text() + "\n")
    return decode_key(path.read_text())


class LocalSecretBox:
    def __init__(
        self,
        sealed_secrets: SealedSecretStore,
        key: bytes,
        clock: Clock,
        *,
        cache_seconds: float = CACHE_SECONDS,
        max_cached_accounts: int = MAX_CACHED_ACCOUNTS,
    ) -> None:
        self._sealed_secrets = sealed_secrets
        self._aead = AESGCM(key)
        self._clock = clock
        self._cache_ttl = timedelta(seconds=cache_seconds)
        self._cache: BoundedCache[str, tuple[GoogleCredentials, datetime]] = BoundedCache(
            max_cached_accounts
        )
        # Counts this replica's puts and deletes: a read that a write overtook (the write landed
        # while the read awaited the store) may hold what was there before, so it is not cached.
        self._writes = 0

    async def put(self, account_id: str, credentials: GoogleCredentials) -> None:
        nonce = secrets.token_bytes(12)
        plaintext = orjson.dumps(
            {
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "refresh_token": credentials.refresh_token,
            }
        )
        ciphertext = self._aead.encrypt(nonce, plaintext, account_id.encode())
        self._writes += 1
        self._cache.pop(account_id)
        await self._sealed_secrets.put_sealed_secret(account_id, nonce, ciphertext)
        self._cache.pop(account_id)

    async def get(self, account_id: str, *, fresh: bool = False) -> GoogleCredentials | None:
        cached = None if fresh else self._cache.get(account_id)
        if cached is not None and self._clock.now() < cached[1]:
            return cached[0]
        writes_before = self._writes
        sealed = await self._sealed_secrets.get_sealed_secret(account_id)
        if sealed is None:
            self._cache.pop(account_id)
            return None
        nonce, ciphertext = sealed
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, account_id.encode())
        except InvalidTag as error:
            raise StorageUnavailable(
                "Stored credentials cannot be decrypted: ENCRYPTION_KEY changed since they "
                "were saved. Restore the old key or reconnect the calendar."
            ) from error
        fields = orjson.loads(plaintext)
        credentials = GoogleCredentials(
            client_id=fields["client_id"],
            client_secret=fields["client_secret"],
            refresh_token=fields["refresh_token"],
        )
        now = self._clock.now()
        self._cache.drop_where(lambda entry: entry[1] <= now)
        if self._writes == writes_before:
            self._cache.put(account_id, (credentials, now + self._cache_ttl))
        return credentials

    async def delete(self, account_id: str) -> None:
        self._writes += 1
        self._cache.pop(account_id)
        await self._sealed_secrets.delete_sealed_secret(account_id)
        self._cache.pop(account_id)

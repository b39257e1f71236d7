"""Endpoint secrets, sealed: AES-256-GCM under a key derived from the master key (ENCRYPTION_KEY
or the local key file), the endpoint id bound in as associated data. The database only ever
holds the sealed form; the secret in clear exists in the create answer and, briefly, in memory
while an attempt is signed."""

from __future__ import annotations

import secrets
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.services.consent_state import derive_key

_LABEL: Final = b"calbot webhook endpoint secret v1"
_NONCE_BYTES: Final = 12


class SecretUnreadable(ValueError):
    """The sealed secret was made under another key (ENCRYPTION_KEY changed)."""


class WebhookSecrets:
    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(derive_key(master_key, _LABEL))

    def seal(self, endpoint_id: str, secret: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret.encode(), endpoint_id.encode())

    def open(self, endpoint_id: str, sealed: bytes) -> str:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, endpoint_id.encode()).decode()
        except InvalidTag as error:
            raise SecretUnreadable(
                "The endpoint's secret was sealed under another ENCRYPTION_KEY; delete the "
                "endpoint and create it again."
            ) from error

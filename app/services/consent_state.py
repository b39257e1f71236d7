"""The consent flow's signed `state` and its PKCE verifier: no server memory, so any replica
holding the master key can finish a flow another one started.

- `state` is `base64url(payload) "." base64url(HMAC-SHA256(state_key, payload))`. The JSON
  payload carries a random nonce, the redirect URI (the exchange must repeat the authorize one
  exactly [notes §1]), the client id, the connect link's id (if any) and an expiry. It is
  signed, not encrypted: it travels through the browser and Google and holds nothing secret.
- The PKCE `code_verifier` is `base64url(HMAC-SHA256(pkce_key, nonce))`: 43 characters of the
  unreserved set (RFC 7636 section 4.1 allows 43-128), re-derived from the nonce at the callback;
  the authorization URL carries only its S256 challenge.
- Both keys are derived from the master key (ENCRYPTION_KEY or the local key file) by HMAC with a
  label, so neither equals the AES key of the secret box.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from app.errors import InvalidConsentState

STATE_TTL: Final = timedelta(minutes=10)
_STATE_VERSION: Final = 1
_MAX_STATE_CHARS: Final = 2048
_STATE_KEY_LABEL: Final = b"calbot/google-consent/state/v1"
_PKCE_KEY_LABEL: Final = b"calbot/google-consent/pkce/v1"


@dataclass(frozen=True, slots=True)
class ConsentState:
    nonce: str
    redirect_uri: str
    client_id: str
    link_id: str | None
    expires_at: datetime


def derive_key(master_key: bytes, label: bytes) -> bytes:
    """A key for one purpose, derived from the master key; `label` names the purpose."""
    if len(master_key) < 16:
        raise ValueError("The consent flow needs a key of at least 16 bytes.")
    return hmac.new(master_key, label, hashlib.sha256).digest()


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


class ConsentStateSigner:
    """Signs and reads states, and derives each flow's PKCE verifier from its nonce."""

    def __init__(self, master_key: bytes) -> None:
        self._state_key = derive_key(master_key, _STATE_KEY_LABEL)
        self._pkce_key = derive_key(master_key, _PKCE_KEY_LABEL)

    def sign(self, state: ConsentState) -> str:
        payload = {
            "v": _STATE_VERSION,
            "n": state.nonce,
            "r": state.redirect_uri,
            "c": state.client_id,
            "l": state.link_id,
            "e": int(state.expires_at.timestamp()),
        }
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        mac = hmac.new(self._state_key, body, hashlib.sha256).digest()
        return f"{b64encode(body)}.{b64encode(mac)}"

    def read(self, state: str | None, now: datetime) -> ConsentState:
        """The verified, unexpired state; `InvalidConsentState` for anything else."""
        if not state or len(state) > _MAX_STATE_CHARS or state.count(".") != 1:
            raise InvalidConsentState()
        encoded_body, encoded_mac = state.split(".")
        try:
            body, mac = _b64decode(encoded_body), _b64decode(encoded_mac)
        except ValueError as error:
            raise InvalidConsentState() from error
        expected = hmac.new(self._state_key, body, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise InvalidConsentState()
        try:
            payload = json.loads(body)
            consent = ConsentState(
                nonce=_text(payload["n"]),
                redirect_uri=_text(payload["r"]),
                client_id=_text(payload["c"]),
                link_id=None if payload["l"] is None else _text(payload["l"]),
                expires_at=datetime.fromtimestamp(int(payload["e"]), UTC),
            )
        except (ValueError, KeyError, TypeError, OverflowError, OSError) as error:
            raise InvalidConsentState() from error
        if payload.get("v") != _STATE_VERSION or consent.expires_at <= now:
            raise InvalidConsentState()
        return consent

    def code_verifier(self, nonce: str) -> str:
        return b64encode(hmac.new(self._pkce_key, nonce.encode(), hashlib.sha256).digest())


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL-no-padding(SHA256(ASCII(verifier)))."""
    return b64encode(hashlib.sha256(verifier.encode("ascii")).digest())


def b64encode(raw: bytes) -> str:
    """base64url without padding (RFC 7636 appendix A)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a non-empty string")
    return value

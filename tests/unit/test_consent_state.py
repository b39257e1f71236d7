"""The consent flow's signed state and PKCE verifier (app/services/consent_state.py): pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from app.errors import InvalidConsentState
from app.services.consent_state import ConsentState, ConsentStateSigner, pkce_challenge

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = bytes(range(32))
REDIRECT_URI = "http://localhost:3000/api/google/oauth-callback"
CLIENT_ID = "client-123.apps.googleusercontent.com"
LINK_ID = "ab" * 32


@pytest.fixture
def signer() -> ConsentStateSigner:
    return ConsentStateSigner(KEY)


def a_state(link_id: str | None = None) -> ConsentState:
    return ConsentState("nonce-a", REDIRECT_URI, CLIENT_ID, link_id, NOW + timedelta(minutes=10))


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_verifier_is_derived_from_the_nonce_and_the_key(signer: ConsentStateSigner) -> None:
    verifier = signer.code_verifier("nonce-a")

    assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier)
    assert signer.code_verifier("nonce-a") == verifier
    assert signer.code_verifier("nonce-b") != verifier
    assert ConsentStateSigner(b"k" * 32).code_verifier("nonce-a") != verifier


@pytest.mark.parametrize("link_id", [None, LINK_ID])
def test_a_signed_state_reads_back_whole(signer: ConsentStateSigner, link_id: str | None) -> None:
    state = a_state(link_id)

    assert signer.read(signer.sign(state), NOW) == state


def test_a_state_is_readable_by_another_signer_with_the_same_key() -> None:
    """What lets a flow started on one replica finish on another."""
    signed = ConsentStateSigner(KEY).sign(a_state())

    assert ConsentStateSigner(bytes(KEY)).read(signed, NOW) == a_state()


def test_a_state_expires_at_its_expiry(signer: ConsentStateSigner) -> None:
    signed = signer.sign(a_state())
    signer.read(signed, NOW + timedelta(seconds=599))

    with pytest.raises(InvalidConsentState):
        signer.read(signed, NOW + timedelta(seconds=600))


def test_a_short_master_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        ConsentStateSigner(b"short")


def _resign(state: str, key: bytes, **changes: object) -> str:
    """A state with changed fields, signed with `key` (not the signer's, unless it is)."""
    payload = json.loads(base64.urlsafe_b64decode(state.split(".")[0] + "=="))
    payload.update(changes)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    state_key = hmac.new(key, b"calbot/google-consent/state/v1", hashlib.sha256).digest()
    mac = hmac.new(state_key, body, hashlib.sha256).digest()

    def encode(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{encode(body)}.{encode(mac)}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s: _resign(s, b"x" * 32), id="other key"),
        pytest.param(lambda s: s.split(".")[0] + ".AAAA", id="bad mac"),
        pytest.param(lambda s: s.replace(".", ""), id="no mac"),
        pytest.param(lambda s: s + ".x", id="three parts"),
        pytest.param(lambda s: "é." + s.split(".")[1], id="not ascii"),
        pytest.param(lambda s: "x" * 3000, id="too long"),
        pytest.param(lambda s: "", id="empty"),
        pytest.param(lambda s: _resign(s, KEY, v=2), id="other version"),
        pytest.param(lambda s: _resign(s, KEY, e=1), id="expired long ago"),
        pytest.param(lambda s: _resign(s, KEY, n=""), id="empty nonce"),
        pytest.param(lambda s: _resign(s, KEY, l=7), id="link id not a string"),
        pytest.param(lambda s: _resign(s, KEY, r=None), id="no redirect uri"),
    ],
)
def test_forged_or_broken_states_are_refused(
    signer: ConsentStateSigner, forge: Callable[[str], str]
) -> None:
    signed = signer.sign(a_state())

    with pytest.raises(InvalidConsentState):
        signer.read(forge(signed), NOW)


def test_resigning_with_the_right_key_is_what_makes_a_state_valid(
    signer: ConsentStateSigner,
) -> None:
    """Guards the forgery table above: `_resign` with the real key yields a valid state."""
    signed = signer.sign(a_state())
    assert signer.read(_resign(signed, KEY), NOW).client_id == CLIENT_ID

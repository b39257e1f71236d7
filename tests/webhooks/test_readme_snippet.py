"""The README's verification snippet (standard library only) accepts a real delivery, and
refuses it under another secret or once tampered with."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.webhook_receiver import Receiver
from tests.webhooks.hub import ACCOUNT, build_hub, open_stores

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- webhook-verification-snippet"


def readme_verifier() -> Callable[..., Any]:
    text = README.read_text()
    after = text[text.index(MARKER) :]
    block = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert block is not None
    code = block.group(1)
    imported = set(re.findall(r"^import (\w+)", code, re.MULTILINE))
    assert imported <= {"base64", "hashlib", "hmac", "json", "time"}  # the standard library
    namespace: dict[str, Any] = {}
    exec(compile(code, str(README), "exec"), namespace)  # our own README's code
    verifier: Callable[..., Any] = namespace["verify_calbot_webhook"]
    return verifier


async def test_the_readme_snippet_verifies_a_real_delivery(tmp_path: Path) -> None:
    verify = readme_verifier()
    receiver = await Receiver().start()
    try:
        async with httpx.AsyncClient() as http, open_stores("sqlite", tmp_path) as stores:
            hub = build_hub(stores, http)
            created = await hub.service.create(
                ACCOUNT, url=receiver.url, event_types=None, description=None
            )
            other = await hub.service.create(
                ACCOUNT, url=receiver.url + "/other", event_types=None, description=None
            )
            message = await hub.message({"bot": {"bot_id": "bot_7"}, "reason": "meeting_moved"})
            await hub.dispatcher.run_pass()
            await hub.dispatcher.settle()
    finally:
        await receiver.stop()
    got = next(r for r in receiver.received if r.path == "/hooks")
    assert verify(created.secret, got.headers, got.body) == {
        "id": message.message_id,
        "type": "bot.scheduled",
        "created_at": message.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {"bot": {"bot_id": "bot_7"}, "reason": "meeting_moved"},
    }
    with pytest.raises(ValueError, match="signature"):
        verify(other.secret, got.headers, got.body)
    with pytest.raises(ValueError, match="signature"):
        verify(created.secret, got.headers, got.body.replace(b"bot_7", b"bot_8"))
    stale = {**got.headers, "webhook-timestamp": str(int(got.headers["webhook-timestamp"]) - 900)}
    with pytest.raises(ValueError, match="too far"):
        verify(created.secret, stale, got.body)

"""Where calbot may POST: checked at creation (here) and before each delivery
(test_dispatch.py), through a resolver that reads a fixed mapping, never DNS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.errors import InvalidWebhookEndpoint
from tests.webhooks.hub import ACCOUNT, Hub, build_hub, open_stores


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[Hub]:
    """WEBHOOK_ALLOW_INSECURE_LOOPBACK=false, the default."""
    async with httpx.AsyncClient() as http, open_stores("sqlite", tmp_path) as stores:
        hub = build_hub(stores, http, allow_loopback=False)
        hub.resolver.addresses.update(
            {
                "hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"],
                "sneaky.example.com": ["93.184.216.34", "127.0.0.1"],
                "intranet.example.com": ["172.16.4.2"],
                "metadata.example.com": ["169.254.169.254"],
                "v6-private.example.com": ["fc00::5"],
                "cgnat.example.com": ["100.64.0.9"],
            }
        )
        yield hub


async def create(hub: Hub, url: str) -> str:
    created = await hub.service.create(ACCOUNT, url=url, event_types=None, description=None)
    return created.endpoint.url


async def test_a_public_https_name_is_accepted(strict: Hub) -> None:
    assert await create(strict, "https://hooks.example.com/in") == "https://hooks.example.com/in"


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("http://127.0.0.1:8000/hooks", "The URL must use https."),
        ("https://127.0.0.1:8000/hooks", "is a loopback address"),
        ("https://sneaky.example.com/in", "resolves to a loopback address"),
        ("https://intranet.example.com/in", "resolves to a private address"),
        ("https://metadata.example.com/in", "resolves to a cloud metadata address"),
        ("https://v6-private.example.com/in", "resolves to a private address"),
        ("https://cgnat.example.com/in", "resolves to a private address"),
        ("https://nowhere.example.com/in", "does not resolve"),
    ],
)
async def test_without_the_flag_loopback_and_private_targets_are_refused(
    strict: Hub, url: str, sentence: str
) -> None:
    with pytest.raises(InvalidWebhookEndpoint, match=sentence):
        await create(strict, url)
    assert await strict.stores.webhook_endpoints.list_endpoints(ACCOUNT) == []

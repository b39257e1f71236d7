"""The webhook POST over httpx (respx in place of the network): outcomes, no redirects, the
overall timeout, and the connection pinned to the address the check approved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from app.adapters.ports.webhooks import SendOutcome
from app.adapters.webhook_http import HttpWebhookSender

URL = "https://hooks.example.com:8443/in?tenant=7"
HEADERS = {"webhook-id": "msg_1", "content-type": "application/json"}


@pytest.fixture
async def sender() -> AsyncIterator[HttpWebhookSender]:
    async with httpx.AsyncClient() as http:
        yield HttpWebhookSender(http, timeout_seconds=0.3)


async def test_the_request_goes_to_the_checked_address_and_still_names_the_host(
    sender: HttpWebhookSender,
) -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://93.184.216.34:8443/in?tenant=7").respond(204)
        outcome = await sender.post(URL, b"{}", HEADERS, connect_to="93.184.216.34")
    assert outcome == SendOutcome("delivered", 204)
    sent = route.calls.last.request
    assert sent.headers["host"] == "hooks.example.com:8443"
    assert sent.extensions["sni_hostname"] == "hooks.example.com"
    assert sent.headers["webhook-id"] == "msg_1"
    assert sent.content == b"{}"


async def test_an_ipv6_address_is_bracketed_in_the_pinned_url(sender: HttpWebhookSender) -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.post("https://[2606:2800:220:1::1]:8443/in?tenant=7").respond(200)
        outcome = await sender.post(URL, b"{}", HEADERS, connect_to="2606:2800:220:1::1")
    assert outcome.result == "delivered"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(500), SendOutcome("http_error", 500, "The endpoint answered 500.")),
        (
            httpx.Response(302, headers={"location": "https://elsewhere.example/"}),
            SendOutcome("http_error", 302, "The endpoint answered 302."),  # never followed
        ),
        (
            httpx.ConnectError("refused"),
            SendOutcome("connection_error", None, "Could not reach the endpoint (ConnectError)."),
        ),
        (
            httpx.ReadTimeout("slow"),
            SendOutcome("timeout", None, "No answer within 0.3 seconds."),
        ),
    ],
)
async def test_each_kind_of_failure_is_an_outcome_not_an_exception(
    sender: HttpWebhookSender, answer: httpx.Response | Exception, expected: SendOutcome
) -> None:
    with respx.mock() as mock:
        mock.post("https://93.184.216.34:8443/in?tenant=7").mock(side_effect=[answer])
        assert await sender.post(URL, b"{}", HEADERS, connect_to="93.184.216.34") == expected


async def test_an_answer_slower_than_the_timeout_in_all_is_a_timeout(
    sender: HttpWebhookSender,
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    with respx.mock(assert_all_called=False) as mock:  # cut short: respx records no call
        mock.post("https://93.184.216.34:8443/in?tenant=7").mock(side_effect=slow)
        outcome = await sender.post(URL, b"{}", HEADERS, connect_to="93.184.216.34")
    assert outcome.result == "timeout"

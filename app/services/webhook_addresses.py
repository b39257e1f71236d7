"""Which webhook URLs calbot will POST to (CONTRACT section 8).

https only; never a host that is, or resolves to, an address inside calbot's own network or
machine: loopback, private (RFC 1918, unique-local), link-local, multicast, reserved,
unspecified, shared (CGNAT) or a cloud metadata address. Checked when the endpoint is created
and again before each delivery (a name can be re-pointed). `allow_insecure_loopback` (for
development and tests) also allows the literal `http(s)://127.0.0.1:PORT/...`, nothing else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit

from app.adapters.ports.webhooks import HostResolver

METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # AWS, GCP, Azure, ...
        "169.254.170.2",  # ECS task metadata
        "fd00:ec2::254",  # AWS IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
MAX_URL_CHARS: Final = 2048


class AddressRefused(ValueError):
    """The URL may not be sent to; the message is a sentence saying why."""


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    host: str
    port: int
    loopback_allowed: bool  # the development exception: literal 127.0.0.1


def parse_target(url: str, *, allow_insecure_loopback: bool) -> WebhookTarget:
    """Check the URL's form; raises `AddressRefused` saying what to fix."""
    if len(url) > MAX_URL_CHARS:
        raise AddressRefused(f"The URL is longer than {MAX_URL_CHARS} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise AddressRefused("The URL is not a valid absolute URL.") from error
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("The URL must not carry a user name or password.")
    if not host:
        raise AddressRefused("The URL must be an absolute https URL with a host name.")
    loopback = allow_insecure_loopback and host == "127.0.0.1" and port is not None
    if parts.scheme != "https" and not (loopback and parts.scheme == "http"):
        raise AddressRefused("The URL must use https.")
    return WebhookTarget(url, host, port or _default_port(parts), loopback)


def _default_port(parts: SplitResult) -> int:
    return 443 if parts.scheme == "https" else 80


def refused_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why calbot never sends to this address, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refused_reason(address.ipv4_mapped)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for kind, flag in (
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("an unspecified address", address.is_unspecified),
        ("a reserved address", address.is_reserved),
        ("a private address", address.is_private or not address.is_global),
    ):
        if flag:
            return kind
    return None


async def check_target(target: WebhookTarget, resolver: HostResolver) -> None:
    """Refuse a host that is, or resolves to, an address calbot never sends to. A name that
    does not resolve raises `OSError` (at creation the caller refuses it; at delivery it is a
    failed attempt)."""
    if target.loopback_allowed:
        return
    try:
        literal = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        if target.host.rstrip(".").lower() in ("localhost",) or target.host.endswith(".localhost"):
            raise AddressRefused("The URL's host is a loopback name.")
        found = await resolver.resolve(target.host, target.port)
        addresses = [ipaddress.ip_address(text.split("%", 1)[0]) for text in found]
        if not addresses:
            raise OSError(f"{target.host} has no address")
    for address in addresses:
        reason = refused_reason(address)
        if reason is not None:
            where = "is" if literal is not None else "resolves to"
            raise AddressRefused(
                f"The URL's host {where} {reason}; webhooks go only to public addresses."
            )

"""One URL as written: trailing junk trimmed, split into parts, redirect wrappers removed."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote, unquote, unquote_plus

__all__ = ["UrlParts", "first_query_value", "unwrapped_url"]

# Wrappers inside wrappers happen (a Safe Link around a Google redirect); more than this is
# not a real invitation.
_MAX_UNWRAP_DEPTH: Final = 4

# Punctuation and (double-encoded) markup that ends a sentence or a tag rather than the
# URL. `}` is kept: it can close an unencoded Teams `context` JSON.
_TRAILING_PUNCTUATION: Final = ".,;:!?)]*\"'"
_TRAILING_ENTITIES: Final = ("&nbsp;", "&gt;", "&lt;", "&quot;", "&apos;", "&#39;", "&#x27;")

# The whole of an http(s) or scheme-less URL, RFC 3986 section 3 shape, with a host of at
# most 253 characters (RFC 1035) and at most a default port. User info cannot match: that
# matters because `https://evil.com\@zoom.us/` means zoom.us to Python's urlsplit and
# evil.com to browsers (WHATWG URL treats `\` as `/`). Other schemes (`tel:`, `sip:`,
# `mailto:`, `javascript:`, `zoommtg:`) do not match or leave a host no platform accepts.
_URL_PARTS_RE: Final = re.compile(
    r"(?:https?://)?"
    r"(?P<host>[a-z0-9.-]{1,253})"
    r"(?::(?:80|443)?)?"
    r"(?P<path>/[^?#]*)?"
    r"(?:\?(?P<query>[^#]*))?"
    r"(?:#(?P<fragment>.*))?",
    re.IGNORECASE | re.ASCII | re.DOTALL,
)
# RFC 3986 reserved characters and `%`: what `quote` must leave alone in a formed URL.
_URL_SAFE_CHARS: Final = "!#$%&'()*+,/:;=?@[]~"

# Outlook Safe Links: https://<region>.safelinks.protection.outlook.com/?url=<encoded>&data=...
# (GCC High tenants use *.safelinks.protection.office365.us).
_SAFELINKS_DOMAINS: Final = frozenset(
    {"safelinks.protection.outlook.com", "safelinks.protection.office365.us"}
)
_SAFELINKS_SUFFIXES: Final = tuple(sorted("." + domain for domain in _SAFELINKS_DOMAINS))
_GOOGLE_REDIRECT_HOSTS: Final = frozenset({"www.google.com", "google.com"})


# (host, path, query, fragment): host lower-case and validated, the rest as written, query
# and fragment without their `?` and `#`. A plain tuple: this is built for every candidate.
UrlParts = tuple[str, str, str, str]


def unwrapped_url(candidate: str) -> UrlParts | None:
    """The parts of the URL a written URL leads to, Safe Links and Google redirects removed;
    None when it is not a URL calbot reads, or wraps too deep or nothing."""
    for _ in range(_MAX_UNWRAP_DEPTH + 1):
        parts = _split(_strip_trailing_junk(candidate))
        if parts is None:
            return None
        host, path, query, _fragment = parts
        target_params = _wrapper_target_params(host, path)
        if not target_params:
            return parts
        inner = first_query_value(query, target_params)
        if inner is None:
            return None
        # Query values arrive fully decoded; re-escape what a URL cannot hold literally
        # (spaces, quotes, braces of an unencoded Teams context) without touching `%XX`.
        candidate = quote(inner, safe=_URL_SAFE_CHARS)
    return None


def _strip_trailing_junk(url: str) -> str:
    # Moves an end index rather than slicing per step: a URL written with thousands of
    # trailing `&quot;` must not cost a copy of itself for each one.
    end = len(url)
    while end and url[end - 1] in _TRAILING_PUNCTUATION:
        for entity in _TRAILING_ENTITIES:
            if url[end - len(entity) : end].lower() == entity:
                end -= len(entity)
                break
        else:
            end -= 1
    return url[:end]


def _split(url: str) -> UrlParts | None:
    parts = _URL_PARTS_RE.fullmatch(url)
    if parts is None:
        return None
    host, path, query, fragment = parts.group("host", "path", "query", "fragment")
    host = host.lower().rstrip(".")
    if "." not in host or ".." in host or host[0] in ".-":
        return None
    return host, path or "", query or "", fragment or ""


def _wrapper_target_params(host: str, path: str) -> tuple[str, ...]:
    """Query parameters holding the real URL if this is a redirect wrapper, else ()."""
    if host in _SAFELINKS_DOMAINS or host.endswith(_SAFELINKS_SUFFIXES):
        return ("url",)
    if host in _GOOGLE_REDIRECT_HOSTS and path == "/url":
        return ("q", "url")
    return ()


def first_query_value(query: str, names: tuple[str, ...], *, plus: bool = True) -> str | None:
    """Decoded value of the first non-empty `names` parameter.

    Form encoding (`+` is a space) as redirect wrappers use, unless `plus` is False: Teams
    writes `+` literally in the base64 and ids it carries.
    """
    decode = unquote_plus if plus else unquote
    for param in query.split("&"):
        name, _, value = param.partition("=")
        if name in names:
            decoded = decode(value).strip()
            if decoded:
                return decoded
    return None

"""Where URLs are written in free text: http(s) and scheme-less spans, HTML character references."""

from __future__ import annotations

import bisect
import html
import re
from typing import Final

from app.services import meeting_link_hosts as hosts

__all__ = [
    "bare_url_spans",
    "decode_structural_references",
    "decoded_written_url",
    "lower_ascii",
    "mentions_meeting_host",
    "next_http_url_span",
    "url_given_alone",
]

# A character that can be part of a URL written in text: printable ASCII except the
# delimiters RFC 3986 appendix C names for URLs in context (`<`, `>`, `"`), plus `'` and a
# backtick (HTML attribute quotes, Markdown). Whitespace, NBSP, zero-width spaces and any
# other non-ASCII character end a URL (Japanese text often follows a URL without a space).
# Spelled as positive ranges of printable ASCII (0x21-0x7e minus `"`, `'`, `<`, `>`, and
# backtick): CPython matches such a class several times faster than the negated form.
_URL_CHAR: Final = r"[!#-&(-;=?-_a-~]"

_BARE_HOST_SUFFIXES: Final = tuple(sorted("." + host for host in hosts.BARE_HOSTS))
# What the text is scanned for to find scheme-less URLs: each bare host's last label and `/`.
_BARE_HOST_ENDINGS: Final = tuple(
    sorted({"." + host.rpartition(".")[2] + "/" for host in hosts.BARE_HOSTS})
)
_HOST_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
# What may not precede a scheme-less URL: a word, host, path or e-mail address character.
_NOT_BEFORE_BARE_URL: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@.:/%-"
)

# One URL as written at a known position. Only ever `.match`ed at positions found with
# `str.find`, never used to search.
# Case is spelled out instead of using re.IGNORECASE, which makes every character-class
# test case-fold first: several times slower over long Safe Links.
_HTTP_URL_RE: Final = re.compile(rf"[hH][tT][tT][pP][sS]?://{_URL_CHAR}+")
_BARE_URL_RE: Final = re.compile(rf"(?:[a-zA-Z0-9-]+\.)+[a-zA-Z]+/{_URL_CHAR}*")
# Where a URL cut out of text ends once its HTML entities are decoded (`&nbsp;`, `&lt;`,
# `&#8203;`), and where a URL given alone ends: whitespace, controls, non-ASCII, `<`, `>`.
# Decoded quotes stay: `context={&quot;Tid&quot;:...}` is part of an unencoded Teams link.
_DECODED_URL_END_RE: Final = re.compile(r"[\x00-\x20\x7f-\U0010ffff<>]")

# A URL that mentions none of these (lower-cased) cannot be a supported link, wrapped or not
# (Safe Links and Google redirects percent-encode `:` and `/` but never the dots of the
# host, so the inner host name stays visible). Lets most URLs of an invitation (help pages,
# dial-in numbers) be dropped without parsing.
_HOST_HINTS: Final = ("zoom", "meet.google", "teams.", "webex", "goto", "bluejeans", "whereby")
# All of them in one search: one call per URL instead of a generator over the hints.
_HOST_HINT_RE: Final = re.compile("|".join(re.escape(hint) for hint in _HOST_HINTS))

# Only entities terminated by `;`. `html.unescape` on a whole text would also decode the
# legacy semicolon-less forms (HTML5 "named character references"), turning a URL's
# `&reg=1`, `&not=2` or `&para=3` into `®=1`, `¬=2`, `¶=3`.
_ENTITY_RE: Final = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Character references that can spell a URL's own characters (`https&#58;//`, `&#x2F;`,
# `&period;`), decoded in the whole text before URLs are looked for. The references that stand
# for `&` and `;` are left to the per-URL decoding (so `&amp;amp;` is not decoded twice), and
# those for quotes, `<`, `>` and spaces too: they end a URL only once its own text is decoded.
_STRUCTURAL_REFERENCE_RE: Final = re.compile(
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|colon|sol|period|quest|equals|num|percnt|lowbar);"
)
_STRUCTURAL_CHARS: Final = frozenset(
    chr(code) for code in range(0x21, 0x7F) if chr(code) not in "\"'<>`&;"
)
# What may stand before a URL given alone: whitespace, opening brackets and quotes.
_LEADING_JUNK: Final = " \t\r\n\f\v<([{\"'`"


def decode_structural_references(text: str) -> str:
    """`text` with the character references that spell a URL's own characters decoded."""
    if "&" not in text:
        return text
    return _STRUCTURAL_REFERENCE_RE.sub(_decode_structural_reference, text)


def _decode_structural_reference(reference: re.Match[str]) -> str:
    character = html.unescape(reference.group())
    return character if character in _STRUCTURAL_CHARS else reference.group()


def lower_ascii(text: str) -> str:
    """`text` lower-cased with every index unchanged, so positions found in it apply to `text`."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few letters lower-case to two characters ("İ")
        lowered = text.encode("ascii", "replace").decode("ascii").lower()
    return lowered


def mentions_meeting_host(lowered: str) -> bool:
    return _HOST_HINT_RE.search(lowered) is not None


def next_http_url_span(text: str, lowered: str, position: int) -> tuple[int, int] | None:
    """(start, end) of the first http(s) URL starting at `position` or after, or None.

    A function to call again from the end of the last span rather than a generator: a search
    stops at the first join link, and a generator left there is closed by raising GeneratorExit
    into it, which cost more than the search had (0.9 us of the 3.4 us a Zoom invitation's
    link took to find).
    """
    position = lowered.find("http", position)
    while position >= 0:
        url = _HTTP_URL_RE.match(text, position)
        if url is not None:
            return url.span()
        position = lowered.find("http", position + 4)
    return None


def bare_url_spans(
    text: str, lowered: str, scan_end: int, http_spans: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """(start, end) of scheme-less meeting-host URLs starting before `scan_end`, in order.

    Hosts inside an http(s) URL of `http_spans` (sorted, covering the text up to `scan_end`)
    or inside an earlier scheme-less URL are part of that URL, not URLs of their own: skipping
    them keeps the spans apart, and the work linear.
    """
    if lowered.find("/", 0, scan_end) < 0:
        return []  # every host ending holds a `/`: none can lie before `scan_end`
    host_ends: list[int] = []
    for host_ending in _BARE_HOST_ENDINGS:
        position = lowered.find(host_ending, 0, scan_end)
        while position >= 0:
            host_ends.append(position + len(host_ending) - 1)
            position = lowered.find(host_ending, position + len(host_ending), scan_end)
    host_ends.sort()
    http_starts = [start for start, _ in http_spans]
    bare_spans: list[tuple[int, int]] = []
    covered_until = 0
    for host_end in host_ends:
        if host_end < covered_until:
            continue
        http_index = bisect.bisect_right(http_starts, host_end) - 1
        if http_index >= 0 and host_end < http_spans[http_index][1]:
            covered_until = http_spans[http_index][1]
            continue
        bare_span = _bare_url_span(text, lowered, host_end)
        if bare_span is not None:
            bare_spans.append(bare_span)
            covered_until = bare_span[1]
    return bare_spans


def _bare_url_span(text: str, lowered: str, host_end: int) -> tuple[int, int] | None:
    """Span of the scheme-less meeting URL whose host ends at `host_end`, if there is one."""
    host_start = host_end
    while host_start > 0 and lowered[host_start - 1] in _HOST_CHARS:
        host_start -= 1
    host = lowered[host_start:host_end]
    if host not in hosts.BARE_HOSTS and not host.endswith(_BARE_HOST_SUFFIXES):
        return None
    if host_start > 0 and text[host_start - 1] in _NOT_BEFORE_BARE_URL:
        return None  # part of a longer URL, a path or an e-mail address
    url = _BARE_URL_RE.match(text, host_start)
    return None if url is None else url.span()


def decoded_written_url(written_url: str) -> str:
    """A URL cut out of text with its HTML entities decoded, up to where the decoded URL ends."""
    if "&" in written_url:
        decoded = written_url.replace("&amp;", "&")
        if ";" in decoded:  # other entities: decode all of them in one pass
            decoded = _ENTITY_RE.sub(_decode_entity, written_url)
        url_end = _DECODED_URL_END_RE.search(decoded)
        written_url = decoded if url_end is None else decoded[: url_end.start()]
    return written_url


def _decode_entity(entity: re.Match[str]) -> str:
    return html.unescape(entity.group())


def url_given_alone(url: str) -> str:
    """A URL given on its own (an entry point, `hangoutLink`) without what surrounds it in text:
    leading quotes and brackets, and anything from the first space, control or `<`, `>` on."""
    written_url = url.strip().lstrip(_LEADING_JUNK)
    url_end = _DECODED_URL_END_RE.search(written_url)
    if url_end is not None:
        written_url = written_url[: url_end.start()]
    return written_url

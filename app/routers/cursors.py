"""Opaque list cursors: where the next page starts, for one kind of list."""

from __future__ import annotations

import base64
import binascii

import orjson

from app.errors import InvalidCursor
from app.services.paging import SortKey


def encode_cursor(kind: str, after: SortKey | None) -> str | None:
    if after is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps([kind, *after])).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> SortKey | None:
    if not cursor:
        return None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as error:
        raise InvalidCursor() from error
    if (
        not isinstance(values, list)
        or len(values) < 2
        or values[0] != kind
        or not all(isinstance(v, str) for v in values)
    ):
        raise InvalidCursor()
    return tuple(values[1:])

"""Request bodies are strict JSON that calbot can store and forward, or they are refused.

Python's `json` module accepts `NaN`, `Infinity`, `1e400` (as infinity) and integers of any
size, and decodes `"\\ud800"` to a string no encoder accepts; orjson, which stores bot configs,
refuses all of them, and silently turns integers past 64 bits into floats. So every JSON body
is parsed here first, before FastAPI sees it, and refused with a 422 naming where the problem
is and what to send instead (CONTRACT.md: not strict JSON is a 4xx, never a 5xx):

- not JSON, not UTF-8, a byte-order mark: `json_invalid`
- `NaN`, `Infinity`, `-Infinity`: `json_invalid`
- a number that overflows a double, an integer outside signed 64 bits: `number_out_of_range`
- an unpaired UTF-16 surrogate escape in a string or key: `string_unicode`
- more than `MAX_DEPTH` levels of arrays and objects: `json_too_deep`

A body larger than `MAX_BODY_BYTES` is refused with 413 before it is read to the end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http_errors import Loc, declares_json, error_item, validation_error_content
from app.schemas import MAX_DEPTH

MAX_BODY_BYTES: Final = 1024 * 1024
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
_MAX_REPORTED: Final = 20
_INT64_DIGITS: Final = 19


@dataclass(frozen=True, slots=True)
class BodyProblem:
    loc: Loc
    msg: str
    type: str


class BodyRefused(Exception):
    def __init__(self, problems: list[BodyProblem]) -> None:
        super().__init__("; ".join(problem.msg for problem in problems))
        self.problems = problems


class BodyTooLarge(Exception):
    """The body goes past `MAX_BODY_BYTES`."""


@dataclass(frozen=True, slots=True)
class _Unacceptable:
    """Stands in, inside the parsed value, for a literal that must be refused."""

    msg: str
    type: str


_NON_FINITE = _Unacceptable(
    "NaN, Infinity and -Infinity are not JSON numbers: send a finite number, or null.",
    "json_invalid",
)
_FLOAT_OVERFLOW = _Unacceptable(
    "This number is too large for a 64-bit floating-point value (about ±1.8e308): "
    "send a smaller number.",
    "number_out_of_range",
)
_INT_OVERFLOW = _Unacceptable(
    f"Integers must fit in 64 bits (from {INT64_MIN} to {INT64_MAX}): send a smaller "
    "number, or send it as a string.",
    "number_out_of_range",
)
_BYTE_ORDER_MARK = "The body starts with a byte-order mark: send UTF-8 JSON without one."
_LONE_SURROGATE = (
    "This text contains an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff): "
    "send valid Unicode."
)
_TOO_DEEP = (
    f"The body nests arrays and objects more than {MAX_DEPTH} levels deep: send a flatter value."
)


def _constant(_: str) -> _Unacceptable:
    return _NON_FINITE


def _float(literal: str) -> float | _Unacceptable:
    value = float(literal)
    return value if math.isfinite(value) else _FLOAT_OVERFLOW


def _int(literal: str) -> int | _Unacceptable:
    if len(literal.lstrip("-")) > _INT64_DIGITS:
        return _INT_OVERFLOW
    value = int(literal)
    return value if INT64_MIN <= value <= INT64_MAX else _INT_OVERFLOW


def parse_json_body(body: bytes) -> Any:
    """The body's JSON value, or `BodyRefused` listing (some of) what is wrong and where."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BodyRefused(
            [
                BodyProblem(
                    ("body",),
                    f"The body is not valid UTF-8 (byte {error.start}): send JSON encoded as "
                    "UTF-8.",
                    "json_invalid",
                )
            ]
        ) from None
    if text.startswith("\ufeff"):
        raise BodyRefused([BodyProblem(("body",), _BYTE_ORDER_MARK, "json_invalid")])
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as error:
        raise BodyRefused(
            [
                BodyProblem(
                    ("body",),
                    f"The body is not valid JSON ({error.msg} at line {error.lineno}, column "
                    f"{error.colno}): send a JSON object.",
                    "json_invalid",
                )
            ]
        ) from None
    except RecursionError:
        raise BodyRefused([BodyProblem(("body",), _TOO_DEEP, "json_too_deep")]) from None
    problems = list(_problems(value))
    if problems:
        raise BodyRefused(problems)
    return value


def _problems(value: Any) -> Iterator[BodyProblem]:
    """What cannot be stored or forwarded in `value`, in document order, at most a few."""
    reported = 0
    pending: list[tuple[Loc, int, Any]] = [(("body",), 0, value)]
    while pending and reported < _MAX_REPORTED:
        loc, depth, current = pending.pop()
        problem = _problem(loc, depth, current)
        if problem is not None:
            reported += 1
            yield problem
        elif isinstance(current, dict):
            children: list[tuple[Loc, int, Any]] = []
            for key, item in current.items():
                if not _encodable(key):
                    reported += 1
                    yield BodyProblem(loc, _LONE_SURROGATE, "string_unicode")
                    continue
                children.append(((*loc, key), depth + 1, item))
            pending.extend(reversed(children))
        elif isinstance(current, list):
            pending.extend(
                ((*loc, index), depth + 1, item)
                for index, item in reversed(list(enumerate(current)))
            )


def _problem(loc: Loc, depth: int, value: Any) -> BodyProblem | None:
    if isinstance(value, _Unacceptable):
        return BodyProblem(loc, value.msg, value.type)
    if isinstance(value, str) and not _encodable(value):
        return BodyProblem(loc, _LONE_SURROGATE, "string_unicode")
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return BodyProblem(loc, _TOO_DEEP, "json_too_deep")
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _declares_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return declares_json(value.decode("latin-1"))
    return False


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _answer(send: Send, status: int, content: dict[str, Any]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(content)})


class StrictJsonBodyMiddleware:
    """Refuses, before any route runs, a JSON body calbot could not store or forward."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            await _too_large(send)
            return
        if not _declares_json(scope):
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except BodyTooLarge:
            await _too_large(send)
            return
        if body:
            try:
                parse_json_body(body)
            except BodyRefused as refused:
                items = [error_item(p.loc, p.msg, p.type) for p in refused.problems]
                await _answer(send, 422, validation_error_content(items))
                return
        await self.app(scope, _replaying(body, receive), send)


async def _too_large(send: Send) -> None:
    detail = f"The body is larger than {MAX_BODY_BYTES // 2**20} MiB: send a smaller one."
    await _answer(send, 413, {"detail": detail, "error": "body_too_large"})


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body again, once; then whatever the client sends next (a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay

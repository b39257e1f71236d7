"""Errors as HTTP answers.

A `CalbotError` carries its status, code and sentence (`app.errors`) and is answered as
`{"detail": <sentence>, "error": <code>}`; anything else is a bug, logged with its traceback and
answered as a 500 that gives nothing away. A refused request keeps FastAPI's 422 list, but each
item of `{"detail": [...], "error": "validation_error"}` carries only `loc`, `msg` and `type`
(CONTRACT.md, errors): pydantic's `input` and `ctx` would send a rejected secret back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.errors import CalbotError

log = logging.getLogger(__name__)

VALIDATION_ERROR_CODE: Final = "validation_error"
ITEM_KEYS: Final = ("loc", "msg", "type")

# A message is replaced when it quotes a submitted value at least this long; shorter ones
# (a letter, a digit) are too common in pydantic's own sentences to tell apart, and too short
# to be a secret.
_QUOTED_VALUE_MIN_LENGTH: Final = 4
_ECHO_FALLBACK: Final = "This value is not accepted here; the field's schema is in /docs."
_NOT_JSON: Final = "Send the body as JSON, with 'Content-Type: application/json'."
_INVALID_JSON: Final = "The body is not valid JSON: send a JSON object encoded as UTF-8."
_BODY_TYPE_ERRORS: Final = frozenset({"model_attributes_type", "dict_type"})

Loc = tuple[str | int, ...]


async def calbot_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, CalbotError)
    return JSONResponse(
        status_code=error.status_code, content={"detail": error.detail, "error": error.code}
    )


async def unexpected_error(_: Request, error: Exception) -> JSONResponse:
    log.error("unhandled %s", type(error).__name__, exc_info=error)
    return JSONResponse(
        status_code=500,
        content={
            "detail": "calbot hit an unexpected error; it has been logged.",
            "error": "internal_error",
        },
    )


def error_item(loc: Loc, msg: str, error_type: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": error_type}


def validation_error_content(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"detail": list(items), "error": VALIDATION_ERROR_CODE}


def public_items(errors: Sequence[Any], *, body_is_json: bool) -> list[dict[str, Any]]:
    """pydantic's errors reduced to `loc`, `msg` and `type`, no sentence quoting a value."""
    items = []
    for error in errors:
        loc = tuple(part for part in error.get("loc", ()) if isinstance(part, str | int))
        error_type = str(error.get("type", "value_error"))
        msg = str(error.get("msg", ""))
        if error_type == "json_invalid":
            msg = _INVALID_JSON
        elif loc == ("body",) and error_type in _BODY_TYPE_ERRORS and not body_is_json:
            msg = _NOT_JSON
        elif _quotes_input(msg, error.get("input")):
            msg = _ECHO_FALLBACK
        items.append(error_item(loc, msg, error_type))
    return items


async def request_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    content_type = request.headers.get("content-type", "")
    items = public_items(error.errors(), body_is_json=declares_json(content_type))
    return JSONResponse(status_code=422, content=validation_error_content(items))


def install_validation_errors(app: FastAPI) -> None:
    """Render validation errors without values, and say so in the OpenAPI schema."""
    app.add_exception_handler(RequestValidationError, request_validation_error)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI caches it: the narrowing below runs on the cached dict
        _document_items(schema.get("components", {}).get("schemas", {}))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_items(schemas: dict[str, Any]) -> None:
    item = schemas.get("ValidationError")
    if item is not None:
        item["properties"] = {key: item["properties"][key] for key in ITEM_KEYS}
        item["additionalProperties"] = False
        item["description"] = "Where (`loc`), what to fix (`msg`) and a code (`type`)."
    envelope = schemas.get("HTTPValidationError")
    if envelope is not None:
        envelope["properties"]["error"] = {"type": "string", "const": VALIDATION_ERROR_CODE}
        envelope["required"] = ["detail", "error"]


def declares_json(content_type: str) -> bool:
    """Whether FastAPI parses a body of this Content-Type as JSON (`application/json`,
    `application/*+json`); it parses no other, nor a body without one."""
    maintype, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def _quotes_input(msg: str, submitted: Any) -> bool:
    return any(len(text) >= _QUOTED_VALUE_MIN_LENGTH and text in msg for text in _texts(submitted))


def _texts(value: Any, *, limit: int = 10_000) -> Iterator[str]:
    """The scalar values inside `value` as text (at most `limit` of them)."""
    pending = [value]
    while pending and limit > 0:
        current = pending.pop()
        if isinstance(current, dict):
            pending.extend(current.values())
        elif isinstance(current, list | tuple):
            pending.extend(current)
        elif isinstance(current, bytes):
            limit -= 1
            yield current.decode("utf-8", "replace")
        elif isinstance(current, str):
            limit -= 1
            yield current
        elif isinstance(current, int | float) and abs(current) < 1e300:
            limit -= 1
            yield str(current)

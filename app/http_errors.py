"""Errors as HTTP answers: `{"detail": <sentence>, "error": <code>}` with the error's own status.

A `CalbotError` carries its status, code and sentence (`app.errors`); anything else is a bug,
logged with its traceback and answered as a 500 that gives nothing away.
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import JSONResponse

from app.errors import CalbotError

log = logging.getLogger(__name__)


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

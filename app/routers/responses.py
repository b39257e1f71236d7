"""OpenAPI `responses=` entries built from the error types a route can raise."""

from __future__ import annotations

from typing import Any

from app.errors import CalbotError, NotAuthenticated
from app.schemas import ErrorBody


def error_responses(*errors: type[CalbotError]) -> dict[int | str, dict[str, Any]]:
    """Document each status a route can answer, with every sentence it may carry."""
    by_status: dict[int, list[type[CalbotError]]] = {}
    listed: tuple[type[CalbotError], ...] = (NotAuthenticated, *errors)
    for error in listed:
        by_status.setdefault(error.status_code, []).append(error)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        responses[status] = {
            "model": ErrorBody,
            "description": " / ".join(f"`{e.code}`: {e.detail}" for e in group),
            "content": {
                "application/json": {
                    "examples": {
                        e.code: {"value": {"detail": e.detail, "error": e.code}} for e in group
                    }
                }
            },
        }
    return responses

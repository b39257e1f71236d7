"""GET /get_events answered again without FastAPI when nothing has changed since (issue 13).

A listing from the store alone is a function of the caller's key, the query and what is stored;
`FreshAnswers` knows when what is stored has not changed (the backend's change stamp) and the
clock has not moved a listed series on. A repeated request is then answered here, before
routing, dependency solving and validation, which cost several times what sending the bytes
does. Only answers the route itself produced are given again, under the exact `Authorization`
header (hashed: no key is kept in clear) and raw query string that produced them.

The stamp is taken here, *before* the route authenticates the key and reads the events: any
commit after it (the key revoked, an event changed, a bot launched) retires the answer, so a
kept answer never outlives the key or the data it was made from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.observability import account_id_var
from app.services.events import ListedAnswer
from app.services.fresh_answers import FreshAnswers

FRESH_PATH = "/api/v1/calendar/get_events"
_SLOT = "calbot.fresh_listing"


def kept_answer_slot(scope: Scope) -> tuple[Hashable, Hashable | None] | None:
    """The (key, stamp) under which the route may keep its answer to this request, if the
    middleware offered one (a GET /get_events with an Authorization header)."""
    slot: tuple[Hashable, Hashable | None] | None = scope.get(_SLOT)
    return slot


class FreshListingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != FRESH_PATH:
            await self.app(scope, receive, send)
            return
        authorization = next(
            (value for name, value in scope["headers"] if name == b"authorization"), None
        )
        if authorization is None:
            await self.app(scope, receive, send)
            return
        answers: FreshAnswers[ListedAnswer] = scope["app"].state.container.events.answers
        key = ("get_events", hashlib.sha256(authorization).digest(), scope["query_string"])
        kept = answers.get(key)
        if kept is None:
            scope[_SLOT] = (key, answers.stamp())
            await self.app(scope, receive, send)
            return
        body, account_id = kept.value
        account_id_var.set(account_id)  # for the access log, as the route would have set it
        scope["route"] = self._route or self._find_route(scope)  # for the request metrics
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(kept.size).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _find_route(self, scope: Scope) -> Any:
        for route in scope["app"].router.routes:
            if getattr(route, "path", None) == FRESH_PATH:
                self._route = route
        return self._route

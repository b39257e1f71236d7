"""JSON logs that carry the request id and account id, and Prometheus metrics.

The request id and account id live in context variables, so every log line written while a
request is served carries them, whichever module writes it. Metrics live in calbot's own
registry (not the process-global default), served at /metrics.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
account_id_var: ContextVar[str | None] = ContextVar("account_id", default=None)

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "calbot_http_requests",
    "HTTP requests served, by route template, method and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "calbot_http_request_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    registry=REGISTRY,
)
SYNC_RUNS = Counter(
    "calbot_syncs", "Calendar syncs, by kind and outcome.", ["kind", "outcome"], registry=REGISTRY
)
SYNC_LATENCY = Histogram(
    "calbot_sync_seconds",
    "Duration of a calendar sync.",
    ["kind"],
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
NOTIFICATIONS = Counter(
    "calbot_google_notifications",
    "Google push notifications, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
BOTS_SCHEDULED = Counter(
    "calbot_bots_scheduled", "Bots created, by source.", ["source"], registry=REGISTRY
)
LAUNCHES = Counter(
    "calbot_bot_launches", "Launch outcomes, by final status.", ["status"], registry=REGISTRY
)
LAUNCH_DELAY = Histogram(
    "calbot_launch_delay_seconds",
    "How long after its join_at a bot's Create Bot call succeeded.",
    registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)

WEBHOOK_ATTEMPTS = Counter(
    "calbot_webhook_delivery_attempts",
    "Webhook delivery attempts, by outcome: delivered, http_error, timeout, connection_error, "
    "address_refused; failed_final counts deliveries given up after their last attempt.",
    ["outcome"],
    registry=REGISTRY,
)
for _outcome in (
    "delivered",
    "http_error",
    "timeout",
    "connection_error",
    "address_refused",
    "failed_final",
):
    WEBHOOK_ATTEMPTS.labels(_outcome)  # every outcome shows, at 0, before it first happens

GOOGLE_REQUESTS = Counter(
    "calbot_google_requests",
    "Requests sent to Google, each attempt, by endpoint (calendar, token) and outcome: ok, "
    "gone (410), unauthorized (401), rate_limited (429, 403 rate limit), client_error (other "
    "4xx), server_error (5xx), timeout, connection_error.",
    ["endpoint", "outcome"],
    registry=REGISTRY,
)


def count_google_request(endpoint: str, outcome: str) -> None:
    """Count one request sent to Google (the Google adapter's observer)."""
    GOOGLE_REQUESTS.labels(endpoint, outcome).inc()


METRICS_CONTENT_TYPE: Final = CONTENT_TYPE_LATEST


def metrics_text() -> bytes:
    """Every calbot metric in the Prometheus text format (what /metrics serves)."""
    return generate_latest(REGISTRY)


_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "account_id",
    "color_message",  # uvicorn's terminal-coloured copy of the message
}
_base_record_factory = logging.getLogRecordFactory()


def _record_with_context(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Stamp the request and account ids on each record when it is made, not when it is
    formatted (a handler may format it later, elsewhere)."""
    record = _base_record_factory(*args, **kwargs)
    record.request_id = request_id_var.get()
    record.account_id = account_id_var.get()
    return record


logging.setLogRecordFactory(_record_with_context)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request/account ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for context in ("request_id", "account_id"):
            if (value := getattr(record, context, None)) is not None:
                entry[context] = value
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestContextMiddleware:
    """Gives each request an id (the caller's `X-Request-ID` when sane), echoes it back, and
    counts and times the request by its route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if 0 < len(offered) <= 64 and offered.isprintable() else None
        request_id = request_id or uuid.uuid4().hex
        request_token = request_id_var.set(request_id)
        account_token = account_id_var.set(None)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope["method"]
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - started)
            request_id_var.reset(request_token)
            account_id_var.reset(account_token)

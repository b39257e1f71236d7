"""The consent flow's HTML pages: plain documents, everything from outside escaped, sent with
headers that keep them out of caches, referrers and frames (the callback URL carries the code).
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Final

from fastapi import status
from fastapi.responses import HTMLResponse

from app.domain import utc_text
from app.errors import REVOKE_ACCESS_URL, CalbotError, ConsentFailed, NoRefreshToken
from app.services.consent import CalendarConnected, ConsentOutcome, RefreshTokenIssued

PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
}
_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5}pre{background:#f4f4f4;padding:12px;white-space:pre-wrap;"
    "word-break:break-all}"
)


def _page(title: str, body: str, status_code: int) -> HTMLResponse:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · calbot</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status_code, headers=PAGE_HEADERS)


def failure_page(failure: CalbotError) -> HTMLResponse:
    # Other errors come from the token endpoint (unreachable, rate-limited, odd answer).
    title = failure.title if isinstance(failure, ConsentFailed) else "Token Exchange Failed"
    body = f"<p>{escape(failure.detail)}</p>"
    if isinstance(failure, NoRefreshToken):
        body += (
            f'<p><a href="{escape(REVOKE_ACCESS_URL)}" rel="noreferrer">'
            "Open your Google Account permissions</a>, remove access for this app, then start "
            "again.</p>"
        )
    return _page(title, body, failure.status_code)


def success_page(outcome: ConsentOutcome) -> HTMLResponse:
    if isinstance(outcome, RefreshTokenIssued):
        return _refresh_token_page(outcome)
    return _connected_page(outcome)


def _refresh_token_page(issued: RefreshTokenIssued) -> HTMLResponse:
    body = (
        "<h3>Refresh Token</h3>"
        f"<pre>{escape(issued.refresh_token)}</pre>"
        "<p>This page shows it only once and calbot keeps no copy: copy it now.</p>"
        "<h3>Access token expiry</h3>"
        f"<p>{escape(_iso(issued.access_token_expires_at))} (calbot refreshes access tokens "
        "itself; you only need the refresh token)</p>"
    )
    if issued.refresh_token_expires_at is not None:
        body += (
            f"<p><strong>Google says this refresh token expires at "
            f"{escape(_iso(issued.refresh_token_expires_at))}.</strong> The OAuth app is in "
            "Testing status, whose tokens last 7 days: publish it to production in Google "
            "Cloud Console and run this flow again for a lasting token.</p>"
        )
    body += (
        "<hr><p>Connect it with <code>POST /api/v1/calendar/create_calendar</code> and "
        f"<code>google_client_id</code> = <code>{escape(issued.client_id)}</code>, "
        "<code>google_client_secret</code> (your client secret) and "
        "<code>google_refresh_token</code> (the token above).</p>"
    )
    return _page("Success!", body, status.HTTP_200_OK)


def _connected_page(outcome: CalendarConnected) -> HTMLResponse:
    connected = outcome.connected
    items = "".join(
        f"<li>{escape(calendar.summary or calendar.calendar_id)} "
        f"(<code>{escape(calendar.calendar_id)}</code>)"
        f"{' — primary' if calendar.calendar_id == connected.primary_calendar_id else ''}</li>"
        for calendar in connected.calendars
    )
    replaced = (
        "<p>This replaced the account's previous Google connection.</p>"
        if connected.replaced
        else ""
    )
    body = (
        f"<p>calbot can now see these calendars and send bots to their meetings:</p>"
        f"<ul>{items}</ul>{replaced}<p>You can close this tab.</p>"
    )
    return _page("Calendar connected", body, status.HTTP_200_OK)


def _iso(moment: datetime) -> str:
    return utc_text(moment)

"""The built-in Google consent flow (CONTRACT.md section 2: `/api/google/oauth/start`,
`/api/google/oauth-callback`) and its one-time connect links.

The two browser routes answer plain HTML pages, never JSON, with everything from outside escaped,
`Cache-Control: no-store` and `Referrer-Policy: no-referrer` (the callback URL carries the code).
The start route also sets a short-lived cookie named after the state's nonce; the callback
requires it, so a callback URL made in another browser (login CSRF) is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from app.deps import ConsentServiceDep, CurrentAccount
from app.errors import CalbotError, ConnectLinkClientMissing, ConsentFailed
from app.routers.consent_pages import PAGE_HEADERS, failure_page, success_page
from app.routers.responses import error_responses
from app.services.consent_state import STATE_TTL

CALLBACK_PATH: Final = "/api/google/oauth-callback"
START_PATH: Final = "/api/google/oauth/start"
NONCE_COOKIE_PREFIX: Final = "calbot_consent_"

router = APIRouter(tags=["Google consent"])


def _html_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"text/html": {"schema": {"type": "string"}}},
    }


@router.get(
    START_PATH,
    name="google_oauth_start",
    summary="Start the Google consent flow (opens Google's consent screen)",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={
        302: {
            "description": "Redirect to Google's consent screen.",
            "headers": {
                "Location": {
                    "description": "Google's authorization URL.",
                    "schema": {"type": "string", "format": "uri"},
                }
            },
        },
        400: _html_doc(
            "HTML page: no OAuth client is configured (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET), "
            "the client id has no known secret, or the connect link is unknown, expired or used."
        ),
    },
)
async def google_oauth_start(
    request: Request,
    consent: ConsentServiceDep,
    client_id: Annotated[
        str | None,
        Query(
            max_length=256,
            description="OAuth client id; defaults to GOOGLE_CLIENT_ID. Its secret must be "
            "GOOGLE_CLIENT_SECRET (a secret is never accepted in a URL).",
        ),
    ] = None,
    link: Annotated[
        str | None,
        Query(
            max_length=256,
            description="A one-time connect link token (from POST "
            "/api/v1/calendar/connect-link): the calendar is then connected directly.",
        ),
    ] = None,
) -> Response:
    """Open this in a browser. It redirects to Google's consent screen asking for read-only
    calendar access (`access_type=offline`, `prompt=consent`, `include_granted_scopes=true`,
    the guide's four scopes) with a signed, 10-minute `state` and PKCE (S256).

    Google sends the browser back to `{this server}/api/google/oauth-callback`, which must be an
    authorized redirect URI of the OAuth client (the guide registers
    `http://localhost:3000/api/google/oauth-callback`: run calbot on port 3000 and open
    `http://localhost:3000/api/google/oauth/start`).
    """
    redirect_uri = str(request.url_for("google_oauth_callback"))
    try:
        start = await consent.begin(redirect_uri=redirect_uri, client_id=client_id, link_token=link)
    except ConsentFailed as failure:
        return failure_page(failure)
    response = RedirectResponse(
        start.authorize_url, status_code=status.HTTP_302_FOUND, headers=PAGE_HEADERS
    )
    response.set_cookie(
        NONCE_COOKIE_PREFIX + start.nonce,
        "1",
        max_age=int(STATE_TTL.total_seconds()),
        path=urlsplit(redirect_uri).path,  # the callback's own path, behind a prefix too
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",  # sent on Google's top-level redirect back, not on cross-site requests
    )
    return response


@router.get(
    CALLBACK_PATH,
    name="google_oauth_callback",
    summary="Google's redirect back: shows the refresh token, or connects the calendar",
    response_class=HTMLResponse,
    responses={
        200: _html_doc(
            "HTML page with the refresh token (shown once), or, for a connect link, the "
            "calendars that were connected (never a token)."
        ),
        400: _html_doc(
            "HTML page: Google's error (e.g. access_denied), missing code, invalid, expired or "
            "reused state, Google refused the code, no refresh token returned (revoke access "
            "and retry), calendar access not granted, or Google refused the credentials."
        ),
        502: _html_doc("HTML page: Google's token endpoint kept failing or answered oddly."),
        503: _html_doc("HTML page: Google rate-limited calbot, or storage is unavailable."),
    },
)
async def google_oauth_callback(
    request: Request,
    consent: ConsentServiceDep,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    error_description: Annotated[str | None, Query(max_length=1024)] = None,
) -> HTMLResponse:
    """Called by the browser when Google sends it back; not by you. Checks the `state` (its
    signature, 10-minute expiry, single use, and that this browser started the flow), exchanges
    the code with the PKCE verifier at Google's token endpoint, and answers a page:

    - started plainly: the refresh token, once, to paste into `create_calendar`;
    - started from a connect link: the calendar is connected to the link's account and the page
      lists the calendars; no token is shown;
    - Google's `error`, a missing code, a bad state, a refused exchange, no refresh token
      (revoke access at https://myaccount.google.com/permissions and retry) or a missing
      calendar scope: a page that says what to do.
    """
    nonces = {
        name.removeprefix(NONCE_COOKIE_PREFIX)
        for name in request.cookies
        if name.startswith(NONCE_COOKIE_PREFIX)
    }
    try:
        outcome = await consent.finish(
            state=state,
            code=code,
            error=error,
            error_description=error_description,
            browser_nonces=nonces,
        )
    except CalbotError as failure:
        return failure_page(failure)
    return success_page(outcome)


class ConnectLinkRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "google_client_id": "1234-abc.apps.googleusercontent.com",
                    "google_client_secret": "GOCSPX-...",
                },
                {},
            ]
        }
    )

    google_client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="OAuth client id; defaults to GOOGLE_CLIENT_ID.",
    )
    google_client_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="Its secret; defaults to GOOGLE_CLIENT_SECRET. Stored sealed for the link's "
        "life only; never returned.",
    )


class ConnectLinkRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "http://localhost:3000/api/google/oauth/start?link=Zk3...",
                    "expires_at": "2026-11-25T12:15:00Z",
                }
            ]
        }
    )

    url: str = Field(description="Open it in a browser; it works once, for 15 minutes.")
    expires_at: datetime


@router.post(
    "/api/v1/calendar/connect-link",
    summary="Make a one-time link that connects a Google Calendar without copying tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=ConnectLinkRead,
    responses=error_responses(ConnectLinkClientMissing),
)
async def create_connect_link(
    request: Request,
    account_id: CurrentAccount,
    consent: ConsentServiceDep,
    response: Response,
    body: ConnectLinkRequest | None = None,
) -> ConnectLinkRead:
    """A link to the consent flow bound to your account: whoever opens it and allows access on
    Google's consent screen connects their Google Calendar to this account directly (like
    `create_calendar`, without ever seeing a token). Single use, valid 15 minutes; treat it like
    a password until then.

    The OAuth client is the body's `google_client_id`/`google_client_secret` or else the
    configured GOOGLE_CLIENT_ID/GOOGLE_CLIENT_SECRET; with neither, 422. Its redirect URI
    `{this server}/api/google/oauth-callback` must be registered on the client.
    """
    issued = await consent.create_connect_link(
        account_id,
        start_url=str(request.url_for("google_oauth_start")),
        client_id=body.google_client_id if body else None,
        client_secret=body.google_client_secret if body else None,
    )
    response.headers["Cache-Control"] = "no-store"
    return ConnectLinkRead(url=issued.url, expires_at=issued.expires_at)

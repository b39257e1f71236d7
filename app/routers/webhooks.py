"""Google push notifications (CONTRACT.md section 4). No API key: the channel token is the proof."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from app.deps import PushServiceDep
from app.errors import UnknownChannel

router = APIRouter(prefix="/api/v1/calendar", tags=["Google push notifications"])


@router.post(
    "/webhooks/google",
    summary="Receive a Google Calendar push notification",
    status_code=status.HTTP_200_OK,
    response_class=Response,
    responses={
        200: {"description": "Accepted; a sync of the channel's calendar runs in the background."},
        404: {"description": "Unknown channel or token that does not match; nothing happens."},
    },
)
async def google_notification(
    push: PushServiceDep,
    x_goog_channel_id: Annotated[str | None, Header()] = None,
    x_goog_channel_token: Annotated[str | None, Header()] = None,
    x_goog_resource_state: Annotated[str | None, Header()] = None,
    x_goog_message_number: Annotated[str | None, Header()] = None,
) -> Response:
    """Called by Google, not by you. `X-Goog-Channel-ID` and `X-Goog-Channel-Token` must name a
    channel calbot opened; `exists`/`not_exists` then trigger an incremental sync of that
    calendar (bursts are coalesced), `sync` is only acknowledged. The answer is immediate."""
    accepted = await push.handle_notification(
        channel_id=x_goog_channel_id,
        channel_token=x_goog_channel_token,
        resource_state=x_goog_resource_state,
        message_number=x_goog_message_number,
    )
    if not accepted:
        raise UnknownChannel()
    return Response(status_code=status.HTTP_200_OK)

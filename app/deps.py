"""Dependency aliases for the routers: the caller's account and each service a route calls.

Routes take what they need by type (`scheduling: SchedulingServiceDep`), never the container;
only this module reaches into it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from app.errors import NotAuthenticated
from app.observability import account_id_var
from app.services.api_keys import ApiKeyService
from app.services.auto_schedule import AutoScheduleService
from app.services.connection import ConnectionService
from app.services.consent import ConsentService
from app.services.events import EventService
from app.services.explain import ExplainService
from app.services.notifications import PushService
from app.services.policy import PolicyService
from app.services.scheduling import SchedulingService
from app.services.sync_status import SyncStatusService
from app.services.webhook_endpoints import WebhookEndpointService

if TYPE_CHECKING:
    from app.container import Container

api_key_header = APIKeyHeader(
    name="Authorization",
    scheme_name="Token",
    description="Your calbot API key as `Token <API_KEY>` (make one with `calbot api-key create`).",
    auto_error=False,
)


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


# Every dependency here is `async def`, though none awaits: FastAPI runs a plain `def` one in
# its thread pool, a thread hop and an event-loop wake-up each. Each takes the request itself
# rather than the container as a dependency of its own: FastAPI solves every dependency node
# on every request, and a route's few services cost a node each already.


async def _api_keys(request: Request) -> ApiKeyService:
    return _container(request).api_keys


async def _auto_schedule(request: Request) -> AutoScheduleService:
    return _container(request).auto_schedule


async def _explain(request: Request) -> ExplainService:
    return _container(request).explain


async def _connections(request: Request) -> ConnectionService:
    return _container(request).connections


async def _consent(request: Request) -> ConsentService:
    return _container(request).consent


async def _events(request: Request) -> EventService:
    return _container(request).events


async def _push(request: Request) -> PushService:
    return _container(request).push


async def _policy(request: Request) -> PolicyService:
    return _container(request).policy


async def _scheduling(request: Request) -> SchedulingService:
    return _container(request).scheduling


async def _sync_status(request: Request) -> SyncStatusService:
    return _container(request).sync_status


async def _webhook_endpoints(request: Request) -> WebhookEndpointService:
    return _container(request).webhook_endpoints


async def _storage_ready(request: Request) -> Callable[[], Awaitable[bool]]:
    return _container(request).ready


ApiKeyServiceDep = Annotated[ApiKeyService, Depends(_api_keys)]
AutoScheduleServiceDep = Annotated[AutoScheduleService, Depends(_auto_schedule)]
ConnectionServiceDep = Annotated[ConnectionService, Depends(_connections)]
ExplainServiceDep = Annotated[ExplainService, Depends(_explain)]
ConsentServiceDep = Annotated[ConsentService, Depends(_consent)]
EventServiceDep = Annotated[EventService, Depends(_events)]
PushServiceDep = Annotated[PushService, Depends(_push)]
PolicyServiceDep = Annotated[PolicyService, Depends(_policy)]
SchedulingServiceDep = Annotated[SchedulingService, Depends(_scheduling)]
SyncStatusServiceDep = Annotated[SyncStatusService, Depends(_sync_status)]
WebhookEndpointServiceDep = Annotated[WebhookEndpointService, Depends(_webhook_endpoints)]
StorageReadyDep = Annotated[Callable[[], Awaitable[bool]], Depends(_storage_ready)]
"""Answers whether storage is reachable (the readiness probe)."""


async def current_account(
    api_keys: ApiKeyServiceDep,
    authorization: Annotated[str | None, Security(api_key_header)],
) -> str:
    """The account of the `Authorization: Token <API_KEY>` header, else 401."""
    if not authorization:
        raise NotAuthenticated("Missing 'Authorization: Token <API_KEY>' header.")
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "token" or not secret.strip():
        raise NotAuthenticated("Malformed Authorization header: send 'Token <API_KEY>'.")
    account_id = await api_keys.authenticate(secret.strip())
    account_id_var.set(account_id)
    return account_id


CurrentAccount = Annotated[str, Depends(current_account)]


async def connected_account(account_id: CurrentAccount, connections: ConnectionServiceDep) -> str:
    """The caller's account, which must have a calendar connected (else 404)."""
    await connections.require_connection(account_id)
    return account_id


ConnectedAccount = Annotated[str, Depends(connected_account)]

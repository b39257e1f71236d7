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


_ContainerDep = Annotated["Container", Depends(_container)]


def _api_keys(container: _ContainerDep) -> ApiKeyService:
    return container.api_keys


def _auto_schedule(container: _ContainerDep) -> AutoScheduleService:
    return container.auto_schedule


def _explain(container: _ContainerDep) -> ExplainService:
    return container.explain


def _connections(container: _ContainerDep) -> ConnectionService:
    return container.connections


def _consent(container: _ContainerDep) -> ConsentService:
    return container.consent


def _events(container: _ContainerDep) -> EventService:
    return container.events


def _push(container: _ContainerDep) -> PushService:
    return container.push


def _policy(container: _ContainerDep) -> PolicyService:
    return container.policy


def _scheduling(container: _ContainerDep) -> SchedulingService:
    return container.scheduling


def _sync_status(container: _ContainerDep) -> SyncStatusService:
    return container.sync_status


def _webhook_endpoints(container: _ContainerDep) -> WebhookEndpointService:
    return container.webhook_endpoints


def _storage_ready(container: _ContainerDep) -> Callable[[], Awaitable[bool]]:
    return container.ready


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

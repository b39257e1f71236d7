"""Dependency aliases for the routers: the container, the caller's account, each service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from app.errors import NoCalendarConnected, NotAuthenticated
from app.observability import account_id_var

if TYPE_CHECKING:
    from app.main import Container

api_key_header = APIKeyHeader(
    name="Authorization",
    scheme_name="Token",
    description="Your calbot API key as `Token <API_KEY>` (make one with `calbot api-key create`).",
    auto_error=False,
)


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated["Container", Depends(get_container)]


async def current_account(
    container: ContainerDep,
    authorization: Annotated[str | None, Security(api_key_header)],
) -> str:
    """The account of the `Authorization: Token <API_KEY>` header, else 401."""
    if not authorization:
        raise NotAuthenticated("Missing 'Authorization: Token <API_KEY>' header.")
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "token" or not secret.strip():
        raise NotAuthenticated("Malformed Authorization header: send 'Token <API_KEY>'.")
    account_id = await container.api_keys.authenticate(secret.strip())
    account_id_var.set(account_id)
    return account_id


CurrentAccount = Annotated[str, Depends(current_account)]


async def connected_account(account_id: CurrentAccount, container: ContainerDep) -> str:
    """The caller's account, which must have a calendar connected (else 404)."""
    if await container.stores.connections.get_connection(account_id) is None:
        raise NoCalendarConnected()
    return account_id


ConnectedAccount = Annotated[str, Depends(connected_account)]

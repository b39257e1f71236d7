"""Which OAuth client a consent flow uses: the configured one, or one a connect link brings."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import ConnectLinkClientMissing, ConsentNotConfigured, clip


@dataclass(frozen=True, slots=True)
class OAuthClient:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, client_secret=***)"


class OAuthClients:
    """GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET, and the rules for using them."""

    def __init__(self, client_id: str | None, client_secret: str | None) -> None:
        self._client_id = client_id or None
        self._client_secret = client_secret or None

    def configured(self, requested_id: str | None = None) -> OAuthClient:
        """The configured client; `requested_id` may name it, or name the client that a
        configured secret without GOOGLE_CLIENT_ID belongs to. A secret never comes from a URL."""
        client_id = (requested_id or "").strip() or self._client_id
        if not client_id:
            raise ConsentNotConfigured()
        if self._client_id is not None and client_id != self._client_id:
            raise ConsentNotConfigured(
                f"calbot has no client secret for the OAuth client {clip(client_id)}: "
                "GOOGLE_CLIENT_SECRET belongs to GOOGLE_CLIENT_ID. Configure GOOGLE_CLIENT_ID "
                "and GOOGLE_CLIENT_SECRET for this client, or create a connect link "
                "(POST /api/v1/calendar/connect-link) that carries it."
            )
        if self._client_secret is None:
            raise ConsentNotConfigured(
                "GOOGLE_CLIENT_SECRET is not set: Google exchanges the authorization code only "
                "with the client secret. Set GOOGLE_CLIENT_SECRET and start again."
            )
        return OAuthClient(client_id, self._client_secret)

    def for_link(self, client_id: str | None, client_secret: str | None) -> OAuthClient:
        """A connect link's client: the one given (id and secret together), else the
        configured one, whose id `client_id` may repeat. `ConnectLinkClientMissing` (422)
        when neither is usable."""
        if client_secret:
            if not client_id:
                raise ConnectLinkClientMissing(
                    "Send google_client_id together with google_client_secret."
                )
            return OAuthClient(client_id, client_secret)
        wanted = client_id or self._client_id
        if (
            not wanted
            or not self._client_secret
            or (self._client_id is not None and wanted != self._client_id)
        ):
            raise ConnectLinkClientMissing()
        return OAuthClient(wanted, self._client_secret)

    def is_configured(self, client: OAuthClient) -> bool:
        """True when `configured(client.client_id)` gives `client` back: then a connect link
        need not store its secret."""
        return (
            self._client_secret is not None
            and client.client_secret == self._client_secret
            and self._client_id in (None, client.client_id)
        )

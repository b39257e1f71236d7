"""Google's OAuth token endpoint for the consent flow: redeeming an authorization code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """Google's answer to a code exchange. `scope` is space-separated, as Google sends it."""

    refresh_token: str | None
    access_token: str
    expires_in: int
    scope: str
    refresh_token_expires_in: int | None = None  # set for apps in Testing status [notes §1]

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split())

    def __repr__(self) -> str:
        return f"TokenGrant(refresh_token=***, access_token=***, expires_in={self.expires_in})"


class OAuthCodeExchanger(Protocol):
    async def exchange_code(
        self,
        *,
        client_id: str,
        client_secret: str,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> TokenGrant:
        """Redeem an authorization code at Google's token endpoint (grant_type
        authorization_code, with the PKCE verifier).

        Raises `CodeExchangeRejected` when Google refuses (its reason, never the values sent),
        `GoogleUnavailable`/`GoogleRateLimited` when it keeps failing, `UpstreamRejected` when it
        answers without an access token.
        """
        ...

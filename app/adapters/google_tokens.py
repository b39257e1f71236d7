"""Google access tokens by credentials: the refresh grant at Google's token endpoint, cached."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import httpx

from app.adapters.google_answers import (
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    RequestObserver,
    json_object,
    send_once,
    token_failure,
)
from app.adapters.ports import Clock
from app.adapters.retry import RetryPolicy, run_with_retries
from app.bounded import BoundedCache, KeyedLocks
from app.domain import AccessToken, GoogleCredentials
from app.errors import CredentialsRevoked, InvalidGoogleCredentials, UpstreamRejected

__all__ = ["MAX_CACHED_TOKENS", "TOKEN_REFRESH_MARGIN", "GoogleAccessTokens"]

TOKEN_REFRESH_MARGIN: Final = timedelta(seconds=60)  # refresh ~60 s early [notes §1]
MAX_CACHED_TOKENS: Final = 10_000
"""Access tokens kept at most (least recently used dropped first): one per credential in use,
so reconnects with new refresh tokens never pile up. A dropped token costs one refresh."""


class GoogleAccessTokens:
    """Access tokens kept in memory per credentials, each refreshed by one task at a time."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        token_url: str,
        retry: RetryPolicy,
        deadline: timedelta,
        max_cached_tokens: int = MAX_CACHED_TOKENS,
        observe: RequestObserver | None = None,
    ) -> None:
        self._observe = observe
        self._http = http
        self._clock = clock
        self._token_url = token_url
        self._retry = retry
        self._deadline = deadline
        self._tokens: BoundedCache[str, AccessToken] = BoundedCache(max_cached_tokens)
        self._locks: KeyedLocks[str] = KeyedLocks()  # one refresh per credential at a time

    def _observed(self, outcome: str) -> None:
        if self._observe is not None:
            self._observe(outcome)

    async def refresh(self, credentials: GoogleCredentials) -> AccessToken:
        """A new token from Google, whatever the cache holds; it replaces the cached one."""
        key = _cache_key(credentials)
        give_up_at = self._clock.now() + self._deadline
        async with self._locks.hold(key):
            return await self._refresh_into_cache(key, credentials, give_up_at)

    async def current(
        self,
        credentials: GoogleCredentials,
        give_up_at: datetime,
        *,
        rejected: AccessToken | None = None,
    ) -> AccessToken:
        """The cached token while fresh; otherwise one refresh per key, however many callers wait.

        `rejected` is a token the API just answered 401 to: a cached token equal to it is not
        reused, but one another task refreshed meanwhile is (one 401 wave, one refresh). A waiter
        waits at most for the holder's refresh, whose own deadline is no later than the waiter's.
        """
        key = _cache_key(credentials)
        cached = self._tokens.get(key)
        if cached is not None and self._usable(cached, rejected):
            return cached
        async with self._locks.hold(key):
            cached = self._tokens.get(key)
            if cached is not None and self._usable(cached, rejected):
                return cached
            return await self._refresh_into_cache(key, credentials, give_up_at)

    def secrets(self, credentials: GoogleCredentials) -> tuple[str, ...]:
        """Values that must never reach a sentence: the credentials and their cached token."""
        cached = self._tokens.get(_cache_key(credentials))
        secrets = (credentials.client_secret, credentials.refresh_token)
        return (*secrets, cached.token) if cached is not None else secrets

    def _usable(self, token: AccessToken, rejected: AccessToken | None) -> bool:
        if rejected is not None and token.token == rejected.token:
            return False
        return self._clock.now() < token.expires_at - TOKEN_REFRESH_MARGIN

    async def _refresh_into_cache(
        self, key: str, credentials: GoogleCredentials, give_up_at: datetime
    ) -> AccessToken:
        try:
            token = await self._request_token(credentials, give_up_at)
        except (CredentialsRevoked, InvalidGoogleCredentials):
            self._tokens.pop(key)
            raise
        now = self._clock.now()
        self._tokens.drop_where(lambda cached: cached.expires_at <= now)
        self._tokens.put(key, token)
        return token

    async def _request_token(
        self, credentials: GoogleCredentials, give_up_at: datetime
    ) -> AccessToken:
        """POST the refresh grant [WEB][NATIVE]; retries 408/429/5xx and network errors."""
        form = {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "refresh_token": credentials.refresh_token,
            "grant_type": "refresh_token",
        }

        async def attempt() -> httpx.Response:
            return await send_once(
                lambda timeout: self._http.post(self._token_url, data=form, timeout=timeout),
                service="Google's token endpoint",
                configured=self._http.timeout,
                clock=self._clock,
                give_up_at=give_up_at,
                deadline=self._deadline,
                observe=self._observed,
            )

        response = await run_with_retries(
            attempt, policy=self._retry, clock=self._clock, give_up_at=give_up_at
        )
        if not response.is_success:
            raise token_failure(response, self.secrets(credentials))
        body = json_object(response, "Google's token endpoint")
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise UpstreamRejected("Google's token endpoint answered without an access token.")
        # A `refresh_token` in this answer is ignored on purpose: Google does not rotate refresh
        # tokens on refresh (it is normally absent) and AccessToken has nowhere to carry one.
        scope = body.get("scope")
        return AccessToken(
            token=access_token,
            expires_at=self._clock.now() + timedelta(seconds=_expires_in(body)),
            scopes=tuple(scope.split()) if isinstance(scope, str) else (),
        )


def _expires_in(body: Mapping[str, Any]) -> int:
    try:
        return int(body.get("expires_in", DEFAULT_TOKEN_LIFETIME_SECONDS))
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_LIFETIME_SECONDS


def _cache_key(credentials: GoogleCredentials) -> str:
    """A digest, so neither logs nor a heap dump of the cache's keys show a refresh token."""
    material = "\0".join(
        (credentials.client_id, credentials.client_secret, credentials.refresh_token)
    )
    return hashlib.sha256(material.encode()).hexdigest()

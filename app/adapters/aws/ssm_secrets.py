"""SecretBox on AWS SSM Parameter Store: one SecureString per connected account.

The parameter is `{SSM_PARAMETER_PREFIX}/{account_id}`, encrypted with `KMS_KEY_ID` when set (the
default `aws/ssm` key lets every principal of the AWS account decrypt). Limits we enforce ourselves
because moto does not (https://docs.aws.amazon.com/systems-manager/latest/userguide/
sysman-parameter-name-constraints.html): the name's characters, depth and length, and the 4 KB
value limit of the standard tier. Reads share ~40 TPS per account and Region, so decrypted
credentials are cached in-process for a short time; throttling is retried with capped backoff.
The cache is this replica's: a `put` on another one does not reach it. Where that matters (a
sync about to use them, see `SyncService.credentials`) the caller checks what it got against
the connection's credentials fingerprint and reads again with `fresh=True`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Final

import orjson
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped, unused-ignore]

from app.adapters.ports import Clock
from app.adapters.retry import RetryableFailure, RetryPolicy, run_with_retries
from app.bounded import BoundedCache
from app.domain import GoogleCredentials
from app.errors import InvalidGoogleCredentials, StorageUnavailable

STANDARD_TIER_MAX_BYTES: Final = 4096
MAX_NAME_CHARS: Final = 1011  # 2048 with the ARN, of which AWS reserves 1037 for itself
MAX_HIERARCHY_LEVELS: Final = 15
THROTTLING_CODES: Final = frozenset({"ThrottlingException", "TooManyUpdates"})
SSM_RETRY: Final = RetryPolicy(base_delay=0.25, max_delay=4.0, max_attempts=6)
CACHE_SECONDS: Final = 60.0
MAX_CACHED_ACCOUNTS: Final = 10_000
"""Decrypted credentials kept at most (least recently used dropped first, expired ones on
every fill), so the cache never holds every account the process ever read."""

_NAME_CHARS = re.compile(r"^[a-zA-Z0-9_.\-/]+$")
_RESERVED_START = re.compile(r"^/?(aws|ssm)", re.IGNORECASE)


class InvalidParameterName(ValueError):
    """The SSM parameter name breaks Parameter Store's naming rules."""


def parameter_name(prefix: str, account_id: str) -> str:
    """`{prefix}/{account_id}`, checked against Parameter Store's naming rules."""
    name = f"{normalize_prefix(prefix)}/{account_id}"
    check_parameter_name(name)
    return name


def normalize_prefix(prefix: str) -> str:
    """A hierarchy path: one leading slash, no trailing slash (`calbot/` -> `/calbot`)."""
    path = prefix.strip().strip("/")
    if not path:
        raise InvalidParameterName("SSM_PARAMETER_PREFIX must name a path such as /calbot.")
    return "/" + path


def check_parameter_name(name: str) -> None:
    if not _NAME_CHARS.match(name):
        raise InvalidParameterName(
            f"SSM parameter name {name!r} may contain only a-z, A-Z, 0-9, '_', '.', '-' and '/'."
        )
    if "//" in name or name.endswith("/"):
        raise InvalidParameterName(f"SSM parameter name {name!r} has an empty path segment.")
    if _RESERVED_START.match(name):
        raise InvalidParameterName(
            f"SSM parameter name {name!r} must not begin with 'aws' or 'ssm' (reserved by AWS)."
        )
    if len(name) > MAX_NAME_CHARS:
        raise InvalidParameterName(
            f"SSM parameter name is {len(name)} characters long; the limit is {MAX_NAME_CHARS}."
        )
    levels = name.count("/")
    if levels > MAX_HIERARCHY_LEVELS:
        raise InvalidParameterName(
            f"SSM parameter name {name!r} has {levels} levels; the limit is "
            f"{MAX_HIERARCHY_LEVELS}. Use a shorter SSM_PARAMETER_PREFIX."
        )


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class SsmSecretBox:
    """`SecretBox` over one shared aiobotocore SSM client."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        kms_key_id: str | None,
        clock: Clock,
        *,
        cache_seconds: float = CACHE_SECONDS,
        retry: RetryPolicy = SSM_RETRY,
        max_cached_accounts: int = MAX_CACHED_ACCOUNTS,
    ) -> None:
        check_parameter_name(normalize_prefix(prefix) + "/x")  # fail at startup, not per call
        self._client = client
        self._prefix = normalize_prefix(prefix)
        self._kms_key_id = kms_key_id or None
        self._clock = clock
        self._cache_ttl = timedelta(seconds=cache_seconds)
        self._retry = retry
        self._cache: BoundedCache[str, tuple[GoogleCredentials, datetime]] = BoundedCache(
            max_cached_accounts
        )

    def __repr__(self) -> str:
        return f"SsmSecretBox(prefix={self._prefix!r}, kms_key_id={self._kms_key_id!r})"

    async def put(self, account_id: str, credentials: GoogleCredentials) -> None:
        name = parameter_name(self._prefix, account_id)
        value = orjson.dumps(
            {
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "refresh_token": credentials.refresh_token,
            }
        ).decode()
        if len(value.encode()) > STANDARD_TIER_MAX_BYTES:
            raise InvalidGoogleCredentials(
                "These Google credentials are too large to store: together they exceed the "
                f"{STANDARD_TIER_MAX_BYTES}-byte limit of an SSM parameter."
            )
        request: dict[str, Any] = {
            "Name": name,
            "Value": value,
            "Type": "SecureString",
            "Overwrite": True,
            "Tier": "Standard",
        }
        if self._kms_key_id is not None:
            request["KeyId"] = self._kms_key_id
        self._cache.pop(account_id)
        await self._call("put_parameter", request, name)
        self._cache.pop(account_id)

    async def get(self, account_id: str, *, fresh: bool = False) -> GoogleCredentials | None:
        cached = None if fresh else self._cache.get(account_id)
        if cached is not None and self._clock.now() < cached[1]:
            return cached[0]
        name = parameter_name(self._prefix, account_id)
        answer = await self._call(
            "get_parameter", {"Name": name, "WithDecryption": True}, name, missing_ok=True
        )
        if answer is None:
            self._cache.pop(account_id)
            return None
        credentials = _credentials_from(answer["Parameter"]["Value"], name)
        now = self._clock.now()
        self._cache.drop_where(lambda cached: cached[1] <= now)
        self._cache.put(account_id, (credentials, now + self._cache_ttl))
        return credentials

    async def delete(self, account_id: str) -> None:
        name = parameter_name(self._prefix, account_id)
        self._cache.pop(account_id)
        await self._call("delete_parameter", {"Name": name}, name, missing_ok=True)
        self._cache.pop(account_id)

    async def _call(
        self, operation: str, request: dict[str, Any], name: str, *, missing_ok: bool = False
    ) -> Any:
        """One SSM call with throttling retried; None for a missing parameter if `missing_ok`.

        Errors are re-raised without their cause (`from None`): AWS validation messages can
        quote the request, and a put's request is the secret.
        """

        async def attempt() -> Any:
            try:
                return await getattr(self._client, operation)(**request)
            except ClientError as error:
                code = _error_code(error)
                if code == "ParameterNotFound" and missing_ok:
                    return None
                if code in THROTTLING_CODES:
                    raise RetryableFailure(
                        StorageUnavailable(
                            "AWS Systems Manager kept throttling requests; try again shortly."
                        )
                    ) from None
                raise StorageUnavailable(
                    f"AWS Systems Manager refused {operation} on {name} ({code or 'error'})."
                ) from None
            except BotoCoreError as error:
                raise StorageUnavailable(
                    f"AWS Systems Manager could not be reached ({type(error).__name__})."
                ) from None

        return await run_with_retries(attempt, policy=self._retry, clock=self._clock)


def _credentials_from(value: str, name: str) -> GoogleCredentials:
    try:
        fields = orjson.loads(value)
        return GoogleCredentials(
            client_id=str(fields["client_id"]),
            client_secret=str(fields["client_secret"]),
            refresh_token=str(fields["refresh_token"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise StorageUnavailable(
            f"The SSM parameter {name} does not hold calbot's credentials; reconnect the calendar."
        ) from None

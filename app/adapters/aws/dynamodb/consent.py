"""ConsentStore on calbot's DynamoDB table (docs/dynamodb.md, "Consent flow").

Items: a link under `CONSENTLINK#{hash}`, a pointer to it in its account's partition (sort key
`CONSENTLINK#{expires_at}#{hash}`, so an account's live links are one Query), and a spent nonce
under `CONSENTNONCE#{hash}`. Single use is a conditional write: `take_connect_link` deletes the
link and its pointer in one transaction conditioned on the link being there and live;
`spend_nonce` puts the nonce only if it is absent or expired. Every item carries
`expires_at_epoch`, the table's TTL attribute (`enable_expiry`), so DynamoDB deletes expired
items itself; reads never rely on that and compare `expires_at` with the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ConnectionError as BotocoreConnectionError,
)

from app.adapters.aws.dynamodb.transactions import BACKOFF, UNAVAILABLE_CODES
from app.adapters.ports import ConnectLinkRecord
from app.domain import utc_text
from app.errors import StorageUnavailable

TTL_ATTRIBUTE: Final = "expires_at_epoch"
"""The table's TTL attribute: Unix seconds after which DynamoDB may delete the item."""

_LINK: Final = "CONSENTLINK"
_NONCE: Final = "CONSENTNONCE"
_RETRYABLE_CANCELLATIONS: Final = frozenset({"TransactionConflict", "ThrottlingError"})

Item = dict[str, Any]


async def enable_expiry(client: Any, table_name: str) -> bool:
    """Turn on the table's TTL on `expires_at_epoch` unless TTL is on; True if this call did."""
    described = await client.describe_time_to_live(TableName=table_name)
    if described["TimeToLiveDescription"]["TimeToLiveStatus"] in ("ENABLED", "ENABLING"):
        return False
    await client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    return True


def _text(when: datetime) -> str:
    """UTC, second precision, `Z`, as every time in the table: sorts as text in time order."""
    return utc_text(when)


def _link_key(link_hash: str) -> Item:
    return {"PK": {"S": f"{_LINK}#{link_hash}"}, "SK": {"S": _LINK}}


def _pointer_key(account_id: str, expires_at: str, link_hash: str) -> Item:
    return {"PK": {"S": f"ACCOUNT#{account_id}"}, "SK": {"S": f"{_LINK}#{expires_at}#{link_hash}"}}


def _nonce_key(nonce_hash: str) -> Item:
    return {"PK": {"S": f"{_NONCE}#{nonce_hash}"}, "SK": {"S": _NONCE}}


def _expiry(expires_at: datetime) -> Item:
    return {
        "expires_at": {"S": _text(expires_at)},
        TTL_ATTRIBUTE: {"N": str(int(expires_at.timestamp()))},
    }


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class DynamoDbConsentStore:
    """`client` is an entered aiobotocore DynamoDB client."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._sleep = sleep

    async def save_connect_link(self, link: ConnectLinkRecord, now: datetime) -> None:
        expires_at = _text(link.expires_at)
        item = {
            **_link_key(link.link_hash),
            "kind": {"S": "consent_link"},
            "account_id": {"S": link.account_id},
            "client_id": {"S": link.client_id},
            **_expiry(link.expires_at),
        }
        if link.sealed_client_secret is not None:
            item["sealed_client_secret"] = {"B": link.sealed_client_secret}
        pointer = {
            **_pointer_key(link.account_id, expires_at, link.link_hash),
            "kind": {"S": "consent_link_pointer"},
            "link_hash": {"S": link.link_hash},
            **_expiry(link.expires_at),
        }
        await self._transact(
            [
                {"Put": {"TableName": self._table, "Item": item}},
                {"Put": {"TableName": self._table, "Item": pointer}},
            ]
        )

    async def get_connect_link(self, link_hash: str, now: datetime) -> ConnectLinkRecord | None:
        response = await self._call(
            "get_item", TableName=self._table, Key=_link_key(link_hash), ConsistentRead=True
        )
        item: Item | None = response.get("Item")
        if item is None or item["expires_at"]["S"] <= _text(now):
            return None
        sealed = item.get("sealed_client_secret")
        return ConnectLinkRecord(
            link_hash=link_hash,
            account_id=item["account_id"]["S"],
            client_id=item["client_id"]["S"],
            sealed_client_secret=None if sealed is None else bytes(sealed["B"]),
            expires_at=datetime.fromisoformat(item["expires_at"]["S"]),
        )

    async def take_connect_link(self, link_hash: str, now: datetime) -> ConnectLinkRecord | None:
        link = await self.get_connect_link(link_hash, now)
        if link is None:
            return None
        pointer = _pointer_key(link.account_id, _text(link.expires_at), link_hash)
        taken = await self._transact(
            [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _link_key(link_hash),
                        "ConditionExpression": "attribute_exists(PK) AND expires_at > :now",
                        "ExpressionAttributeValues": {":now": {"S": _text(now)}},
                    }
                },
                {"Delete": {"TableName": self._table, "Key": pointer}},
            ]
        )
        return link if taken else None

    async def connect_links_of(self, account_id: str, now: datetime) -> list[str]:
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :live AND :end",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"ACCOUNT#{account_id}"},
                # "$" sorts right after "#": keys whose time is after `now`, then every later one.
                ":live": {"S": f"{_LINK}#{_text(now)}$"},
                ":end": {"S": f"{_LINK}$"},
            },
            "ProjectionExpression": "link_hash",
            "ConsistentRead": True,
        }
        hashes: list[str] = []
        while True:
            response = await self._call("query", **params)
            hashes += [item["link_hash"]["S"] for item in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return hashes
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    async def spend_nonce(self, nonce_hash: str, expires_at: datetime, now: datetime) -> bool:
        item = {**_nonce_key(nonce_hash), "kind": {"S": "consent_nonce"}, **_expiry(expires_at)}
        try:
            await self._call(
                "put_item",
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(PK) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"S": _text(now)}},
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- requests ------------------------------------------------------------------------------

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One request; a write meeting a transaction in flight is retried with backoff, and
        throttling, 5xx or a lost connection (after botocore's own retries) is a 503."""
        attempts = BACKOFF.max_attempts or 1
        for attempt in range(1, attempts + 1):
            try:
                response: dict[str, Any] = await getattr(self._client, operation)(**params)
                return response
            except ClientError as error:
                if _code(error) in UNAVAILABLE_CODES:
                    raise StorageUnavailable() from error
                if _code(error) != "TransactionConflictException":
                    raise
            except (HTTPClientError, BotocoreConnectionError) as error:
                raise StorageUnavailable() from error
            await self._sleep(BACKOFF.delay_for(attempt))
        raise StorageUnavailable()

    async def _transact(self, actions: list[dict[str, Any]]) -> bool:
        """TransactWriteItems; False when a condition failed. Cancellations a retry can cure
        (a concurrent transaction, throttling) are retried with backoff."""
        attempts = BACKOFF.max_attempts or 1
        for attempt in range(1, attempts + 1):
            try:
                await self._call("transact_write_items", TransactItems=actions)
                return True
            except ClientError as error:
                if _code(error) != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons", [])
                codes = {reason.get("Code") for reason in reasons} - {"None", None}
                if "ConditionalCheckFailed" in codes:
                    return False
                if not codes <= _RETRYABLE_CANCELLATIONS:
                    raise
            await self._sleep(BACKOFF.delay_for(attempt))
        raise StorageUnavailable()

"""Idempotency records as items of calbot's table (`IDEMPOTENCY#{key}` / `IDEMPOTENCY`).

Every item carries `expires_at` (compared by every read and conditional write) and
`expires_at_epoch`, the table's TTL attribute (`enable_expiry`, run by `calbot aws bootstrap`):
DynamoDB itself deletes a record once it expired, a claim whose request died included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from app.adapters.aws.dynamodb.consent import TTL_ATTRIBUTE
from app.adapters.aws.dynamodb.table import error_code, idempotency_record_key, time_text
from app.adapters.ports import IdempotencyRecord

_CONDITION_FAILED = "ConditionalCheckFailedException"
_CLAIMED = "claim = :claim AND attribute_not_exists(status_code)"


def _expiry(expires_at: datetime) -> dict[str, Any]:
    return {
        ":expires_at": {"S": time_text(expires_at)},
        ":epoch": {"N": str(int(expires_at.timestamp()))},
    }


class DynamoDbIdempotencyStore:
    """`IdempotencyStore` on calbot's table; `client` is an entered aiobotocore client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    async def start(
        self, key: str, request_hash: str, claim: str, now: datetime, claim_until: datetime
    ) -> IdempotencyRecord | None:
        try:
            await self._client.put_item(
                TableName=self._table,
                Item={
                    **idempotency_record_key(key),
                    "request_hash": {"S": request_hash},
                    "claim": {"S": claim},
                    "expires_at": {"S": time_text(claim_until)},
                    TTL_ATTRIBUTE: {"N": str(int(claim_until.timestamp()))},
                },
                # Claim a new key, or an expired one (DynamoDB's TTL deletion is best-effort).
                ConditionExpression="attribute_not_exists(PK) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"S": time_text(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise
            item = error.response.get("Item") or (
                await self._client.get_item(
                    TableName=self._table, Key=idempotency_record_key(key), ConsistentRead=True
                )
            ).get("Item", {})
            return IdempotencyRecord(
                request_hash=item["request_hash"]["S"],
                status_code=int(item["status_code"]["N"]) if "status_code" in item else None,
                body=item["body"]["B"] if "body" in item else b"",
                content_type=item["content_type"]["S"] if "content_type" in item else None,
            )
        return None

    async def _update_claimed(
        self, key: str, claim: str, expression: str, values: dict[str, Any]
    ) -> bool:
        """An update of `claim`'s unfinished claim; False when the claim is not there."""
        try:
            await self._client.update_item(
                TableName=self._table,
                Key=idempotency_record_key(key),
                UpdateExpression=expression,
                ConditionExpression=_CLAIMED,
                ExpressionAttributeNames={"#epoch": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":claim": {"S": claim}, **values},
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise
            return False
        return True

    async def renew(self, key: str, claim: str, until: datetime) -> bool:
        return await self._update_claimed(
            key, claim, "SET expires_at = :expires_at, #epoch = :epoch", _expiry(until)
        )

    async def finish(
        self,
        key: str,
        claim: str,
        status_code: int,
        body: bytes,
        content_type: str | None,
        expires_at: datetime,
    ) -> None:
        values: dict[str, Any] = {
            ":status": {"N": str(status_code)},
            ":body": {"B": body},
            **_expiry(expires_at),
        }
        expression = (
            "SET status_code = :status, body = :body, expires_at = :expires_at, #epoch = :epoch"
        )
        if content_type:
            values[":type"] = {"S": content_type}
            expression += ", content_type = :type"
        await self._update_claimed(key, claim, expression, values)

    async def abandon(self, key: str, claim: str) -> None:
        try:
            await self._client.delete_item(
                TableName=self._table,
                Key=idempotency_record_key(key),
                ConditionExpression=_CLAIMED,
                ExpressionAttributeValues={":claim": {"S": claim}},
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise

    async def purge_expired(self, now: datetime, limit: int) -> int:
        """Nothing to do: the table's TTL deletes expired records (module docstring)."""
        return 0

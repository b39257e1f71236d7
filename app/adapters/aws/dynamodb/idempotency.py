"""Idempotency records as items of calbot's table (`IDEMPOTENCY#{key}` / `IDEMPOTENCY`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from app.adapters.aws.dynamodb.table import error_code, idempotency_record_key, time_text
from app.adapters.ports import IdempotencyRecord

_CONDITION_FAILED = "ConditionalCheckFailedException"


class DynamoDbIdempotencyStore:
    """`IdempotencyStore` on calbot's table; `client` is an entered aiobotocore client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    async def start(
        self, key: str, request_hash: str, now: datetime, expires_at: datetime
    ) -> IdempotencyRecord | None:
        try:
            await self._client.put_item(
                TableName=self._table,
                Item={
                    **idempotency_record_key(key),
                    "request_hash": {"S": request_hash},
                    "expires_at": {"S": time_text(expires_at)},
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

    async def finish(
        self, key: str, status_code: int, body: bytes, content_type: str | None
    ) -> None:
        values: dict[str, Any] = {":status": {"N": str(status_code)}, ":body": {"B": body}}
        expression = "SET status_code = :status, body = :body"
        if content_type:
            values[":type"] = {"S": content_type}
            expression += ", content_type = :type"
        await self._client.update_item(
            TableName=self._table,
            Key=idempotency_record_key(key),
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )

    async def abandon(self, key: str) -> None:
        try:
            await self._client.delete_item(
                TableName=self._table,
                Key=idempotency_record_key(key),
                ConditionExpression="attribute_not_exists(status_code)",
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise

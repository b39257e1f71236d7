"""The retrying client of calbot's table: conditional writes, transactions, batches and queries.

Rules kept here, for every aggregate store (https://docs.aws.amazon.com/amazondynamodb/):
- A failed condition is an answer (`False`, `None`, the cancellation reasons), not an error.
- Throttling, 5xx, a missing table and connection failures that survive botocore's own retries
  (see `dynamodb_client_config`) become `StorageUnavailable`. Errors are matched by code.
- Transactions cancelled by a conflict or throttling, and single-item writes meeting a
  transaction in flight, are retried with capped, jittered backoff (`BACKOFF`).
- Every Query loops on `LastEvaluatedKey` (`query`, the one pagination loop); BatchWriteItem
  (25) and BatchGetItem (100, consistent) retry their unprocessed part.
- GSIs are eventually consistent: `queued` re-reads what an index finds from the base table.
- One store call keeps at most `CONCURRENCY` requests in flight (`bounded`).
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ConnectionError as BotocoreConnectionError,
)

from app.adapters.aws.dynamodb.codec import encode, time_of
from app.adapters.aws.dynamodb.table import (
    GSI1,
    GSI1_SK,
    GSI2,
    GSI2_SK,
    INDEX_KEYS,
    PK,
    SHARDS,
    SK,
    TIME_CHARS,
    Item,
    base_key,
    error_code,
)
from app.adapters.retry import RetryPolicy
from app.errors import StorageUnavailable
from app.outbox_bell import OutboxBell

UNAVAILABLE_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ResourceNotFoundException",  # the table is missing: a deployment fault, not the user's
    }
)
"""Error codes after which storage counts as unavailable (botocore already retried them)."""

RETRYABLE_CANCELLATIONS: Final = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
"""Cancellation reasons of TransactWriteItems that a retry can cure."""

CONDITION_FAILED: Final = "ConditionalCheckFailed"
"""The cancellation reason of a transaction action whose condition failed."""

BACKOFF: Final = RetryPolicy(base_delay=0.05, max_delay=2.0, max_attempts=8)
"""For our own retries: transaction conflicts and unprocessed batch items."""

ATTEMPTS: Final = BACKOFF.max_attempts or 1

OUTBOX_KIND: Final = "outbox_message"
"""The `kind` of an outbox message item (app/adapters/aws/dynamodb/outbox.py)."""

CONCURRENCY: Final = 8
"""Requests one store call keeps in flight at most (fan-outs over shards, series, batches)."""

_BATCH_WRITE_SIZE: Final = 25
_BATCH_GET_SIZE: Final = 100
_NAME_TOKEN: Final = re.compile(r"#(\w+)")

T = TypeVar("T")


async def bounded(jobs: Iterable[Awaitable[T]]) -> list[T]:
    """Await the jobs with at most CONCURRENCY in flight; results in job order.

    When one fails, or the caller is cancelled, the others are cancelled, and a job that never
    started (it waited for its turn) is closed: none runs on for an answer nobody reads, and
    none warns at garbage collection that it was never awaited (a flake of the suite, where
    warnings are errors: a cancelled store call left its shard queries behind).
    """
    semaphore = asyncio.Semaphore(CONCURRENCY)
    waiting = list(jobs)

    async def run(job: Awaitable[T]) -> T:
        async with semaphore:
            return await job

    tasks = [asyncio.ensure_future(run(job)) for job in waiting]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()  # nothing for those done
        for job in waiting:
            if inspect.iscoroutine(job) and inspect.getcoroutinestate(job) == inspect.CORO_CREATED:
                job.close()


def expression(
    params: dict[str, Any], values: dict[str, object] | None, *expressions: str | None
) -> dict[str, Any]:
    """Add the names (every `#name` token) and the typed values the expressions use."""
    names = {f"#{name}": name for text in expressions if text for name in _NAME_TOKEN.findall(text)}
    if names:
        params["ExpressionAttributeNames"] = names
    if values:
        params["ExpressionAttributeValues"] = {
            placeholder: encode(value) for placeholder, value in values.items()
        }
    return params


def set_or_remove(fields: dict[str, object | None], values: dict[str, object]) -> str:
    """An UpdateExpression setting each field that has a value (adding it to `values` as
    `:{name}`) and removing each field that is None (absent means null)."""
    assignments, removals = [], []
    for name, value in fields.items():
        if value is None:
            removals.append(f"#{name}")
        else:
            assignments.append(f"#{name} = :{name}")
            values[f":{name}"] = value
    clauses = []
    if assignments:
        clauses.append("SET " + ", ".join(assignments))
    if removals:
        clauses.append("REMOVE " + ", ".join(removals))
    return " ".join(clauses)


def _puts_outbox(put: dict[str, Any] | None) -> bool:
    """Whether a Put (of a transaction or a batch) writes an outbox message."""
    return put is not None and put["Item"].get("kind") == {"S": OUTBOX_KIND}


def _key_id(key: Item) -> tuple[str, str]:
    return key[PK]["S"], key[SK]["S"]


class TableClient:
    """calbot's one table through an entered aiobotocore DynamoDB client."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        outbox_bell: OutboxBell | None = None,
    ) -> None:
        self._client = client
        self.name = table_name
        self._sleep = sleep
        self.outbox_bell = outbox_bell or OutboxBell()
        """Rung after a committed transaction or batch that put outbox messages."""

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One request; unavailability becomes `StorageUnavailable`, a write meeting a
        transaction in flight on its item is retried."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response: dict[str, Any] = await getattr(self._client, operation)(**params)
                return response
            except ClientError as error:
                code = error_code(error)
                if code in UNAVAILABLE_CODES:
                    raise StorageUnavailable() from error
                if code != "TransactionConflictException":
                    raise
            except (HTTPClientError, BotocoreConnectionError) as error:
                raise StorageUnavailable() from error
            await self._sleep(BACKOFF.delay_for(attempt))
        raise StorageUnavailable()

    # -- single items --------------------------------------------------------------------------

    async def get(self, key: Item) -> Item | None:
        response = await self.call("get_item", TableName=self.name, Key=key, ConsistentRead=True)
        found: Item | None = response.get("Item")
        return found

    async def put(
        self, item: Item, condition: str | None = None, values: dict[str, object] | None = None
    ) -> bool:
        """PutItem; False when the condition failed."""
        params: dict[str, Any] = {"TableName": self.name, "Item": item}
        if condition is not None:
            params["ConditionExpression"] = condition
        return (
            await self._conditional("put_item", expression(params, values, condition)) is not None
        )

    async def update(
        self,
        key: Item,
        update: str,
        values: dict[str, object] | None = None,
        condition: str | None = None,
        *,
        return_values: str = "NONE",
    ) -> Item | None:
        """UpdateItem; None when the condition failed, else the attributes asked for."""
        params: dict[str, Any] = {
            "TableName": self.name,
            "Key": key,
            "UpdateExpression": update,
            "ReturnValues": return_values,
        }
        if condition is not None:
            params["ConditionExpression"] = condition
        response = await self._conditional(
            "update_item", expression(params, values, update, condition)
        )
        if response is None:
            return None
        attributes: Item = response.get("Attributes", {})
        return attributes

    async def delete(
        self, key: Item, condition: str | None = None, values: dict[str, object] | None = None
    ) -> bool:
        """DeleteItem; False when the condition failed."""
        params: dict[str, Any] = {"TableName": self.name, "Key": key}
        if condition is not None:
            params["ConditionExpression"] = condition
        return (
            await self._conditional("delete_item", expression(params, values, condition))
            is not None
        )

    async def _conditional(self, operation: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The response, or None when the request's condition failed."""
        try:
            return await self.call(operation, **params)
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise

    # -- transactions --------------------------------------------------------------------------

    def action(
        self,
        kind: str,
        *,
        condition: str | None = None,
        values: dict[str, object] | None = None,
        update: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """One action of a transaction: `kind` is Put, Update, Delete or ConditionCheck, and
        `fields` its own parameters (Item, Key, ReturnValuesOnConditionCheckFailure)."""
        body: dict[str, Any] = {"TableName": self.name, **fields}
        if condition is not None:
            body["ConditionExpression"] = condition
        if update is not None:
            body["UpdateExpression"] = update
        return {kind: expression(body, values, condition, update)}

    async def transact(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """TransactWriteItems; None when it committed, else the cancellation reasons (one per
        action, `Code` "None" for those that were fine) when a condition failed.

        Conflicts with concurrent transactions and throttling are retried with backoff.
        """
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await self.call("transact_write_items", TransactItems=actions)
                if any(_puts_outbox(action.get("Put")) for action in actions):
                    self.outbox_bell.ring()
                return None
            except ClientError as error:
                reasons: list[dict[str, Any]] = error.response.get("CancellationReasons", [])
                codes = {reason.get("Code") for reason in reasons} - {"None", None}
                expected = RETRYABLE_CANCELLATIONS | {CONDITION_FAILED}
                if error_code(error) != "TransactionCanceledException" or not codes <= expected:
                    raise
            if CONDITION_FAILED in codes:
                return reasons  # a condition failed: that is the answer, not an error
            await self._sleep(BACKOFF.delay_for(attempt))
        raise StorageUnavailable()

    # -- queries -------------------------------------------------------------------------------

    async def query(self, params: dict[str, Any], max_items: int | None = None) -> list[Item]:
        """Every item a Query finds, page after page (or the first `max_items`)."""
        found: list[Item] = []
        params = {"TableName": self.name, **params}
        while True:
            response = await self.call("query", **params)
            found.extend(response.get("Items", []))
            if max_items is not None and len(found) >= max_items:
                return found[:max_items]
            last = response.get("LastEvaluatedKey")
            if not last:
                return found
            params["ExclusiveStartKey"] = last

    async def partition(
        self, pk: str, prefix: str | None = None, projection: str | None = None
    ) -> list[Item]:
        """A partition's items (those whose sort key starts with `prefix`), consistently."""
        condition = "#PK = :pk" + (" AND begins_with(#SK, :prefix)" if prefix else "")
        values: dict[str, object] = {":pk": pk}
        if prefix:
            values[":prefix"] = prefix
        params: dict[str, Any] = {"KeyConditionExpression": condition, "ConsistentRead": True}
        if projection is not None:
            params["ProjectionExpression"] = projection
        return await self.query(expression(params, values, condition, projection))

    async def index(
        self,
        index: str,
        hash_value: str,
        *,
        below: str | None = None,
        above: str | None = None,
        max_items: int | None = None,
    ) -> list[Item]:
        """Keys from one partition of a GSI in sort-key order, only those below (or above) a
        bound if given (eventually consistent: re-read before trusting)."""
        hash_name, range_name = INDEX_KEYS[index]
        condition = f"#{hash_name} = :hash"
        values: dict[str, object] = {":hash": hash_value}
        if below is not None and range_name is not None:
            condition += f" AND #{range_name} < :below"
            values[":below"] = below
        if above is not None and range_name is not None:
            condition += f" AND #{range_name} > :above"
            values[":above"] = above
        params: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": condition}
        if max_items is not None:
            params["Limit"] = max_items
        return await self.query(expression(params, values, condition), max_items)

    async def shards(
        self,
        index: str,
        prefix: str,
        *,
        below: str | None = None,
        max_items: int | None = None,
    ) -> list[Item]:
        """Keys from every shard of a sharded GSI key (`{prefix}0` …), `max_items` per shard."""
        found = await bounded(
            self.index(index, f"{prefix}{shard}", below=below, max_items=max_items)
            for shard in range(SHARDS)
        )
        return [item for items in found for item in items]

    async def account_set(self, prefix: str) -> set[str]:
        """The accounts in a GSI2 set (`AUTO#`, `CONNECTED#`), to be re-checked."""
        return {entry[GSI2_SK]["S"] for entry in await self.shards(GSI2, prefix)}

    async def queued(
        self, prefix: str, *, below: str | None, max_items: int | None = None
    ) -> list[Item]:
        """Base items found in every shard of a GSI1 queue, re-read consistently."""
        entries = await self.shards(GSI1, prefix, below=below, max_items=max_items)
        return await self.batch_get(base_key(entry) for entry in entries)

    async def earliest(self, prefix: str) -> datetime | None:
        """The earliest time in a GSI1 queue (its sort keys start with the time)."""
        heads = await self.shards(GSI1, prefix, max_items=1)
        times = [head[GSI1_SK]["S"][:TIME_CHARS] for head in heads]
        return time_of(min(times)) if times else None

    # -- batches -------------------------------------------------------------------------------

    async def put_items(self, items: Iterable[Item]) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in items]
        await self.batch_write(requests)
        if any(_puts_outbox(request["PutRequest"]) for request in requests):
            self.outbox_bell.ring()

    async def delete_keys(self, keys: Iterable[Item]) -> None:
        await self.batch_write([{"DeleteRequest": {"Key": key}} for key in keys])

    async def batch_write(self, requests: Sequence[dict[str, Any]]) -> None:
        """BatchWriteItem in chunks of 25 (later requests for one key win), unprocessed
        requests retried with backoff."""
        by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for request in requests:
            put = request.get("PutRequest")
            key = base_key(put["Item"]) if put else request["DeleteRequest"]["Key"]
            by_key[_key_id(key)] = request
        unique = list(by_key.values())
        chunks = [
            unique[start : start + _BATCH_WRITE_SIZE]
            for start in range(0, len(unique), _BATCH_WRITE_SIZE)
        ]
        await bounded(self._write_chunk(chunk) for chunk in chunks)

    async def _write_chunk(self, chunk: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self.name: chunk}
        for attempt in range(1, ATTEMPTS + 1):
            response = await self.call("batch_write_item", RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            await self._sleep(BACKOFF.delay_for(attempt))
        raise StorageUnavailable()

    async def batch_get(self, keys: Iterable[Item]) -> list[Item]:
        """BatchGetItem, consistent, in chunks of 100; missing keys are simply absent."""
        unique = list({_key_id(key): key for key in keys}.values())
        chunks = [
            unique[start : start + _BATCH_GET_SIZE]
            for start in range(0, len(unique), _BATCH_GET_SIZE)
        ]
        found: list[Item] = []
        for items in await bounded(self._get_chunk(chunk) for chunk in chunks):
            found.extend(items)
        return found

    async def _get_chunk(self, chunk: list[Item]) -> list[Item]:
        found: list[Item] = []
        pending: dict[str, Any] = {self.name: {"Keys": chunk, "ConsistentRead": True}}
        for attempt in range(1, ATTEMPTS + 1):
            response = await self.call("batch_get_item", RequestItems=pending)
            found.extend(response.get("Responses", {}).get(self.name, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                return found
            await self._sleep(BACKOFF.delay_for(attempt))
        raise StorageUnavailable()

"""Accounts and API keys: an account item per account, every key twice (listed under
`APIKEYS`, and under its hash for the per-request lookup), written together."""

from __future__ import annotations

from datetime import datetime

from app.adapters.aws.dynamodb.codec import item, plain, text_or_none, time_of, time_or_none
from app.adapters.aws.dynamodb.table import (
    API_KEY_PREFIX,
    API_KEYS_PK,
    Item,
    account_key,
    api_key_key,
    key_hash_key,
    time_text,
)
from app.adapters.aws.dynamodb.transactions import TableClient
from app.domain import Account, ApiKey

_NEW = "attribute_not_exists(#PK)"


def _account_item(account: Account) -> Item:
    return item(
        account_key(account.account_id),
        kind="account",
        account_id=account.account_id,
        name=account.name,
        created_at=time_text(account.created_at),
    )


def _api_key_item(key: ApiKey, key_hash: str) -> Item:
    return item(
        api_key_key(key.key_id),
        kind="api_key",
        key_id=key.key_id,
        account_id=key.account_id,
        name=key.name,
        key_hash=key_hash,
        created_at=time_text(key.created_at),
        revoked_at=text_or_none(key.revoked_at),
    )


def _key_hash_item(key: ApiKey, key_hash: str) -> Item:
    return item(
        key_hash_key(key_hash),
        kind="api_key_hash",
        key_id=key.key_id,
        account_id=key.account_id,
        revoked_at=text_or_none(key.revoked_at),
    )


def _api_key_from(typed: Item) -> ApiKey:
    data = plain(typed)
    return ApiKey(
        key_id=data["key_id"],
        account_id=data["account_id"],
        name=data["name"],
        created_at=time_of(data["created_at"]),
        revoked_at=time_or_none(data.get("revoked_at")),
    )


class DynamoDbAccountStore:
    """`AccountStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def create_account(self, account: Account) -> None:
        if not await self._table.put(_account_item(account), _NEW):
            raise ValueError(f"account {account.account_id} already exists")

    async def get_account(self, account_id: str) -> Account | None:
        found = await self._table.get(account_key(account_id))
        if found is None:
            return None
        data = plain(found)
        return Account(data["account_id"], data["name"], time_of(data["created_at"]))

    async def add_api_key(self, key: ApiKey, key_hash: str) -> None:
        reasons = await self._table.transact(
            [
                self._table.action("Put", Item=_api_key_item(key, key_hash), condition=_NEW),
                self._table.action("Put", Item=_key_hash_item(key, key_hash), condition=_NEW),
            ]
        )
        if reasons is not None:
            raise ValueError("an API key with this id or hash already exists")

    async def account_for_key_hash(self, key_hash: str) -> str | None:
        found = await self._table.get(key_hash_key(key_hash))
        if found is None or "revoked_at" in found:
            return None
        return str(found["account_id"]["S"])

    async def list_api_keys(self) -> list[ApiKey]:
        items = await self._table.partition(API_KEYS_PK, API_KEY_PREFIX)
        keys = [_api_key_from(typed) for typed in items]
        return sorted(keys, key=lambda key: (key.created_at, key.key_id))

    async def revoke_api_key(self, key_id: str, when: datetime) -> bool:
        listed = await self._table.get(api_key_key(key_id))
        if listed is None or "revoked_at" in listed:
            return False
        revoke = "SET #revoked_at = :when"
        values: dict[str, object] = {":when": time_text(when)}
        reasons = await self._table.transact(
            [
                self._table.action(
                    "Update",
                    Key=api_key_key(key_id),
                    update=revoke,
                    condition="attribute_exists(#PK) AND attribute_not_exists(#revoked_at)",
                    values=values,
                ),
                self._table.action(
                    "Update",
                    Key=key_hash_key(listed["key_hash"]["S"]),
                    update=revoke,
                    condition="attribute_exists(#PK)",
                    values=values,
                ),
            ]
        )
        return reasons is None

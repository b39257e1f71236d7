"""Sealed secrets: one item per account (`SECRET`), nonce and ciphertext as binary."""

from __future__ import annotations

from app.adapters.aws.dynamodb.codec import item
from app.adapters.aws.dynamodb.table import sealed_secret_key
from app.adapters.aws.dynamodb.transactions import TableClient


class DynamoDbSealedSecretStore:
    """`SealedSecretStore` on calbot's table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def put_sealed_secret(self, account_id: str, nonce: bytes, ciphertext: bytes) -> None:
        await self._table.put(
            item(
                sealed_secret_key(account_id),
                kind="sealed_secret",
                nonce=nonce,
                ciphertext=ciphertext,
            )
        )

    async def get_sealed_secret(self, account_id: str) -> tuple[bytes, bytes] | None:
        found = await self._table.get(sealed_secret_key(account_id))
        if found is None:
            return None
        return bytes(found["nonce"]["B"]), bytes(found["ciphertext"]["B"])

    async def delete_sealed_secret(self, account_id: str) -> None:
        await self._table.delete(sealed_secret_key(account_id))

"""OutboxStore and WebhookEndpointStore, and the in-transaction append helpers."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from app.adapters.ports import Stores
from app.domain import OutboxMessage
from app.webhook_messages import delivery_id_for, new_message
from app.webhook_records import DeliveryStatus, WebhookDelivery, WebhookEndpoint, log_key
from tests.adapters.store_contract.builders import ACCOUNT, NOW, OTHER


def message(n: int, account_id: str = ACCOUNT) -> OutboxMessage:
    return new_message(account_id, "bot.scheduled", {"n": n}, NOW + timedelta(milliseconds=n))


def endpoint(endpoint_id: str, account_id: str = ACCOUNT, n: int = 0) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id=endpoint_id,
        account_id=account_id,
        url=f"https://hooks.example.com/{endpoint_id}",
        event_types=("bot.scheduled", "ping") if n % 2 else None,
        description=None if n % 2 else "all of them",
        created_at=NOW + timedelta(seconds=n),
        sealed_secret=b"\x00sealed" + endpoint_id.encode(),
    )


def delivery_of(
    msg: OutboxMessage, endpoint_id: str, due_at: datetime = NOW, created_at: datetime = NOW
) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id=delivery_id_for(msg.message_id, endpoint_id),
        account_id=msg.account_id,
        endpoint_id=endpoint_id,
        message_id=msg.message_id,
        type=msg.type,
        body=b'{"id": "' + msg.message_id.encode() + b'"}',
        status=DeliveryStatus.PENDING,
        attempts=0,
        last_status_code=None,
        last_error=None,
        next_attempt_at=due_at,
        created_at=created_at,
        give_up_at=created_at + timedelta(days=1),
        due_at=due_at,
    )


async def test_messages_wait_oldest_first_until_routed_once(stores: Stores) -> None:
    outbox = stores.outbox
    messages = [message(n) for n in (3, 1, 2)]
    await outbox.append_messages(messages)
    waiting = await outbox.unrouted_messages(10)
    assert [m.data for m in waiting] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert waiting[0] == sorted(messages, key=lambda m: m.created_at)[0]
    assert len(await outbox.unrouted_messages(2)) == 2

    first = waiting[0]
    deliveries = [delivery_of(first, "whe_a"), delivery_of(first, "whe_b")]
    assert await outbox.route_message(first, deliveries) is True
    assert await outbox.route_message(first, deliveries) is False  # a second fan-out: nothing
    assert [m.data for m in await outbox.unrouted_messages(10)] == [{"n": 2}, {"n": 3}]
    stored = await outbox.get_delivery(ACCOUNT, deliveries[0].delivery_id)
    assert stored == deliveries[0]
    assert await outbox.get_delivery(OTHER, deliveries[0].delivery_id) is None


async def test_a_delivery_is_claimed_by_one_attempt_until_its_claim_expires(
    stores: Stores,
) -> None:
    outbox = stores.outbox
    msg = message(1)
    later = delivery_of(msg, "whe_late", due_at=NOW + timedelta(minutes=5))
    now_due = delivery_of(msg, "whe_now")
    await outbox.append_messages([msg])
    assert await outbox.route_message(msg, [later, now_due])
    assert [d.delivery_id for d in await outbox.due_deliveries(NOW, 10)] == [now_due.delivery_id]

    until = NOW + timedelta(seconds=30)
    claimed = await outbox.claim_delivery(now_due.delivery_id, "token-1", NOW, until)
    assert claimed is not None
    assert (claimed.claim, claimed.due_at) == ("token-1", until)
    assert await outbox.claim_delivery(now_due.delivery_id, "token-2", NOW, until) is None
    assert await outbox.due_deliveries(NOW + timedelta(seconds=10), 10) == []
    # The first attempt's replica died: once the claim expired, another one takes it over.
    after = until + timedelta(seconds=1)
    taken = await outbox.claim_delivery(
        now_due.delivery_id, "token-2", after, after + timedelta(30)
    )
    assert taken is not None
    outcome = replace(
        taken,
        status=DeliveryStatus.DELIVERED,
        attempts=1,
        last_status_code=204,
        next_attempt_at=None,
        due_at=None,
    )
    assert await outbox.record_attempt(outcome, "token-1") is False  # the late first attempt
    assert await outbox.record_attempt(outcome, "token-2") is True
    stored = await outbox.get_delivery(ACCOUNT, now_due.delivery_id)
    assert stored == replace(outcome, claim=None)
    assert await outbox.due_deliveries(after + timedelta(days=2), 10) == [later]


async def test_a_retried_delivery_is_due_again_whatever_its_status(stores: Stores) -> None:
    outbox = stores.outbox
    msg = message(1)
    failed = replace(
        delivery_of(msg, "whe_a"),
        status=DeliveryStatus.FAILED,
        attempts=7,
        last_error="timeout",
        next_attempt_at=None,
        due_at=None,
    )
    await outbox.add_delivery(failed)
    await outbox.add_delivery(delivery_of(msg, "whe_a"))  # exists: left as it is
    assert (await outbox.get_delivery(ACCOUNT, failed.delivery_id)) == failed
    assert await outbox.due_deliveries(NOW + timedelta(days=9), 10) == []
    retry_at = NOW + timedelta(hours=1)
    assert await outbox.requeue_delivery(OTHER, failed.delivery_id, retry_at, retry_at) is None
    requeued = await outbox.requeue_delivery(
        ACCOUNT, failed.delivery_id, retry_at, retry_at + timedelta(days=1)
    )
    assert requeued is not None
    assert (requeued.status, requeued.attempts) == (DeliveryStatus.PENDING, 7)
    assert requeued.next_attempt_at == retry_at == requeued.due_at
    assert await outbox.due_deliveries(retry_at, 10) == [requeued]


async def test_the_delivery_log_is_newest_first_filtered_and_paged(stores: Stores) -> None:
    outbox = stores.outbox
    made = []
    for n in range(7):
        msg = message(n)
        endpoint_id = "whe_a" if n % 2 else "whe_b"
        delivery = delivery_of(msg, endpoint_id, created_at=NOW + timedelta(seconds=n))
        if n == 4:
            delivery = replace(delivery, status=DeliveryStatus.DELIVERED, due_at=None)
        made.append(delivery)
        await outbox.add_delivery(delivery)
    await outbox.add_delivery(delivery_of(message(9, OTHER), "whe_other"))
    newest_first = sorted(made, key=log_key, reverse=True)

    async def log(**filters: object) -> list[WebhookDelivery]:
        args: dict[str, object] = {"endpoint_id": None, "status": None, "before": None}
        args.update(filters)
        return await outbox.list_deliveries(ACCOUNT, limit=3, **args)  # type: ignore[arg-type]

    first = await log()
    assert first == newest_first[:3]
    second = await log(before=log_key(first[-1]))
    assert second == newest_first[3:6]
    assert await log(before=log_key(second[-1])) == newest_first[6:]
    assert [d.endpoint_id for d in await log(endpoint_id="whe_a")] == ["whe_a"] * 3
    assert await log(status=DeliveryStatus.DELIVERED) == [made[4]]
    assert await log(endpoint_id="whe_other") == []


async def test_endpoints_belong_to_their_account_up_to_the_limit(stores: Stores) -> None:
    store = stores.webhook_endpoints
    made = [endpoint(f"whe_{n}", n=n) for n in range(3)]
    for one in made:
        assert await store.add_endpoint(one, max_per_account=3) is True
    assert await store.add_endpoint(endpoint("whe_x", n=9), max_per_account=3) is False
    assert await store.add_endpoint(endpoint("whe_o", OTHER), max_per_account=3) is True
    assert await store.list_endpoints(ACCOUNT) == made
    assert await store.get_endpoint(ACCOUNT, "whe_1") == made[1]
    assert await store.get_endpoint(OTHER, "whe_1") is None
    assert await store.delete_endpoint(OTHER, "whe_1") is False
    assert await store.delete_endpoint(ACCOUNT, "whe_1") is True
    assert await store.delete_endpoint(ACCOUNT, "whe_1") is False
    assert await store.add_endpoint(endpoint("whe_x", n=9), max_per_account=3) is True
    assert [e.endpoint_id for e in await store.list_endpoints(ACCOUNT)] == [
        "whe_0",
        "whe_2",
        "whe_x",
    ]


async def test_finished_deliveries_are_purged_after_their_retention(stores: Stores) -> None:
    outbox = stores.outbox
    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=1)
    made = {
        name: replace(
            delivery_of(message(n), "whe_a", created_at=created),
            status=status,
            due_at=None if status is not DeliveryStatus.PENDING else created,
        )
        for n, (name, created, status) in enumerate(
            [
                ("old delivered", old, DeliveryStatus.DELIVERED),
                ("old failed", old, DeliveryStatus.FAILED),
                ("old pending", old, DeliveryStatus.PENDING),  # still being retried: kept
                ("recent delivered", recent, DeliveryStatus.DELIVERED),
            ]
        )
    }
    for delivery in made.values():
        await outbox.add_delivery(delivery)
    purged = await outbox.purge_finished_deliveries(NOW - timedelta(days=30), 100)
    left = {d.delivery_id for d in await outbox.due_deliveries(NOW, 10)} | {
        d.delivery_id
        for d in await outbox.list_deliveries(
            ACCOUNT, endpoint_id=None, status=None, before=None, limit=10
        )
    }
    kept = {made["old pending"].delivery_id, made["recent delivered"].delivery_id}
    if purged == 0:  # DynamoDB: its TTL deletes them (tests/adapters/test_outbox_append.py)
        assert type(outbox).__name__ == "DynamoDbOutboxStore"
        assert left == {d.delivery_id for d in made.values()}
    else:
        assert purged == 2
        assert left == kept

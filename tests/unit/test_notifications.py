"""Push notifications on memory stores: what the process remembers per channel stays bounded."""

from __future__ import annotations

from app.domain import Channel
from app.services.notifications import PushService, token_hash
from tests.unit.calbot import ACCOUNT, CAL, Calbot, at, meeting


def _push(calbot: Calbot, seen_messages: int) -> PushService:
    return PushService(
        channels=calbot.stores.channels,
        connections=calbot.stores.connections,
        secrets_box=calbot.secrets,
        google=calbot.google,
        clock=calbot.clock,
        refresher=calbot.refresher,
        public_base_url=None,
        ttl_seconds=604800,
        sync_health=calbot.stores.sync_health,
        seen_messages=seen_messages,
    )


async def test_message_numbers_are_remembered_up_to_a_bound_and_syncs_leave_nothing(
    calbot: Calbot,
) -> None:
    calbot.google.put_event(CAL, meeting("m1", at(1), at(2)))
    await calbot.connect()
    push = _push(calbot, seen_messages=3)
    await calbot.stores.channels.save_channel(
        Channel("ch_1", ACCOUNT, CAL, "res-1", token_hash("token"), at(100))
    )

    async def notify(number: int) -> bool:
        return await push.handle_notification(
            channel_id="ch_1",
            channel_token="token",
            resource_state="exists",
            message_number=str(number),
        )

    for number in range(1000, 1100):
        assert await notify(number)
        await push.coalescer.drain()

    assert len(push._seen) == 3
    runs = push.coalescer.runs
    assert await notify(1099)  # remembered: a repeat, no sync
    await push.coalescer.drain()
    assert push.coalescer.runs == runs
    assert await notify(1000)  # long forgotten: synced again, harmless
    await push.coalescer.drain()
    assert push.coalescer.runs == runs + 1
    assert (len(push.coalescer._running), len(push.coalescer._again)) == (0, 0)

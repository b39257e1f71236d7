"""EventStore keeps who is in a meeting (attendee facts), on events and on the exceptions of a
series, so the rules and the do-not-record guard can be checked from the store alone."""

from __future__ import annotations

import dataclasses

from app.adapters.ports import Stores
from app.domain import AttendeeFacts, ResponseStatus
from tests.adapters.store_contract.builders import (
    ACCOUNT,
    CAL,
    NOW,
    WEEKLY,
    at,
    event,
    override,
    page,
    synced,
)

INVITED = AttendeeFacts(
    self_response=ResponseStatus.TENTATIVE,
    organizer_self=False,
    organizer_domain="partner.example",
    domains=("example.com", "legal.example", "partner.example"),
    people=3,
    omitted=True,
)


async def test_an_event_keeps_its_attendee_facts_and_a_later_sync_replaces_them(
    stores: Stores,
) -> None:
    invited = event("invited", at(2), attendees=INVITED, self_declined=False)
    unsafe = event("unsafe", at(3), meeting_link=None, unsafe_link=True)
    await synced(stores.events, invited, event("alone"), unsafe)

    assert await stores.events.get_event(ACCOUNT, invited.event_id) == invited
    assert await stores.events.get_event(ACCOUNT, unsafe.event_id) == unsafe
    listed = {
        row.event.google_event_id: row.event
        for row in await stores.events.list_events(ACCOUNT, CAL)
    }
    assert listed["invited"].attendees == INVITED
    assert listed["alone"].attendees == AttendeeFacts()
    candidates = await stores.events.list_auto_schedule_candidates(ACCOUNT, NOW, at(24))
    assert [c.attendees for c in candidates if c.google_event_id == "invited"] == [INVITED]

    declined = dataclasses.replace(
        invited,
        attendees=dataclasses.replace(INVITED, self_response=ResponseStatus.DECLINED),
        self_declined=True,
    )
    await stores.events.apply_events_page(ACCOUNT, page(declined, token="t2"))
    stored = await stores.events.get_event(ACCOUNT, invited.event_id)
    assert stored is not None
    assert stored.attendees.self_response is ResponseStatus.DECLINED


async def test_an_exception_of_a_series_keeps_its_own_attendee_facts(stores: Stores) -> None:
    series = event("series", at(-1), recurrence=WEEKLY)
    declined_once = dataclasses.replace(INVITED, self_response=ResponseStatus.DECLINED)
    await synced(stores.events, series)
    await stores.events.apply_events_page(
        ACCOUNT,
        page(
            overrides=(
                override("series", at(167), attendees=declined_once),
                override("series", at(335)),  # an exception stored without facts
            ),
            token="t2",
        ),
    )

    stored = await stores.events.list_overrides(ACCOUNT, CAL, ["series"])
    by_start = {o.original_start: o.attendees for o in stored["series"]}
    assert by_start == {at(167): declined_once, at(335): None}

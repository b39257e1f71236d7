"""A scheduled bot as the API shows it (`GET /scheduled_bots`) and as webhook messages carry it.

Pure: the router's answers and the stores' outbox messages are both built here, so a message's
`data.bot` is exactly what a client reading the bot list sees after the change.
"""

from __future__ import annotations

import copy
from typing import Any

from app.domain import ScheduledBot, utc_text


def bot_payload(bot: ScheduledBot) -> dict[str, Any]:
    """The ScheduledBot's JSON object, times as `utc_text`."""
    return {
        "bot_id": bot.bot_id,
        "event_id": bot.event_id,
        "calendar_id": bot.calendar_id,
        "google_event_id": bot.google_event_id,
        "occurrence_start": utc_text(bot.occurrence_start),
        "join_at": utc_text(bot.join_at),
        "meeting_link": bot.meeting_link,
        "meeting_platform": bot.meeting_platform.value,
        "bot_name": bot.bot_name,
        "custom_attributes": copy.deepcopy(bot.custom_attributes),
        "bot_config": copy.deepcopy(bot.bot_config),
        "source": bot.source.value,
        "status": bot.status.value,
        "external_bot_id": bot.external_bot_id,
        "last_error": bot.last_error,
        "created_at": utc_text(bot.created_at),
        "updated_at": utc_text(bot.updated_at),
        "meeting_key": bot.meeting_key,
    }

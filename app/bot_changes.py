"""What a write of a bot tells the client: the webhook message of each bot change (CONTRACT
section 8), built from the bot as stored.

Pure. A service says why it writes a bot with a `BotChange`; the store builds the message with
`bot_message` from the bot it actually wrote and appends it in the same write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from app.bot_payload import bot_payload
from app.domain import BotStatus, OutboxMessage, ScheduledBot
from app.webhook_messages import (
    BOT_CANCELLED,
    BOT_FAILED,
    BOT_LAUNCHED,
    BOT_MISSED,
    BOT_SCHEDULED,
    BOT_UPDATED,
    new_message,
)

# The `reason` codes of CONTRACT.md section 8, exactly.
MEETING_MOVED: Final = "meeting_moved"
MEETING_CANCELLED: Final = "meeting_cancelled"
MEETING_DELETED: Final = "meeting_deleted"
LINK_CHANGED: Final = "link_changed"
LINK_REMOVED: Final = "link_removed"
UNSCHEDULED_BY_USER: Final = "unscheduled_by_user"
DELETED_BY_USER: Final = "deleted_by_user"
UPDATED_BY_USER: Final = "updated_by_user"
DISCONNECTED: Final = "disconnected"
NEVER_RECORD_DOMAIN: Final = "never_record_domain"
MODE_NEVER: Final = "mode_never"
PAUSED: Final = "paused"
SERIES_ENDED: Final = "series_ended"

REASONS: Final = (
    MEETING_MOVED,
    MEETING_CANCELLED,
    MEETING_DELETED,
    LINK_CHANGED,
    LINK_REMOVED,
    UNSCHEDULED_BY_USER,
    DELETED_BY_USER,
    UPDATED_BY_USER,
    DISCONNECTED,
    NEVER_RECORD_DOMAIN,
    MODE_NEVER,
    PAUSED,
    SERIES_ENDED,
)

# What a `bot.updated` message may list in `changes`, in the contract's order.
UPDATABLE_FIELDS: Final = ("join_at", "meeting_link", "bot_config", "bot_name", "custom_attributes")

FINAL_LAUNCH_STATUSES: Final = (BotStatus.LAUNCHED, BotStatus.FAILED, BotStatus.MISSED)
"""How a launch ends; each has its message (`finished`)."""

_BY_FINAL_STATUS: Final = {
    BotStatus.LAUNCHED: BOT_LAUNCHED,
    BotStatus.FAILED: BOT_FAILED,
    BotStatus.MISSED: BOT_MISSED,
}


@dataclass(frozen=True, slots=True)
class BotChange:
    """Why a bot is written: the message type, and for `bot.updated` / `bot.cancelled` the
    reason (one of `REASONS`) and, for `bot.updated`, which fields changed."""

    type: str
    reason: str | None = None
    changes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.reason is not None and self.reason not in REASONS:
            raise ValueError(f"{self.reason!r} is not a reason code of the contract")
        if any(name not in UPDATABLE_FIELDS for name in self.changes):
            raise ValueError(f"{self.changes!r} names a field bot.updated cannot list")
        needs_reason = self.type in (BOT_UPDATED, BOT_CANCELLED)
        if needs_reason != (self.reason is not None):
            raise ValueError(f"{self.type} takes a reason exactly when it is updated/cancelled")


SCHEDULED: Final = BotChange(BOT_SCHEDULED)


def cancelled(reason: str) -> BotChange:
    return BotChange(BOT_CANCELLED, reason)


def updated(reason: str, changes: tuple[str, ...]) -> BotChange:
    return BotChange(BOT_UPDATED, reason, tuple(f for f in UPDATABLE_FIELDS if f in changes))


def finished(status: BotStatus) -> BotChange:
    """The message of a launch's outcome: `bot.launched`, `bot.failed` or `bot.missed`."""
    return BotChange(_BY_FINAL_STATUS[status])


def changed_fields(before: ScheduledBot, after: ScheduledBot) -> tuple[str, ...]:
    """Which of `UPDATABLE_FIELDS` differ between two versions of a bot, in that order."""
    return tuple(name for name in UPDATABLE_FIELDS if getattr(before, name) != getattr(after, name))


def bot_message(bot: ScheduledBot, change: BotChange, when: datetime) -> OutboxMessage:
    """The message reporting `change`, carrying `bot` as stored after it."""
    data: dict[str, object] = {"bot": bot_payload(bot)}
    if change.type == BOT_UPDATED:
        data["changes"] = list(change.changes)
    if change.reason is not None:
        data["reason"] = change.reason
    return new_message(bot.account_id, change.type, dict(data), when)


def bot_messages(
    bots: list[ScheduledBot], change: BotChange, when: datetime
) -> list[OutboxMessage]:
    """One message per bot, as a bulk write (a whole event's bots cancelled) reports them."""
    return [bot_message(bot, change, when) for bot in bots]

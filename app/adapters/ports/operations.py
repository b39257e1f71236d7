"""Storage of auto-schedule settings, push channels and leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from app.domain import AutoScheduleRules, AutoScheduleSettings, Channel


class AutoScheduleStore(Protocol):
    """Each account's auto-schedule settings."""

    async def get_auto_schedule(self, account_id: str) -> AutoScheduleSettings:
        """The account's auto-schedule settings (disabled defaults when never set)."""
        ...

    async def save_auto_schedule(self, account_id: str, settings: AutoScheduleSettings) -> None:
        """Store the account's auto-schedule settings."""
        ...

    async def set_auto_schedule(
        self,
        account_id: str,
        *,
        enabled: bool,
        default_bot_config: dict[str, Any] | None = None,
        rules: AutoScheduleRules | None = None,
    ) -> AutoScheduleSettings:
        """Turn auto-scheduling on or off, and replace the default config and the rules when
        given (None keeps the stored ones), in one write that leaves `last_run_at` as stored;
        returns the settings as stored. What the user owns, written without reading it first."""
        ...

    async def record_auto_schedule_run(self, account_id: str, when: datetime) -> None:
        """Set `last_run_at` alone, leaving `enabled` and the config as stored: a pass that
        read the settings before a `disable` cannot turn them back on. No-op for an account
        without settings."""
        ...

    async def accounts_with_auto_schedule(self) -> list[str]:
        """Accounts with auto-scheduling on and an active connection."""
        ...

    async def set_paused_until(
        self, account_id: str, until: datetime | None
    ) -> AutoScheduleSettings:
        """Set `paused_until` alone (None: not paused), leaving the rest as stored; an account
        without settings gets the disabled defaults with it. Returns the settings as stored."""
        ...

    async def ended_pauses(self, now: datetime) -> list[tuple[str, datetime]]:
        """(account, `paused_until`) of every account whose pause ended at or before `now`
        and is not cleared yet, ordered by account."""
        ...

    async def end_pause(self, account_id: str, until: datetime) -> bool:
        """Clear `paused_until` only if it is still `until`: a pause that ran out, not one the
        user replaced meanwhile. True when this call cleared it (so one caller resumes)."""
        ...


class ChannelStore(Protocol):
    """Google push channels."""

    async def save_channel(self, channel: Channel) -> None:
        """Store a push channel."""
        ...

    async def get_channel(self, channel_id: str) -> Channel | None:
        """A channel by its id, whatever the account (webhooks carry no API key)."""
        ...

    async def list_channels(self, account_id: str) -> list[Channel]:
        """The account's channels."""
        ...

    async def channels_expiring_before(self, when: datetime) -> list[Channel]:
        """Channels of every account that expire before `when`."""
        ...

    async def delete_channel(self, channel_id: str) -> None:
        """Forget a channel."""
        ...


class LeaseStore(Protocol):
    """Named leases, so that one replica runs each periodic pass."""

    async def try_acquire_lease(
        self, name: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        """Take (or renew, when `holder` has it) the named lease until `until`; False when
        another holder's lease has not expired by `now`."""
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if `holder` has it."""
        ...

"""Fakes of calbot's ports that record what happened, so tests assert state, not calls.

Storage has no fake here: `app.adapters.memory.memory_stores()` is a real backend that passes
the store contract suite.
"""

from tests.fakes.bot_api import FakeBotApi
from tests.fakes.clock import FakeClock
from tests.fakes.google import FakeGoogleCalendar
from tests.fakes.resolver import FakeResolver
from tests.fakes.scheduler import RecordingBotScheduler
from tests.fakes.secrets import FakeSecretBox

__all__ = [
    "FakeBotApi",
    "FakeClock",
    "FakeGoogleCalendar",
    "FakeResolver",
    "FakeSecretBox",
    "RecordingBotScheduler",
]

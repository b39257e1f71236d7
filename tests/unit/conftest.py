"""Service unit tests run on `tests/unit/calbot.py`: memory stores and recording fakes."""

from __future__ import annotations

import pytest

from tests.fakes import FakeClock
from tests.unit.calbot import NOW, Calbot, wire


@pytest.fixture
def calbot() -> Calbot:
    return wire(FakeClock(NOW))

"""The configuration documents itself: every setting is in .env.example and the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting() -> None:
    listed = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert name.upper() + "=" in listed, name


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(_env_file=None)
    assert (settings.host, settings.port, str(settings.data_dir)) == ("127.0.0.1", 8000, "data")
    assert settings.bot_join_lead_seconds == 180
    assert settings.auto_schedule_interval_seconds == 86400
    assert settings.auto_schedule_lookahead_seconds == 86400
    assert settings.sync_poll_interval_seconds == 900
    assert settings.watch_channel_ttl_seconds == 604800
    assert settings.bot_api_url == "https://api.meetstream.ai/api/v1/bots/create_bot"
    assert settings.google_calendar_api_url == "https://www.googleapis.com/calendar/v3"

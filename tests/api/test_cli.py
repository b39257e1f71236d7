"""`calbot api-key ...`: what a person at a terminal sees, and what scripts can rely on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import respx
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.container import open_container
from app.domain import GoogleCredentials
from tests.conftest import meeting
from tests.fake_google import (
    API_URL,
    GOOD_CLIENT_ID,
    GOOD_CLIENT_SECRET,
    GOOD_REFRESH_TOKEN,
    TOKEN_URL,
    FakeGoogle,
)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def test_api_key_create_prints_the_key_alone_on_stdout(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["api-key", "create", "--name", "me"])

    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith("cb_")
    assert len(result.stdout.strip()) > 40


def test_api_key_list_shows_ids_but_never_keys(runner: CliRunner) -> None:
    key = runner.invoke(cli, ["api-key", "create", "--name", "me"]).stdout.strip()
    listed = runner.invoke(cli, ["api-key", "list"])

    assert listed.exit_code == 0
    assert "\tme\t" in listed.stdout
    assert key not in listed.stdout


def test_api_key_revoke_and_unknown_ids(runner: CliRunner) -> None:
    runner.invoke(cli, ["api-key", "create", "--name", "me"])
    key_id = runner.invoke(cli, ["api-key", "list"]).stdout.split("\t")[0]

    assert runner.invoke(cli, ["api-key", "revoke", key_id]).exit_code == 0
    again = runner.invoke(cli, ["api-key", "revoke", key_id])
    assert again.exit_code == 3
    assert "No live API key" in again.stderr
    revoked_at = runner.invoke(cli, ["api-key", "list"]).stdout.strip().split("\t")[-1]
    assert revoked_at.startswith("20")  # a timestamp where a live key shows "-"


def test_a_second_key_can_join_an_existing_account(runner: CliRunner) -> None:
    runner.invoke(cli, ["api-key", "create", "--name", "me"])
    account = runner.invoke(cli, ["api-key", "list"]).stdout.split("\t")[1]

    added = runner.invoke(cli, ["api-key", "create", "--name", "ci", "--account", account])
    missing = runner.invoke(cli, ["api-key", "create", "--name", "x", "--account", "acc_nope"])

    assert added.exit_code == 0
    rows = runner.invoke(cli, ["api-key", "list"]).stdout.strip().splitlines()
    assert [row.split("\t")[1] for row in rows] == [account, account]
    assert missing.exit_code == 3


def test_unavailable_backends_are_refused_with_a_clear_message(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_BACKEND", "dynamodb")
    result = runner.invoke(cli, ["api-key", "list"])
    assert result.exit_code == 4
    assert "STORAGE_BACKEND=dynamodb" in result.stderr


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "api-key"):
        assert command in result.stdout


def test_sync_syncs_every_connected_calendar_with_progress(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_google: FakeGoogle,
    google_mock: respx.MockRouter,
) -> None:
    monkeypatch.setenv("GOOGLE_OAUTH_TOKEN_URL", TOKEN_URL)
    monkeypatch.setenv("GOOGLE_CALENDAR_API_URL", API_URL)
    fake_google.page_size = 2
    for day in range(1, 6):
        fake_google.put_event(
            "user@example.com",
            meeting(f"m{day}", f"2027-01-0{day}T09:00:00Z", f"2027-01-0{day}T10:00:00Z"),
        )

    async def connect() -> None:
        async with open_container(Settings()) as container:
            issued = await container.api_keys.create("me")
            await container.connections.connect(
                issued.key.account_id,
                GoogleCredentials(GOOD_CLIENT_ID, GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN),
            )

    asyncio.run(connect())
    result = runner.invoke(cli, ["sync"])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2"  # both calendars
    assert "user@example.com (full)" in result.stderr
    assert "3 pages, 5 events" in result.stderr
    again = runner.invoke(cli, ["sync", "--quiet"])
    assert again.stdout.strip() == "2"
    assert again.stderr == ""

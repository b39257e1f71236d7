"""Settings: every variable of CONTRACT.md section 5, read once from the environment or `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path("./data")

    storage_backend: Literal["sqlite", "dynamodb"] = "sqlite"
    secrets_backend: Literal["local", "ssm"] = "local"
    scheduler_backend: Literal["local", "eventbridge"] = "local"
    encryption_key: SecretStr | None = None

    public_base_url: str | None = None
    bot_api_url: str = "https://api.meetstream.ai/api/v1/bots/create_bot"
    bot_api_key: SecretStr | None = None
    bot_join_lead_seconds: int = Field(default=180, ge=0)

    auto_schedule_interval_seconds: int = Field(default=86400, ge=1)
    auto_schedule_lookahead_seconds: int = Field(default=86400, ge=1)
    sync_poll_interval_seconds: int = Field(default=900, ge=1)
    watch_channel_ttl_seconds: int = Field(default=604800, ge=60)

    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_oauth_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"
    google_userinfo_url: str = "https://openidconnect.googleapis.com/v1/userinfo"
    google_calendar_api_url: str = "https://www.googleapis.com/calendar/v3"

    webhook_timeout_seconds: float = Field(default=10, gt=0, le=300)
    webhook_allow_insecure_loopback: bool = False

    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    dynamodb_table: str | None = None
    ssm_parameter_prefix: str | None = None
    kms_key_id: str | None = None
    eventbridge_schedule_group: str | None = None
    eventbridge_target_arn: str | None = None
    eventbridge_role_arn: str | None = None
    launch_queue_url: str | None = None

    @property
    def database_path(self) -> Path:
        return self.data_dir / "calbot.sqlite3"


class ConfigurationError(RuntimeError):
    """The settings ask for something this build cannot do; the message says what to change."""

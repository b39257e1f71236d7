"""aiobotocore clients for calbot's AWS backends, and the client settings each one needs.

A client is a context manager: the composition root enters each one once (in its
`AsyncExitStack`) and hands it to the adapters; nothing builds a client per call.
"""

from __future__ import annotations

from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from app.config import Settings

LONG_POLL_READ_TIMEOUT_SECONDS = 40
"""SQS long polling waits up to 20 s for messages: the read timeout must be longer."""


def aws_client(settings: Settings, service: str, *, config: Any = None) -> Any:
    """A client for `service` in AWS_REGION (at AWS_ENDPOINT_URL when set, e.g. a local moto)."""
    return get_session().create_client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=config,
    )


def ssm_client_config() -> AioConfig:
    """One attempt per call: `SsmSecretBox` retries throttling itself, through the Clock."""
    return AioConfig(retries={"mode": "standard", "total_max_attempts": 1})


def launch_queue_client_config() -> AioConfig:
    """For the SQS client the launch queue consumer long-polls with."""
    return AioConfig(
        read_timeout=LONG_POLL_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "max_attempts": 5},
    )

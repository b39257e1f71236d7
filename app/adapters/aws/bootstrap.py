"""calbot's AWS resources: `calbot aws bootstrap` creates them; readiness checks the table.

Safe to run again: a resource that exists is left as it is (the launch queue's attributes are
brought up to date).
"""

from __future__ import annotations

from typing import Any

from app.adapters.aws.clients import aws_client
from app.adapters.aws.dynamodb import (
    create_table,
    dynamodb_client_config,
    enable_expiry,
    index_event_starts,
)
from app.adapters.aws.eventbridge import ensure_launch_queue, ensure_schedule_group
from app.config import ConfigurationError, Settings


async def bootstrap_aws(
    settings: Settings, *, queue_name: str | None, schedule_group: bool
) -> list[str]:
    """Create calbot's AWS resources unless they exist; returns one line per resource.

    The DynamoDB table always; the launch queue (with its dead-letter queue) when `queue_name`
    is given; the schedule group when asked.
    """
    if not settings.dynamodb_table or not settings.aws_region:
        raise ConfigurationError("calbot aws bootstrap needs DYNAMODB_TABLE and AWS_REGION.")
    lines: list[str] = []
    async with aws_client(settings, "dynamodb", config=dynamodb_client_config()) as dynamodb:
        created = await create_table(dynamodb, settings.dynamodb_table)
        expiry = await enable_expiry(dynamodb, settings.dynamodb_table)
        # Events stored before listings read GSI2 get their entry (none on a new table).
        indexed = 0 if created else await index_event_starts(dynamodb, settings.dynamodb_table)
        said = _verb(created) + (", TTL turned on" if expiry else "")
        said += f", {indexed} events indexed by start" if indexed else ""
        lines.append(f"DYNAMODB_TABLE={settings.dynamodb_table} ({said})")
    if queue_name:
        async with aws_client(settings, "sqs") as sqs:
            url, arn = await ensure_launch_queue(sqs, queue_name)
        lines += [f"LAUNCH_QUEUE_URL={url}", f"EVENTBRIDGE_TARGET_ARN={arn}"]
    if schedule_group:
        group = settings.eventbridge_schedule_group
        if not group:
            raise ConfigurationError("--schedule-group needs EVENTBRIDGE_SCHEDULE_GROUP.")
        async with aws_client(settings, "scheduler") as scheduler:
            created = await ensure_schedule_group(scheduler, group)
        lines.append(f"EVENTBRIDGE_SCHEDULE_GROUP={group} ({_verb(created)})")
    return lines


async def table_is_active(client: Any, table_name: str) -> bool:
    """The readiness probe of the DynamoDB backend: the table answers and is ACTIVE."""
    try:
        described = await client.describe_table(TableName=table_name)
    except Exception:
        return False
    return bool(described["Table"]["TableStatus"] == "ACTIVE")


def _verb(created: bool) -> str:
    return "created" if created else "already there"

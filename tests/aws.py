"""AWS on loopback: one moto server per test session, reset before every test that uses it.

Import the fixtures a module needs into its namespace (pytest finds fixtures by name there):

    from tests.aws import aws_client, aws_endpoint, aws_env, moto_reset, moto_server  # noqa: F401

Asking for `aws_endpoint` (or `aws_client`, `dynamodb_client`) brings fake credentials and a
freshly reset server with it. moto's in-process `mock_aws` does not work with aiobotocore; its
server does (/work/shared/notes/aws-and-scheduling.md).
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from aiobotocore.session import AioSession
from moto.server import ThreadedMotoServer

from app.adapters.aws.dynamodb import dynamodb_client_config
from app.adapters.aws.eventbridge import (
    EventBridgeBotScheduler,
    ensure_launch_queue,
    ensure_schedule_group,
    launch_queue_dead_letter_arn,
)
from tests.fakes import FakeClock

REGION = "us-east-1"

AwsClientFactory = Callable[[str], AbstractAsyncContextManager[Any]]


class OneDynamoDbRequestAtATime:
    """WSGI middleware: moto's TransactWriteItems snapshots whole tables and restores them on
    a failed condition, and its conditional writes check then act, so two DynamoDB requests in
    two server threads can lose each other's writes. DynamoDB itself isolates them; serialising
    DynamoDB requests makes moto do the same. Other services (SQS long polls) stay concurrent.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with self._lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


def open_aws_client(
    service: str, endpoint_url: str, *, config: Any = None
) -> AbstractAsyncContextManager[Any]:
    """An aiobotocore client for moto; enter it once (`async with`) and reuse it."""
    client: AbstractAsyncContextManager[Any] = AioSession().create_client(
        service, endpoint_url=endpoint_url, region_name=REGION, config=config
    )
    return client


@pytest.fixture(scope="session")
def moto_server() -> Iterator[ThreadedMotoServer]:
    werkzeug_log = logging.getLogger("werkzeug")
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.WARNING)  # one INFO line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    wsgi = server._server  # werkzeug's server: its handlers call `self.server.app`
    assert wsgi is not None
    wsgi.app = OneDynamoDbRequestAtATime(wsgi.app)
    yield server
    server.stop()
    werkzeug_log.setLevel(level)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region; nothing read from the developer's ~/.aws."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)


def _base_url(server: ThreadedMotoServer) -> str:
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


@pytest.fixture
def moto_reset(moto_server: ThreadedMotoServer) -> None:
    """Forget every resource of every service (tables, queues, parameters, schedules)."""
    request = urllib.request.Request(f"{_base_url(moto_server)}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def aws_endpoint(moto_server: ThreadedMotoServer, aws_env: None, moto_reset: None) -> str:
    """The moto server's URL, for `endpoint_url`; the server is empty when the test starts."""
    return _base_url(moto_server)


@pytest.fixture
def aws_client(aws_endpoint: str) -> AwsClientFactory:
    """`async with aws_client("sqs") as sqs:` opens a client of any service on moto."""
    return partial(open_aws_client, endpoint_url=aws_endpoint)


@pytest.fixture
async def dynamodb_client(aws_endpoint: str) -> AsyncIterator[Any]:
    """A DynamoDB client, entered once, configured as the app configures its own."""
    async with open_aws_client("dynamodb", aws_endpoint, config=dynamodb_client_config()) as client:
        yield client


# -- EventBridge Scheduler and the launch queue ----------------------------------------------

SCHEDULE_GROUP = "calbot"
LAUNCH_QUEUE = "calbot-launch"
SCHEDULER_ROLE_ARN = "arn:aws:iam::123456789012:role/calbot-scheduler"


@pytest.fixture
async def scheduler_client(aws_client: AwsClientFactory) -> AsyncIterator[Any]:
    async with aws_client("scheduler") as client:
        yield client


@pytest.fixture
async def sqs(aws_client: AwsClientFactory) -> AsyncIterator[Any]:
    async with aws_client("sqs") as client:
        yield client


@dataclass(frozen=True)
class LaunchQueue:
    url: str
    arn: str
    dead_letter_arn: str


@pytest.fixture
async def queue(scheduler_client: Any, sqs: Any) -> LaunchQueue:
    """The schedule group and the launch queue with its dead-letter queue, as bootstrap makes."""
    await ensure_schedule_group(scheduler_client, SCHEDULE_GROUP)
    url, arn = await ensure_launch_queue(sqs, LAUNCH_QUEUE)
    dead_letter_arn = await launch_queue_dead_letter_arn(sqs, url)
    assert dead_letter_arn is not None
    return LaunchQueue(url, arn, dead_letter_arn)


@pytest.fixture
def scheduler(
    scheduler_client: Any, sqs: Any, clock: FakeClock, queue: LaunchQueue
) -> EventBridgeBotScheduler:
    return EventBridgeBotScheduler(
        scheduler_client,
        sqs,
        clock,
        group=SCHEDULE_GROUP,
        target_arn=queue.arn,
        role_arn=SCHEDULER_ROLE_ARN,
        dead_letter_arn=queue.dead_letter_arn,
        queue_url=queue.url,
    )

"""SsmSecretBox against moto in server mode, over real HTTP with aiobotocore.

moto neither throttles nor enforces SSM's name and size rules, so those are checked by the
adapter itself; throttling is staged by a small wrapper around the real client.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from app.adapters.aws.ssm_secrets import (
    SSM_RETRY,
    InvalidParameterName,
    SsmSecretBox,
    check_parameter_name,
    parameter_name,
)
from app.domain import GoogleCredentials
from app.errors import InvalidGoogleCredentials, StorageUnavailable
from tests import aws
from tests.aws import AwsClientFactory
from tests.fakes import FakeClock

PREFIX = "/calbot/test"
ACCOUNT = "acc_0123456789abcdef"
SECRET = "GOCSPX-very-secret-client-secret"
REFRESH = "1//0g-very-secret-refresh-token"
CREDENTIALS = GoogleCredentials("client-123.apps.googleusercontent.com", SECRET, REFRESH)


# -- AWS on moto (tests/aws.py) --------------------------------------------------------------

moto_server = aws.moto_server
aws_env = aws.aws_env
moto_reset = aws.moto_reset
aws_endpoint = aws.aws_endpoint
aws_client = aws.aws_client


@pytest.fixture
async def ssm(aws_client: AwsClientFactory) -> AsyncIterator[Any]:
    async with aws_client("ssm") as client:
        yield client


@pytest.fixture
async def kms(aws_client: AwsClientFactory) -> AsyncIterator[Any]:
    async with aws_client("kms") as client:
        yield client


# -- helpers ---------------------------------------------------------------------------------


class CountingClient:
    """The real client, counting the calls made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()

    def __getattr__(self, operation: str) -> Any:
        self.calls[operation] += 1
        return getattr(self._client, operation)


class FailingClient:
    """The real client, except that `operation` first fails `times` times with `code`."""

    def __init__(
        self, client: Any, operation: str, code: str, times: int, message: str = ""
    ) -> None:
        self._client = client
        self._operation = operation
        self._code = code
        self.failures_left = times
        self._message = message or f"{code} (staged)"

    def __getattr__(self, operation: str) -> Any:
        if operation != self._operation:
            return getattr(self._client, operation)

        async def call(**request: Any) -> Any:
            if self.failures_left > 0:
                self.failures_left -= 1
                raise ClientError(
                    {"Error": {"Code": self._code, "Message": self._message}}, operation
                )
            return await getattr(self._client, operation)(**request)

        return call


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def box(ssm: Any, clock: FakeClock) -> SsmSecretBox:
    return SsmSecretBox(ssm, PREFIX, None, clock)


# -- round trip ------------------------------------------------------------------------------


async def test_put_then_get_returns_the_credentials(box: SsmSecretBox) -> None:
    await box.put(ACCOUNT, CREDENTIALS)

    assert await box.get(ACCOUNT) == CREDENTIALS


async def test_put_replaces_the_credentials(box: SsmSecretBox) -> None:
    await box.put(ACCOUNT, CREDENTIALS)
    await box.get(ACCOUNT)  # cached now
    replacement = GoogleCredentials("other-client", "other-secret", "other-refresh")

    await box.put(ACCOUNT, replacement)

    assert await box.get(ACCOUNT) == replacement


async def test_one_parameter_per_account_under_the_prefix(box: SsmSecretBox, ssm: Any) -> None:
    await box.put(ACCOUNT, CREDENTIALS)
    await box.put("acc_other", CREDENTIALS)

    answer = await ssm.get_parameters_by_path(Path=PREFIX, WithDecryption=True)

    names = sorted(parameter["Name"] for parameter in answer["Parameters"])
    assert names == [f"{PREFIX}/{ACCOUNT}", f"{PREFIX}/acc_other"]
    assert orjson.loads(answer["Parameters"][0]["Value"]) == {
        "client_id": CREDENTIALS.client_id,
        "client_secret": SECRET,
        "refresh_token": REFRESH,
    }


async def test_the_value_is_a_secure_string(box: SsmSecretBox, ssm: Any) -> None:
    await box.put(ACCOUNT, CREDENTIALS)
    name = f"{PREFIX}/{ACCOUNT}"

    described = await ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])
    undecrypted = await ssm.get_parameter(Name=name, WithDecryption=False)

    assert described["Parameters"][0]["Type"] == "SecureString"
    assert described["Parameters"][0]["Tier"] == "Standard"
    assert undecrypted["Parameter"]["Type"] == "SecureString"
    assert REFRESH not in undecrypted["Parameter"]["Value"].split(":", 2)[:2]
    assert (
        undecrypted["Parameter"]["Value"]
        != (await ssm.get_parameter(Name=name, WithDecryption=True))["Parameter"]["Value"]
    )


async def test_the_kms_key_is_used_when_set(ssm: Any, kms: Any, clock: FakeClock) -> None:
    key_id = (await kms.create_key(Description="calbot credentials"))["KeyMetadata"]["KeyId"]
    box = SsmSecretBox(ssm, PREFIX, key_id, clock)

    await box.put(ACCOUNT, CREDENTIALS)

    described = await ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [f"{PREFIX}/{ACCOUNT}"]}]
    )
    assert described["Parameters"][0]["KeyId"] == key_id
    assert await box.get(ACCOUNT) == CREDENTIALS


async def test_without_a_kms_key_ssm_picks_its_default(box: SsmSecretBox, ssm: Any) -> None:
    await box.put(ACCOUNT, CREDENTIALS)

    described = await ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [f"{PREFIX}/{ACCOUNT}"]}]
    )
    assert described["Parameters"][0]["KeyId"] == "alias/aws/ssm"


# -- missing, delete -------------------------------------------------------------------------


async def test_missing_credentials_are_none(box: SsmSecretBox) -> None:
    assert await box.get(ACCOUNT) is None


async def test_delete_forgets_and_deleting_again_is_fine(box: SsmSecretBox, ssm: Any) -> None:
    await box.put(ACCOUNT, CREDENTIALS)
    await box.get(ACCOUNT)  # cached now

    await box.delete(ACCOUNT)
    await box.delete(ACCOUNT)

    assert await box.get(ACCOUNT) is None
    assert (await ssm.get_parameters_by_path(Path=PREFIX))["Parameters"] == []


# -- limits and names ------------------------------------------------------------------------


async def test_credentials_over_4_kb_are_refused_before_any_call(
    ssm: Any, clock: FakeClock
) -> None:
    counting = CountingClient(ssm)
    box = SsmSecretBox(counting, PREFIX, None, clock)
    huge = GoogleCredentials("client", SECRET, REFRESH + "x" * 4096)

    with pytest.raises(InvalidGoogleCredentials) as raised:
        await box.put(ACCOUNT, huge)

    assert "4096" in raised.value.detail
    assert SECRET not in str(raised.value)
    assert REFRESH not in str(raised.value)
    assert counting.calls["put_parameter"] == 0
    assert await box.get(ACCOUNT) is None


async def test_credentials_of_exactly_4_kb_are_stored(box: SsmSecretBox) -> None:
    empty = len(orjson.dumps({"client_id": "c", "client_secret": "s", "refresh_token": ""}))
    exactly = GoogleCredentials("c", "s", "r" * (4096 - empty))

    await box.put(ACCOUNT, exactly)

    assert await box.get(ACCOUNT) == exactly


@pytest.mark.parametrize(
    "name",
    [
        "/calbot/acc_1",
        "/calbot/prod.eu-west-1/acc-1",
        "calbot-flat-name",
        "/" + "/".join(["l"] * 15),
        "/" + "n" * 1010,
    ],
)
def test_valid_parameter_names(name: str) -> None:
    check_parameter_name(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/calbot/acc 1", "may contain only"),
        ("/calbot/user@example.com", "may contain only"),
        ("/calbot/acc#1", "may contain only"),
        ("/aws/calbot/acc_1", "must not begin"),
        ("/ssm/acc_1", "must not begin"),
        ("AWS-calbot/acc_1", "must not begin"),
        ("/" + "/".join(["l"] * 16), "levels"),
        ("/" + "n" * 1011, "characters long"),
        ("/calbot//acc_1", "empty path segment"),
    ],
)
def test_invalid_parameter_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidParameterName, match=reason):
        check_parameter_name(name)


def test_the_prefix_is_normalised_to_a_path() -> None:
    assert parameter_name("calbot/prod/", "acc_1") == "/calbot/prod/acc_1"
    assert parameter_name("/calbot", "acc_1") == "/calbot/acc_1"


@pytest.mark.parametrize("prefix", ["", "/", "/aws/calbot", "/calbot/with space"])
def test_a_bad_prefix_fails_at_construction(prefix: str, clock: FakeClock) -> None:
    with pytest.raises(InvalidParameterName):
        SsmSecretBox(object(), prefix, None, clock)


async def test_a_bad_account_id_is_refused_before_any_call(ssm: Any, clock: FakeClock) -> None:
    counting = CountingClient(ssm)
    box = SsmSecretBox(counting, PREFIX, None, clock)

    with pytest.raises(InvalidParameterName):
        await box.put("acc 1", CREDENTIALS)

    assert not counting.calls


# -- cache -----------------------------------------------------------------------------------


async def test_a_second_get_within_a_minute_is_served_from_the_cache(
    ssm: Any, clock: FakeClock
) -> None:
    counting = CountingClient(ssm)
    box = SsmSecretBox(counting, PREFIX, None, clock)
    await box.put(ACCOUNT, CREDENTIALS)

    assert await box.get(ACCOUNT) == CREDENTIALS
    clock.advance(59)
    assert await box.get(ACCOUNT) == CREDENTIALS
    assert counting.calls["get_parameter"] == 1

    clock.advance(2)
    assert await box.get(ACCOUNT) == CREDENTIALS
    assert counting.calls["get_parameter"] == 2


async def test_put_and_delete_invalidate_the_cache(ssm: Any, clock: FakeClock) -> None:
    counting = CountingClient(ssm)
    box = SsmSecretBox(counting, PREFIX, None, clock)
    await box.put(ACCOUNT, CREDENTIALS)
    await box.get(ACCOUNT)

    await box.put(ACCOUNT, CREDENTIALS)
    await box.get(ACCOUNT)
    await box.delete(ACCOUNT)
    assert await box.get(ACCOUNT) is None

    assert counting.calls["get_parameter"] == 3


async def test_a_fresh_read_sees_a_put_made_by_another_replica(ssm: Any, clock: FakeClock) -> None:
    """Each replica has its own cache; a put on one cannot reach the others' (issue 12, case 8):
    `fresh` is how a caller that knows the credentials changed gets the new ones at once."""
    counting = CountingClient(ssm)
    this_replica = SsmSecretBox(counting, PREFIX, None, clock)
    other_replica = SsmSecretBox(ssm, PREFIX, None, clock)
    await other_replica.put(ACCOUNT, CREDENTIALS)
    assert await this_replica.get(ACCOUNT) == CREDENTIALS  # cached here now
    reconnected = GoogleCredentials(CREDENTIALS.client_id, SECRET, "1//0g-after-reconnecting")

    await other_replica.put(ACCOUNT, reconnected)

    assert await this_replica.get(ACCOUNT) == CREDENTIALS  # still the cache, within its minute
    assert await this_replica.get(ACCOUNT, fresh=True) == reconnected
    assert await this_replica.get(ACCOUNT) == reconnected  # the fresh read refreshed the cache
    assert counting.calls["get_parameter"] == 2


async def test_the_cache_keeps_a_bounded_number_of_accounts(ssm: Any, clock: FakeClock) -> None:
    counting = CountingClient(ssm)
    box = SsmSecretBox(counting, PREFIX, None, clock, max_cached_accounts=3)
    accounts = [f"acc_{n}" for n in range(20)]
    for account_id in accounts:
        await box.put(account_id, CREDENTIALS)
        await box.get(account_id)
    assert len(box._cache) == 3

    await box.get(accounts[-1])  # among the three most recent: no call
    assert counting.calls["get_parameter"] == 20
    await box.get(accounts[0])  # dropped: read again
    assert counting.calls["get_parameter"] == 21

    clock.advance(61)
    await box.get(accounts[1])  # every other entry had expired: dropped on this fill
    assert len(box._cache) == 1


async def test_a_missing_parameter_is_not_cached(ssm: Any, clock: FakeClock) -> None:
    box = SsmSecretBox(ssm, PREFIX, None, clock)
    assert await box.get(ACCOUNT) is None

    await ssm.put_parameter(
        Name=f"{PREFIX}/{ACCOUNT}",
        Value=orjson.dumps({"client_id": "c", "client_secret": "s", "refresh_token": "r"}).decode(),
        Type="SecureString",
    )  # another replica connected the account

    assert await box.get(ACCOUNT) == GoogleCredentials("c", "s", "r")


# -- throttling and errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "code"),
    [("get_parameter", "ThrottlingException"), ("put_parameter", "TooManyUpdates")],
)
async def test_throttling_is_retried_with_backoff_through_the_clock(
    ssm: Any, clock: FakeClock, operation: str, code: str
) -> None:
    throttled = FailingClient(ssm, operation, code, times=2)
    box = SsmSecretBox(throttled, PREFIX, None, clock)

    await box.put(ACCOUNT, CREDENTIALS)

    assert await box.get(ACCOUNT) == CREDENTIALS
    assert throttled.failures_left == 0
    assert len(clock.slept) == 2
    assert all(0 <= delay <= SSM_RETRY.max_delay for delay in clock.slept)


async def test_throttling_that_never_ends_is_storage_unavailable(
    ssm: Any, clock: FakeClock
) -> None:
    throttled = FailingClient(ssm, "get_parameter", "ThrottlingException", times=100)
    box = SsmSecretBox(throttled, PREFIX, None, clock)

    with pytest.raises(StorageUnavailable, match="throttling"):
        await box.get(ACCOUNT)

    assert SSM_RETRY.max_attempts is not None
    assert len(clock.slept) == SSM_RETRY.max_attempts - 1
    assert all(delay <= SSM_RETRY.max_delay for delay in clock.slept)


async def test_other_errors_are_storage_unavailable_at_once(ssm: Any, clock: FakeClock) -> None:
    denied = FailingClient(ssm, "get_parameter", "AccessDeniedException", times=1)
    box = SsmSecretBox(denied, PREFIX, None, clock)

    with pytest.raises(StorageUnavailable, match="AccessDeniedException"):
        await box.get(ACCOUNT)

    assert clock.slept == []


async def test_no_secret_reaches_a_repr_or_an_error(ssm: Any, clock: FakeClock) -> None:
    # AWS validation messages quote the request, and a put's request is the secret.
    echoing = FailingClient(
        ssm,
        "put_parameter",
        "ValidationException",
        times=1,
        message=f"Value '{SECRET} {REFRESH}' at 'value' failed to satisfy constraint",
    )
    box = SsmSecretBox(echoing, PREFIX, "alias/calbot", clock)

    with pytest.raises(StorageUnavailable) as raised:
        await box.put(ACCOUNT, CREDENTIALS)

    shown = "".join(traceback.format_exception(raised.value)) + repr(raised.value)
    shown += repr(box) + repr(CREDENTIALS)
    assert "ValidationException" in shown
    assert SECRET not in shown
    assert REFRESH not in shown

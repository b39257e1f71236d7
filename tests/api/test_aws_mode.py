"""calbot on its AWS backends (DynamoDB, SSM, EventBridge + SQS) against moto over real HTTP.

Same routes, same services: only the configuration changes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from fastapi import FastAPI

from app.adapters.aws.bootstrap import bootstrap_aws
from app.config import Settings
from app.container import Container, open_container
from app.domain import AutoScheduleSettings
from app.main import create_app
from tests.aws import aws_endpoint, aws_env, moto_reset, moto_server, open_aws_client  # noqa: F401
from tests.conftest import BOT_API_URL, GOOD_CREDENTIALS, meeting, new_auth
from tests.fake_google import GOOD_CLIENT_SECRET, GOOD_REFRESH_TOKEN, FakeGoogle
from tests.fakes import FakeClock

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GROUP = "calbot-test"
PRIMARY = "user@example.com"


@pytest.fixture
async def aws_settings(settings: Settings, aws_endpoint: str) -> Settings:  # noqa: F811
    base = settings.model_copy(
        update={
            "storage_backend": "dynamodb",
            "secrets_backend": "ssm",
            "aws_region": "us-east-1",
            "aws_endpoint_url": aws_endpoint,
            "dynamodb_table": "calbot",
            "ssm_parameter_prefix": "/calbot/test",
            "eventbridge_schedule_group": GROUP,
        }
    )
    lines = await bootstrap_aws(base, queue_name="calbot-launch", schedule_group=True)
    values = dict(line.split("=", 1) for line in lines)
    return base.model_copy(
        update={
            "scheduler_backend": "eventbridge",
            "launch_queue_url": values["LAUNCH_QUEUE_URL"],
            "eventbridge_target_arn": values["EVENTBRIDGE_TARGET_ARN"],
            "eventbridge_role_arn": "arn:aws:iam::123456789012:role/calbot-scheduler",
        }
    )


@pytest.fixture
async def aws_app(
    aws_settings: Settings, clock: FakeClock, google_mock: respx.MockRouter
) -> AsyncIterator[FastAPI]:
    application = create_app(aws_settings, clock=clock, run_background=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def aws_client_http(aws_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=aws_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as http:
        yield http


async def _connected_event(
    client: httpx.AsyncClient, container: Container, fake_google: FakeGoogle
) -> tuple[dict[str, str], str]:
    auth = await new_auth(container)
    response = await client.post(
        "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=auth
    )
    assert response.status_code == 201, response.text
    fake_google.put_event(PRIMARY, meeting("m", "2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"))
    events = (await client.get("/api/v1/calendar/events", headers=auth)).json()["events"]
    return auth, events[0]["event_id"]


async def test_bootstrap_is_idempotent(aws_settings: Settings) -> None:
    again = await bootstrap_aws(aws_settings, queue_name="calbot-launch", schedule_group=True)
    assert "DYNAMODB_TABLE=calbot (already there)" in again
    assert f"EVENTBRIDGE_SCHEDULE_GROUP={GROUP} (already there)" in again


async def test_credentials_live_in_ssm_and_disconnect_removes_them_and_schedules(
    aws_client_http: httpx.AsyncClient,
    aws_app: FastAPI,
    fake_google: FakeGoogle,
    aws_settings: Settings,
) -> None:
    container: Container = aws_app.state.container
    auth, _ = await _connected_event(aws_client_http, container, fake_google)
    account_id = await container.api_keys.authenticate(auth["Authorization"].split()[1])

    async with open_aws_client("ssm", aws_settings.aws_endpoint_url or "") as ssm:
        stored = await ssm.get_parameter(Name=f"/calbot/test/{account_id}")
        # moto's SecureString "encryption" is only a prefix; the type is what AWS acts on.
        assert stored["Parameter"]["Type"] == "SecureString"
        async with open_aws_client("dynamodb", aws_settings.aws_endpoint_url or "") as dynamodb:
            scanned = json.dumps(await dynamodb.scan(TableName="calbot"), default=str)
        assert GOOD_CLIENT_SECRET not in scanned
        assert GOOD_REFRESH_TOKEN not in scanned

        event_id = (await aws_client_http.get("/api/v1/calendar/get_events", headers=auth)).json()[
            "events"
        ][0]["event_id"]
        bot = await aws_client_http.post(
            f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": {}}, headers=auth
        )
        disconnected = await aws_client_http.delete("/api/v1/calendar/disconnect", headers=auth)
        assert disconnected.json()["bots_cancelled"] == 1
        async with open_aws_client("scheduler", aws_settings.aws_endpoint_url or "") as scheduler:
            with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
                await scheduler.get_schedule(Name=bot.json()["bot_id"], GroupName=GROUP)
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            await ssm.get_parameter(Name=f"/calbot/test/{account_id}")


async def test_fifty_concurrent_schedules_on_dynamodb_make_one_bot_with_one_schedule(
    aws_client_http: httpx.AsyncClient,
    aws_app: FastAPI,
    fake_google: FakeGoogle,
    aws_settings: Settings,
) -> None:
    container: Container = aws_app.state.container
    auth, event_id = await _connected_event(aws_client_http, container, fake_google)

    responses = await asyncio.gather(
        *(
            aws_client_http.post(
                f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": {}}, headers=auth
            )
            for _ in range(50)
        )
    )

    assert sorted(r.status_code for r in responses) == [200] * 49 + [201]
    bot_id = responses[0].json()["bot_id"]
    assert {r.json()["bot_id"] for r in responses} == {bot_id}
    listed = await aws_client_http.get("/api/v1/calendar/scheduled_bots", headers=auth)
    assert len(listed.json()["scheduled_bots"]) == 1
    async with open_aws_client("scheduler", aws_settings.aws_endpoint_url or "") as scheduler:
        schedule = await scheduler.get_schedule(Name=bot_id, GroupName=GROUP)
    # join_at 12:57 -> fires at 12:56 (a minute early, minute precision), deleted after.
    assert schedule["ScheduleExpression"] == "at(2026-11-25T12:56:00)"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert json.loads(schedule["Target"]["Input"])["bot_id"] == bot_id


async def test_a_schedule_delivered_twice_launches_the_bot_once(
    aws_client_http: httpx.AsyncClient,
    aws_app: FastAPI,
    fake_google: FakeGoogle,
    aws_settings: Settings,
    google_mock: respx.MockRouter,
    clock: FakeClock,
) -> None:
    create_bot = google_mock.post(BOT_API_URL).mock(
        return_value=httpx.Response(201, json={"bot_id": "ext-1"})
    )
    container: Container = aws_app.state.container
    auth, event_id = await _connected_event(aws_client_http, container, fake_google)
    bot = (
        await aws_client_http.post(
            f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": {"a": 1}}, headers=auth
        )
    ).json()
    async with open_aws_client("scheduler", aws_settings.aws_endpoint_url or "") as scheduler:
        schedule = await scheduler.get_schedule(Name=bot["bot_id"], GroupName=GROUP)
    payload = schedule["Target"]["Input"]

    # moto never fires schedules: deliver the schedule's payload ourselves, twice.
    clock.set(clock.now().replace(hour=12, minute=57))
    consumer = container.launch_queue
    assert consumer is not None
    async with open_aws_client("sqs", aws_settings.aws_endpoint_url or "") as sqs:
        for _ in range(2):
            await sqs.send_message(QueueUrl=aws_settings.launch_queue_url, MessageBody=payload)
        for _ in range(3):
            await consumer.poll_once(wait_seconds=1)
        await consumer.drain()

    assert create_bot.call_count == 1
    assert create_bot.calls[0].request.headers["idempotency-key"] == bot["bot_id"]
    listed = (await aws_client_http.get("/api/v1/calendar/scheduled_bots", headers=auth)).json()
    [launched] = listed["scheduled_bots"]
    assert (launched["status"], launched["external_bot_id"]) == ("launched", "ext-1")


async def test_two_replicas_run_one_auto_schedule_pass_between_them(
    aws_client_http: httpx.AsyncClient,
    aws_app: FastAPI,
    fake_google: FakeGoogle,
    aws_settings: Settings,
    clock: FakeClock,
) -> None:
    container: Container = aws_app.state.container
    for hour in range(14, 20):
        fake_google.put_event(
            PRIMARY, meeting(f"h{hour}", f"2026-11-25T{hour}:00:00Z", f"2026-11-25T{hour}:30:00Z")
        )
    auth, _ = await _connected_event(aws_client_http, container, fake_google)
    account_id = await container.api_keys.authenticate(auth["Authorization"].split()[1])
    await container.stores.auto_schedule.save_auto_schedule(
        account_id, AutoScheduleSettings(True, {"x": 1})
    )

    async with open_container(aws_settings, clock=clock) as other:
        jobs = [
            next(j for j in replica.periodic_jobs() if j.job_id == "auto-schedule")
            for replica in (container, other)
        ]
        await asyncio.gather(*(job.run() for job in jobs))

    listed = (await aws_client_http.get("/api/v1/calendar/scheduled_bots", headers=auth)).json()
    assert sorted(b["google_event_id"] for b in listed["scheduled_bots"]) == [
        "h14",
        "h15",
        "h16",
        "h17",
        "h18",
        "h19",
        "m",
    ]
    assert {b["source"] for b in listed["scheduled_bots"]} == {"auto_schedule"}


async def test_a_reconnect_on_one_replica_survives_another_ones_cached_credentials(
    aws_client_http: httpx.AsyncClient,
    aws_app: FastAPI,
    fake_google: FakeGoogle,
    aws_settings: Settings,
    clock: FakeClock,
) -> None:
    """Replica one caches the credentials it read from SSM; the user reconnects through replica
    two with a new refresh token (the old one is dead). Replica one's next sync must use the new
    ones, not get invalid_grant with its cache and mark the fresh connection revoked."""
    container: Container = aws_app.state.container
    auth, _ = await _connected_event(aws_client_http, container, fake_google)
    reconnected = {**GOOD_CREDENTIALS, "google_refresh_token": "1//after-reconnecting"}
    fake_google.revoke_access()
    fake_google.refresh_tokens.add(reconnected["google_refresh_token"])
    second = create_app(aws_settings, clock=clock, run_background=False)
    async with second.router.lifespan_context(second):
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as http:
            answer = await http.post(
                "/api/v1/calendar/create_calendar", json=reconnected, headers=auth
            )
    assert answer.status_code == 200, answer.text  # it replaced the connection
    fake_google.put_event(PRIMARY, meeting("m2", "2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z"))

    events = await aws_client_http.get("/api/v1/calendar/events", headers=auth)
    calendars = await aws_client_http.get("/api/v1/calendar/calendars", headers=auth)

    assert events.status_code == 200, events.text
    assert [e["google_event_id"] for e in events.json()["events"]] == ["m", "m2"]
    assert calendars.json()["connection_status"] == "active"


async def test_on_dynamodb_a_reconnected_account_gets_its_meetings_bots_again(
    aws_client_http: httpx.AsyncClient, aws_app: FastAPI, fake_google: FakeGoogle
) -> None:
    container: Container = aws_app.state.container
    auth, _ = await _connected_event(aws_client_http, container, fake_google)
    enabled = await aws_client_http.post(
        "/api/v1/calendar/auto-schedule/enable", json={"default_bot_config": {}}, headers=auth
    )
    assert enabled.status_code == 200
    await aws_client_http.delete("/api/v1/calendar/disconnect", headers=auth)

    await aws_client_http.post(
        "/api/v1/calendar/create_calendar", json=GOOD_CREDENTIALS, headers=auth
    )
    await aws_client_http.get("/api/v1/calendar/events", headers=auth)
    await container.auto_schedule.run_pass()

    listed = (await aws_client_http.get("/api/v1/calendar/scheduled_bots", headers=auth)).json()
    assert sorted(b["status"] for b in listed["scheduled_bots"]) == ["cancelled", "scheduled"]


async def test_readiness_checks_the_table(aws_client_http: httpx.AsyncClient) -> None:
    assert (await aws_client_http.get("/readyz")).status_code == 200


async def test_a_bot_that_fell_due_while_every_replica_was_down_is_launched_on_start_up(
    aws_settings: Settings,
    fake_google: FakeGoogle,
    google_mock: respx.MockRouter,
    clock: FakeClock,
) -> None:
    create_bot = google_mock.post(BOT_API_URL).mock(
        return_value=httpx.Response(201, json={"bot_id": "ext-1"})
    )
    before = create_app(aws_settings, clock=clock, run_background=False)
    async with before.router.lifespan_context(before):
        transport = httpx.ASGITransport(app=before)
        async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as http:
            auth, event_id = await _connected_event(http, before.state.container, fake_google)
            bot = (
                await http.post(
                    f"/api/v1/calendar/schedule/{event_id}", json={"bot_config": {}}, headers=auth
                )
            ).json()
    # Every replica was down at 12:56, when EventBridge delivered the bot's launch (moto never
    # fires schedules: nothing reaches the queue). One replica starts again at 13:05.
    after = create_app(aws_settings, clock=FakeClock(clock.now().replace(hour=13, minute=5)))
    async with after.router.lifespan_context(after):
        for _ in range(200):  # within a second or two, not at the next one-minute safety net
            if create_bot.call_count:
                break
            await asyncio.sleep(0.02)
        transport = httpx.ASGITransport(app=after)
        async with httpx.AsyncClient(transport=transport, base_url="http://calbot.test") as http:
            listed = (await http.get("/api/v1/calendar/scheduled_bots", headers=auth)).json()

    assert create_bot.call_count == 1
    assert create_bot.calls[0].request.headers["idempotency-key"] == bot["bot_id"]
    [launched] = listed["scheduled_bots"]
    assert (launched["status"], launched["external_bot_id"]) == ("launched", "ext-1")


async def test_one_meeting_on_two_calendars_is_one_bot_whose_schedule_goes_with_the_meeting(
    aws_client_http: httpx.AsyncClient,
    aws_app: FastAPI,
    fake_google: FakeGoogle,
    aws_settings: Settings,
) -> None:
    container: Container = aws_app.state.container
    auth, _ = await _connected_event(aws_client_http, container, fake_google)
    team = "team@group.calendar.google.com"
    event_ids = {}
    for calendar_id in (PRIMARY, team):
        fake_google.put_event(
            calendar_id,
            meeting(
                "shared", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z", iCalUID="shared@x.test"
            ),
        )
        listed = await aws_client_http.get(
            "/api/v1/calendar/events", params={"calendar_id": calendar_id}, headers=auth
        )
        [event_ids[calendar_id]] = [
            e["event_id"] for e in listed.json()["events"] if e["google_event_id"] == "shared"
        ]
    first, again = [
        await aws_client_http.post(
            f"/api/v1/calendar/schedule/{event_ids[calendar_id]}",
            json={"bot_config": {}},
            headers=auth,
        )
        for calendar_id in (PRIMARY, team)
    ]
    assert (first.status_code, again.status_code) == (201, 200)
    bot_id = first.json()["bot_id"]
    assert again.json()["bot_id"] == bot_id
    assert first.json()["meeting_key"] == "ical:shared@x.test"

    fake_google.forget_event(PRIMARY, "shared")
    fake_google.expire_sync_tokens = True
    assert (await aws_client_http.get("/api/v1/calendar/events", headers=auth)).status_code == 200

    bot = (await aws_client_http.get("/api/v1/calendar/scheduled_bots", headers=auth)).json()[
        "scheduled_bots"
    ]
    assert [(b["bot_id"], b["status"], b["last_error"]) for b in bot] == [
        (bot_id, "cancelled", "The meeting was deleted in Google Calendar.")
    ]
    async with open_aws_client("scheduler", aws_settings.aws_endpoint_url or "") as scheduler:
        with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
            await scheduler.get_schedule(Name=bot_id, GroupName=GROUP)

"""/docs and /openapi.json describe every route well enough to use it from Swagger UI."""

from __future__ import annotations

import httpx

CONTRACT_ROUTES = {
    ("post", "/api/v1/calendar/create_calendar"),
    ("delete", "/api/v1/calendar/disconnect"),
    ("get", "/api/v1/calendar/calendars"),
    ("get", "/api/v1/calendar/events"),
    ("get", "/api/v1/calendar/get_events"),
    ("post", "/api/v1/calendar/schedule/{event_id}"),
    ("delete", "/api/v1/calendar/schedule/{event_id}"),
    ("get", "/api/v1/calendar/scheduled_bots"),
    ("patch", "/api/v1/calendar/scheduled_bots/{bot_id}"),
    ("delete", "/api/v1/calendar/scheduled_bots/{bot_id}"),
    ("post", "/api/v1/calendar/auto-schedule/enable"),
    ("post", "/api/v1/calendar/auto-schedule/disable"),
    ("get", "/api/v1/calendar/auto-schedule/settings"),
    ("post", "/api/v1/calendar/auto-reschedule"),
    ("post", "/api/v1/calendar/toggle-recurrence"),
}


async def test_every_route_has_a_summary_a_description_and_its_errors(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = {
        (method, path): operation
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert operations.keys() >= CONTRACT_ROUTES
    for key in CONTRACT_ROUTES:
        operation = operations[key]
        assert operation["summary"], key
        assert len(operation["description"]) > 40, key
        assert "401" in operation["responses"], key
        assert operation["security"] == [{"Token": []}], key
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and status != "422":
                examples = response["content"]["application/json"]["examples"]
                assert all("detail" in e["value"] for e in examples.values()), (key, status)


async def test_the_token_security_scheme_lets_swagger_authorize(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    scheme = spec["components"]["securitySchemes"]["Token"]
    assert scheme == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": scheme["description"],
    }
    assert "Token <API_KEY>" in scheme["description"]


async def test_request_and_response_examples_are_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for key in CONTRACT_ROUTES:
        operation = spec["paths"][key[1]][key[0]]
        success = next(v for k, v in operation["responses"].items() if k.startswith("2"))
        reference = success["content"]["application/json"]["schema"]["$ref"]
        assert schemas[reference.rsplit("/", 1)[1]]["examples"], key
        body = operation.get("requestBody")
        if body:
            reference = body["content"]["application/json"]["schema"]["$ref"]
            assert schemas[reference.rsplit("/", 1)[1]].get("examples"), key


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger-ui" in response.text


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200


async def test_the_webhook_needs_no_api_key(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/calendar/webhooks/google"]["post"]
    assert "security" not in operation
    assert operation["summary"]

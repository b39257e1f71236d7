"""Validation errors as clients see them: loc, msg and type, never a value that was sent."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from app.http_errors import public_items

SECRET = "sk-planted-must-never-come-back"


class QuotingModel(BaseModel):
    """A model whose validator quotes the value, as a careless validator might."""

    token: str

    @field_validator("token")
    @classmethod
    def refuse(cls, value: str) -> str:
        raise ValueError(f"{value} is not a token we know")


def pydantic_errors(**fields: Any) -> list[Any]:
    with pytest.raises(ValidationError) as refused:
        QuotingModel(**fields)
    return [{**error, "loc": ("body", *error["loc"])} for error in refused.value.errors()]


def test_a_message_that_quotes_the_submitted_value_is_replaced() -> None:
    [item] = public_items(pydantic_errors(token=SECRET), body_is_json=True)

    assert SECRET not in item["msg"]
    assert item == {
        "loc": ["body", "token"],
        "msg": "This value is not accepted here; the field's schema is in /docs.",
        "type": "value_error",
    }


def test_a_message_quoting_a_value_nested_in_the_input_is_replaced() -> None:
    error = {"type": "custom", "loc": ("body",), "msg": f"bad {SECRET}", "input": {"a": [SECRET]}}

    [item] = public_items([error], body_is_json=True)

    assert SECRET not in item["msg"]


def test_pydantics_own_messages_are_kept_and_input_and_context_dropped() -> None:
    errors = [
        {
            "type": "string_too_long",
            "loc": ("body", "name"),
            "msg": "String should have at most 200 characters",
            "input": SECRET * 10,
            "ctx": {"max_length": 200},
            "url": "https://errors.pydantic.dev/2/v/string_too_long",
        }
    ]

    assert public_items(errors, body_is_json=True) == [
        {
            "loc": ["body", "name"],
            "msg": "String should have at most 200 characters",
            "type": "string_too_long",
        }
    ]


def test_a_body_that_was_not_sent_as_json_is_told_how_to_send_it() -> None:
    error = {
        "type": "model_attributes_type",
        "loc": ("body",),
        "msg": "Input should be a valid dictionary or object to extract fields from",
        "input": SECRET.encode(),
    }

    [item] = public_items([error], body_is_json=False)

    assert item["msg"] == "Send the body as JSON, with 'Content-Type: application/json'."

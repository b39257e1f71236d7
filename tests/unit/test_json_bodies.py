"""Strict JSON bodies: what calbot refuses before any route runs, and where it says it is."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.json_bodies import BodyRefused, parse_json_body
from app.schemas import MAX_DEPTH


def nested(levels: int) -> str:
    """`levels` objects, each inside the previous one."""
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        (b'{"c": {"x": NaN}}', ["body", "c", "x"], "json_invalid"),
        (b'{"c": [1, Infinity]}', ["body", "c", 1], "json_invalid"),
        (b'{"c": -Infinity}', ["body", "c"], "json_invalid"),
        (b'{"c": 1e400}', ["body", "c"], "number_out_of_range"),
        (b'{"c": -1e400}', ["body", "c"], "number_out_of_range"),
        (b'{"c": 18446744073709551616}', ["body", "c"], "number_out_of_range"),
        (b'{"c": 9223372036854775808}', ["body", "c"], "number_out_of_range"),
        (b'{"c": -9223372036854775809}', ["body", "c"], "number_out_of_range"),
        (b'{"c": 1000000000000000000000000000000}', ["body", "c"], "number_out_of_range"),
        (b'{"c": ' + b"9" * 5000 + b"}", ["body", "c"], "number_out_of_range"),
        (b'{"c": "\\ud800"}', ["body", "c"], "string_unicode"),
        (b'{"c": {"\\udfff": 1}}', ["body", "c"], "string_unicode"),
        (b'{"c": "\xff"}', ["body"], "json_invalid"),
        (b"\xef\xbb\xbf{}", ["body"], "json_invalid"),
        (b"{'c': 1}", ["body"], "json_invalid"),
        (b'{"c": 1} trailing', ["body"], "json_invalid"),
        (b"not json", ["body"], "json_invalid"),
        (b"[" * 100_000 + b"]" * 100_000, ["body"], "json_too_deep"),
        (nested(MAX_DEPTH + 1).encode(), ["body", *["a"] * MAX_DEPTH], "json_too_deep"),
    ],
)
def test_a_body_calbot_cannot_store_or_forward_is_refused_saying_where(
    body: bytes, loc: list[str | int], error_type: str
) -> None:
    with pytest.raises(BodyRefused) as refused:
        parse_json_body(body)

    [problem] = refused.value.problems
    assert (list(problem.loc), problem.type) == (loc, error_type)
    assert problem.msg.endswith(".")
    assert ": send" in problem.msg  # says what to send instead


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"c": 9223372036854775807}', {"c": 2**63 - 1}),
        (b'{"c": -9223372036854775808}', {"c": -(2**63)}),
        (b'{"c": 1.7976931348623157e308}', {"c": 1.7976931348623157e308}),
        (b'{"c": 1e-400}', {"c": 0.0}),
        (b'{"c": "\\ud83d\\ude00 \\u0000"}', {"c": "\U0001f600 \x00"}),
        (nested(MAX_DEPTH).encode(), json.loads(nested(MAX_DEPTH))),
        (b"[]", []),
    ],
)
def test_strict_json_within_bounds_parses_unchanged(body: bytes, value: Any) -> None:
    assert parse_json_body(body) == value


def test_every_problem_is_listed_in_document_order() -> None:
    with pytest.raises(BodyRefused) as refused:
        parse_json_body(b'{"a": NaN, "b": [1, 1e999], "c": {"d": 99999999999999999999}}')

    assert [list(p.loc) for p in refused.value.problems] == [
        ["body", "a"],
        ["body", "b", 1],
        ["body", "c", "d"],
    ]

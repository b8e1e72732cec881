"""Go's encoding/json output: float forms, HTML escaping, sorted map keys."""

from __future__ import annotations

import random
import re
from typing import Any

import orjson
import pytest

from heapster.api.responses import go_indent
from heapster.gojson import go_float, go_json


@pytest.mark.parametrize(("value", "text"), [
    (3.0, "3"), (-2.0, "-2"), (0.0, "0"), (0.5, "0.5"), (123.456, "123.456"), (1e16, "10000000000000000"),
    (1e20, "100000000000000000000"), (1e21, "1e+21"), (1.5e22, "1.5e+22"), (1e-6, "0.000001"),
    (1.5e-7, "1.5e-7"), (1e-10, "1e-10"), (0.1 + 0.2, "0.30000000000000004"),
])
def test_floats_have_gos_shortest_form(value: float, text: str) -> None:
    assert go_float(value) == text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_go_refuses_nan_and_infinities(value: float) -> None:
    with pytest.raises(ValueError, match="unsupported value"):
        go_float(value)


def test_maps_are_sorted_and_html_is_escaped() -> None:
    assert go_json({"b": 1, "a": "x<y>&z\u2028", "c": [True, None, 2.5]}) == \
        '{"a":"x\\u003cy\\u003e\\u0026z\\u2028","b":1,"c":[true,null,2.5]}'


def _regex_go_indent(body: bytes) -> bytes:
    """The obvious (slow) rewrite of orjson's layout: every newline's 2k spaces become 1 + k."""
    return re.sub(rb"\n( *)", lambda m: b"\n" + b" " * (1 + len(m.group(1)) // 2), body)


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(6 if depth < 5 else 3)
    if kind == 0:
        return rng.choice([1, 2.5, None, True, "a  b", " ", "<&>", "x\ny"])
    if kind == 1:
        return {}
    if kind == 2:
        return []
    if kind in (3, 4):
        return {f"k{i} ": _random_value(rng, depth + 1) for i in range(rng.randrange(1, 4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))]


@pytest.mark.parametrize("seed", range(200))
def test_go_indent_matches_marshal_indent(seed: int) -> None:
    value = _random_value(random.Random(seed))
    body = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    assert go_indent(body) == _regex_go_indent(body)

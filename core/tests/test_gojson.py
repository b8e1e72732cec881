"""Go's encoding/json output: float forms, HTML escaping, sorted map keys."""

from __future__ import annotations

import pytest

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

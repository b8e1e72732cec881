"""Heapster's golden answers (``tests/fixtures/heapster-golden``) and the field-by-field check of ours.

The golden files hold what Heapster v1.6.0-beta.1 answered, written by hand from its source. Each exchange
is ``{"get", "status", "json" | "text", ["unordered"], ["compact"], ["settings"], ["now"], ["difference"]}``;
:func:`check_answer` compares our answer with it and returns the problems found (none when compatible).
"""

from __future__ import annotations

import json
import math
from typing import Any

from heapster.testing.fixtures import FIXTURES

GOLDEN = FIXTURES / "heapster-golden"

DIFFERENCES: dict[str, str] = {
    "floats-kept": "Model API values keep their type; Heapster truncated floats and cast them to uint64",
    "unknown-pod-404": "metrics.k8s.io answers 404 NotFound for a pod that does not exist, Heapster 500",
    "spelling-fixed": "Heapster's 'availalble' is spelt 'available'",
}
"""Every intentional difference an exchange may name (core/README.md explains each)."""

def load(name: str) -> Any:
    """One golden file, parsed."""
    return json.loads((GOLDEN / name).read_text())


def exchanges(family: str) -> list[tuple[str, dict[str, Any]]]:
    """``(test id, exchange)`` of the golden file ``<family>.json``."""
    return [(f"{family}:{e['get']}{'@' + e['now'] if 'now' in e else ''}", e)
            for e in load(f"{family}.json")["exchanges"]]


def go_indent(value: Any) -> bytes:
    """Go's ``json.MarshalIndent(v, " ", " ")`` (go-restful's pretty output) of a golden answer."""
    lines = json.dumps(value, indent=1, ensure_ascii=False).split("\n")
    text = "\n".join([lines[0], *(" " + line for line in lines[1:])])
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.encode()


def go_compact(value: Any) -> bytes:
    """Go's ``json.NewEncoder(w).Encode(v)``: compact and newline-terminated."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def canonical(value: Any) -> str:
    """A sort key for values Heapster listed in Go map order."""
    return json.dumps(value, sort_keys=True)


def go_uint64_of(ours: float) -> int:
    """What Heapster's Model API wrote for a float value: ``uint64(int64(v))``."""
    return math.trunc(ours) % 2**64


def compare(heapster: Any, ours: Any, path: str, difference: str | None, problems: list[str]) -> None:
    """Field by field into ``problems``; JSON types must match too (an int is not a float)."""
    if isinstance(heapster, dict) and isinstance(ours, dict):
        for key in heapster.keys() | ours.keys():
            if key not in ours:
                problems.append(f"{path}.{key}: missing (Heapster: {heapster[key]!r})")
            elif key not in heapster:
                problems.append(f"{path}.{key}: not in Heapster's answer (ours: {ours[key]!r})")
            else:
                compare(heapster[key], ours[key], f"{path}.{key}", difference, problems)
        return
    if isinstance(heapster, list) and isinstance(ours, list):
        if len(heapster) != len(ours):
            problems.append(f"{path}: {len(ours)} items, Heapster {len(heapster)}: {ours!r} vs {heapster!r}")
            return
        for index, (h, o) in enumerate(zip(heapster, ours, strict=True)):
            compare(h, o, f"{path}[{index}]", difference, problems)
        return
    if difference == "floats-kept" and path.endswith(".value") and isinstance(ours, float):
        if heapster != go_uint64_of(ours):
            problems.append(f"{path}: ours {ours!r} would be Heapster's {go_uint64_of(ours)}, not {heapster!r}")
        return
    if type(heapster) is not type(ours) or heapster != ours:
        problems.append(f"{path}: ours {ours!r}, Heapster {heapster!r}")


def check_answer(exchange: dict[str, Any], status: int, content_type: str, body: bytes) -> list[str]:
    """Problems of our answer (``status``, ``content_type`` without parameters, ``body``) against Heapster's.

    Where Heapster's answer was deterministic (not ``unordered``, no ``difference``) the body must be the
    bytes go-restful wrote, not only the same fields.
    """
    difference = exchange.get("difference")
    if difference is not None and difference not in DIFFERENCES:
        return [f"unknown difference {difference!r}"]
    if difference == "unknown-pod-404":
        return [] if status == 404 else [f"status {status}, expected 404 (Heapster {exchange['status']})"]
    if status != exchange["status"]:
        return [f"status {status}, Heapster {exchange['status']}: {body[:300]!r}"]
    if "text" in exchange:
        if content_type != "text/plain":
            return [f"content type {content_type}, Heapster text/plain"]
        text, expected = body.decode(), exchange["text"]
        if difference == "spelling-fixed":
            expected = expected.replace("availalble", "available")
        return [] if text == expected else [f"{text!r}, Heapster {expected!r}"]
    if content_type != "application/json":
        return [f"content type {content_type}, Heapster application/json"]
    heapster, ours = exchange["json"], json.loads(body)
    if exchange.get("unordered"):
        heapster, ours = sorted(heapster, key=canonical), sorted(ours, key=canonical)
    problems: list[str] = []
    compare(heapster, ours, "$", difference, problems)
    if not problems and not exchange.get("unordered") and difference is None:
        expected_bytes = go_compact(exchange["json"]) if exchange.get("compact") else go_indent(exchange["json"])
        if body != expected_bytes:
            problems.append(f"same fields, but not the bytes go-restful wrote: {body[:200]!r}")
    return problems

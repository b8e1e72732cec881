"""Kubernetes resource quantities (``200m``, ``15Mi``, ``1e3``) as Go's ``resource.Quantity`` reads them."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from functools import lru_cache

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}


@lru_cache(maxsize=4096)
def parse_quantity(text: str | int | float) -> Decimal:
    """The exact value of a quantity; ``ValueError`` if it is not one."""
    if isinstance(text, int | float):
        return Decimal(str(text))
    raw = text.strip()
    number, suffix = raw, ""
    for length in (2, 1):
        if len(raw) <= length:
            continue
        tail = raw[-length:]
        if tail in _BINARY or (length == 1 and tail and tail in _DECIMAL):
            number, suffix = raw[:-length], tail
            break
    try:
        value = Decimal(number)
    except InvalidOperation as exc:
        msg = f"invalid quantity {text!r}"
        raise ValueError(msg) from exc
    if not value.is_finite():
        msg = f"invalid quantity {text!r}"
        raise ValueError(msg)
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    return value * _DECIMAL[suffix]


def value(text: str | int | float) -> int:
    """Go's ``Quantity.Value()``: the value rounded up to an integer."""
    return math.ceil(parse_quantity(text))


def milli_value(text: str | int | float) -> int:
    """Go's ``Quantity.MilliValue()``: the value in thousandths, rounded up."""
    return math.ceil(parse_quantity(text) * 1000)


_DECIMAL_SUFFIXES = ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k"), (0, ""))
_BINARY_SUFFIXES = (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10))


def format_milli(millis: int) -> str:
    """A milli-value in Go's canonical DecimalSI form: ``250m``, ``1``, ``2k``."""
    if millis == 0:
        return "0"
    if millis % 1000:
        return f"{millis}m"
    whole = millis // 1000
    for exponent, suffix in _DECIMAL_SUFFIXES:
        scale = 10**exponent
        if whole % scale == 0:
            return f"{whole // scale}{suffix}"
    return str(whole)  # pragma: no cover - exponent 0 always divides


def format_binary(amount: int) -> str:
    """A byte count in Go's canonical BinarySI form: ``1234``, ``64Ki``, ``2Gi``."""
    if -1024 < amount < 1024:
        return str(amount)
    for suffix, shift in _BINARY_SUFFIXES:
        scale = 1 << shift
        if amount % scale == 0:
            return f"{amount // scale}{suffix}"
    return str(amount)

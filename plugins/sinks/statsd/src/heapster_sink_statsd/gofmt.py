"""Go's ``%v`` for the numbers Heapster wrote into statsd lines."""

from __future__ import annotations

import math
from decimal import Decimal


def format_v(value: int | float) -> str:
    """``fmt.Sprintf("%v", value)``: integers in decimal; floats as Go's shortest ``%g``.

    Shortest ``%g`` writes the fewest digits that read back as the same number, in exponent form
    (``1.234567e+06``, ``1e-05``) when the decimal exponent is below -4 or at least 6, else plainly
    (``0.25``, ``123456``). Heapster's floats were float32; ours are float64, so a value can show more
    digits than Heapster's would have (the same number, more precisely).
    """
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0"
    parts = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, parts.digits))
    exponent = int(parts.exponent) + len(digits) - 1  # of the first digit
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    point = exponent + 1  # digits before the decimal point
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"

"""Human-friendly durations ("30s", "10m", "2d") so config files never carry bare magic seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

__all__ = ["Duration", "format_duration", "parse_duration"]

_UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(ms|s|m|h|d)?\s*$")
_PART = re.compile(r"(\d+(?:\.\d*)?)(ms|s|m|h|d)")
_COMPOUND = re.compile(r"(?:\d+(?:\.\d*)?(?:ms|s|m|h|d)){2,}")
_HINT = "use a number of seconds or e.g. 30s, 10m, 1h, 2d, 6h15m"


def parse_duration(value: Any) -> float:
    """Turn a number of seconds or a string like "500ms", "30s", "10m", "1h", "2d" into seconds.

    Raises ValueError (which pydantic reports as a validation error) for anything else,
    for negative values and for non-finite numbers.
    """
    seconds = _to_seconds(value)
    if seconds is None:
        # ValueError, not TypeError: pydantic only turns ValueError into a validation error.
        raise ValueError(f"{value!r} is not a duration; {_HINT}")
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite duration; {_HINT}")
    if seconds < 0:
        raise ValueError("must be >= 0")
    return seconds


def _to_seconds(value: Any) -> float | None:
    """Seconds for a number or a "<number><unit>" string; None for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _PATTERN.match(value) if isinstance(value, str) else None
    if match is not None:
        number, unit = match.groups()
        return float(number) * _UNITS[unit or "s"]
    if isinstance(value, str) and _COMPOUND.fullmatch(value.strip()):  # "6h15m", "1h30m", "2d12h"
        return sum(float(n) * _UNITS[u] for n, u in _PART.findall(value))
    return None


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
"""Seconds as a float; config files may write a number of seconds or "500ms", "30s", "10m", "1h", "2d"."""


def format_duration(seconds: float) -> str:
    """Short display form: 3600 -> "1h", 1800 -> "30m", 2.5 -> "2.5s", 0.5 -> "500ms"."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{_trim(seconds * 1000)}ms"
    # Prefer the largest unit that divides exactly (5400 -> "90m", not "1.5h"),
    # unless that takes a long number (3700 -> "1.03h", not "3700s").
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        count = seconds / size
        if 1 <= count < 100 and math.isclose(count, round(count), abs_tol=1e-9):
            return f"{round(count)}{unit}"
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            return f"{_trim(seconds / size)}{unit}"
    return f"{_trim(seconds)}s"  # pragma: no cover - seconds >= 1 always matches "s"


def _trim(number: float) -> str:
    """At most two decimals, without trailing zeros: 2.50 -> "2.5", 3.0 -> "3"."""
    return f"{number:.2f}".rstrip("0").rstrip(".")

"""Five-field cron text, checked the same way wherever a policy names a schedule's cron."""

from __future__ import annotations

__all__ = ["five_field_cron"]

_FIELDS = 5


def five_field_cron(value: str, example: str) -> str:
    """`value` if it has the 5 fields of a cron expression; else a ValueError that shows `example`."""
    if len(value.split()) != _FIELDS:
        raise ValueError(
            f"{value!r} is not a cron expression: it needs 5 fields"
            f" (minute hour day-of-month month day-of-week), e.g. '{example}'"
        )
    return value

"""Change control in policies: blocked change windows, read in each region's own local time."""

from __future__ import annotations

import re
import zoneinfo
from datetime import tzinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.base import CONFIG

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


def zone(name: str) -> tzinfo:
    """The IANA zone `name` (zoneinfo, with the pinned tzdata as its fallback database).

    Workflows get zones here, from a module the sandbox passes through: inside the sandbox,
    zoneinfo's classes are wrapped in a proxy that datetime does not accept as a tzinfo.
    """
    return zoneinfo.ZoneInfo(name)


def minutes(clock: str) -> int:
    """Minutes after midnight of an "HH:MM" time ("24:00" is the end of the day: 1440)."""
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


class ChangeWindow(BaseModel):
    """A blocked window: no region it covers is changed from `from` to `to` on its `days`, local time."""

    # Files say `from` / `to` (aliases); the wire may carry either name (a model dump uses field names).
    model_config = ConfigDict(**CONFIG, validate_by_name=True, validate_by_alias=True)

    days: list[Day] = Field(min_length=1, description="Days the window blocks, e.g. [fri] or [sat, sun].")
    start: str = Field(alias="from", description='Local start time "HH:MM" (inclusive).')
    end: str = Field(alias="to", description='Local end time "HH:MM" (exclusive); "24:00" is midnight.')
    regions: list[str] = Field(
        default_factory=list, description="Regions it blocks (empty: every region of the topology)."
    )
    reason: str = Field(default="", description="Why, shown while a region waits (e.g. 'Friday freeze').")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"'{value}' is not a time of day: use HH:MM from 00:00 to 24:00")
        return value

    @field_validator("days")
    @classmethod
    def _unique(cls, value: list[Day]) -> list[Day]:
        if len(set(value)) != len(value):
            raise ValueError("a day is listed twice")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> ChangeWindow:
        if minutes(self.start) >= minutes(self.end):
            raise ValueError(
                f"to: '{self.end}' must be after from '{self.start}' (a window ends on the day it starts;"
                " split one that crosses midnight in two)"
            )
        return self

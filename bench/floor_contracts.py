"""Input of the engine-floor workflows: the shape of a real rollout, counted from its history."""

from __future__ import annotations

from pydantic import BaseModel


class FloorShape(BaseModel):
    """Validate: `validate_per_region` activities per region (regions at once); then groups of children."""

    regions: list[str]
    validate_per_region: int
    groups: list[list[str]]
    child_activities: dict[str, int]
    queue: str


class FloorChildInput(BaseModel):
    """One region's child: `activities` no-op activities in a row."""

    region: str
    activities: int

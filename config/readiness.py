"""Standing readiness policy: how often it is re-evaluated and how recent a practice and a drill must be.

Pure pydantic/stdlib (plus config.durations) so Temporal workflows can import it in the sandbox.
Defaults: hourly evaluation (Route 53 ARC readiness checks audit continuously; an hour keeps the
cost of reading every region low), and a passed failover practice and a passed DR drill within
8 days (weekly, as AWS zonal autoshift practice runs and weekly drills are, plus a day of slack).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from config.base import CONFIG
from config.durations import Duration

__all__ = ["ReadinessPolicy"]

_WEEK_AND_A_DAY = 8 * 86400.0


class ReadinessPolicy(BaseModel):
    """What standing readiness demands beyond a target, capacity, snapshots and lag."""

    model_config = CONFIG

    interval: Duration = Field(
        default=3600.0, gt=0, description="Time between scheduled evaluations (the readiness schedule)."
    )
    practice_max_age: Duration | None = Field(
        default=_WEEK_AND_A_DAY,
        description="A region whose last passed failover practice is older (or that never passed one)"
        " is not ready; null: the age is reported but never makes a region not ready.",
    )
    drill_max_age: Duration | None = Field(
        default=_WEEK_AND_A_DAY,
        description="A region the drills rehearse whose last passed drill is older (or that never"
        " passed one) is not ready; null: reported only. Regions no drill rehearses"
        " (policies.dr.drill.regions) are reported, never held to it.",
    )

"""Weekly failover practice policy: how long traffic stays away, when it runs, what ends it early.

Pure pydantic/stdlib (plus config modules) so Temporal workflows can import it in the sandbox.
Defaults follow Route 53 ARC zonal autoshift practice runs: weekly, traffic held away for a short
while, ended early by the *outcome* alarms the owners already have.
"""

from __future__ import annotations

import zoneinfo

from pydantic import BaseModel, Field, field_validator

from config.alarms import AlarmPolicy
from config.base import CONFIG
from config.change import zone
from config.cron import five_field_cron
from config.durations import Duration

__all__ = ["PracticePolicy"]


class PracticePolicy(BaseModel):
    """A failover practice: shift a region's traffic to its failover target, hold, then fail back."""

    model_config = CONFIG

    duration: Duration = Field(
        default=600.0, gt=0, description="How long the traffic stays on the target before failing back."
    )
    cron: str = Field(
        default="0 10 * * TUE",
        description="When scheduled practices run (5-field cron, in time_zone): Tuesday 10:00.",
    )
    time_zone: str = Field(default="UTC", description="IANA time zone the cron is read in.")
    regions: list[str] = Field(
        default_factory=list,
        description="Regions a schedule practices, one per week in turn (empty: every region).",
    )
    check_interval: Duration = Field(
        default=30.0, gt=0, description="How often the hold checks the target's health and the alarms."
    )
    alarms: AlarmPolicy | None = Field(
        default=None,
        description="Outcome alarms that end a practice early (default: the policies' `alarms`).",
    )
    require_lag: bool = Field(
        default=False,
        description="Refuse the practice when the target's replica lag is unknown (as an automatic"
        " failover does); by default unknown lag is accepted like a manual failover.",
    )
    failback_wait: Duration = Field(
        default=3600.0,
        gt=0,
        description="How long the failback waits for the practiced region to answer healthy.",
    )
    catchup_window: Duration = Field(
        default=3600.0,
        gt=0,
        description="A practice missed while the server was down still runs if it is at most this late.",
    )
    pause_on_failure: bool = Field(
        default=False, description="Pause the practice schedule after a failed practice, until unpaused."
    )

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        return five_field_cron(value, "0 10 * * TUE")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}': use an IANA name such as Europe/Berlin") from None
        return value

    def outcome_alarms(self, fallback: AlarmPolicy) -> AlarmPolicy:
        """The alarms that end a practice early: its own list, else the policies' alarms."""
        return self.alarms if self.alarms is not None else fallback

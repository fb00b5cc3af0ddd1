"""What a failover practice is asked and answers (workflows/practice.py, `globalops practice`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from config.models import Policies, Topology
from contracts.wire import WireModel

#: pass: shifted, held, back; fail: a step of the failover path failed (what practice is for);
#: aborted: ended early (target degraded, alarm, freeze, operator) and failed back; skipped: a blocked
#: window or a freeze kept it from starting (nothing moved).
PracticeVerdict = Literal["running", "pass", "fail", "aborted", "skipped"]


class PracticeRequest(WireModel):
    """Practice one region's failover (or, from a schedule, the region whose turn it is this week)."""

    service: str
    region: str | None = Field(default=None, description="None: regions[week % len(regions)] (schedules).")
    regions: list[str] = Field(default_factory=list, description="The rotation a schedule practices.")
    duration_s: float = Field(gt=0, description="How long traffic is held on the target.")
    topology: Topology
    policies: Policies
    request_id: str
    requested_by: str = "cli"
    scheduled: bool = False


class PracticeReport(WireModel):
    """The verdict, each phase's duration, and the traffic weights before and after."""

    workflow_id: str
    service: str
    region: str | None = None
    target: str | None = None
    scheduled: bool = Field(default=False, description="Started by the practice schedule.")
    verdict: PracticeVerdict = "running"
    phase: str = "starting"
    reason: str | None = None
    timings: dict[str, float] = Field(
        default_factory=dict, description="Seconds per phase: failover, hold, failback, total."
    )
    weights_before: dict[str, float] = Field(default_factory=dict)
    weights_after: dict[str, float] = Field(default_factory=dict)
    failover_status: str | None = None
    failback_status: str | None = None
    checks: int = Field(default=0, description="Health and alarm checks made while holding.")
    steps: list[str] = Field(default_factory=list)

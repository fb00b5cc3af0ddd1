"""What crosses the boundary of the monitor's watch: one long probe activity per task queue (B6 cost)."""

from __future__ import annotations

from pydantic import Field

from config.failover import FailoverPolicy
from config.models import Provider
from contracts.failover import Firing, ProbeSample, RegionTriggerState
from contracts.wire import WireModel

Readiness = str
"""ready | unhealthy | blind, as the monitor announces it."""


class WatchState(WireModel):
    """What the watch remembers between probe rounds: its heartbeat details and part of its result.

    A retried watch (its worker died) resumes from the last heartbeat that reached Temporal, so a
    run of failed probes or a sustained breach that had started keeps its start and its count.
    """

    probes: int = Field(default=0, description="Probe rounds of the monitor so far (all its watches).")
    states: dict[str, RegionTriggerState] = Field(default_factory=dict)
    streaks: dict[str, int] = Field(default_factory=dict, description="region -> healthy probes in a row")
    readiness: dict[str, Readiness] = Field(default_factory=dict)
    last: dict[str, ProbeSample] = Field(default_factory=dict)


class WatchRegion(WireModel):
    """One region the watch probes, through its provider's adapter."""

    name: str
    provider: Provider = "sim"


class WatchInput(WireModel):
    """One watch: its regions (all on one task queue), the trigger policy, and where it starts from."""

    service: str
    regions: list[WatchRegion]
    policy: FailoverPolicy
    call_timeout: float = Field(default=30.0, gt=0, description="Longest wait for one round's probes.")
    state: WatchState = Field(default_factory=WatchState)
    exclude: list[str] = Field(
        default_factory=list, description="Regions failing over or awaiting approval: their firings are moot."
    )
    recovering: list[str] = Field(
        default_factory=list, description="Regions whose recovery (healthy probes in a row) ends the watch."
    )
    first_round_returns: bool = Field(
        default=False, description="Return after one round (the monitor has no baseline to show yet)."
    )


class ReadinessChange(WireModel):
    """A region turned ready, unhealthy or blind at one probe round (announced once per change)."""

    region: str
    before: Readiness
    now: Readiness
    probe: int


class WatchResult(WireModel):
    """Why the watch ended, and what it saw: the monitor acts on it exactly as on its own probe rounds."""

    state: WatchState
    rounds: int = Field(description="Probe rounds this watch ran (its retries included).")
    reason: str = Field(description="firing | readiness | recovered | first_round | window")
    firings: list[Firing] = Field(default_factory=list)
    changes: list[ReadinessChange] = Field(default_factory=list)
    recovered: list[str] = Field(default_factory=list)

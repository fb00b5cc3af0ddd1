"""Typed inputs and results of monitoring, failover and failback (the wire contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from config.models import Policies, Provider, Topology
from workflows.failover_logic import Firing, ProbeSample, RegionTriggerState, Rejection

FailoverStatus = Literal["running", "succeeded", "refused", "failed", "aborted"]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProbeResult(_Contract):
    """One probe of a region: reachable and healthy, with its numbers (the workflow stamps the time)."""

    region: str
    ok: bool
    error_rate: float
    latency_p99_ms: float
    healthy_instances: int = 0
    detail: str = ""


class TrafficRef(_Contract):
    """The global traffic split of one service, through one provider's traffic manager."""

    service: str
    provider: Provider


class SetTrafficInput(TrafficRef):
    """New weights for some regions (the rest keep theirs), once per key."""

    weights: dict[str, float]
    key: str


class FailoverRequest(_Contract):
    """Move a region's traffic to a backup region; everything the workflow needs is here."""

    service: str
    from_region: str
    to_region: str | None = None
    topology: Topology
    policies: Policies
    request_id: str
    requested_by: str = "cli"
    trigger: str = "manual"
    first_bad_at: datetime | None = None
    detected_at: datetime | None = None


class FailoverReport(_Contract):
    """The query answer and result of a failover: what moved where, how fast, and why."""

    workflow_id: str
    status: FailoverStatus = "running"
    service: str
    from_region: str
    to_region: str | None = None
    trigger: str = "manual"
    phase: str = "starting"
    reason: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    targets_met: dict[str, bool] = Field(default_factory=dict)
    rejected_candidates: list[Rejection] = Field(default_factory=list)
    weights_before: dict[str, float] = Field(default_factory=dict)
    weights_after: dict[str, float] = Field(default_factory=dict)
    target_instances_before: int | None = Field(
        default=None, description="the target's instances before pre-scaling (failback scales back to it)"
    )
    steps: list[str] = Field(default_factory=list)


class FailbackRequest(_Contract):
    """Return traffic to a recovered region, gradually, from the backup that took it."""

    service: str
    region: str
    backup: str
    original_share: float = Field(gt=0, le=1)
    topology: Topology
    policies: Policies
    request_id: str
    max_wait_s: float = Field(default=86400, gt=0, description="give up waiting for recovery after this")
    backup_instances: int | None = Field(
        default=None, ge=1, description="scale the backup back to this once all traffic is home"
    )


class FailbackReport(_Contract):
    """What a failback did: the steps taken and where traffic ended."""

    workflow_id: str
    status: FailoverStatus = "running"
    service: str
    region: str
    backup: str
    phase: str = "waiting for recovery"
    reason: str | None = None
    steps_done: list[float] = Field(default_factory=list)
    weights_after: dict[str, float] = Field(default_factory=dict)


class FailoverDone(_Contract):
    """A failover tells the service's monitor it has ended, so it no longer counts as running."""

    region: str
    workflow_id: str
    status: FailoverStatus


class MonitorInput(_Contract):
    """The monitor's input, and the state it carries across continue-as-new."""

    service: str
    topology: Topology
    policies: Policies
    states: dict[str, RegionTriggerState] = Field(default_factory=dict)
    active: dict[str, str] = Field(default_factory=dict, description="region -> failover workflow id")
    pending: dict[str, Firing] = Field(default_factory=dict, description="manual triggers awaiting approval")
    done: dict[str, str] = Field(default_factory=dict, description="region -> final status of its failover")
    runs: int = 0
    probes: int = 0
    run_lengths: list[int] = Field(default_factory=list, description="history length of each earlier run")
    firings: list[Firing] = Field(default_factory=list, description="the latest triggers that fired")


class MonitorStatus(_Contract):
    """What the monitor knows now: last probe per region, trigger state, failovers."""

    service: str
    runs: int
    probes: int
    history_length: int = 0
    last: dict[str, ProbeSample] = Field(default_factory=dict)
    states: dict[str, RegionTriggerState] = Field(default_factory=dict)
    active: dict[str, str] = Field(default_factory=dict)
    pending: dict[str, Firing] = Field(default_factory=dict)
    done: dict[str, str] = Field(default_factory=dict, description="region -> final status of its failover")
    firings: list[Firing] = Field(default_factory=list)
    run_lengths: list[int] = Field(default_factory=list, description="history length of each earlier run")

"""Typed inputs and results of monitoring, failover and failback (the wire contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from config.failover import TriggerMode
from config.models import Policies, Provider, Topology
from config.traffic import GlobalTraffic
from contracts.wire import FrozenWireModel, WireModel

FailoverStatus = Literal["running", "succeeded", "refused", "failed", "aborted"]


TriggerName = Literal["probe_failures", "error_rate", "latency"]


class Candidate(FrozenWireModel):
    """What the decision knows about one region: health, residency, provider, load, capacity, lag."""

    region: str
    jurisdiction: str
    provider: Provider = Field(
        default="sim", description="Whose traffic manager knows the region (the topology's provider)."
    )
    healthy: bool
    traffic: float = Field(ge=0, description="Share of the service's global traffic (0-1).")
    instances: int = Field(ge=0)
    max_instances: int = Field(ge=0)
    latency_ms: float
    replica_lag_s: float | None = Field(default=None, description="None = unknown (never 0).")
    blind: bool = Field(default=False, description="Reachable, but no metrics arrived to judge it by.")


class Rejection(FrozenWireModel):
    """A region that cannot take the traffic, and the first rule it broke."""

    region: str
    reason: str


class TargetChoice(FrozenWireModel):
    """The chosen target (None = refuse) and why every other region was not chosen."""

    target: str | None
    needed_instances: int = 0
    rejected: list[Rejection] = Field(default_factory=list)
    considered: list[str] = Field(default_factory=list)


class ProbeSample(FrozenWireModel):
    """One probe of a region at a workflow time."""

    region: str
    at: datetime
    ok: bool = Field(description="Reachable, with more than 0 healthy instances.")
    error_rate: float | None
    latency_p99_ms: float | None
    blind: bool = Field(default=False, description="Reachable, but no metrics arrived: never healthy.")


class RegionTriggerState(FrozenWireModel):
    """What the triggers remember about one region between probes (survives continue-as-new)."""

    consecutive_failures: int = 0
    first_bad_at: datetime | None = Field(
        default=None, description="Earliest start among the breaches still active; None when all recovered."
    )
    error_breach_since: datetime | None = None
    latency_breach_since: datetime | None = None
    failing_since: datetime | None = Field(
        default=None, description="First failed probe of the current run of failed probes."
    )


class Firing(FrozenWireModel):
    """A trigger that fired: the region is declared bad."""

    region: str
    trigger: TriggerName
    mode: TriggerMode
    first_bad_at: datetime = Field(description="Start of this trigger's breach.")
    fired_at: datetime
    detail: str


class ProbeResult(WireModel):
    """One probe of a region: reachable and healthy, with its numbers (the workflow stamps the time).

    `blind`: reachable, but its metrics did not arrive (or no requests): never healthy, and no
    evidence of failure either; its numbers are None (unknown is never 0).
    """

    region: str
    ok: bool
    error_rate: float | None
    latency_p99_ms: float | None
    healthy_instances: int = 0
    detail: str = ""
    blind: bool = False
    source: str = ""


class TrafficRef(WireModel):
    """The global traffic split of one service: through the topology's global traffic layer when it has
    one (`layer`), else through one provider's traffic manager."""

    service: str
    provider: Provider
    layer: GlobalTraffic | None = Field(
        default=None, description="The topology's global traffic layer; None: the provider's own."
    )


class SetTrafficInput(TrafficRef):
    """New weights for some regions (the rest keep theirs), once per key."""

    weights: dict[str, float]
    key: str


class FailoverRequest(WireModel):
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
    require_lag: bool | None = Field(
        default=None,
        description="Refuse when the target's replica lag is unknown (None: unless the trigger is manual).",
    )


class FailoverReport(WireModel):
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
    traffic_layer: str | None = Field(
        default=None, description="the global traffic layer the weights moved through (None: the provider's)"
    )
    dns_ttl_s: float | None = Field(
        default=None, description="TTL of the records that moved: clients may keep the old answer this long"
    )
    traffic_shift_visible_after: datetime | None = Field(
        default=None, description="when every client sees the shift: the shift's time plus the records' TTL"
    )
    target_instances_before: int | None = Field(
        default=None, description="the target's instances before pre-scaling (failback scales back to it)"
    )
    steps: list[str] = Field(default_factory=list)


class FailbackRequest(WireModel):
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


class FailbackReport(WireModel):
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


class FailoverDone(WireModel):
    """A failover tells the service's monitor it has ended, so it no longer counts as running."""

    region: str
    workflow_id: str
    status: FailoverStatus


class MonitorInput(WireModel):
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
    readiness: dict[str, str] = Field(
        default_factory=dict, description="region -> ready | unhealthy | blind, at its last probe"
    )
    requested_by: str = Field(default="", description="who started the monitor (four eyes on approvals)")
    nonces: dict[str, datetime] = Field(
        default_factory=dict, description="signed approvals' nonces still fresh enough to be replayed"
    )


class MonitorStatus(WireModel):
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

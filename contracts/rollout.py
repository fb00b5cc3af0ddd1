"""Typed inputs and results of the rollout workflows and their activities (the wire contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from config.models import DeployPolicies, HealthPolicy, Policies, Provider, RegionConfig, Topology
from config.strategies import AnalysisPolicy, Strategy
from contracts.wire import WireModel

RolloutStatus = Literal["running", "frozen", "succeeded", "partial", "rolled_back", "failed", "aborted"]
RegionStatus = Literal[
    "pending",
    "ready",
    "deploying",
    "waiting",
    "baking",
    "succeeded",
    "rolled_back",
    "failed",
    "aborted",
    "skipped",
    "frozen",
]


class RolloutRequest(WireModel):
    """Everything a rollout needs: it never reads files, so it replays the same way."""

    service: str
    release: str
    request_id: str = Field(description="unique per started operation; part of idempotency keys")
    topology: Topology
    policies: Policies
    requested_by: str = "cli"
    strategy: Strategy | None = Field(
        default=None, description="overrides every region's strategy for this rollout"
    )


class RegionRef(WireModel):
    """Names one service in one region and the adapter that reaches it."""

    service: str
    region: str
    provider: Provider


class PreflightInput(RegionRef):
    """Asks whether a region can take a release before anything changes."""

    release: str
    surge_instances: int = Field(
        default=0, ge=0, description="instances the rollout adds at its peak (quota and vCPUs are checked)"
    )


class EnsureReleaseInput(RegionRef):
    """Make at least `count` instances of a region run `release`, once per key."""

    release: str
    count: int = Field(ge=0)
    key: str = Field(description="idempotency key: workflow id, request id, region and step")


class ScaleGroupInput(RegionRef):
    """Make a group (stable, or canary / green) exactly `count` instances of `release`."""

    group: Literal["stable", "canary"]
    release: str
    count: int = Field(ge=0)
    key: str


class CanaryWeightInput(RegionRef):
    """Route a share (0..1) of a region's traffic to the canary / green group."""

    weight: float = Field(ge=0, le=1)
    key: str


class KeyedRegionInput(RegionRef):
    """A keyed change that needs nothing but the region (promote the canary)."""

    key: str


class RestoreInput(RegionRef):
    """Undo in one call: no canary traffic, no canary, `count` stable instances on `release`."""

    release: str
    count: int = Field(ge=0)
    key: str


class AnalyseInput(RegionRef):
    """One analysis run of canary (or green) against the stable baseline."""

    step: str
    weight: float = Field(description="canary share of traffic in percent at this step")
    canary_release: str
    baseline_release: str
    analysis: AnalysisPolicy
    thresholds: HealthPolicy


class AnalysisRecord(WireModel):
    """What one analysis run judged: the verdict and the numbers behind it."""

    step: str
    weight: float
    verdict: Literal["pass", "fail", "inconclusive", "error"]
    score: float | None = None
    samples: int = 0
    metrics: dict[str, dict[str, float | str | None]] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    no_data: bool = Field(default=False, description="no metrics arrived (or no requests): no verdict")


class RegionDeployInput(WireModel):
    """Input of one region's child workflow."""

    service: str
    release: str
    previous_release: str | None = Field(
        default=None, description="None: the workflow reads what the region runs first"
    )
    region: RegionConfig
    task_queue: str
    wave: str
    policies: DeployPolicies = Field(description="the deploy part of the policies (Policies.for_deploy)")
    key_prefix: str
    strategy: Strategy = "rolling"
    requested_by: str = Field(default="", description="who started the rollout or deploy (four eyes)")


class GateRecord(WireModel):
    """One health gate: the samples it judged and its verdict."""

    step: str
    passed: bool
    samples: int
    worst_error_rate: float
    worst_latency_p99_ms: float
    reasons: list[str] = Field(default_factory=list)


class RegionOutcome(WireModel):
    """A region's state within a rollout, as shown in progress and in the result."""

    region: str
    wave: str
    status: RegionStatus = "pending"
    release: str | None = None
    previous_release: str | None = None
    batches_done: int = 0
    batches_total: int = 0
    detail: str = ""
    strategy: Strategy = "rolling"
    gates: list[GateRecord] = Field(default_factory=list)
    analysis: list[AnalysisRecord] = Field(default_factory=list)
    overrides: list[str] = Field(default_factory=list, description="operator overrides, e.g. promote --full")
    waiting_for: str | None = Field(
        default=None, description="what waits for promote (a signed promote names it), None: nothing"
    )


class RolloutProgress(WireModel):
    """The query answer and the final result of a rollout."""

    workflow_id: str
    status: RolloutStatus = "running"
    service: str
    release: str
    previous_release: str | None = None
    rollback_policy: str
    phase: str = "starting"
    current_wave: str | None = None
    paused: bool = False
    waiting_for_approval: str | None = Field(
        default=None, description="the wave waiting for `approve`, if any"
    )
    approvals: list[str] = Field(default_factory=list)
    reason: str | None = None
    regions: list[RegionOutcome] = Field(default_factory=list)
    held: list[str] = Field(
        default_factory=list, description="regions held as unreachable, waiting to recover or be skipped"
    )
    skipped: list[str] = Field(default_factory=list, description="regions left out (unreachable), in order")
    frozen: str | None = Field(default=None, description="while status is frozen: which freeze holds it, why")
    deploy_order: list[str] = Field(default_factory=list, description="regions in start order")
    compensation_order: list[str] = Field(
        default_factory=list, description="regions restored by the rollout, in order"
    )
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def region(self, name: str) -> RegionOutcome:
        """The outcome entry of one region."""
        for outcome in self.regions:
            if outcome.region == name:
                return outcome
        raise KeyError(name)


class WavePlan(WireModel):
    """One wave: its regions, deployed group by group (the pilot alone first)."""

    name: str
    regions: list[str]
    groups: list[list[str]]
    pilot: str | None = None

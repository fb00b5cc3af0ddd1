"""Typed inputs and results of standing readiness: can each region fail over and be recovered today."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from config.models import Policies, Topology
from contracts.wire import FrozenWireModel, WireModel

ReadinessState = Literal["ready", "not_ready"]

CheckName = Literal["target", "capacity", "replica_lag", "snapshot", "encrypted_copy", "practice", "drill"]
CHECKS: tuple[CheckName, ...] = (
    "target",
    "capacity",
    "replica_lag",
    "snapshot",
    "encrypted_copy",
    "practice",
    "drill",
)
"""Every check, in the order a region's reasons are listed."""


class Check(FrozenWireModel):
    """One question about a region; ok None = not applicable (an earlier check already said why)."""

    name: CheckName
    ok: bool | None
    detail: str


class RegionReadiness(WireModel):
    """One region: ready only when no check failed; every failed check's detail is a reason."""

    region: str
    provider: str
    jurisdiction: str
    state: ReadinessState
    reasons: list[str] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    target: str | None = Field(default=None, description="the region a failover would choose now")
    newest_snapshot_age_s: float | None = Field(default=None, description="None: no snapshot found")
    encrypted_copy_region: str | None = None
    target_replica_lag_s: float | None = Field(default=None, description="None: unknown (never 0)")
    last_practice: datetime | None = None
    last_drill: datetime | None = None


class StateChange(FrozenWireModel):
    """A region whose state differs from the previous evaluation (None: there was none)."""

    region: str
    before: ReadinessState | None
    after: ReadinessState


class ReadinessRequest(WireModel):
    """Evaluate a service's readiness; everything the workflow needs is here."""

    service: str
    topology: Topology
    policies: Policies
    request_id: str = ""
    requested_by: str = "cli"


class ReadinessReport(WireModel):
    """The result of one evaluation (also published as search attributes and Web UI details)."""

    workflow_id: str
    service: str
    evaluated_at: datetime | None = None
    state: ReadinessState | Literal["running"] = "running"
    regions: list[RegionReadiness] = Field(default_factory=list)
    not_ready: list[str] = Field(default_factory=list)
    previous_workflow_id: str | None = Field(default=None, description="the evaluation compared against")
    changes: list[StateChange] = Field(default_factory=list)
    markdown: str = ""


class HistoryQuery(WireModel):
    """What to look up in Temporal visibility for one service's readiness."""

    service: str
    exclude_workflow_id: str = Field(description="the evaluation asking (never its own previous)")


class PreviousEvaluation(WireModel):
    """The newest completed readiness evaluation of the service, from its search attributes."""

    workflow_id: str
    regions: list[str]
    not_ready: list[str]


class ReadinessHistory(WireModel):
    """When each region last passed a failover practice and a DR drill, and the previous evaluation."""

    last_practice: dict[str, datetime] = Field(default_factory=dict)
    last_drill: dict[str, datetime] = Field(default_factory=dict)
    previous: PreviousEvaluation | None = None

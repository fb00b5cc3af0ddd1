"""Freezes ("stop the line"): what they cover, who started and ended them, and how operations hear of them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from config.models import ApprovalPolicy
from contracts.wire import WireModel

#: Operation kinds a freeze holds by default; emergencies (failover, failback, recover) only with `all`.
ROUTINE = ("rollout", "deploy", "drill")
EMERGENCY = ("failover", "failback", "recover")


class FreezeRequest(WireModel):
    """Start a freeze: which services and regions it covers (empty: all), until when, and why."""

    reason: str = Field(min_length=1)
    services: list[str] = Field(default_factory=list, description="empty: every service")
    regions: list[str] = Field(default_factory=list, description="empty: every region")
    all: bool = Field(default=False, description="also hold failover, failback and dr recover")
    until: datetime | None = Field(default=None, description="ends by itself then (None: until ended)")
    by: str = Field(min_length=1, description="who starts it (recorded)")
    approvals: ApprovalPolicy = Field(
        default_factory=ApprovalPolicy,
        description="the starter's policies' approvals: who may end it, signed or not (freeze end)",
    )


class Freeze(WireModel):
    """One freeze, active or ended."""

    id: str
    reason: str
    services: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    all: bool = False
    started_by: str
    started_at: datetime
    until: datetime | None = None
    ended_by: str | None = None
    ended_at: datetime | None = None
    approvals: ApprovalPolicy = Field(
        default_factory=ApprovalPolicy, description="who may end it (require_signature, four_eyes)"
    )

    @property
    def active(self) -> bool:
        """Not ended by anyone (an `until` in the past ends it too: see `workflows.logic.change`)."""
        return self.ended_at is None


class FreezeEnd(WireModel):
    """End a freeze by id; `by` is recorded."""

    id: str
    by: str = Field(min_length=1)


class FreezeSet(WireModel):
    """The active freezes, as the registry broadcasts them to running operations."""

    freezes: list[Freeze] = Field(default_factory=list)
    version: int = Field(default=0, description="grows with every change: an older broadcast is ignored")


class OperationRef(WireModel):
    """A running operation the registry tells about freezes."""

    workflow_id: str
    kind: str


class RegistryState(WireModel):
    """The freeze registry's state, carried across continue-as-new."""

    freezes: list[Freeze] = Field(default_factory=list, description="active ones, then the last ended")
    next_id: int = 1
    version: int = 0
    operations: dict[str, str] = Field(default_factory=dict, description="running workflow id -> kind")
    nonces: dict[str, datetime] = Field(
        default_factory=dict, description="signed freeze ends' nonces still fresh enough to be replayed"
    )

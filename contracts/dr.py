"""Typed inputs and results of backups, disaster recovery and drills (the wire contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from config.models import Policies, Provider, Topology
from contracts.storage import (
    PROD,
    Snapshot,
)
from contracts.wire import WireModel

DrStatus = Literal["running", "frozen", "succeeded", "refused", "failed", "aborted", "skipped"]
DrMode = Literal["recover", "drill", "validate"]


# --- activity inputs ---------------------------------------------------------------------------


class StorageRef(WireModel):
    """A service in one region, through one provider."""

    service: str
    region: str
    provider: Provider


class SnapshotInput(StorageRef):
    """Take a snapshot stamped with the workflow's clock, once per key."""

    taken_at: datetime
    key: str
    kms_key: str | None = Field(
        default=None, description="customer key to encrypt it with, where the provider can"
    )


class CopyInput(StorageRef):
    """Copy a snapshot stored in `region` to `dest_region` (same provider), once per key."""

    snapshot_id: str
    dest_region: str
    key: str
    kms_key: str | None = Field(
        default=None, description="the destination region's key (None: as the source)"
    )


class SnapshotRef(StorageRef):
    """One snapshot stored in `region`."""

    snapshot_id: str


class RestoreInput(StorageRef):
    """Restore a volume from a snapshot stored in `region`, tagged with `env`, once per key."""

    snapshot_id: str
    env: str
    key: str


class LaunchInput(StorageRef):
    """Launch instances on a restored volume, tagged with `env`, once per key."""

    release: str
    count: int
    volume_id: str
    env: str
    key: str


class VolumeRef(StorageRef):
    """One restored volume."""

    volume_id: str


class ResourceRef(StorageRef):
    """One recovery volume or instance."""

    resource_id: str


class ResourceQuery(WireModel):
    """The recovery resources of a service in one environment, through one provider."""

    service: str
    provider: Provider
    env: str | None = None


# --- backups -----------------------------------------------------------------------------------


class BackupRequest(WireModel):
    """Snapshot regions, copy each to its backup region, prune by retention."""

    service: str
    topology: Topology
    policies: Policies
    regions: list[str] = Field(default_factory=list, description="empty: every region")
    request_id: str = ""


class RegionBackup(WireModel):
    """What a backup did in one region."""

    region: str
    snapshot_id: str | None = None
    copy_region: str | None = None
    copy_id: str | None = None
    note: str = ""
    pruned: list[str] = Field(default_factory=list)
    ok: bool = False
    kms_key: str | None = Field(
        default=None, description="key the provider reports on the copy (or the snapshot, with no copy)"
    )


class BackupReport(WireModel):
    """Result of one BackupWorkflow run."""

    workflow_id: str
    service: str
    status: DrStatus = "running"
    taken_at: datetime | None = None
    regions: list[RegionBackup] = Field(default_factory=list)
    reason: str | None = None


# --- recovery ----------------------------------------------------------------------------------


class RecoveryRequest(WireModel):
    """Recover a region's service into another region (production, a drill, or a validation)."""

    service: str
    source_region: str
    target_region: str
    topology: Topology
    policies: Policies
    mode: DrMode = "recover"
    env: str = PROD
    snapshot: str = Field(default="latest", description="'latest' or a snapshot id stored in the target")
    rto_target_s: float | None = None
    rpo_target_s: float | None = None
    failed_at: datetime | None = Field(default=None, description="default: when the recovery starts")
    accept_rpo_breach: bool = False
    check_integrity: bool = True
    check_consistency: bool = True
    allow_unencrypted: bool = Field(
        default=False, description="use an unencrypted snapshot although dr.backup.require_encryption is on"
    )
    request_id: str = ""


class RecoveryReport(WireModel):
    """Result of a recovery: what was restored, how long it took, what it lost, against targets."""

    workflow_id: str
    status: DrStatus = "running"
    mode: DrMode = "recover"
    service: str
    source_region: str
    target_region: str
    env: str = PROD
    phase: str = "starting"
    snapshot_id: str | None = None
    snapshot_taken_at: datetime | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    rto_target_s: float
    rpo_target_s: float
    met_targets: bool = False
    integrity_ok: bool | None = None
    consistency_ok: bool | None = None
    validation_ok: bool | None = Field(
        default=None, description="the validation hook's verdict (None: not asked)"
    )
    validated_watermark: int | None = Field(
        default=None, description="the watermark the validation hook answered"
    )
    resources: list[str] = Field(default_factory=list, description="ids created (and removed on undo)")
    steps: list[str] = Field(default_factory=list)
    reason: str | None = None


# --- drills ------------------------------------------------------------------------------------


class DrillRequest(WireModel):
    """Rehearse the recovery of some regions into their backup regions, isolated from production."""

    service: str
    topology: Topology
    policies: Policies
    regions: list[str] = Field(default_factory=list, description="empty: the policy's, else every primary")
    request_id: str = ""


class DrillRegion(WireModel):
    """One region's rehearsal in a drill report."""

    region: str
    target_region: str | None = None
    status: DrStatus = "running"
    snapshot_id: str | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    met_targets: bool = False
    reason: str | None = None


class DrillReport(WireModel):
    """The drill's outcome: per region RTO/RPO against targets, leftovers, verdict (also Markdown)."""

    workflow_id: str
    service: str
    env: str
    status: DrStatus = "running"
    verdict: Literal["pass", "fail", "skipped"] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rto_target_s: float = 0.0
    rpo_target_s: float = 0.0
    regions: list[DrillRegion] = Field(default_factory=list)
    leftover_resources: int | None = None
    cleaned_up: list[str] = Field(default_factory=list)
    reason: str | None = None
    markdown: str = ""


__all__ = [
    "BackupReport",
    "BackupRequest",
    "CopyInput",
    "DrillRegion",
    "DrillReport",
    "DrillRequest",
    "LaunchInput",
    "RecoveryReport",
    "RecoveryRequest",
    "RegionBackup",
    "ResourceQuery",
    "ResourceRef",
    "RestoreInput",
    "Snapshot",
    "SnapshotInput",
    "SnapshotRef",
    "StorageRef",
    "VolumeRef",
]

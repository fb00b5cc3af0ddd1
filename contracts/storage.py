"""Storage value types of backups and recovery: snapshots, recovery resources, volume read-backs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.wire import WireModel

#: The environment of production resources; drills and validations use their own ("drill-...").
PROD = "prod"


class Snapshot(WireModel):
    """A point-in-time copy of a service's data volume in one region (an original or a copy)."""

    id: str
    service: str
    region: str = Field(description="region where the snapshot is stored")
    source_region: str = Field(description="region whose data it holds")
    taken_at: datetime = Field(description="point in time of its data: what a recovery from it loses")
    checksum: str = Field(description="checksum of the data at taken_at (integrity)")
    watermark: int = Field(description="last data sequence number it contains (consistency)")
    copy_of: str | None = Field(default=None, description="the original's id, if this is a copy")
    key: str = Field(description="idempotency key of the call that created it")
    encrypted: bool = Field(default=False, description="whether the provider stores it encrypted at rest")
    kms_key: str | None = Field(
        default=None, description="the customer key that encrypts it (KMS key ARN, GCP CMEK name, sim key id)"
    )


ResourceKind = Literal["volume", "instance"]


class Resource(WireModel):
    """A resource a recovery created, tagged with its environment so cleanup can find it."""

    id: str
    kind: ResourceKind
    service: str
    region: str
    env: str = Field(description="'prod' or an isolated environment such as 'drill-...'")
    snapshot_id: str | None = Field(default=None, description="snapshot a volume was restored from")
    key: str


class VolumeCheck(WireModel):
    """What a restored volume holds, read back from the provider."""

    volume_id: str
    region: str
    checksum: str
    watermark: int


class SnapshotVerification(WireModel):
    """Whether a snapshot's stored data verifies, read back from the provider (integrity)."""

    snapshot_id: str
    region: str
    checked: bool = Field(description="False: the provider offers no way to read the snapshot's data")
    ok: bool = Field(default=False, description="the data verified (never True when not checked)")
    method: str = Field(default="", description="what was verified, e.g. 'EBS direct APIs: 4 blocks'")
    reason: str | None = Field(default=None, description="why it failed, naming the blocks; or why unchecked")

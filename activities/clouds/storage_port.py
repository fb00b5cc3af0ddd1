"""The storage half of the cloud port: snapshots, cross-region copies and recovery resources (DR)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field

#: The environment of production resources; drills and validations use their own ("drill-...").
PROD = "prod"


class Snapshot(BaseModel):
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


ResourceKind = Literal["volume", "instance"]


class Resource(BaseModel):
    """A resource a recovery created, tagged with its environment so cleanup can find it."""

    id: str
    kind: ResourceKind
    service: str
    region: str
    env: str = Field(description="'prod' or an isolated environment such as 'drill-...'")
    snapshot_id: str | None = Field(default=None, description="snapshot a volume was restored from")
    key: str


class VolumeCheck(BaseModel):
    """What a restored volume holds, read back from the provider."""

    volume_id: str
    region: str
    checksum: str
    watermark: int


class StoragePort(Protocol):
    """Backup and recovery operations; every mutating one takes an idempotency key."""

    def snapshot_volume(self, service: str, region: str, taken_at: datetime, key: str) -> Snapshot:
        """Snapshot the service's data volume in `region`; once per key."""
        ...

    def copy_snapshot(
        self, service: str, snapshot_id: str, region: str, dest_region: str, key: str
    ) -> Snapshot:
        """Copy the snapshot stored in `region` to `dest_region`; once per key (tag and look first)."""
        ...

    def list_snapshots(self, service: str, region: str) -> list[Snapshot]:
        """Snapshots stored in `region` (originals and copies), newest first."""
        ...

    def delete_snapshot(self, service: str, region: str, snapshot_id: str) -> bool:
        """Delete a snapshot; False if it was already gone (so a retry is harmless)."""
        ...

    def restore_volume(self, service: str, region: str, snapshot_id: str, env: str, key: str) -> Resource:
        """A new volume in `region` from a snapshot stored there, tagged `env`; once per key."""
        ...

    def launch_instances(
        self, service: str, region: str, release: str, count: int, volume_id: str, env: str, key: str
    ) -> list[Resource]:
        """`count` instances on `release` using the volume, tagged `env`; once per key.

        In `prod` they join the region's serving (stable) group; in any other environment they
        are isolated: no traffic reaches them and production's state is untouched.
        """
        ...

    def check_volume(self, service: str, region: str, volume_id: str) -> VolumeCheck:
        """Read back a restored volume's checksum and data watermark."""
        ...

    def list_resources(self, service: str, env: str | None = None) -> list[Resource]:
        """Recovery resources of the service in every region (of one environment, or all)."""
        ...

    def delete_resource(self, service: str, region: str, resource_id: str) -> bool:
        """Delete a volume or instance; False if it was already gone."""
        ...

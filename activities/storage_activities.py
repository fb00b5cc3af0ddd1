"""Activities for backups and recovery: snapshots, copies, restores, launches, checks, cleanup."""

from __future__ import annotations

import structlog
from temporalio import activity

from activities.clouds.registry import CloudRegistry
from activities.errors import classified
from activities.heartbeat import long_call
from contracts.dr import (
    CopyInput,
    LaunchInput,
    ResourceQuery,
    ResourceRef,
    RestoreInput,
    SnapshotInput,
    SnapshotRef,
    StorageRef,
    VolumeRef,
)
from contracts.storage import (
    Resource,
    Snapshot,
    SnapshotVerification,
    VolumeCheck,
)

_log = structlog.get_logger("globalops.activity")


def _logged(name: str, **fields: object) -> None:
    _log.info(name, workflow_id=activity.info().workflow_id, activity=name, **fields)


class StorageActivities:
    """Thin, classified calls of the storage port; every mutating one passes its key through."""

    def __init__(self, clouds: CloudRegistry) -> None:
        self._clouds = clouds

    @activity.defn(name="snapshot_volume")
    @classified
    @long_call
    def snapshot_volume(self, inp: SnapshotInput) -> Snapshot:
        """Snapshot the service's data volume in a region."""
        snap = self._clouds.get(inp.provider).snapshot_volume(
            inp.service, inp.region, inp.taken_at, inp.key, inp.kms_key
        )
        _logged("snapshot_volume", region=inp.region, snapshot=snap.id, key=inp.key, encrypted=snap.encrypted)
        return snap

    @activity.defn(name="copy_snapshot")
    @classified
    @long_call
    def copy_snapshot(self, inp: CopyInput) -> Snapshot:
        """Copy a snapshot to another region (looked up by key before copying)."""
        cloud = self._clouds.get(inp.provider)
        snap = cloud.copy_snapshot(
            inp.service, inp.snapshot_id, inp.region, inp.dest_region, inp.key, inp.kms_key
        )
        _logged(
            "copy_snapshot",
            region=inp.region,
            dest=inp.dest_region,
            snapshot=snap.id,
            key=inp.key,
            encrypted=snap.encrypted,
        )
        return snap

    @activity.defn(name="list_snapshots")
    @classified
    @long_call
    def list_snapshots(self, inp: StorageRef) -> list[Snapshot]:
        """Snapshots stored in a region, newest first."""
        return self._clouds.get(inp.provider).list_snapshots(inp.service, inp.region)

    @activity.defn(name="delete_snapshot")
    @classified
    @long_call
    def delete_snapshot(self, inp: SnapshotRef) -> bool:
        """Delete a snapshot (False if it was already gone)."""
        gone = self._clouds.get(inp.provider).delete_snapshot(inp.service, inp.region, inp.snapshot_id)
        _logged("delete_snapshot", region=inp.region, snapshot=inp.snapshot_id, deleted=gone)
        return gone

    @activity.defn(name="restore_volume")
    @classified
    @long_call
    def restore_volume(self, inp: RestoreInput) -> Resource:
        """A volume from a snapshot, tagged with its environment."""
        cloud = self._clouds.get(inp.provider)
        vol = cloud.restore_volume(inp.service, inp.region, inp.snapshot_id, inp.env, inp.key)
        _logged("restore_volume", region=inp.region, volume=vol.id, env=inp.env, key=inp.key)
        return vol

    @activity.defn(name="launch_instances")
    @classified
    @long_call
    def launch_instances(self, inp: LaunchInput) -> list[Resource]:
        """Instances on a restored volume, tagged with their environment."""
        made = self._clouds.get(inp.provider).launch_instances(
            inp.service, inp.region, inp.release, inp.count, inp.volume_id, inp.env, inp.key
        )
        _logged("launch_instances", region=inp.region, count=len(made), env=inp.env, key=inp.key)
        return made

    @activity.defn(name="check_volume")
    @classified
    @long_call
    def check_volume(self, inp: VolumeRef) -> VolumeCheck:
        """Read back a restored volume's checksum and watermark."""
        return self._clouds.get(inp.provider).check_volume(inp.service, inp.region, inp.volume_id)

    @activity.defn(name="verify_snapshot")
    @classified
    @long_call
    def verify_snapshot(self, inp: SnapshotRef) -> SnapshotVerification:
        """Read a snapshot's stored data back and check it against what was recorded at snapshot time."""
        found = self._clouds.get(inp.provider).verify_snapshot(inp.service, inp.region, inp.snapshot_id)
        _logged(
            "verify_snapshot", region=inp.region, snapshot=inp.snapshot_id, ok=found.ok, checked=found.checked
        )
        return found

    @activity.defn(name="list_resources")
    @classified
    @long_call
    def list_resources(self, inp: ResourceQuery) -> list[Resource]:
        """Recovery resources of a service (one environment, or all)."""
        return self._clouds.get(inp.provider).list_resources(inp.service, inp.env)

    @activity.defn(name="delete_resource")
    @classified
    @long_call
    def delete_resource(self, inp: ResourceRef) -> bool:
        """Delete a recovery volume or instance (False if it was already gone)."""
        gone = self._clouds.get(inp.provider).delete_resource(inp.service, inp.region, inp.resource_id)
        _logged("delete_resource", region=inp.region, resource=inp.resource_id, deleted=gone)
        return gone

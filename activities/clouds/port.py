"""The cloud port: what every provider adapter (sim, aws, gcp) must offer the activities."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from contracts.cloud import (
    DeployResult,
    Group,
    HealthSample,
    MetricSeries,
    PreflightReport,
    RegionState,
    TrafficState,
)
from contracts.storage import Resource, Snapshot, SnapshotVerification, VolumeCheck


class StoragePort(Protocol):
    """Backup and recovery operations; every mutating one takes an idempotency key."""

    def snapshot_volume(
        self, service: str, region: str, taken_at: datetime, key: str, kms_key: str | None = None
    ) -> Snapshot:
        """Snapshot the service's data volume in `region`, encrypted with `kms_key` where the provider
        takes a key at snapshot time; once per key. `encrypted` / `kms_key` are what it reports."""
        ...

    def copy_snapshot(
        self,
        service: str,
        snapshot_id: str,
        region: str,
        dest_region: str,
        key: str,
        kms_key: str | None = None,
    ) -> Snapshot:
        """Copy the snapshot stored in `region` to `dest_region`, encrypted with `kms_key` (the
        destination's key; None: as the source); once per key (tag and look first)."""
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

    def verify_snapshot(self, service: str, region: str, snapshot_id: str) -> SnapshotVerification:
        """Read the snapshot's stored data back and check it against what was recorded when it was
        taken; `checked` is False where the provider offers no way to read it."""
        ...

    def list_resources(self, service: str, env: str | None = None) -> list[Resource]:
        """Recovery resources of the service in every region (of one environment, or all)."""
        ...

    def delete_resource(self, service: str, region: str, resource_id: str) -> bool:
        """Delete a volume or instance; False if it was already gone."""
        ...


class CloudPort(StoragePort, Protocol):
    """Operations a provider adapter implements; every mutating one takes an idempotency key."""

    def preflight(self, service: str, region: str, release: str, surge: int = 0) -> PreflightReport:
        """Check the region can take the release: reachable, the artifact exists, and `surge` more
        instances (and their vCPUs) fit its quotas given what is in use; every check can fail."""
        ...

    def region_state(self, service: str, region: str) -> RegionState:
        """Read which releases a region runs and how healthy it is."""
        ...

    def ensure_release(self, service: str, region: str, release: str, count: int, key: str) -> DeployResult:
        """Make at least `count` instances run `release` (replacing others); once per key."""
        ...

    def health(self, service: str, region: str) -> HealthSample:
        """Take one health sample of the service in the region (both groups, by traffic); a number
        its metrics source did not report is None, never 0."""
        ...

    def scale_group(
        self, service: str, region: str, group: Group, release: str, count: int, key: str
    ) -> DeployResult:
        """Make `group` exactly `count` instances, all on `release` (0 removes it); once per key."""
        ...

    def set_canary_weight(self, service: str, region: str, weight: float, key: str) -> RegionState:
        """Route `weight` (0..1) of the region's traffic to the canary / green group; once per key."""
        ...

    def promote_canary(self, service: str, region: str, key: str) -> RegionState:
        """The canary / green group becomes stable; the old stable group is removed; once per key."""
        ...

    def restore(self, service: str, region: str, release: str, count: int, key: str) -> RegionState:
        """Undo anything in flight: weight 0, canary removed, `count` stable on `release`; once per key."""
        ...

    def metrics(self, service: str, region: str, group: Group, window_s: float) -> MetricSeries:
        """Data points of a group's error rate and p99 latency over the last `window_s` seconds."""
        ...

    def traffic(self, service: str) -> TrafficState:
        """Read the global traffic split of a service."""
        ...

    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        """Set the global traffic split (regions not named keep theirs); once per key."""
        ...

    def replica_lag(self, service: str, region: str) -> float | None:
        """Seconds the region's data replica is behind (the RPO exposure of a failover into it);
        None when the database reports no lag (unknown is never 0)."""
        ...

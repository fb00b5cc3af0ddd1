"""The GCP adapter: CloudPort over google-cloud-compute (templates, regional MIGs, backend service, disks).

Every change is a Compute operation started with a requestId = uuid5(NAMESPACE, "<key>/<step>")
and waited for until DONE on the endpoint the region's config names; errors are classified once
in gcp_errors. Groups: `gcp_groups`; traffic weights: `gcp_traffic`; snapshots and DR: `gcp_storage`.
"""

from __future__ import annotations

import contextlib
import threading

from activities import cloud_monitoring
from activities.cloud_monitoring import Target
from activities.clouds import gcp_quotas as quotas
from activities.clouds import gcp_signals as signals
from activities.clouds.gcp_api import Clients, Place, require_config
from activities.clouds.gcp_groups import Groups, Member, majority
from activities.clouds.gcp_storage import GcpStorage
from activities.clouds.gcp_traffic import GcpTraffic
from config.models import Topology
from contracts.cloud import (
    DeployResult,
    Group,
    HealthSample,
    MetricSeries,
    PreflightReport,
    RegionState,
    TrafficState,
)
from contracts.errors import (
    CloudError,
    InvalidRequest,
    Unavailable,
)
from contracts.storage import PROD

GROUPS = signals.GROUPS


class GcpCloud(GcpStorage):
    """CloudPort for the topology's regions that carry a `gcp:` block."""

    def __init__(self, topology: Topology) -> None:
        self._topology = topology
        self._configs = {r.name: r.gcp for r in topology.regions if r.gcp is not None}
        self._clients: dict[str | None, Clients] = {}
        self._build = threading.Lock()
        self._lb_lock = threading.Lock()
        self._groups = Groups()

    # --- wiring ----------------------------------------------------------------------------------

    def _regions(self) -> list[str]:
        return list(self._configs)

    def _place(self, service: str, region: str) -> Place:
        if region not in self._configs:
            try:
                require_config(region, self._topology.region(region).gcp)
            except KeyError:
                raise InvalidRequest(f"gcp: region '{region}' is not in the topology") from None
        cfg = self._configs[region]
        with self._build:
            clients = self._clients.setdefault(cfg.api_endpoint, Clients(cfg.api_endpoint))
        return Place(service=service, region=region, cfg=cfg, clients=clients, lock=self._lb_lock)

    def _traffic(self, service: str) -> GcpTraffic:
        """The service's global backend service, in the project / endpoint of the first GCP region."""
        if not self._configs:
            raise InvalidRequest("gcp: the topology has no region with a `gcp:` block")
        places = {r: self._place(service, r) for r in self._configs}
        return GcpTraffic(places[next(iter(places))], places)

    # --- reading ---------------------------------------------------------------------------------

    def _members(self, p: Place) -> tuple[list[Member], list[Member], str | None]:
        stable = self._groups.members(p, "stable")
        if stable is None:
            raise InvalidRequest(f"gcp: '{p.service}' has no instance group {p.mig('stable')} in {p.region}")
        canary = self._groups.members(p, "canary") or []
        mig = self._groups.mig(p, "stable")
        newest = self._groups.release_of(p, mig.instance_template) if mig and mig.instance_template else None
        return stable, canary, newest

    def region_state(self, service: str, region: str) -> RegionState:
        """Releases from the MIGs' managed instances and templates; weights from the backend service."""
        p = self._place(service, region)
        stable, canary, newest = self._members(p)
        split = self._traffic(service).split(region)
        releases: dict[str, int] = {}
        for m in (*stable, *canary):
            if m.release is not None:
                releases[m.release] = releases.get(m.release, 0) + 1
        return RegionState(
            region=region,
            service=service,
            release=majority(stable, newest),
            releases=releases,
            instances=len(stable),
            healthy=sum(1 for m in (*stable, *canary) if m.running),
            traffic=split.weight,
            canary_instances=len(canary),
            canary_release=majority(canary, None),
            canary_weight=split.canary,
        )

    def preflight(self, service: str, region: str, release: str, surge: int = 0) -> PreflightReport:
        """The stable group exists and answers, the release names an artifact, and `surge` more
        instances (and their vCPUs) fit the region's quotas; a quota that cannot be read fails."""
        p = self._place(service, region)
        problems: list[str] = []
        reachable, config = True, True
        quota_checks = {"quota_instances": False, "quota_cpus": False}
        try:
            config = self._groups.mig(p, "stable") is not None
            quota_checks, short = quotas.check(p, release, surge)
            problems += short
        except Unavailable as exc:
            reachable = False
            problems.append(str(exc))
        except CloudError as exc:  # quotas unreadable (denied, not found): unknown is not enough
            problems.append(f"quotas of {region} unknown: {exc}")
        if not config:
            problems.append(f"instance group {p.mig('stable')} missing in {region}")
        if not release:
            problems.append("release artifact missing (empty release)")
        checks = {"region_reachable": reachable, "config": config, "artifact": bool(release), **quota_checks}
        return PreflightReport(region=region, ok=all(checks.values()), checks=checks, problems=problems)

    def monitoring_target(self, service: str, region: str) -> Target:
        """Where the region's signals are in Cloud Monitoring (also for the cloud_monitoring provider)."""
        return signals.target(self._place(service, region), self._traffic(service).lb)

    def metrics(self, service: str, region: str, group: Group, window_s: float) -> MetricSeries:
        """Points of a group from Cloud Monitoring (or the metrics_url); empty without instances."""
        if group not in GROUPS:
            raise InvalidRequest(f"gcp: group must be one of {', '.join(GROUPS)}, got '{group}'")
        if not window_s > 0:
            raise InvalidRequest(f"gcp: window_s must be > 0, got {window_s}")
        p = self._place(service, region)
        members = self._groups.members(p, group) or []
        loaded = True
        if members and p.cfg.metrics_url:
            canary = self._traffic(service).split(region).canary
            loaded = canary > 0 if group == "canary" else canary < 1
        return signals.series(p, self.monitoring_target(service, region), group, members, loaded, window_s)

    def health(self, service: str, region: str) -> HealthSample:
        """RUNNING = healthy; error rate, p99, requests and CPU of the newest period with data (None
        when none arrived: no data, never 0)."""
        p = self._place(service, region)
        stable, canary, _ = self._members(p)
        share = self._traffic(service).split(region).canary if canary and p.cfg.metrics_url else 0.0
        return signals.health(p, self.monitoring_target(service, region), stable, canary, share)

    def replica_lag(self, service: str, region: str) -> float | None:
        """The Cloud SQL replica's replication/replica_lag (newest point); None when no
        `replica_database` is configured or no point arrived (unknown, never 0)."""
        return cloud_monitoring.replica_lag(self.monitoring_target(service, region))

    def traffic(self, service: str) -> TrafficState:
        return self._traffic(service).state(service)

    # --- changing --------------------------------------------------------------------------------

    def ensure_release(self, service: str, region: str, release: str, count: int, key: str) -> DeployResult:
        """Template set on the stable MIG, then the oldest others recreated until `count` run it."""
        _check_count(count, release)
        p = self._place(service, region)
        template = self._groups.template(p, release)
        stable, _, _ = self._members(p)
        target = min(count, len(stable))
        missing = max(0, target - sum(1 for m in stable if m.release == release))
        victims = [m.url for m in stable if m.release != release][:missing]
        self._groups.set_template(p, "stable", template, key, "template")
        if victims:
            self._groups.recreate(p, "stable", victims, key, "recreate")
        return DeployResult(key=key, changed=len(victims), state=self.region_state(service, region))

    def scale_group(
        self, service: str, region: str, group: Group, release: str, count: int, key: str
    ) -> DeployResult:
        """Make `group` exactly `count` instances on `release`; 0 removes the canary group and its backend."""
        if group not in GROUPS:
            raise InvalidRequest(f"gcp: group must be one of {', '.join(GROUPS)}, got '{group}'")
        _check_count(count, release)
        p = self._place(service, region)
        if group == "canary" and count == 0:
            changed = len(self._groups.members(p, "canary") or [])
            self._drop_canary(p, key, "scale")
        else:
            changed = self._groups.reshape(p, group, release, count, key, "scale")
        return DeployResult(key=key, changed=changed, state=self.region_state(service, region))

    def set_canary_weight(self, service: str, region: str, weight: float, key: str) -> RegionState:
        """The canary share of the region's traffic, as backend capacity scalers (see gcp_traffic)."""
        if not 0.0 <= weight <= 1.0:
            raise InvalidRequest(f"gcp: canary weight must be within 0..1, got {weight}")
        p = self._place(service, region)
        if weight > 0 and not self._groups.members(p, "canary"):
            raise InvalidRequest("gcp: no canary instances to send traffic to")
        self._traffic(service).set_canary(p, weight, key, "canary-weight")
        return self.region_state(service, region)

    def promote_canary(self, service: str, region: str, key: str) -> RegionState:
        """The stable MIG is rebuilt on the canary's release and size, then the canary is removed.

        MIG names are fixed, so "the canary becomes stable" is done by value: stable takes the
        canary's template and count (while the canary still serves), weight goes to 0, canary goes.
        """
        p = self._place(service, region)
        canary = self._groups.members(p, "canary")
        if not canary:
            # A replay after the canary was deleted: the delete's requestId is known to GCE only if
            # this key already promoted (it then answers with that operation, not a 404).
            if not self._groups.delete(p, "canary", key, "promote/delete-canary"):
                raise InvalidRequest("gcp: no canary instances to promote")
            return self.region_state(service, region)
        release = majority(canary, None) or ""
        self._groups.reshape(p, "stable", release, len(canary), key, "promote")
        self._drop_canary(p, key, "promote")
        return self.region_state(service, region)

    def restore(self, service: str, region: str, release: str, count: int, key: str) -> RegionState:
        """Weight 0, canary group removed, exactly `count` stable instances on `release`."""
        _check_count(count, release)
        p = self._place(service, region)
        self._drop_canary(p, key, "restore")
        self._groups.reshape(p, "stable", release, count, key, "restore")
        return self.region_state(service, region)

    def _drop_canary(self, p: Place, key: str, step: str) -> None:
        """Backend first (a group in use cannot be deleted), then the group."""
        self._traffic(p.service).drop_canary(p, key, f"{step}/unroute")
        self._groups.delete(p, "canary", key, f"{step}/delete-canary")

    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        """Regions' shares of the service (others keep theirs), summing to 1; once per key."""
        return self._traffic(service).set_weights(service, weights, key)

    # --- set-up of what Terraform would own (tests, first deployments) ----------------------------

    def bootstrap(self, service: str, release: str, instances: dict[str, int]) -> None:
        """Template, stable MIG and data disk per region, and the backend service with equal shares."""
        key = f"bootstrap:{service}"
        places = [self._place(service, region) for region in instances]
        for p in places:
            template = self._groups.template(p, release)
            if self._groups.members(p, "stable") is None:
                self._groups.create(p, "stable", template, instances[p.region], f"{key}:{p.region}", "mig")
            if self._get_disk(p, p.data_disk) is None:
                from google.cloud import compute_v1

                from activities.clouds.gcp_api import request_id
                from activities.google_errors import AlreadyExists

                disk = compute_v1.Disk(name=p.data_disk, size_gb=10)
                with contextlib.suppress(AlreadyExists):
                    p.run(
                        "create data disk",
                        p.clients.disks.insert_unary,
                        request=compute_v1.InsertDiskRequest(
                            project=p.project,
                            zone=p.zone,
                            disk_resource=disk,
                            request_id=request_id(f"{key}:{p.region}", "disk"),
                        ),
                    )
        self._traffic(service).ensure_backend_service(places, key)

    def bootstrap_topology(self) -> None:
        """Bootstrap every service in every GCP region on its initial release."""
        for service in self._topology.services:
            sizes = {r.name: r.instances for r in self._topology.regions if r.gcp is not None}
            if sizes:
                self.bootstrap(service.name, service.initial_release, sizes)


def _check_count(count: int, release: str) -> None:
    if count < 0:
        raise InvalidRequest(f"gcp: count must be >= 0, got {count}")
    if not release:
        raise InvalidRequest("gcp: release artifact '' does not exist")


__all__ = ["PROD", "GcpCloud"]

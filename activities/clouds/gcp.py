"""The GCP adapter: CloudPort over google-cloud-compute (templates, regional MIGs, backend service, disks).

Every change is a Compute operation started with a requestId = uuid5(NAMESPACE, "<key>/<step>")
and waited for until DONE on the endpoint the region's config names; errors are classified once
in gcp_errors. Groups: `gcp_groups`; traffic weights: `gcp_traffic`; snapshots and DR: `gcp_storage`.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

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
    InvalidRequest,
    Unavailable,
)
from contracts.storage import PROD

METRIC_POINTS = 60
GROUPS: tuple[Group, ...] = ("stable", "canary")


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
        """The stable group exists and answers; the release names an artifact."""
        p = self._place(service, region)
        problems: list[str] = []
        reachable, config = True, True
        try:
            config = self._groups.mig(p, "stable") is not None
        except Unavailable as exc:
            reachable = False
            problems.append(str(exc))
        if not config:
            problems.append(f"instance group {p.mig('stable')} missing in {region}")
        if not release:
            problems.append("release artifact missing (empty release)")
        checks = {
            "region_reachable": reachable,
            "capacity": True,
            "quota": True,
            "config": config,
            "artifact": bool(release),
        }
        return PreflightReport(region=region, ok=all(checks.values()), checks=checks, problems=problems)

    def _fetch(self, p: Place, group: Group, release: str | None, loaded: bool) -> dict[str, Any] | None:
        """One group's metrics from the configured JSON source; None when no source is configured."""
        if not p.cfg.metrics_url:
            return None
        base = p.cfg.metrics_url.format(project=p.project, region=p.region, service=p.service)
        query = urllib.parse.urlencode(
            {
                "group": group,
                "release": release or "",
                "loaded": "1" if loaded else "0",
                "points": METRIC_POINTS,
            }
        )
        try:
            with urllib.request.urlopen(f"{base}?{query}", timeout=10) as resp:  # noqa: S310 - configured URL
                data: dict[str, Any] = json.loads(resp.read())
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise Unavailable(f"gcp: metrics source {base}: {exc}") from exc
        return data

    def metrics(self, service: str, region: str, group: Group, window_s: float) -> MetricSeries:
        """Points of a group from the metrics source; empty without instances or without a source."""
        if group not in GROUPS:
            raise InvalidRequest(f"gcp: group must be one of {', '.join(GROUPS)}, got '{group}'")
        if not window_s > 0:
            raise InvalidRequest(f"gcp: window_s must be > 0, got {window_s}")
        p = self._place(service, region)
        members = self._groups.members(p, group) or []
        if not members:
            return MetricSeries(region=region, group=group, release=None)
        release = majority(members, None)
        canary = self._traffic(service).split(region).canary
        loaded = canary > 0 if group == "canary" else canary < 1
        data = self._fetch(p, group, release, loaded)
        if data is None:
            return MetricSeries(region=region, group=group, release=release)
        return MetricSeries(
            region=region,
            group=group,
            release=release,
            error_rate=[float(v) for v in data.get("error_rate", [])],
            latency_p99_ms=[float(v) for v in data.get("latency_p99_ms", [])],
            requests=int(data.get("requests", 0)),
        )

    def health(self, service: str, region: str) -> HealthSample:
        """RUNNING = healthy; error rate and p99 from the metrics source by canary share (0 unknown)."""
        p = self._place(service, region)
        stable, canary, _ = self._members(p)
        total = len(stable) + len(canary)
        healthy = sum(1 for m in (*stable, *canary) if m.running)
        if healthy == 0:
            return HealthSample(
                region=region,
                healthy_instances=0,
                instances=total,
                error_rate=1.0,
                latency_p99_ms=0.0,
                cpu=0.0,
                requests=0,
            )
        split = self._traffic(service).split(region)
        c = split.canary if canary else 0.0
        err = lat = 0.0
        requests = 0
        for group, members, share in (("stable", stable, 1.0 - c), ("canary", canary, c)):
            if not members or share <= 0:
                continue
            data = self._fetch(p, group, majority(members, None), True)  # type: ignore[arg-type]
            if data is None:
                continue
            err += share * _mean(data.get("error_rate", []))
            lat += share * _mean(data.get("latency_p99_ms", []))
            requests += int(data.get("requests", 0))
        return HealthSample(
            region=region,
            healthy_instances=healthy,
            instances=total,
            error_rate=min(1.0, err),
            latency_p99_ms=lat,
            cpu=0.0,
            requests=requests,
        )

    def replica_lag(self, service: str, region: str) -> float:
        """From the region's config (GCE has no replica API); 0 unless set."""
        return self._place(service, region).cfg.replica_lag_s

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


def _mean(values: list[Any]) -> float:
    return math.fsum(float(v) for v in values) / len(values) if values else 0.0


def _check_count(count: int, release: str) -> None:
    if count < 0:
        raise InvalidRequest(f"gcp: count must be >= 0, got {count}")
    if not release:
        raise InvalidRequest("gcp: release artifact '' does not exist")


__all__ = ["PROD", "GcpCloud"]

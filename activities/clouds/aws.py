"""The AWS adapter: CloudPort on Auto Scaling, ALB, Route 53, CloudWatch and EBS through boto3.

Per region it reads `region.aws` (names templated by service, see config/aws.py):

* releases: one launch-template version per release (VersionDescription "globalops release R",
  instance tag `globalops:release`); groups are reshaped in place (see aws_groups.py);
* canary / blue-green: a second Auto Scaling group `<service>-canary` behind its own target
  group; the ALB listener's forward action weighs stable against canary (0..100);
* traffic: Route 53 weighted records per region (see aws_traffic.py);
* health and metrics: CloudWatch (`ErrorRate`, `LatencyP99`, `RequestCount` with dimensions
  Service, Region, Group; `ReplicaLag` with Service, Region). No data points means 0 (a quiet
  service is not an unhealthy one; the health gate still needs InService instances);
* storage: EBS snapshots and volumes (see aws_storage.py).

Every mutating call is convergent: it reads the current state and moves toward the state the
call asks for, so a repeated key (a Temporal retry) finds the work done and changes nothing.
Errors leave every public method classified (aws_errors.py).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from activities.botocore_errors import mapped
from activities.clouds.aws_clients import TAG_PROMOTE, AwsClients, EventHook, tags_of, token
from activities.clouds.aws_groups import GroupNames, Groups, majority
from activities.clouds.aws_storage import AwsStorage
from activities.clouds.aws_traffic import Dns, Listener, ListenerRef
from activities.metrics.base import check_window
from activities.metrics.cloudwatch import CloudWatchMetrics
from config.aws import AwsRegionConfig
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
    NotFound,
    Unavailable,
)

GROUPS: tuple[Group, ...] = ("stable", "canary")
#: Window of the health sample's metrics, and of the replica-lag reading.
HEALTH_WINDOW_S = 300
HEALTH_PERIOD_S = 60


class AwsCloud(AwsStorage):
    """CloudPort for the regions of a topology whose provider is `aws`."""

    def __init__(
        self,
        topology: Topology,
        event_hooks: Sequence[EventHook] = (),
        max_attempts: int | None = None,
    ) -> None:
        """`event_hooks` are (event, handler) pairs registered on the boto3 session (fault injection)."""
        self._topology = topology
        self._configs = {r.name: r.aws or AwsRegionConfig() for r in topology.regions if r.provider == "aws"}
        first = next(iter(self._configs.values()), AwsRegionConfig())
        self._home = next(iter(self._configs), "us-east-1")
        self._clients = AwsClients(
            {name: cfg.endpoint_url for name, cfg in self._configs.items()},
            max_attempts=max_attempts or first.max_attempts,
            event_hooks=event_hooks,
            default_endpoint=first.endpoint_url,
        )
        self._listeners: dict[tuple[str, str], ListenerRef] = {}
        self._zone_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- CloudPort: deploys -----------------------------------------------------------------

    @mapped
    def preflight(self, service: str, region: str, release: str, surge: int = 0) -> PreflightReport:
        """Check the region answers, the resources exist and a launch template can carry the release."""
        self._check(service, region)
        groups = self._groups(service, region)
        checks = {"region_reachable": True, "capacity": True, "quota": True, "config": True, "artifact": True}
        problems: list[str] = []
        try:
            stable = groups.describe("stable")
            groups.describe("canary")
            self._listener(service, region)
            checks["capacity"] = int(stable["MaxSize"]) >= 1
            checks["artifact"] = bool(release) and (
                groups.find_version(release) is not None or groups.has_versions()
            )
        except Unavailable as exc:
            checks["region_reachable"] = False
            problems.append(f"region unreachable: {exc}")
        except CloudError as exc:
            if exc.retryable:
                raise
            checks["config"] = False
            problems.append(str(exc))
        if not release:
            checks["artifact"] = False
            problems.append("release artifact missing (empty release)")
        elif not checks["artifact"] and checks["config"]:
            problems.append(f"no launch template version can carry release {release}")
        return PreflightReport(region=region, ok=all(checks.values()), checks=checks, problems=problems)

    @mapped
    def region_state(self, service: str, region: str) -> RegionState:
        """Releases of both groups (instance tags), InService count, canary weight and traffic share."""
        self._check(service, region)
        return self._state(service, region)

    @mapped
    def ensure_release(self, service: str, region: str, release: str, count: int, key: str) -> DeployResult:
        """At least `count` stable instances on `release`, the group's size kept (convergent)."""
        _check_count(count, release)
        self._check(service, region)
        changed = self._groups(service, region).ensure(release, count)
        return DeployResult(key=key, changed=changed, state=self._state(service, region))

    @mapped
    def scale_group(
        self, service: str, region: str, group: Group, release: str, count: int, key: str
    ) -> DeployResult:
        """Exactly `count` instances of `group` on `release`; an emptied canary gets no traffic."""
        group = _check_group(group)
        _check_count(count, release)
        self._check(service, region)
        if group == "canary" and count == 0:
            self._listener(service, region).set_canary_share(0.0)
        changed = self._groups(service, region).reshape(group, release, count)
        return DeployResult(key=key, changed=changed, state=self._state(service, region))

    @mapped
    def set_canary_weight(self, service: str, region: str, weight: float, key: str) -> RegionState:
        """Set the listener's canary share (0..1, in whole percent); refused with no canary instance."""
        if not 0.0 <= weight <= 1.0:
            raise InvalidRequest(f"AWS: canary weight must be within 0..1, got {weight}")
        self._check(service, region)
        if weight > 0 and not self._groups(service, region).members("canary"):
            raise InvalidRequest("AWS: no canary instances to send traffic to")
        self._listener(service, region).set_canary_share(weight)
        return self._state(service, region)

    @mapped
    def promote_canary(self, service: str, region: str, key: str) -> RegionState:
        """Stable takes the canary's release and size, traffic back to stable, canary emptied.

        The plan (release and size) is recorded on the stable group under the key's hash before
        anything changes, so a retry after a crash finishes the same plan instead of failing on
        an already emptied canary group.
        """
        self._check(service, region)
        groups = self._groups(service, region)
        stable = groups.describe("stable")
        mark = token(key)[:16]
        plan = tags_of(stable).get(TAG_PROMOTE, "")
        if plan.startswith(mark + " "):
            _, release, size = plan.split(" ")
            count = int(size)
        else:
            canary = groups.members("canary")
            release_or_none = majority(canary)
            if release_or_none is None:
                raise InvalidRequest("AWS: no canary instances to promote")
            release, count = release_or_none, len(canary)
            groups.tag_stable(TAG_PROMOTE, f"{mark} {release} {count}")
        groups.reshape("stable", release, count)
        self._listener(service, region).set_canary_share(0.0)
        groups.reshape("canary", release, 0)
        return self._state(service, region)

    @mapped
    def restore(self, service: str, region: str, release: str, count: int, key: str) -> RegionState:
        """Weight 0, canary emptied, exactly `count` stable instances on `release` (convergent)."""
        _check_count(count, release)
        self._check(service, region)
        groups = self._groups(service, region)
        self._listener(service, region).set_canary_share(0.0)
        groups.reshape("canary", release, 0)
        groups.reshape("stable", release, count)
        return self._state(service, region)

    # --- CloudPort: health and metrics --------------------------------------------------------

    @mapped
    def health(self, service: str, region: str) -> HealthSample:
        """InService instances of both groups; error rate and p99 from CloudWatch, weighted by traffic.

        A group without data points in the last 5 minutes counts as error rate 0 and latency 0.
        """
        self._check(service, region)
        groups = self._groups(service, region)
        stable, canary = groups.members("stable"), groups.members("canary")
        share = _effective_share(len(stable), len(canary), self._listener(service, region).canary_share())
        latest = self._latest(service, region)
        error = (1 - share) * latest.get("e_stable", 0.0) + share * latest.get("e_canary", 0.0)
        latency = (1 - share) * latest.get("l_stable", 0.0) + share * latest.get("l_canary", 0.0)
        members = [*stable, *canary]
        return HealthSample(
            region=region,
            healthy_instances=sum(1 for m in members if m.in_service),
            instances=len(members),
            error_rate=min(1.0, max(0.0, error)),
            latency_p99_ms=max(0.0, latency),
            cpu=min(1.0, max(0.0, latest.get("cpu", 0.0) / 100)),
            requests=round(latest.get("r_stable", 0.0) + latest.get("r_canary", 0.0)),
        )

    @mapped
    def metrics(self, service: str, region: str, group: Group, window_s: float) -> MetricSeries:
        """The group's CloudWatch points over the window; empty when the group has no instances."""
        group = _check_group(group)
        check_window(window_s)
        self._check(service, region)
        members = self._groups(service, region).members(group)
        if not members:
            return MetricSeries(region=region, group=group, release=None)
        provider = CloudWatchMetrics(
            client_factory=self._cw, namespace=self._configs[region].metrics_namespace
        )
        return provider.series(service, region, group, majority(members), window_s)

    @mapped
    def replica_lag(self, service: str, region: str) -> float:
        """The latest `ReplicaLag` (seconds) of the last 5 minutes; 0 when there is none."""
        self._check(service, region)
        query = self._query("lag", region, "ReplicaLag", self._dims(service, region), "Maximum")
        values = self._fetch(region, [query])
        return max(0.0, values.get("lag", 0.0))

    # --- CloudPort: global traffic ------------------------------------------------------------

    @mapped
    def traffic(self, service: str) -> TrafficState:
        """Each region's share of the service's Route 53 weighted records, summing to 1."""
        self._check_service(service)
        return TrafficState(service=service, weights=self._dns(service).shares())

    @mapped
    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        """UPSERT the changed weighted records in one change batch; unchanged weights send nothing."""
        self._check_service(service)
        merged = self._dns(service).set_shares(weights, comment=f"globalops {token(key)}")
        return TrafficState(service=service, weights=merged)

    # --- internals ----------------------------------------------------------------------------

    def _ec2(self, region: str) -> Any:
        return self._clients.client("ec2", region)

    def _cw(self, region: str) -> Any:
        return self._clients.client("cloudwatch", region)

    def _aws_regions(self) -> list[str]:
        return list(self._configs)

    def _check_service(self, service: str) -> None:
        if self._topology.service(service) is None:
            raise NotFound(f"AWS: service '{service}' is not in the topology")

    def _check(self, service: str, region: str) -> None:
        self._check_service(service)
        if region not in self._configs:
            raise InvalidRequest(f"AWS: region '{region}' is not an aws region of the topology")

    def _groups(self, service: str, region: str) -> Groups:
        cfg = self._configs[region]
        names = GroupNames(
            service=service,
            launch_template=cfg.named(cfg.launch_template, service),
            stable=cfg.named(cfg.stable_group, service),
            canary=cfg.named(cfg.canary_group, service),
        )
        return Groups(self._ec2(region), self._clients.client("autoscaling", region), names)

    def _subnet(self, groups: Groups) -> str | None:
        subnets = str(groups.describe("stable").get("VPCZoneIdentifier") or "")
        return subnets.split(",")[0] or None

    def _listener(self, service: str, region: str) -> Listener:
        elb = self._clients.client("elbv2", region)
        with self._lock:
            ref = self._listeners.get((service, region))
        if ref is None:
            cfg = self._configs[region]
            ref = Listener.locate(
                elb,
                cfg.named(cfg.load_balancer, service),
                cfg.listener_port,
                cfg.named(cfg.stable_target_group, service),
                cfg.named(cfg.canary_target_group, service),
            )
            with self._lock:
                self._listeners[(service, region)] = ref
        return Listener(elb, ref)

    def _dns(self, service: str) -> Dns:
        cfg = self._configs.get(self._home, AwsRegionConfig())
        r53 = self._clients.client("route53", self._home)
        zone, record = cfg.named(cfg.hosted_zone, service), cfg.named(cfg.record_name, service)
        return Dns(r53, zone, record, self._zone_ids)

    def _state(self, service: str, region: str) -> RegionState:
        groups = self._groups(service, region)
        stable, canary = groups.members("stable"), groups.members("canary")
        try:
            share = self._dns(service).shares().get(region, 0.0)
        except NotFound:
            share = 0.0
        return RegionState(
            region=region,
            service=service,
            release=majority(stable),
            releases=dict(Counter(m.release or "unknown" for m in (*stable, *canary))),
            instances=len(stable),
            healthy=sum(1 for m in (*stable, *canary) if m.in_service),
            traffic=share,
            canary_instances=len(canary),
            canary_release=majority(canary),
            canary_weight=self._listener(service, region).canary_share(),
        )

    @staticmethod
    def _dims(service: str, region: str, group: str | None = None) -> list[dict[str, str]]:
        dims = [{"Name": "Service", "Value": service}, {"Name": "Region", "Value": region}]
        return dims + ([{"Name": "Group", "Value": group}] if group else [])

    def _query(
        self,
        query_id: str,
        region: str,
        name: str,
        dims: list[dict[str, str]],
        stat: str,
        ns: str | None = None,
    ) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": ns or self._configs[region].metrics_namespace,
                    "MetricName": name,
                    "Dimensions": dims,
                },
                "Period": HEALTH_PERIOD_S,
                "Stat": stat,
            },
            "ReturnData": True,
        }

    def _latest(self, service: str, region: str) -> dict[str, float]:
        queries = []
        for group in GROUPS:
            dims = self._dims(service, region, group)
            queries += [
                self._query(f"e_{group}", region, "ErrorRate", dims, "Average"),
                self._query(f"l_{group}", region, "LatencyP99", dims, "Average"),
                self._query(f"r_{group}", region, "RequestCount", dims, "Sum"),
            ]
        asg_dims = [{"Name": "AutoScalingGroupName", "Value": self._groups(service, region).names.stable}]
        queries.append(self._query("cpu", region, "CPUUtilization", asg_dims, "Average", ns="AWS/EC2"))
        return self._fetch(region, queries)

    def _fetch(self, region: str, queries: list[dict[str, Any]]) -> dict[str, float]:
        """The newest value of each query over the health window (absent when it has none)."""
        now = datetime.now(UTC)
        response = self._cw(region).get_metric_data(
            MetricDataQueries=queries,
            StartTime=now - timedelta(seconds=HEALTH_WINDOW_S),
            # EndTime is exclusive (moto: to the second): one period ahead keeps this second's point.
            EndTime=now + timedelta(seconds=HEALTH_PERIOD_S),
            ScanBy="TimestampDescending",
        )
        out: dict[str, float] = {}
        for result in response.get("MetricDataResults", []):
            pairs = sorted(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
            if pairs:
                out[str(result["Id"])] = float(pairs[-1][1])
        return out


def _effective_share(stable: int, canary: int, weight: float) -> float:
    """The canary's real share: an empty group serves nothing."""
    if not canary:
        return 0.0
    if not stable:
        return 1.0
    return weight


def _check_group(group: str) -> Group:
    for known in GROUPS:
        if group == known:
            return known
    raise InvalidRequest(f"AWS: group must be one of {', '.join(GROUPS)}, got '{group}'")


def _check_count(count: int, release: str) -> None:
    if count < 0:
        raise InvalidRequest(f"AWS: count must be >= 0, got {count}")
    if not release:
        raise InvalidRequest("AWS: release artifact '' does not exist")

"""Health, canary metrics and replica lag of an AWS region, read from what AWS publishes (CloudWatch).

Per instance group with traffic (see activities/aws_metrics.py for where the numbers are):

* error rate and p99: the newest minute of the last 5 that had requests, per target group (the
  ALB's `RequestCount`, `HTTPCode_Target_5XX_Count`, `TargetResponseTime` p99), combined over the
  groups that serve by their requests; with `metrics: custom`, the service's own series instead;
* CPU: `AWS/EC2` `CPUUtilization` (Average) of each Auto Scaling group, the newest point of the last
  15 minutes (basic monitoring publishes every 5), as a share 0..1 weighted by instances;
* healthy instances: InService in their group and healthy in its target group (DescribeTargetHealth,
  live: HealthyHostCount lags scaling by a minute or more and would fail the first sample after
  every batch);
* replica lag: the database's own metric named by the region's `replica_lag` block (RDS
  `ReplicaLag`, Aurora `AuroraGlobalDBReplicationLag` in ms, or the custom series).

Fail closed: a number that did not arrive is None, never 0. A serving group without requests in the
window makes the whole sample's error rate, p99 and request count None (part of the traffic unseen);
no `replica_lag` block, or no point in the last 5 minutes, is an unknown lag (None).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from activities.aws_metrics import (
    GroupMetrics,
    GroupPoint,
    Points,
    cpu_query,
    cpu_share,
    custom_group,
    fetch,
    lag_metric,
    native_group,
)
from activities.botocore_errors import mapped
from activities.clouds.aws_groups import Groups, Member, majority
from activities.metrics.base import check_window
from activities.metrics.cloudwatch import CloudWatchMetrics
from config.aws import AwsRegionConfig
from contracts.cloud import Group, HealthSample, MetricSeries
from contracts.errors import InvalidRequest

if TYPE_CHECKING:
    from activities.clouds.aws_traffic import Listener

GROUPS: tuple[Group, ...] = ("stable", "canary")
#: Where the numbers came from (HealthSample.source).
SOURCE = "cloudwatch"
#: The health sample's window for requests, errors and latency, and the period it reads them in.
HEALTH_WINDOW_S = 300
HEALTH_PERIOD_S = 60
#: CPU looks further back: with basic monitoring EC2 publishes a point every 5 minutes.
CPU_WINDOW_S = 900
#: The replica lag's window (RDS and Aurora publish every minute).
LAG_WINDOW_S = 300


class AwsSignals:
    """The metrics half of AwsCloud: health samples, canary series, replica lag."""

    if TYPE_CHECKING:  # provided by AwsCloud
        _configs: dict[str, AwsRegionConfig]

        def _check(self, service: str, region: str) -> None: ...
        def _groups(self, service: str, region: str, grow_max: bool = False) -> Groups: ...
        def _listener(self, service: str, region: str) -> Listener: ...
        def _cw(self, region: str) -> Any: ...

    @mapped
    def health(self, service: str, region: str) -> HealthSample:
        """One sample: healthy instances (live), and error rate, p99, CPU and requests from CloudWatch."""
        self._check(service, region)
        groups = self._groups(service, region)
        listener = self._listener(service, region)
        members = {g: groups.members(g) for g in GROUPS}
        share = effective_share(len(members["stable"]), len(members["canary"]), listener.canary_share())
        serving = [g for g in GROUPS if members[g] and (share if g == "canary" else 1 - share) > 0]
        sources = {g: self.cloudwatch_group(service, region, g) for g in serving}
        queries: list[dict[str, Any]] = []
        for g in serving:
            queries += sources[g].queries(f"{g}_", HEALTH_PERIOD_S)
            queries.append(cpu_query(f"{g}_cpu", groups.names.asg(g), HEALTH_PERIOD_S))
        found: dict[str, Points] = {}
        if queries:
            now = datetime.now(UTC)
            # EndTime is exclusive (moto: to the second): one period ahead keeps this minute's point.
            found = fetch(
                self._cw(region),
                queries,
                now - timedelta(seconds=CPU_WINDOW_S),
                now + timedelta(seconds=HEALTH_PERIOD_S),
            )
            recent = now - timedelta(seconds=HEALTH_WINDOW_S)
            found = {
                qid: pts if qid.endswith("_cpu") else [p for p in pts if p[0] >= recent]
                for qid, pts in found.items()
            }
        newest = {g: _last(sources[g].points(found, f"{g}_")) for g in serving}
        cpu = {g: _last(found.get(f"{g}_cpu", [])) for g in serving}
        healthy = sum(_healthy(listener, g, members[g]) for g in GROUPS)
        requests, error_rate, latency = combine([newest[g] for g in serving])
        cpus = [(cpu_share(c[1]), len(members[g])) for g in serving if (c := cpu[g]) is not None]
        return HealthSample(
            region=region,
            healthy_instances=healthy,
            instances=sum(len(m) for m in members.values()),
            error_rate=error_rate,
            latency_p99_ms=latency,
            cpu=weighted(cpus) if serving and len(cpus) == len(serving) else None,
            requests=requests,
            source=SOURCE,
        )

    @mapped
    def metrics(self, service: str, region: str, group: Group, window_s: float) -> MetricSeries:
        """The group's points over the window (see CloudWatchMetrics); empty when it has no instances."""
        group = check_group(group)
        check_window(window_s)
        self._check(service, region)
        members = self._groups(service, region).members(group)
        if not members:
            return MetricSeries(region=region, group=group, release=None)
        return CloudWatchMetrics.of(self).series(service, region, group, majority(members), window_s)

    @mapped
    def replica_lag(self, service: str, region: str) -> float | None:
        """Seconds behind, per the database's newest point of the last 5 minutes; None when unknown."""
        self._check(service, region)
        cfg = self._configs[region]
        if cfg.replica_lag is None:
            return None
        metric = lag_metric(cfg.replica_lag, cfg.metrics_namespace, service, region)
        now = datetime.now(UTC)
        found = fetch(
            self._cw(region),
            [metric.query("lag", HEALTH_PERIOD_S)],
            now - timedelta(seconds=LAG_WINDOW_S),
            now + timedelta(seconds=HEALTH_PERIOD_S),
        )
        last = _last(found["lag"])
        return None if last is None else max(0.0, last[1] * metric.to_seconds)

    # --- the CloudWatch provider's view of an AWS region (activities.metrics.cloudwatch.GroupSource) --

    @mapped
    def cloudwatch_group(self, service: str, region: str, group: Group) -> GroupMetrics:
        """Where `group`'s requests, errors and latency are: its target group's ALB metrics (native)
        or the service's own series (custom), per the region's `aws:` block."""
        self._check(service, region)
        cfg = self._configs[region]
        if cfg.metrics == "custom":
            return custom_group(cfg.metrics_namespace, cfg.custom_metrics, service, region, group)
        listener = self._listener(service, region)
        return native_group(listener.ref.load_balancer_arn, listener.target_group_arn(group))

    def cloudwatch_client(self, region: str) -> Any:
        """The adapter's CloudWatch client of `region` (its endpoint and retry settings)."""
        return self._cw(region)


def combine(points: Sequence[GroupPoint | None]) -> tuple[int | None, float | None, float | None]:
    """(requests, error rate, p99) of the groups that serve, weighted by their requests.

    No group, or one without a point, leaves all three None: the traffic it serves was not seen.
    A p99 is combined as the request-weighted mean of the groups' p99s (an approximation: CloudWatch
    has no percentile across dimensions).
    """
    if not points or any(p is None for p in points):
        return None, None, None
    seen = [p for p in points if p is not None]
    total = sum(p.requests for p in seen)
    errors = [(p.error_rate, p.requests) for p in seen if p.error_rate is not None]
    latencies = [(p.latency_ms, p.requests) for p in seen if p.latency_ms is not None]
    return (
        round(total),
        weighted(errors) if len(errors) == len(seen) else None,
        weighted(latencies) if len(latencies) == len(seen) else None,
    )


def weighted(pairs: Sequence[tuple[float, float]]) -> float:
    """The weighted mean of (value, weight) pairs (the plain mean when every weight is 0)."""
    total = sum(w for _, w in pairs)
    if total <= 0:
        return sum(v for v, _ in pairs) / len(pairs)
    return sum(v * w for v, w in pairs) / total


def effective_share(stable: int, canary: int, weight: float) -> float:
    """The canary's real share: an empty group serves nothing."""
    if not canary:
        return 0.0
    if not stable:
        return 1.0
    return weight


def check_group(group: str) -> Group:
    for known in GROUPS:
        if group == known:
            return known
    raise InvalidRequest(f"AWS: group must be one of {', '.join(GROUPS)}, got '{group}'")


def _last(points: Sequence[Any]) -> Any:
    return points[-1] if points else None


def _healthy(listener: Listener, group: Group, members: Sequence[Member]) -> int:
    """Members InService in their group and healthy in its target group."""
    ids = [m.id for m in members if m.in_service]
    if not ids:
        return 0
    states: Mapping[str, str] = listener.target_health(group, ids)
    return sum(1 for i in ids if states.get(i) == "healthy")

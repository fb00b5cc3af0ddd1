"""CloudWatch queries shared by the AWS adapter (health, replica lag) and the CloudWatch metrics provider.

Where one instance group's numbers are (`GroupMetrics`):

* native (the default): what the Application Load Balancer publishes for the group's target group
  in `AWS/ApplicationELB`, dimensions `TargetGroup` and `LoadBalancer` (the ARN suffixes, as AWS
  publishes them): `RequestCount` (Sum), `HTTPCode_Target_5XX_Count` (Sum) and `TargetResponseTime`
  (the extended statistic p99, in seconds), in 60 s periods (the ALB's own resolution);
* custom: the service's own series, dimensions `Service`, `Region`, `Group`: an error rate (0..1)
  and a p99 latency (ms), both read as Average, and a request count (Sum).

Fail closed: a period without requests has no error rate and no latency, and a metric that did not
arrive is None, never 0. The one absence that means 0 is `HTTPCode_Target_5XX_Count` in a period
that has requests: the ALB publishes that count only when it is not zero.

This module is pure apart from `fetch` (which only reads), so that `activities/clouds` and
`activities/metrics` can both use it without importing each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activities.botocore_errors import translated
from config.aws import CustomMetricNames, ReplicaLagSource

ELB_NAMESPACE = "AWS/ApplicationELB"
EC2_NAMESPACE = "AWS/EC2"
RDS_NAMESPACE = "AWS/RDS"
#: The ALB publishes its metrics once a minute.
ELB_PERIOD_S = 60
#: The percentile read of TargetResponseTime (a CloudWatch extended statistic).
P99 = "p99"

#: The three query ids of a group, after its prefix ("" or e.g. "canary_").
REQUESTS, ERRORS, LATENCY = "requests", "error_rate", "latency_p99"

Points = list[tuple[datetime, float]]


@dataclass(frozen=True)
class GroupPoint:
    """One period of a group: its requests, and its error rate and p99 (None when they did not arrive)."""

    at: datetime
    requests: float
    error_rate: float | None
    latency_ms: float | None


@dataclass(frozen=True)
class GroupMetrics:
    """Where the request, error and latency numbers of one instance group are in CloudWatch."""

    native: bool
    namespace: str
    dimensions: tuple[tuple[str, str], ...]
    requests: str
    errors: str
    latency: str
    period: int

    def queries(self, prefix: str, period: int) -> list[dict[str, Any]]:
        """GetMetricData queries of the group's three metrics, ids `<prefix>requests` and so on."""
        error_stat, latency_stat = ("Sum", P99) if self.native else ("Average", "Average")
        return [
            metric_query(prefix + REQUESTS, self.namespace, self.requests, self.dimensions, "Sum", period),
            metric_query(prefix + ERRORS, self.namespace, self.errors, self.dimensions, error_stat, period),
            metric_query(
                prefix + LATENCY, self.namespace, self.latency, self.dimensions, latency_stat, period
            ),
        ]

    def points(self, found: Mapping[str, Points], prefix: str) -> list[GroupPoint]:
        """The periods that had requests, oldest first, each with its error rate and p99 (ms)."""
        errors = dict(found.get(prefix + ERRORS, []))
        latency = dict(found.get(prefix + LATENCY, []))
        out = []
        for at, requests in found.get(prefix + REQUESTS, []):
            if requests <= 0:
                continue  # no traffic in the period: nothing to judge it by
            out.append(
                GroupPoint(
                    at=at,
                    requests=requests,
                    error_rate=self.error_rate(errors.get(at), requests),
                    latency_ms=self.latency_ms(latency.get(at)),
                )
            )
        return out

    def error_rate(self, value: float | None, requests: float) -> float | None:
        """The error rate of a period with `requests` requests, from its error metric's value."""
        if not self.native:
            return None if value is None else min(1.0, max(0.0, value))
        # The ALB publishes HTTPCode_Target_5XX_Count only when it is not zero.
        return min(1.0, (value or 0.0) / requests)

    def latency_ms(self, value: float | None) -> float | None:
        """A latency value in milliseconds (the ALB's TargetResponseTime is in seconds)."""
        if value is None:
            return None
        return max(0.0, value * 1000 if self.native else value)


def native_group(load_balancer_arn: str, target_group_arn: str) -> GroupMetrics:
    """The ALB metrics of a target group behind a load balancer (both by ARN)."""
    return GroupMetrics(
        native=True,
        namespace=ELB_NAMESPACE,
        dimensions=(
            ("TargetGroup", arn_suffix(target_group_arn)),
            ("LoadBalancer", arn_suffix(load_balancer_arn).removeprefix("loadbalancer/")),
        ),
        requests="RequestCount",
        errors="HTTPCode_Target_5XX_Count",
        latency="TargetResponseTime",
        period=ELB_PERIOD_S,
    )


def custom_group(
    namespace: str, names: CustomMetricNames, service: str, region: str, group: str
) -> GroupMetrics:
    """The service's own series of one group (10 s high-resolution points)."""
    return GroupMetrics(
        native=False,
        namespace=namespace,
        dimensions=(("Service", service), ("Region", region), ("Group", group)),
        requests=names.requests,
        errors=names.error_rate,
        latency=names.latency_p99,
        period=10,
    )


def arn_suffix(arn: str) -> str:
    """The resource part of an ARN (`targetgroup/<name>/<id>`, `loadbalancer/app/<name>/<id>`)."""
    parts = arn.split(":", 5)
    return parts[5] if len(parts) == 6 else arn


def cpu_query(query_id: str, auto_scaling_group: str, period: int) -> dict[str, Any]:
    """The group's average CPUUtilization (percent) as EC2 publishes it per Auto Scaling group."""
    dims = (("AutoScalingGroupName", auto_scaling_group),)
    return metric_query(query_id, EC2_NAMESPACE, "CPUUtilization", dims, "Average", period)


def cpu_share(percent: float) -> float:
    """CPUUtilization (percent) as a share 0..1."""
    return min(1.0, max(0.0, percent / 100))


@dataclass(frozen=True)
class LagMetric:
    """The database metric of a region's replica lag, and its unit's factor to seconds."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    to_seconds: float

    def query(self, query_id: str, period: int) -> dict[str, Any]:
        return metric_query(query_id, self.namespace, self.name, self.dimensions, "Maximum", period)


def lag_metric(source: ReplicaLagSource, namespace: str, service: str, region: str) -> LagMetric:
    """Where the configured replica lag is: RDS ReplicaLag, Aurora global lag, or the custom series."""
    ident = (source.id or "").replace("{service}", service)
    if source.metric == "ReplicaLag":
        return LagMetric(RDS_NAMESPACE, "ReplicaLag", (("DBInstanceIdentifier", ident),), 1.0)
    if source.metric == "AuroraGlobalDBReplicationLag":
        dims = (("DBClusterIdentifier", ident),)
        return LagMetric(RDS_NAMESPACE, "AuroraGlobalDBReplicationLag", dims, 0.001)
    return LagMetric(namespace, "ReplicaLag", (("Service", service), ("Region", region)), 1.0)


def metric_query(
    query_id: str,
    namespace: str,
    name: str,
    dimensions: tuple[tuple[str, str], ...],
    stat: str,
    period: int,
) -> dict[str, Any]:
    """One MetricStat query of GetMetricData."""
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions],
            },
            "Period": period,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def fetch(client: Any, queries: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, Points]:
    """Every page of GetMetricData: query id -> (timestamp, value), oldest first, finite values only.

    A query without points maps to []: the caller decides what missing data means (never 0).
    """
    points: dict[str, Points] = {q["Id"]: [] for q in queries}
    request: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    while True:
        with translated():
            page = client.get_metric_data(**request)
        for result in page.get("MetricDataResults", []):
            if result.get("Id") not in points:
                continue
            pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
            points[result["Id"]].extend((t, float(v)) for t, v in pairs if math.isfinite(float(v)))
        token = page.get("NextToken")
        if not token:
            break
        request["NextToken"] = token
    for series in points.values():
        series.sort(key=lambda point: point[0])  # pages and ScanBy aside, always chronological
    return points

"""Cloud Monitoring for GCP regions: one client per endpoint, the queries, and p99 from a distribution.

Shared by the GCP adapter (health samples, `metrics`, replica lag) and the `cloud_monitoring`
metrics provider (canary analysis), which may not import the adapter: both read through here, and
errors leave as CloudErrors classified by `activities.google_errors` (the same as Compute's).

What is read (all with `list_time_series`, aligned to `period_s`, which the API wants >= 60 s):

* `loadbalancing.googleapis.com/https/request_count` (DELTA INT64) of the backend service's
  backends in the region (resource `https_lb_rule`, labels `backend_target_name`,
  `backend_scope`, `backend_name` = the group's managed instance group), summed per
  `response_code_class`: error rate = class 500 / all; no requests in a period = no point.
* `loadbalancing.googleapis.com/https/backend_latencies` (DELTA DISTRIBUTION, ms) of the same
  backends, summed into one distribution per period: p99 from its bucket counts (`quantile`).
* `compute.googleapis.com/instance/cpu/utilization` (GAUGE DOUBLE, 0..1) of the groups'
  instances (`gce_instance`, metric label `instance_name`), averaged across them.
* `cloudsql.googleapis.com/database/replication/replica_lag` (GAUGE DOUBLE, seconds) of one Cloud
  SQL database (`cloudsql_database`, label `database_id`), the largest in each period.

A query that returns nothing yields None (no data), never 0.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from activities.google_errors import call_retry, translated
from contracts.cloud import Group, MetricSeries

REQUEST_COUNT = "loadbalancing.googleapis.com/https/request_count"
BACKEND_LATENCIES = "loadbalancing.googleapis.com/https/backend_latencies"
CPU_UTILIZATION = "compute.googleapis.com/instance/cpu/utilization"
REPLICA_LAG = "cloudsql.googleapis.com/database/replication/replica_lag"

#: `HealthSample.source` of numbers read here.
SOURCE = "cloud-monitoring"
#: The response class the API gives 5xx answers (`response_code_class` is an INT64 label).
ERROR_CLASS = "500"
#: How long one list call (all its pages) may take; the activity's own timeout is longer.
CALL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Target:
    """Where one service's signals in one GCP region live in Cloud Monitoring."""

    project: str  # the region's instances (CPU) and Cloud SQL replica
    lb_project: str  # the project of the global backend service (load-balancer metrics)
    region: str
    backend_service: str
    groups: Mapping[str, str]  # "stable" / "canary" -> managed instance group name
    endpoint: str | None = None
    call_retry_s: float = 20.0
    period_s: float = 60.0
    window_s: float = 300.0  # health and lag: how old the newest point may be
    database_id: str | None = None


@runtime_checkable
class TargetSource(Protocol):
    """What the GCP adapter offers the metrics provider: where a region's signals are."""

    def monitoring_target(self, service: str, region: str) -> Target:
        """The Cloud Monitoring coordinates of `service` in `region`."""
        ...


# --- p99 from a distribution (pure) ------------------------------------------------------------


def bucket_bounds(options: Any) -> list[float]:
    """The finite boundaries b0 < b1 < ... of a `google.api.Distribution.BucketOptions`.

    Bucket 0 is the underflow (-inf, b0), bucket i is [b(i-1), b(i)), the last the overflow
    [b(n-1), +inf): linear N buckets have offset + width·i (i = 0..N), exponential ones
    scale · growth^i (i = 0..N), explicit ones their `bounds`. No options: no boundaries.
    """
    which = options.WhichOneof("options") if options is not None else None
    if which == "linear_buckets":
        lin = options.linear_buckets
        return [lin.offset + lin.width * i for i in range(lin.num_finite_buckets + 1)]
    if which == "exponential_buckets":
        exp = options.exponential_buckets
        return [exp.scale * exp.growth_factor**i for i in range(exp.num_finite_buckets + 1)]
    if which == "explicit_buckets":
        return list(options.explicit_buckets.bounds)
    return []


def quantile(
    bounds: Sequence[float],
    counts: Sequence[int],
    q: float = 0.99,
    low: float | None = None,
    high: float | None = None,
) -> float | None:
    """The q-quantile of a histogram, interpolated linearly inside its bucket; None when unknown.

    `counts[i]` is the count of bucket i (see `bucket_bounds`); a missing tail counts 0, as the API
    omits trailing zero buckets. Unknown (None): no samples, no boundaries, a negative count or
    more counts than buckets. The underflow bucket starts at 0 (latencies are not negative) unless
    its bound is below 0; a quantile in the overflow bucket is its lower bound, the largest finite
    boundary (the truth is at least that). `low` / `high` (the distribution's range, if sent)
    bound the answer.
    """
    if not 0.0 < q <= 1.0:
        raise ValueError(f"quantile q must be within (0, 1], got {q}")
    if not bounds or len(counts) > len(bounds) + 1 or any(c < 0 for c in counts):
        return None
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    value = bounds[-1]
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i == len(bounds):  # overflow: nothing above the last boundary is known
                value = bounds[-1] if high is None else max(bounds[-1], high)
            else:
                upper = bounds[i]
                lower = bounds[i - 1] if i > 0 else min(0.0, upper)
                value = lower + (upper - lower) * (rank - seen) / count
            break
        seen += count
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


def p99(distribution: Any) -> float | None:
    """The 99th percentile of a `google.api.Distribution` from its buckets; None when empty."""
    if distribution is None or int(distribution.count) <= 0:
        return None
    low = high = None
    if distribution.HasField("range"):
        low, high = distribution.range.min, distribution.range.max
    bounds = bucket_bounds(distribution.bucket_options if distribution.HasField("bucket_options") else None)
    return quantile(bounds, [int(c) for c in distribution.bucket_counts], 0.99, low, high)


# --- the client --------------------------------------------------------------------------------

_clients: dict[str | None, Any] = {}
_clients_lock = threading.Lock()


def _build(endpoint: str | None) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.cloud import monitoring_v3

    if endpoint is None:  # monitoring.googleapis.com, google-auth's default credentials
        return monitoring_v3.MetricServiceClient()
    if endpoint.startswith("http://"):
        # A local test server: plaintext gRPC, no credentials (the library has no REST transport).
        import grpc
        from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

        channel = grpc.insecure_channel(endpoint.removeprefix("http://"))
        return monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
    return monitoring_v3.MetricServiceClient(client_options=ClientOptions(api_endpoint=endpoint))


def client(endpoint: str | None) -> Any:
    """The MetricServiceClient of an endpoint, built once per process."""
    with _clients_lock:
        if endpoint not in _clients:
            with translated("cloud monitoring client"):
                _clients[endpoint] = _build(endpoint)
        return _clients[endpoint]


def quote(value: str) -> str:
    """A string literal of the monitoring filter language."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def equals(name: str, values: Iterable[str]) -> str:
    """`name = "v"`, or `name = one_of("a", "b")` for several values."""
    listed = [quote(v) for v in values]
    if len(listed) == 1:
        return f"{name} = {listed[0]}"
    return f"{name} = one_of({', '.join(listed)})"


@dataclass(frozen=True)
class Query:
    """One `list_time_series` call: a metric, a filter and how to align and reduce it."""

    project: str
    metric: str
    clauses: list[str]
    aligner: str
    reducer: str
    group_by: tuple[str, ...] = ()
    window_s: float = 300.0

    @property
    def filter(self) -> str:
        return " AND ".join([equals("metric.type", [self.metric]), *self.clauses])


def series(target: Target, query: Query, now: datetime | None = None) -> list[Any]:
    """Every TimeSeries the query returns (all pages), aligned to the target's period."""
    from google.cloud import monitoring_v3
    from google.protobuf import duration_pb2

    end = now or datetime.now(UTC)
    request = monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{query.project}",
        filter=query.filter,
        interval=monitoring_v3.TimeInterval(start_time=end - timedelta(seconds=query.window_s), end_time=end),
        aggregation=monitoring_v3.Aggregation(
            alignment_period=duration_pb2.Duration(seconds=max(1, round(target.period_s))),
            per_series_aligner=getattr(monitoring_v3.Aggregation.Aligner, query.aligner),
            cross_series_reducer=getattr(monitoring_v3.Aggregation.Reducer, query.reducer),
            group_by_fields=list(query.group_by),
        ),
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    )
    what = f"cloud monitoring {query.metric} in {target.region}"
    with translated(what):
        pager = client(target.endpoint).list_time_series(
            request=request, retry=call_retry(target.call_retry_s), timeout=CALL_TIMEOUT_S
        )
        return list(pager)


def _end(point: Any) -> datetime:
    stamp: datetime = point.interval.end_time
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _number(point: Any) -> float:
    value = point.value
    kind = type(value).pb(value).WhichOneof("value")
    return float(value.int64_value if kind == "int64_value" else value.double_value)


# --- load balancer, CPU, replica lag -------------------------------------------------------------


@dataclass(frozen=True)
class LbPoint:
    """One aligned period of a group's (or a region's) load-balanced traffic."""

    end: datetime
    requests: int
    errors: int
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests


@dataclass
class LbSeries:
    """A window of periods with requests, oldest first."""

    points: list[LbPoint] = field(default_factory=list)

    @property
    def newest(self) -> LbPoint | None:
        return self.points[-1] if self.points else None


def _lb_clauses(target: Target, groups: Sequence[str]) -> list[str]:
    return [
        equals("resource.type", ["https_lb_rule"]),
        equals("resource.labels.backend_target_name", [target.backend_service]),
        equals("resource.labels.backend_scope", [target.region]),
        equals("resource.labels.backend_name", [target.groups[g] for g in groups]),
    ]


def lb_series(
    target: Target, groups: Sequence[str], window_s: float, now: datetime | None = None
) -> LbSeries:
    """Requests, 5xx and p99 per period of the groups' backends (summed across them)."""
    now = now or datetime.now(UTC)  # one end for both queries, so their periods line up
    clauses = _lb_clauses(target, groups)
    counts = series(
        target,
        Query(
            target.lb_project,
            REQUEST_COUNT,
            clauses,
            "ALIGN_SUM",
            "REDUCE_SUM",
            ("metric.label.response_code_class",),
            window_s,
        ),
        now,
    )
    latencies = series(
        target,
        Query(target.lb_project, BACKEND_LATENCIES, clauses, "ALIGN_SUM", "REDUCE_SUM", (), window_s),
        now,
    )
    requests: dict[datetime, int] = {}
    errors: dict[datetime, int] = {}
    for ts in counts:
        five_xx = str(ts.metric.labels.get("response_code_class", "")) == ERROR_CLASS
        for point in ts.points:
            at, n = _end(point), round(_number(point))
            requests[at] = requests.get(at, 0) + n
            if five_xx:
                errors[at] = errors.get(at, 0) + n
    tails: dict[datetime, float | None] = {}
    for ts in latencies:
        for point in ts.points:
            tails[_end(point)] = p99(point.value.distribution_value)
    return LbSeries(
        [
            LbPoint(end=at, requests=n, errors=errors.get(at, 0), p99_ms=tails.get(at))
            for at, n in sorted(requests.items())
            if n > 0
        ]
    )


def _newest(found: list[Any]) -> float | None:
    points = [(_end(p), _number(p)) for ts in found for p in ts.points]
    points = [(at, v) for at, v in points if math.isfinite(v)]
    return max(points)[1] if points else None


def cpu(target: Target, instances: Sequence[tuple[str, str]], now: datetime | None = None) -> float | None:
    """Mean CPU utilisation (0..1) of the (zone, name) instances in the newest period; None: none."""
    if not instances:
        return None
    clauses = [
        equals("resource.type", ["gce_instance"]),
        equals("resource.labels.zone", sorted({zone for zone, _ in instances})),
        equals("metric.labels.instance_name", sorted({name for _, name in instances})),
    ]
    query = Query(target.project, CPU_UTILIZATION, clauses, "ALIGN_MEAN", "REDUCE_MEAN", (), target.window_s)
    return _newest(series(target, query, now))


def replica_lag(target: Target, now: datetime | None = None) -> float | None:
    """Seconds the configured Cloud SQL replica is behind (newest period's maximum); None: unknown."""
    if not target.database_id:
        return None
    clauses = [
        equals("resource.type", ["cloudsql_database"]),
        equals("resource.labels.database_id", [target.database_id]),
    ]
    query = Query(target.project, REPLICA_LAG, clauses, "ALIGN_MAX", "REDUCE_MAX", (), target.window_s)
    return _newest(series(target, query, now))


def group_series(
    target: Target, group: Group, release: str | None, window_s: float, now: datetime | None = None
) -> MetricSeries:
    """One group's points for canary analysis: error rate and p99 of each period with requests."""
    found = lb_series(target, [group], window_s, now)
    return MetricSeries(
        region=target.region,
        group=group,
        release=release,
        error_rate=[p.error_rate for p in found.points],
        latency_p99_ms=[p.p99_ms for p in found.points if p.p99_ms is not None],
        requests=sum(p.requests for p in found.points),
    )

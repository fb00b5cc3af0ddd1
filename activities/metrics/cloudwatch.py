"""Metrics from Amazon CloudWatch (GetMetricData), one client per region, for canary analysis.

Where a group's numbers are comes from `activities/aws_metrics.py`:

* a region on the AWS adapter says it itself (`GroupSource`): by default the native metrics of the
  group's target group, published by the Application Load Balancer in `AWS/ApplicationELB`
  (`RequestCount`, `HTTPCode_Target_5XX_Count`, `TargetResponseTime` p99), or the service's own
  series when its `aws:` block says `metrics: custom`. The adapter's own clients are used;
* any other region: the service's own series in `analysis.cloudwatch_namespace`, ``ErrorRate``
  and ``LatencyP99`` (Average) and ``RequestCount`` (Sum), dimensions ``Service``, ``Region`` and
  ``Group`` (``stable`` | ``canary``).

Native points come once a minute (the ALB's resolution): one error-rate point (5xx / requests) and
one p99 point per minute that had requests; a window without requests is an empty series (no data,
never 0). The service's own series come in 10 s periods (high resolution); CloudWatch keeps 10 s data
for 3 hours only, so a longer window is read in 60 s periods. The custom metric names are distinct
on purpose: moto's GetMetricData ignores the namespace when dimensions are given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from activities.aws_metrics import ERRORS, LATENCY, REQUESTS, GroupMetrics, custom_group, fetch
from activities.botocore_errors import translated
from activities.metrics.base import check_window
from config.aws import CustomMetricNames
from contracts.cloud import (
    Group,
    MetricSeries,
)

#: Period of the service's own points, and the one CloudWatch needs once the window reaches past 3 hours.
PERIOD_S = 10
LONG_PERIOD_S = 60
HIGH_RESOLUTION_RETENTION_S = 3 * 3600


@runtime_checkable
class GroupSource(Protocol):
    """What a region's adapter tells the provider: where a group's metrics are, and a client to read them."""

    def cloudwatch_group(self, service: str, region: str, group: Group) -> GroupMetrics:
        """Where `group`'s requests, errors and latency are published."""
        ...

    def cloudwatch_client(self, region: str) -> Any:
        """A CloudWatch client of `region`."""
        ...


def _default_factory(endpoint_url: str | None) -> Callable[[str], Any]:
    """Clients from boto3's default credential chain; few SDK retries (Temporal retries activities)."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 2, "mode": "standard"},
        connect_timeout=5,
        read_timeout=20,
    )

    def factory(region: str) -> Any:
        return boto3.session.Session().client(
            "cloudwatch", region_name=region, endpoint_url=endpoint_url, config=config
        )

    return factory


class CloudWatchMetrics:
    """A MetricsProvider reading GetMetricData from the CloudWatch of the group's region."""

    def __init__(
        self,
        client_factory: Callable[[str], Any] | None = None,
        namespace: str = "globalops",
        endpoint_url: str | None = None,
        groups: Callable[[str, str, Group], GroupMetrics] | None = None,
    ) -> None:
        """`client_factory(region)` builds a CloudWatch client (default: boto3 with `endpoint_url`);
        `groups(service, region, group)` says where a group's metrics are (default: the service's own
        series in `namespace`)."""
        self._factory = client_factory or _default_factory(endpoint_url)
        self._namespace = namespace
        self._groups = groups or self._custom
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, source: GroupSource) -> CloudWatchMetrics:
        """The provider of an AWS region: its adapter's clients and the metrics its config names."""
        return cls(client_factory=source.cloudwatch_client, groups=source.cloudwatch_group)

    def _custom(self, service: str, region: str, group: Group) -> GroupMetrics:
        return custom_group(self._namespace, CustomMetricNames(), service, region, group)

    def _client(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                with translated():
                    self._clients[region] = self._factory(region)
            return self._clients[region]

    def series(
        self, service: str, region: str, group: Group, release: str | None, window_s: float
    ) -> MetricSeries:
        check_window(window_s)
        source = self._groups(service, region, group)
        end = datetime.now(UTC)
        start = end - timedelta(seconds=window_s)
        period = (
            source.period if window_s <= HIGH_RESOLUTION_RETENTION_S else max(LONG_PERIOD_S, source.period)
        )
        found = fetch(self._client(region), source.queries("", period), start, end)
        if source.native:
            points = source.points(found, "")
            return MetricSeries(
                region=region,
                group=group,
                release=release,
                error_rate=[p.error_rate for p in points if p.error_rate is not None],
                latency_p99_ms=[p.latency_ms for p in points if p.latency_ms is not None],
                requests=round(sum(p.requests for p in points)),
            )
        return MetricSeries(
            region=region,
            group=group,
            release=release,
            error_rate=[v for _, v in found[ERRORS]],
            latency_p99_ms=[v for _, v in found[LATENCY]],
            requests=round(sum(v for _, v in found[REQUESTS])),
        )

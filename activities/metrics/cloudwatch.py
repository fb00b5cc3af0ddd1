"""Metrics from Amazon CloudWatch (GetMetricData), one client per region.

The service publishes three metrics per instance group, all with the dimensions
``Service``, ``Region`` and ``Group`` (``stable`` | ``canary``):

* ``ErrorRate`` -- share of failed requests, 0..1 (read with Stat ``Average``)
* ``LatencyP99`` -- p99 latency in milliseconds (Stat ``Average``)
* ``RequestCount`` -- requests served (Stat ``Sum``, added up over the window)

The metric names are distinct on purpose: moto's GetMetricData ignores the namespace when
dimensions are given. Points come in 10 s periods (high-resolution metrics); CloudWatch only
keeps 10 s data for 3 hours, so a longer window is read in 60 s periods.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from activities.botocore_errors import translated
from activities.metrics.base import check_window
from contracts.cloud import (
    Group,
    MetricSeries,
)

#: CloudWatch metric name -> (GetMetricData query id, statistic).
METRICS: dict[str, tuple[str, str]] = {
    "ErrorRate": ("error_rate", "Average"),
    "LatencyP99": ("latency_p99", "Average"),
    "RequestCount": ("requests", "Sum"),
}

#: Period of the points, and the one CloudWatch needs once the window reaches past 3 hours.
PERIOD_S = 10
LONG_PERIOD_S = 60
HIGH_RESOLUTION_RETENTION_S = 3 * 3600


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
    ) -> None:
        """`client_factory(region)` builds a CloudWatch client (default: boto3 with `endpoint_url`)."""
        self._factory = client_factory or _default_factory(endpoint_url)
        self._namespace = namespace
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

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
        end = datetime.now(UTC)
        start = end - timedelta(seconds=window_s)
        period = PERIOD_S if window_s <= HIGH_RESOLUTION_RETENTION_S else LONG_PERIOD_S
        dimensions = [
            {"Name": "Service", "Value": service},
            {"Name": "Region", "Value": region},
            {"Name": "Group", "Value": group},
        ]
        queries = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {"Namespace": self._namespace, "MetricName": name, "Dimensions": dimensions},
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }
            for name, (query_id, stat) in METRICS.items()
        ]
        points = self._fetch(self._client(region), queries, start, end)
        return MetricSeries(
            region=region,
            group=group,
            release=release,
            error_rate=[v for _, v in points["error_rate"]],
            latency_p99_ms=[v for _, v in points["latency_p99"]],
            requests=round(sum(v for _, v in points["requests"])),
        )

    @staticmethod
    def _fetch(
        client: Any, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[str, list[tuple[datetime, float]]]:
        """Every page of GetMetricData: query id -> (timestamp, value), oldest first, finite only."""
        points: dict[str, list[tuple[datetime, float]]] = {q["Id"]: [] for q in queries}
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

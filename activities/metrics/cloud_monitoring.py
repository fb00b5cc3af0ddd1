"""Metrics from Google Cloud Monitoring for canary analysis on GCP regions.

Reads the load balancer's `request_count` (error rate = 5xx / all, per period) and
`backend_latencies` (p99 from each period's distribution) of the group's backend, through
`activities.cloud_monitoring`, the module the GCP adapter reads its health samples through. Where
the group's backend is comes from the region's adapter (`TargetSource.monitoring_target`): this
package never imports the adapters.
"""

from __future__ import annotations

from activities.cloud_monitoring import TargetSource, group_series
from activities.metrics.base import check_window
from contracts.cloud import (
    Group,
    MetricSeries,
)


class CloudMonitoringMetrics:
    """A MetricsProvider reading a GCP region's load-balancer metrics from Cloud Monitoring."""

    def __init__(self, targets: TargetSource) -> None:
        self._targets = targets

    def series(
        self, service: str, region: str, group: Group, release: str | None, window_s: float
    ) -> MetricSeries:
        check_window(window_s)
        target = self._targets.monitoring_target(service, region)
        return group_series(target, group, release, window_s)

"""Metrics providers for canary analysis: the simulator, CloudWatch, Prometheus and Cloud Monitoring."""

from __future__ import annotations

from activities.metrics.base import MetricsProvider, samples
from activities.metrics.sim import SeriesSource, SimMetrics
from contracts.errors import InvalidRequest

#: Names `metrics_provider` accepts.
PROVIDERS = ("sim", "cloudwatch", "prometheus", "cloud_monitoring")

__all__ = ["PROVIDERS", "MetricsProvider", "SimMetrics", "metrics_provider", "samples"]


def metrics_provider(
    name: str,
    cloud: SeriesSource,
    *,
    prometheus_url: str | None = None,
    cloudwatch_namespace: str = "globalops",
    endpoint_url: str | None = None,
) -> MetricsProvider:
    """The provider called `name`; InvalidRequest for an unknown name or a missing Prometheus URL.

    `cloud` is the region's adapter (used by "sim", by "cloudwatch" on an AWS region, whose adapter
    says where its groups' metrics are, and by "cloud_monitoring" to find where a GCP region's signals
    are); `endpoint_url` points CloudWatch clients of other regions at another endpoint (e.g. moto).
    CloudWatch, Prometheus and Cloud Monitoring are imported only when chosen.
    """
    if name == "sim":
        return SimMetrics(cloud)
    if name == "cloudwatch":
        from activities.metrics.cloudwatch import CloudWatchMetrics, GroupSource

        if isinstance(cloud, GroupSource):  # an AWS region names its own target groups (or series)
            return CloudWatchMetrics.of(cloud)
        return CloudWatchMetrics(namespace=cloudwatch_namespace, endpoint_url=endpoint_url)
    if name == "prometheus":
        from activities.metrics.prometheus import PrometheusMetrics

        if not prometheus_url:
            raise InvalidRequest("the prometheus metrics provider needs a prometheus_url")
        return PrometheusMetrics(prometheus_url)
    if name == "cloud_monitoring":
        from activities.cloud_monitoring import TargetSource
        from activities.metrics.cloud_monitoring import CloudMonitoringMetrics

        if not isinstance(cloud, TargetSource):
            raise InvalidRequest(
                "the cloud_monitoring metrics provider reads GCP regions only (provider: gcp)"
            )
        return CloudMonitoringMetrics(cloud)
    raise InvalidRequest(f"unknown metrics provider {name!r}; allowed: {', '.join(PROVIDERS)}")

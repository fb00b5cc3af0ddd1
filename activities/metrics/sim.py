"""Metrics from the simulated cloud itself (CloudPort.metrics)."""

from __future__ import annotations

from typing import Protocol

from activities.metrics.base import check_window
from contracts.cloud import (
    Group,
    MetricSeries,
)


class SeriesSource(Protocol):
    """What the simulated cloud offers analysis: its own data points (CloudPort.metrics)."""

    def metrics(self, service: str, region: str, group: Group, window_s: float) -> MetricSeries:
        """Data points of a group's error rate and p99 latency over the last `window_s` seconds."""
        ...


class SimMetrics:
    """A MetricsProvider that asks the cloud adapter (the simulator) for its own data points."""

    def __init__(self, cloud: SeriesSource) -> None:
        self._cloud = cloud

    def series(
        self, service: str, region: str, group: Group, release: str | None, window_s: float
    ) -> MetricSeries:
        check_window(window_s)
        series = self._cloud.metrics(service, region, group, window_s)
        if series.release is None and release is not None:
            series = series.model_copy(update={"release": release})
        return series

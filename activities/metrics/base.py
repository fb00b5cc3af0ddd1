"""The metrics port: where canary analysis reads a group's error rate and latency from.

Providers raise the CloudError subclasses of contracts.errors so the activities classify
them like any other provider error: Throttled (429, throttling codes) and Unavailable (5xx,
timeouts, refused connections) are retried; InvalidRequest (other 4xx, bad queries) and
AccessDenied (401/403, missing credentials) are not.
"""

from __future__ import annotations

from typing import Protocol

from contracts.cloud import (
    Group,
    MetricSeries,
)
from contracts.errors import InvalidRequest

#: Names of the samples a MetricSeries yields for the judge (workflows.judge.MetricSpec.name).
ERROR_RATE = "error_rate"
LATENCY_P99_MS = "latency_p99_ms"


class MetricsProvider(Protocol):
    """Reads the data points of one group of a service in a region."""

    def series(
        self, service: str, region: str, group: Group, release: str | None, window_s: float
    ) -> MetricSeries:
        """Error rate and p99 latency points of `group` over the last `window_s` seconds, oldest first.

        `release` is what the caller expects the group to run; it is reported in the series.
        """
        ...


def samples(series: MetricSeries) -> dict[str, list[float]]:
    """The series as the judge's input: metric name -> data points."""
    return {ERROR_RATE: list(series.error_rate), LATENCY_P99_MS: list(series.latency_p99_ms)}


def check_window(window_s: float) -> None:
    """InvalidRequest unless the window is a positive, finite number of seconds."""
    if not 0 < window_s < float("inf"):
        raise InvalidRequest(f"metrics window must be a positive number of seconds, got {window_s}")

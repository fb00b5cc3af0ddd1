"""Cloud value types every provider returns: region state, health, metrics, traffic, deploy results."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.wire import WireModel


class PreflightReport(WireModel):
    """Result of checking that a region can take a release before anything changes."""

    region: str
    ok: bool
    checks: dict[str, bool] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)


Group = Literal["stable", "canary"]


class RegionState(WireModel):
    """What a region runs now for one service."""

    region: str
    service: str
    release: str | None = Field(description="release of the majority of stable instances")
    releases: dict[str, int] = Field(description="instance count per release (both groups)")
    instances: int = Field(description="stable instances")
    healthy: int
    traffic: float = Field(description="share of the service's global traffic, 0..1")
    canary_instances: int = Field(default=0, description="instances of the canary / green group")
    canary_release: str | None = Field(default=None, description="release of the canary / green group")
    canary_weight: float = Field(default=0.0, description="share of the region's traffic on canary, 0..1")


class MetricSeries(WireModel):
    """Data points of one group's metrics over a window, for analysis."""

    region: str
    group: Group
    release: str | None
    error_rate: list[float] = Field(default_factory=list, description="one value per data point, 0..1")
    latency_p99_ms: list[float] = Field(default_factory=list, description="one value per data point")
    requests: int = Field(default=0, description="requests in the window; 0 with no points: no data")


class HealthSample(WireModel):
    """One health reading of a service in a region; a number the provider did not report is None.

    None never means 0 (fail closed): a gate, a probe or an analysis that finds no data, or no
    requests, in its window does not count the region as healthy.
    """

    region: str
    healthy_instances: int
    instances: int
    error_rate: float | None = Field(default=None, description="0..1; None: no data in the window")
    latency_p99_ms: float | None = Field(default=None, description="None: no data in the window")
    cpu: float | None = Field(default=None, description="0..1; None: no data in the window")
    requests: int | None = Field(default=None, description="requests in the window; None: unknown")
    source: str = Field(default="", description="where the numbers came from, e.g. sim, cloudwatch")

    def missing(self) -> list[str]:
        """What this sample lacks to be judged healthy: metrics that did not arrive, or no requests."""
        named = (("error rate", self.error_rate), ("p99 latency", self.latency_p99_ms), ("cpu", self.cpu))
        lacking = [name for name, value in named if value is None]
        if self.requests is None:
            lacking.append("request count")
        elif self.requests <= 0:
            lacking.append("requests (none in the window)")
        return lacking


class DeployResult(WireModel):
    """What a keyed mutating call changed."""

    key: str
    changed: int = Field(description="instances replaced or created by this call")
    state: RegionState


class TrafficState(WireModel):
    """How a service's global traffic is split across regions (DNS / global load balancer weights)."""

    service: str
    weights: dict[str, float] = Field(description="region -> share of global traffic, summing to 1")

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
    requests: int = 0


class HealthSample(WireModel):
    """One health reading of a service in a region."""

    region: str
    healthy_instances: int
    instances: int
    error_rate: float = Field(description="0..1")
    latency_p99_ms: float
    cpu: float = Field(description="0..1")
    requests: int = Field(description="requests observed in the sample window")


class DeployResult(WireModel):
    """What a keyed mutating call changed."""

    key: str
    changed: int = Field(description="instances replaced or created by this call")
    state: RegionState


class TrafficState(WireModel):
    """How a service's global traffic is split across regions (DNS / global load balancer weights)."""

    service: str
    weights: dict[str, float] = Field(description="region -> share of global traffic, summing to 1")

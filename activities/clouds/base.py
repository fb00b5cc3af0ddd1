"""The cloud port: what every provider adapter (sim, aws, gcp) must offer the activities."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

from activities.clouds.storage_port import StoragePort


class CloudError(Exception):
    """Base of every provider error; subclasses say whether a retry can help."""

    retryable: bool = False
    kind: str = "CloudError"


class Throttled(CloudError):
    """The provider asked us to slow down (HTTP 429, RequestLimitExceeded)."""

    retryable = True
    kind = "Throttled"


class Unavailable(CloudError):
    """A transient provider failure (5xx, timeout, connection reset)."""

    retryable = True
    kind = "Unavailable"


class InvalidRequest(CloudError):
    """The request itself is wrong; retrying it cannot help."""

    kind = "InvalidRequest"


class NotFound(CloudError):
    """A resource the request names does not exist."""

    kind = "NotFound"


class AccessDenied(CloudError):
    """Credentials are missing or lack a permission."""

    kind = "AccessDenied"


class QuotaExceeded(CloudError):
    """A provider quota or capacity limit blocks the request."""

    kind = "QuotaExceeded"


class RegionUnavailable(CloudError):
    """The whole region is down (an outage): retries will not help within an activity."""

    kind = "RegionUnavailable"


class PreflightReport(BaseModel):
    """Result of checking that a region can take a release before anything changes."""

    region: str
    ok: bool
    checks: dict[str, bool] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)


Group = Literal["stable", "canary"]


class RegionState(BaseModel):
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


class MetricSeries(BaseModel):
    """Data points of one group's metrics over a window, for analysis."""

    region: str
    group: Group
    release: str | None
    error_rate: list[float] = Field(default_factory=list, description="one value per data point, 0..1")
    latency_p99_ms: list[float] = Field(default_factory=list, description="one value per data point")
    requests: int = 0


class HealthSample(BaseModel):
    """One health reading of a service in a region."""

    region: str
    healthy_instances: int
    instances: int
    error_rate: float = Field(description="0..1")
    latency_p99_ms: float
    cpu: float = Field(description="0..1")
    requests: int = Field(description="requests observed in the sample window")


class DeployResult(BaseModel):
    """What a keyed mutating call changed."""

    key: str
    changed: int = Field(description="instances replaced or created by this call")
    state: RegionState


class TrafficState(BaseModel):
    """How a service's global traffic is split across regions (DNS / global load balancer weights)."""

    service: str
    weights: dict[str, float] = Field(description="region -> share of global traffic, summing to 1")


class CloudPort(StoragePort, Protocol):
    """Operations a provider adapter implements; every mutating one takes an idempotency key."""

    def preflight(self, service: str, region: str, release: str) -> PreflightReport:
        """Check capacity, quotas, configuration and that the release artifact exists."""
        ...

    def region_state(self, service: str, region: str) -> RegionState:
        """Read which releases a region runs and how healthy it is."""
        ...

    def ensure_release(self, service: str, region: str, release: str, count: int, key: str) -> DeployResult:
        """Make at least `count` instances run `release` (replacing others); once per key."""
        ...

    def health(self, service: str, region: str) -> HealthSample:
        """Take one health sample of the service in the region (both groups, by traffic)."""
        ...

    def scale_group(
        self, service: str, region: str, group: Group, release: str, count: int, key: str
    ) -> DeployResult:
        """Make `group` exactly `count` instances, all on `release` (0 removes it); once per key."""
        ...

    def set_canary_weight(self, service: str, region: str, weight: float, key: str) -> RegionState:
        """Route `weight` (0..1) of the region's traffic to the canary / green group; once per key."""
        ...

    def promote_canary(self, service: str, region: str, key: str) -> RegionState:
        """The canary / green group becomes stable; the old stable group is removed; once per key."""
        ...

    def restore(self, service: str, region: str, release: str, count: int, key: str) -> RegionState:
        """Undo anything in flight: weight 0, canary removed, `count` stable on `release`; once per key."""
        ...

    def metrics(self, service: str, region: str, group: Group, window_s: float) -> MetricSeries:
        """Data points of a group's error rate and p99 latency over the last `window_s` seconds."""
        ...

    def traffic(self, service: str) -> TrafficState:
        """Read the global traffic split of a service."""
        ...

    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        """Set the global traffic split (regions not named keep theirs); once per key."""
        ...

    def replica_lag(self, service: str, region: str) -> float:
        """Seconds the region's data replica is behind (the RPO exposure of a failover into it)."""
        ...

"""Activities for failover: probe a region, read and set global traffic weights, read replica lag."""

from __future__ import annotations

import structlog
from temporalio import activity

from activities.clouds.global_traffic import GlobalLayers, GlobalTrafficPort
from activities.clouds.port import CloudPort
from activities.clouds.registry import CloudRegistry
from activities.errors import classified
from activities.heartbeat import long_call
from contracts.cloud import TrafficState
from contracts.errors import CloudError
from contracts.failover import (
    ProbeResult,
    SetTrafficInput,
    TrafficRef,
)
from contracts.rollout import RegionRef


class TrafficActivities:
    """Probes and traffic changes, through the same cloud adapters as the deploy activities."""

    def __init__(self, clouds: CloudRegistry, layers: GlobalLayers | None = None) -> None:
        self._clouds = clouds
        self._layers = layers or GlobalLayers(clouds)

    def _traffic(self, inp: TrafficRef) -> CloudPort | GlobalTrafficPort:
        """The topology's global layer when it has one, else the provider's own traffic manager."""
        return self._layers.get(inp.layer) if inp.layer is not None else self._clouds.get(inp.provider)

    @activity.defn(name="probe_region")
    @long_call
    def probe_region(self, inp: RegionRef) -> ProbeResult:
        """One health probe; an unreachable region is a failed probe, not a failed activity.

        A region that answers but whose metrics did not arrive is `blind`: not failed (no evidence
        of harm) and not healthy (no evidence of health).
        """
        return probe(self._clouds, inp)

    @activity.defn(name="get_traffic")
    @classified
    @long_call
    def get_traffic(self, inp: TrafficRef) -> TrafficState:
        """Read the global traffic split of a service (through the global layer when there is one)."""
        return self._traffic(inp).traffic(inp.service)

    @activity.defn(name="set_traffic")
    @classified
    @long_call
    def set_traffic(self, inp: SetTrafficInput) -> TrafficState:
        """Set DNS / load-balancer weights; a repeated key changes nothing."""
        state = self._traffic(inp).set_traffic(inp.service, inp.weights, inp.key)
        structlog.get_logger("globalops.activity").info(
            "set_traffic",
            workflow_id=activity.info().workflow_id,
            activity="set_traffic",
            weights=inp.weights,
            layer=inp.layer.provider if inp.layer else None,
            key=inp.key,
        )
        return state

    @activity.defn(name="replica_lag")
    @classified
    @long_call
    def replica_lag(self, inp: RegionRef) -> float | None:
        """Seconds the region's data replica is behind; None when the database reports none (unknown)."""
        return self._clouds.get(inp.provider).replica_lag(inp.service, inp.region)


def probe(clouds: CloudRegistry, inp: RegionRef) -> ProbeResult:
    """One health probe (the activity's body, and each region of a watch round); a retryable
    CloudError (throttling) is raised, any other one is a failed probe."""
    try:
        sample = clouds.get(inp.provider).health(inp.service, inp.region)
    except CloudError as exc:
        if exc.retryable:
            raise  # throttling: let Temporal retry the probe
        return ProbeResult(region=inp.region, ok=False, error_rate=1.0, latency_p99_ms=None, detail=str(exc))
    up = sample.healthy_instances > 0 and (sample.error_rate is None or sample.error_rate < 1.0)
    missing = sample.missing() if up else []
    detail = "" if up else "no healthy instance"
    if missing:
        detail = f"no metrics from {sample.source or inp.provider}: {', '.join(missing)}"
    return ProbeResult(
        region=inp.region,
        ok=up,
        error_rate=sample.error_rate,
        latency_p99_ms=sample.latency_p99_ms,
        healthy_instances=sample.healthy_instances,
        detail=detail,
        blind=bool(missing),
        source=sample.source,
    )

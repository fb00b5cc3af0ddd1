"""Activities that read and change a region through its cloud adapter, classified and logged."""

from __future__ import annotations

import structlog
from temporalio import activity

from activities.clouds.registry import CloudRegistry
from activities.errors import classified
from activities.heartbeat import long_call
from contracts.cloud import (
    DeployResult,
    HealthSample,
    PreflightReport,
    RegionState,
)
from contracts.rollout import (
    CanaryWeightInput,
    EnsureReleaseInput,
    KeyedRegionInput,
    PreflightInput,
    RegionRef,
    RestoreInput,
    ScaleGroupInput,
)


def _log(region: str) -> structlog.stdlib.BoundLogger:
    """A logger bound with the workflow id, the activity and the region."""
    info = activity.info()
    logger: structlog.stdlib.BoundLogger = structlog.get_logger("globalops.activity")
    return logger.bind(
        workflow_id=info.workflow_id,
        activity=info.activity_type,
        attempt=info.attempt,
        region=region,
    )


class CloudActivities:
    """Activities as methods of one object that holds the cloud adapters (samples-python style)."""

    def __init__(self, clouds: CloudRegistry) -> None:
        self._clouds = clouds

    @activity.defn(name="preflight")
    @classified
    @long_call
    def preflight(self, inp: PreflightInput) -> PreflightReport:
        """Check capacity, quotas, config and the release artifact; changes nothing."""
        report = self._clouds.get(inp.provider).preflight(
            inp.service, inp.region, inp.release, inp.surge_instances
        )
        _log(inp.region).info("preflight", ok=report.ok, problems=report.problems)
        return report

    @activity.defn(name="region_state")
    @classified
    @long_call
    def region_state(self, inp: RegionRef) -> RegionState:
        """Read what a region runs now."""
        return self._clouds.get(inp.provider).region_state(inp.service, inp.region)

    @activity.defn(name="ensure_release")
    @classified
    @long_call
    def ensure_release(self, inp: EnsureReleaseInput) -> DeployResult:
        """Make `count` instances run `release`; a repeated key changes nothing (DESIGN rule 2)."""
        result = self._clouds.get(inp.provider).ensure_release(
            inp.service, inp.region, inp.release, inp.count, inp.key
        )
        _log(inp.region).info(
            "ensure_release", release=inp.release, count=inp.count, key=inp.key, changed=result.changed
        )
        return result

    @activity.defn(name="health_sample")
    @classified
    @long_call
    def health_sample(self, inp: RegionRef) -> HealthSample:
        """Take one health sample of a region."""
        return self._clouds.get(inp.provider).health(inp.service, inp.region)

    @activity.defn(name="scale_group")
    @classified
    @long_call
    def scale_group(self, inp: ScaleGroupInput) -> DeployResult:
        """Size the stable or canary / green group on one release; a repeated key changes nothing."""
        result = self._clouds.get(inp.provider).scale_group(
            inp.service, inp.region, inp.group, inp.release, inp.count, inp.key
        )
        _log(inp.region).info(
            "scale_group", group=inp.group, release=inp.release, count=inp.count, key=inp.key
        )
        return result

    @activity.defn(name="set_canary_weight")
    @classified
    @long_call
    def set_canary_weight(self, inp: CanaryWeightInput) -> RegionState:
        """Shift a share of the region's traffic to the canary / green group."""
        state = self._clouds.get(inp.provider).set_canary_weight(inp.service, inp.region, inp.weight, inp.key)
        _log(inp.region).info("set_canary_weight", weight=inp.weight, key=inp.key)
        return state

    @activity.defn(name="promote_canary")
    @classified
    @long_call
    def promote_canary(self, inp: KeyedRegionInput) -> RegionState:
        """Make the canary / green group the stable one and remove the old stable group."""
        state = self._clouds.get(inp.provider).promote_canary(inp.service, inp.region, inp.key)
        _log(inp.region).info("promote_canary", key=inp.key, release=state.release)
        return state

    @activity.defn(name="restore_region")
    @classified
    @long_call
    def restore_region(self, inp: RestoreInput) -> RegionState:
        """The undo of every deploy step: no canary traffic, no canary, stable on `release`."""
        state = self._clouds.get(inp.provider).restore(
            inp.service, inp.region, inp.release, inp.count, inp.key
        )
        _log(inp.region).info("restore_region", release=inp.release, key=inp.key)
        return state

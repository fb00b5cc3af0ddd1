"""Short read-only workflows behind `globalops health` and snapshot listings: reads run on the workers.

The CLI process holds no cloud credentials and imports no adapter (DESIGN: the CLI never calls a
cloud itself); these workflows run the same activities the monitor and the backups use, on each
region's own task queue, so AWS and GCP regions show what their providers report.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.storage_activities import StorageActivities
    from activities.traffic_activities import TrafficActivities
    from config.models import Provider, Topology
    from contracts.cloud import TrafficState
    from contracts.dr import StorageRef
    from contracts.failover import ProbeResult, TrafficRef
    from contracts.inspect import (
        HealthReport,
        InspectRequest,
        RegionHealth,
        RegionSnapshots,
        SnapshotInventory,
    )
    from contracts.rollout import RegionRef
    from contracts.storage import Snapshot

from workflows.retries import READ_RETRY

_READ_TIMEOUT = timedelta(seconds=30)


def _regions(req: InspectRequest) -> list[str]:
    return list(dict.fromkeys(req.regions)) or req.topology.region_names()


def _reason(err: BaseException) -> str:
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return str(err) or type(err).__name__


@workflow.defn(name="HealthReportWorkflow")
class HealthReportWorkflow:
    """Probe every region once (the monitor's probe) and read each provider's traffic split."""

    @workflow.run
    async def run(self, req: InspectRequest) -> HealthReport:
        """One probe per region and one traffic read per provider, all at once."""
        names = _regions(req)
        providers = sorted({req.topology.region(n).provider for n in names})
        probes = asyncio.gather(*(self._probe(req, n) for n in names), return_exceptions=True)
        splits = asyncio.gather(*(self._traffic(req, p) for p in providers), return_exceptions=True)
        probed, traffic = await asyncio.gather(probes, splits)
        weights: dict[str, float] = {}
        for split in traffic:
            if isinstance(split, TrafficState):
                weights.update(split.weights)
        rows: list[RegionHealth] = []
        for name, probe in zip(names, probed, strict=True):
            provider = req.topology.region(name).provider
            if isinstance(probe, BaseException):
                rows.append(RegionHealth(region=name, provider=provider, ok=False, detail=_reason(probe)))
                continue
            rows.append(
                RegionHealth(
                    region=name,
                    provider=provider,
                    ok=probe.ok,
                    healthy_instances=probe.healthy_instances,
                    error_rate=probe.error_rate if probe.ok or probe.healthy_instances else None,
                    latency_p99_ms=probe.latency_p99_ms if probe.ok or probe.healthy_instances else None,
                    traffic=weights.get(name),
                    detail=probe.detail,
                    blind=probe.blind,
                    source=probe.source,
                )
            )
        return HealthReport(service=req.service, regions=rows)

    @staticmethod
    async def _probe(req: InspectRequest, name: str) -> ProbeResult:
        return await workflow.execute_activity_method(
            TrafficActivities.probe_region,
            RegionRef(service=req.service, region=name, provider=req.topology.region(name).provider),
            task_queue=req.topology.task_queue_for(name),
            start_to_close_timeout=_READ_TIMEOUT,
            retry_policy=READ_RETRY,
            summary=f"{name}: probe",
        )

    @staticmethod
    async def _traffic(req: InspectRequest, provider: Provider) -> TrafficState:
        return await workflow.execute_activity_method(
            TrafficActivities.get_traffic,
            TrafficRef(service=req.service, provider=provider, layer=req.topology.traffic),
            task_queue=req.topology.default_task_queue,
            start_to_close_timeout=_READ_TIMEOUT,
            retry_policy=READ_RETRY,
            summary=f"{provider}: traffic split",
        )


@workflow.defn(name="SnapshotInventoryWorkflow")
class SnapshotInventoryWorkflow:
    """List the snapshots stored in each region, through each region's provider."""

    @workflow.run
    async def run(self, req: InspectRequest) -> SnapshotInventory:
        """One listing per region, all at once; a region that cannot be read shows its error."""
        names = _regions(req)
        lists = (_list(req.topology, req.service, n) for n in names)
        listed = await asyncio.gather(*lists, return_exceptions=True)
        rows = [
            RegionSnapshots(region=n, error=_reason(r))
            if isinstance(r, BaseException)
            else RegionSnapshots(region=n, snapshots=r)
            for n, r in zip(names, listed, strict=True)
        ]
        return SnapshotInventory(service=req.service, regions=rows)


async def _list(topology: Topology, service: str, region: str) -> list[Snapshot]:
    return await workflow.execute_activity_method(
        StorageActivities.list_snapshots,
        StorageRef(service=service, region=region, provider=topology.region(region).provider),
        task_queue=topology.task_queue_for(region),
        start_to_close_timeout=_READ_TIMEOUT,
        retry_policy=READ_RETRY,
        summary=f"{region}: list snapshots",
    )

"""B4 (failover reaction on the real clock) and the failover / monitor / backup / drill part of B3."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, WorkflowHandle

from activities.clouds.sim import SimCloud
from bench.common import count_history, median
from bench.configs import default_topology, dr_policies, failover_policies, one_service
from cli import launch
from contracts.dr import (
    BackupRequest,
    DrillRequest,
)
from contracts.failover import (
    MonitorInput,
    MonitorStatus,
)
from contracts.ids import drill_region_id, failover_id
from workflows.failover import RegionFailoverWorkflow
from workflows.logic.dr import drill_regions
from workflows.monitor import RegionHealthMonitorWorkflow

OUTAGE_REGION = "eu-west-1"
POLL_S = 0.02


@dataclass
class B4Result:
    probe_interval_s: float
    reaction_s: list[float] = field(default_factory=list)
    failover_events: list[int] = field(default_factory=list)
    monitor_events_per_round: list[float] = field(default_factory=list)
    regions: int = 0


async def _wait_for(check: Callable[[], Awaitable[bool]], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(POLL_S)
    raise RuntimeError(f"timed out waiting for {what}")


async def b4(client: Client, sim: SimCloud, queue: str, runs: int, probe_interval_s: float = 1.0) -> B4Result:
    """Per run: a monitor on a fresh service; outage at a random moment; time until its traffic is 0."""
    out = B4Result(probe_interval_s=probe_interval_s)
    policies = failover_policies(probe_interval_s)
    for i in range(runs):
        service = f"b4-{uuid.uuid4().hex[:6]}"
        topology = one_service(default_topology(queue), service)
        out.regions = len(topology.regions)
        sim.seed_topology(topology)
        sim.clear_outage(OUTAGE_REGION)
        handle = await launch.start(
            client, launch.monitor(MonitorInput(service=service, topology=topology, policies=policies))
        )

        async def probed(handle: WorkflowHandle[Any, MonitorStatus] = handle) -> bool:
            status: MonitorStatus = await handle.query(RegionHealthMonitorWorkflow.status)
            return status.probes >= 1

        # The watch reports its first round, then probes on inside one activity: one more interval
        # puts two rounds behind the outage, as before.
        await _wait_for(probed, 30, "the first probe round")
        await asyncio.sleep(probe_interval_s)
        # An outage strikes at any point of a probe interval, not right after a probe.
        await asyncio.sleep(random.uniform(0, probe_interval_s))  # noqa: S311 - jitter, not crypto
        sim.inject_outage(OUTAGE_REGION)
        struck = time.perf_counter()

        async def shifted(service: str = service) -> bool:
            return sim.traffic(service).weights.get(OUTAGE_REGION, 0.0) == 0.0

        await _wait_for(shifted, 60, "traffic to leave the region")
        out.reaction_s.append(time.perf_counter() - struck)
        wid = failover_id(service, OUTAGE_REGION)
        report = await client.get_workflow_handle_for(RegionFailoverWorkflow.run, wid).result()
        if report.status != "succeeded":
            raise RuntimeError(f"B4 failover {i} ended {report.status}: {report.reason}")
        await handle.execute_update(RegionHealthMonitorWorkflow.stop)
        final: MonitorStatus = await handle.result()
        monitor = await count_history(client, handle.id, handle.result_run_id)
        failover = await count_history(client, wid)
        out.failover_events.append(failover.events)
        out.monitor_events_per_round.append(monitor.events / max(1, final.probes))
        sim.clear_outage(OUTAGE_REGION)
    return out


@dataclass
class DrResult:
    regions: int = 0
    drilled: int = 0
    backup_events: list[int] = field(default_factory=list)
    drill_events: list[int] = field(default_factory=list)
    recovery_events: list[float] = field(default_factory=list)
    drill_verdicts: list[str] = field(default_factory=list)


async def b3_dr(client: Client, sim: SimCloud, queue: str, runs: int) -> DrResult:
    """A backup of every region, then a drill of the default regions: their history sizes."""
    out = DrResult()
    policies = dr_policies()
    topology = default_topology(queue)
    sim.seed_topology(topology)
    out.regions = len(topology.regions)
    drilled = drill_regions(topology, [], policies.dr.drill.regions)
    out.drilled = len(drilled)
    for _ in range(runs):
        tag = uuid.uuid4().hex[:6]
        backup = await launch.start(
            client,
            launch.backup(
                BackupRequest(service="checkout", topology=topology, policies=policies, request_id=tag)
            ),
        )
        await backup.result()
        out.backup_events.append((await count_history(client, backup.id)).events)
        request = DrillRequest(service="checkout", topology=topology, policies=policies, request_id=tag)
        drill = await launch.start(client, launch.drill(request, drilled, f"drill:checkout:{tag}"))
        report = await drill.result()
        out.drill_verdicts.append(f"{report.verdict}" + (f" ({report.reason})" if report.reason else ""))
        out.drill_events.append((await count_history(client, drill.id)).events)
        rehearsed = [row.region for row in report.regions if row.target_region is not None]
        children = [await count_history(client, drill_region_id(drill.id, name)) for name in rehearsed]
        out.recovery_events.append(median([c.events for c in children]))
    return out

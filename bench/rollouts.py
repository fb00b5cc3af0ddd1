"""B1 (orchestration overhead against the engine floor) and the rollout part of B3 (history budget)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from temporalio.client import Client

from activities.clouds.sim import SimCloud
from bench.common import HistoryCount, count_history, median
from bench.configs import default_topology, wide_topology, zero_wait_policies
from bench.floor import FloorRolloutWorkflow
from bench.floor_contracts import FloorShape
from cli.launch import start_rollout
from config.models import Topology
from contracts.rollout import RolloutRequest
from workflows.logic.planning import plan_waves

HISTORY_LIMIT = 51_200
BUDGET = HISTORY_LIMIT * 5 // 100  # 2,560 events


@dataclass
class RolloutRun:
    """One real rollout: wall time and every history of it."""

    seconds: float
    status: str
    parent: HistoryCount
    children: dict[str, HistoryCount]


@dataclass
class B1Result:
    real_s: list[float] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    runs: list[RolloutRun] = field(default_factory=list)
    shape: FloorShape | None = None


async def real_rollout(client: Client, topology: Topology, service: str, release: str) -> RolloutRun:
    """Start a rollout as the CLI does and wait for it; then count its histories."""
    request = RolloutRequest(
        service=service,
        release=release,
        request_id=uuid.uuid4().hex[:12],
        topology=topology,
        policies=zero_wait_policies(),
        requested_by="bench",
    )
    started = time.perf_counter()
    handle = await start_rollout(client, request)
    result = await handle.result()
    seconds = time.perf_counter() - started
    parent = await count_history(client, handle.id, handle.result_run_id)
    children = {r.name: await count_history(client, f"{handle.id}/{r.name}") for r in topology.regions}
    return RolloutRun(seconds, result.status, parent, children)


def shape_of(run: RolloutRun, topology: Topology) -> FloorShape:
    """The floor's shape, counted from a real run's histories (not assumed)."""
    regions = topology.region_names()
    groups = [g for plan in plan_waves(topology)[1:] for g in plan.groups]
    if run.parent.activities % len(regions):
        raise RuntimeError(f"parent ran {run.parent.activities} activities for {len(regions)} regions")
    return FloorShape(
        regions=regions,
        validate_per_region=run.parent.activities // len(regions),
        groups=groups,
        child_activities={name: c.activities for name, c in run.children.items()},
        queue=topology.default_task_queue,
    )


async def floor_rollout(client: Client, shape: FloorShape, tag: str) -> float:
    started = time.perf_counter()
    await client.execute_workflow(
        FloorRolloutWorkflow.run, shape, id=f"bench-floor:{tag}", task_queue=shape.queue
    )
    return time.perf_counter() - started


async def b1(client: Client, sim: SimCloud, queue: str, runs: int) -> B1Result:
    """Real rollout and floor alternately, after one warm-up of each (not counted)."""
    topology = default_topology(queue)
    sim.seed_topology(topology)
    return await against_floor(client, topology, "checkout", "2.0", runs)


async def b5(client: Client, sim: SimCloud, queue: str, runs: int, regions: int = 100) -> B1Result:
    """B1 over the generated `regions`-region topology of B3: does the cost grow with the work only?"""
    topology = wide_topology(queue, regions)
    sim.seed_topology(topology)
    return await against_floor(client, topology, "wide", "5.1", runs)


async def against_floor(
    client: Client, topology: Topology, service: str, version: str, runs: int
) -> B1Result:
    """Rollouts of `service` and the floor of their own shape alternately, after a warm-up of each."""
    out = B1Result()
    warm = await real_rollout(client, topology, service, f"{version}.0-warm")
    out.shape = shape_of(warm, topology)
    await floor_rollout(client, out.shape, f"{version}-warm")
    for i in range(runs):
        run = await real_rollout(client, topology, service, f"{version}.{i}")
        if run.status != "succeeded":
            raise RuntimeError(f"rollout {service} {version}.{i} ended {run.status}")
        floor = await floor_rollout(client, out.shape, f"{version}-{i}")
        out.runs.append(run)
        out.real_s.append(run.seconds)
        out.floor_s.append(floor)
        out.ratios.append(run.seconds / floor)
    return out


@dataclass
class WideResult:
    regions: int
    seconds: list[float] = field(default_factory=list)
    largest: list[int] = field(default_factory=list)
    parent_events: list[int] = field(default_factory=list)
    child_events: list[float] = field(default_factory=list)


async def b3_wide(client: Client, sim: SimCloud, queue: str, runs: int, regions: int = 100) -> WideResult:
    """Rollouts over a generated `regions`-region topology: the largest history of each."""
    topology = wide_topology(queue, regions)
    sim.seed_topology(topology)
    out = WideResult(regions=regions)
    for i in range(runs):
        run = await real_rollout(client, topology, "wide", f"3.0.{i}")
        if run.status != "succeeded":
            raise RuntimeError(f"B3 wide rollout {i} ended {run.status}")
        out.seconds.append(run.seconds)
        out.parent_events.append(run.parent.events)
        out.child_events.append(median([c.events for c in run.children.values()]))
        out.largest.append(max([run.parent.events, *(c.events for c in run.children.values())]))
    return out

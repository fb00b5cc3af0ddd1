"""Cancels that race an activity's completion, on the real dev server (issue 20).

The time-skipping server refused such a race once (sdk-java#2391, the drill's watch); on the dev
server a rollout's abort and a drill's cancel are sent at the moment a child's activity completes:
from a few milliseconds before the activity returns to a few after (OFFSETS_MS), 50 rollouts and
50 drills at once, each on its own service. Every one must end (nothing stuck), no history may hold
a failed workflow task (no task failure loop), and the sim must show everything compensated: each
region back on its release with its instances, no recovery resource left.

Run: .venv/bin/python -m pytest tests/e2e/test_cancel_races.py -q -s   (-s prints the timings)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.loader import load_policies, load_topology
from config.models import Policies, Topology
from contracts import ids
from contracts.dr import DrillRequest
from contracts.rollout import RolloutRequest
from tests.helpers.crash import crash_policies
from tests.helpers.temporal import dev_server, unique_queue
from workers.client import register_search_attributes
from workers.main import WORKFLOWS, activity_functions
from workflows.drill import DrillWorkflow
from workflows.rollout import RegionalRolloutWorkflow

pytestmark = pytest.mark.e2e
RACES = 50
#: When the cancel is sent, in ms after the activity's work is done (negative: before it returns).
OFFSETS_MS = (-8, -4, -2, -1, 0, 0, 1, 2, 4, 8)
REGIONS = ("us-east-1", "us-west-2")  # a backup pair: the rollout's pilot, the drill's source and target
TASK_FAILED = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
CLOSE_LIMIT_S = 90.0


@pytest_asyncio.fixture(scope="module")
async def dev() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_server() as env:
        await register_search_attributes(env.client)
        yield env


def _topology(services: Iterable[str], queue: str) -> Topology:
    """The shipped topology cut to one backup pair, with one service per race."""
    base = load_topology()
    data = base.model_dump(mode="json")
    data["services"] = [{"name": s, "initial_release": "1.0.0", "data_residency": True} for s in services]
    data["regions"] = [r | {"instances": 2} for r in data["regions"] if r["name"] in REGIONS]
    data["waves"] = [
        {"name": "validate"},
        {"name": "core", "pilot": REGIONS[0], "concurrency": 1, "regions": list(REGIONS)},
    ]
    data["default_task_queue"] = queue
    return Topology.model_validate(data)


async def _coroutine(call: Callable[[], Awaitable[Any]]) -> Any:
    return await call()


async def _answer(fut: concurrent.futures.Future[Any] | asyncio.Future[Any] | None) -> Any:
    """What a sent cancel answered (it raises if it was refused)."""
    assert fut is not None, "a cancel was claimed but never sent"
    return await (asyncio.wrap_future(fut) if isinstance(fut, concurrent.futures.Future) else fut)


class Race:
    """Wraps activities so that the first call of each service sends that service's cancel as it ends."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.cancels: dict[str, tuple[str, float, Callable[[], Awaitable[Any]]]] = {}
        # service -> the cancel's future (None: claimed, the cancel not sent yet)
        self.sent: dict[str, concurrent.futures.Future[Any] | asyncio.Future[Any] | None] = {}
        self.lock = threading.Lock()

    def arm(
        self, service: str, activity_name: str, offset_ms: float, cancel: Callable[[], Awaitable[Any]]
    ) -> None:
        self.cancels[service] = (activity_name, offset_ms, cancel)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def raced(*args: Any) -> Any:
            result = fn(*args)
            service = getattr(args[0], "service", "") if args else ""
            with self.lock:
                armed = self.cancels.get(service)
                hit = armed is not None and armed[0] == name and service not in self.sent
                if hit:
                    self.sent[service] = None
            if not hit or armed is None:
                return result
            _, offset_ms, cancel = armed
            if offset_ms <= 0:  # the cancel leaves first; the answer follows after -offset ms
                self.sent[service] = asyncio.run_coroutine_threadsafe(_coroutine(cancel), self.loop)
                time.sleep(-offset_ms / 1000)
            else:  # the answer leaves first; the cancel follows after offset ms

                def later() -> None:
                    self.sent[service] = asyncio.ensure_future(cancel())

                self.loop.call_soon_threadsafe(self.loop.call_later, offset_ms / 1000, later)
            return result

        raced.__dict__.pop("__temporal_activity_definition", None)  # copied by wraps: define it anew
        return activity.defn(name=name)(raced)


def _worker(
    client: Client,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    queue: str,
    race: Race,
    names: set[str],
) -> Worker:
    acts = []
    for fn in activity_functions(CloudRegistry({"sim": lambda: sim}), client):
        name = activity._Definition.must_from_callable(fn).name
        acts.append(race.wrap(name, fn) if name in names else fn)
    return Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=acts,
        activity_executor=executor,
        max_concurrent_activities=16,
    )


async def _task_failures(client: Client, workflow_ids: Iterable[str]) -> dict[str, int]:
    """Failed workflow tasks per workflow (only those with any)."""
    failed: dict[str, int] = {}
    for wid in workflow_ids:
        async for event in client.get_workflow_handle(wid).fetch_history_events():
            if event.event_type == TASK_FAILED:
                failed[wid] = failed.get(wid, 0) + 1
    return failed


async def _closed(client: Client, wid: str) -> WorkflowExecutionStatus | None:
    desc = await client.get_workflow_handle(wid).describe()
    return desc.status


async def _durations(client: Client, workflow_ids: Iterable[str]) -> list[float]:
    """Start to close of each workflow, seconds, sorted."""
    spans = []
    for wid in workflow_ids:
        desc = await client.get_workflow_handle(wid).describe()
        assert desc.close_time is not None, wid
        spans.append((desc.close_time - desc.start_time).total_seconds())
    return sorted(spans)


def _sim(tmp_path: Path, topo: Topology) -> SimCloud:
    """A sim seeded with every race's service, with room for all of them in each region's quota."""
    sim = SimCloud(tmp_path / "sim.db")
    sim.seed_topology(topo)
    for region in REGIONS:
        sim.inject_quota(region, 100 * RACES)
    return sim


def _policies(tmp_path: Path) -> Policies:
    return load_policies(crash_policies(tmp_path))  # two batches per region, a 5 s call timeout


async def test_rollouts_aborted_as_a_child_activity_completes_end_compensated(
    dev: WorkflowEnvironment, tmp_path: Path, executor: concurrent.futures.Executor
) -> None:
    queue = unique_queue()
    services = [f"race-{i:02d}" for i in range(RACES)]
    topo = _topology(services, queue)
    sim = _sim(tmp_path, topo)
    policies = _policies(tmp_path)
    client = dev.client
    race = Race(asyncio.get_running_loop())
    started = time.monotonic()
    async with _worker(client, sim, executor, queue, race, {"ensure_release"}):
        handles = []
        for i, service in enumerate(services):
            wid = ids.rollout_id(service)
            handle = client.get_workflow_handle_for(RegionalRolloutWorkflow.run, wid)
            race.arm(
                service,
                "ensure_release",  # the pilot's first batch: a child's activity
                OFFSETS_MS[i % len(OFFSETS_MS)],
                functools.partial(handle.execute_update, RegionalRolloutWorkflow.abort, "race"),
            )
            req = RolloutRequest(
                service=service,
                release="2.0.0",
                request_id=uuid.uuid4().hex[:8],
                topology=topo,
                policies=policies,
            )
            handles.append(await start_rollout(client, req))
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), CLOSE_LIMIT_S)
        for service, fut in race.sent.items():  # every abort was taken (a refusal would raise here)
            answer = (
                await asyncio.wrap_future(fut) if isinstance(fut, concurrent.futures.Future) else await fut
            )
            assert answer.startswith("aborting"), (service, answer)
    elapsed = time.monotonic() - started
    assert set(race.sent) == set(services)  # each race ran
    assert {r.status for r in results} == {"aborted"}, [(r.workflow_id, r.status) for r in results]
    children = [ids.region_deployment_id(ids.rollout_id(s), REGIONS[0]) for s in services]
    for wid in children:
        assert await _closed(client, wid) != WorkflowExecutionStatus.RUNNING, wid
    assert await _task_failures(client, [h.id for h in handles] + children) == {}
    instances = sim.inventory()["instances"]
    for service in services:  # compensated: every region on 1.0.0 with its instances, as seeded
        assert instances[service] == {r.name: {"1.0.0": r.instances} for r in topo.regions}, service
    assert sim.inventory()["canary_weights"] == {}
    spans = await _durations(client, [h.id for h in handles])
    print(
        f"\n{RACES} rollouts aborted as a child's activity completed: all ended in {elapsed:.1f}s"
        f" (each {spans[0]:.1f}-{spans[-1]:.1f}s, median {spans[len(spans) // 2]:.1f}s)"
    )


async def test_drills_cancelled_as_a_child_activity_completes_end_with_nothing_left(
    dev: WorkflowEnvironment, tmp_path: Path, executor: concurrent.futures.Executor
) -> None:
    queue = unique_queue()
    services = [f"race-{i:02d}" for i in range(RACES)]
    topo = _topology(services, queue)
    sim = _sim(tmp_path, topo)
    source, target = REGIONS
    keys = {r.name: r.snapshot_key for r in topo.regions}
    for service in services:  # an encrypted backup of the source, copied to its backup region, to restore
        snap = sim.snapshot_volume(service, source, datetime.now(UTC), f"race/{service}", keys[source])
        sim.copy_snapshot(service, snap.id, source, target, f"race/{service}/copy", keys[target])
    policies = _policies(tmp_path)
    client = dev.client
    race = Race(asyncio.get_running_loop())
    # Alternate the activity the cancel races: the volume's restore, or the instances' launch.
    kinds = ("restore_volume", "launch_instances")
    started = time.monotonic()
    async with _worker(client, sim, executor, queue, race, set(kinds)):
        handles = []
        for i, service in enumerate(services):
            wid = f"drill:{service}:race"
            handle = client.get_workflow_handle_for(DrillWorkflow.run, wid)
            race.arm(service, kinds[i % 2], OFFSETS_MS[(i // 2) % len(OFFSETS_MS)], handle.cancel)
            req = DrillRequest(
                service=service,
                topology=topo,
                policies=policies,
                regions=[source],
                request_id=uuid.uuid4().hex[:8],
            )
            handles.append(await client.start_workflow(DrillWorkflow.run, req, id=wid, task_queue=queue))

        async def ended(handle: Any) -> str:
            try:
                await handle.result()
            except WorkflowFailureError as err:
                return type(err.cause).__name__
            return "completed"

        outcomes = await asyncio.wait_for(asyncio.gather(*(ended(h) for h in handles)), CLOSE_LIMIT_S)
        for fut in race.sent.values():
            await _answer(fut)
    elapsed = time.monotonic() - started
    assert set(race.sent) == set(services)
    assert set(outcomes) == {"CancelledError"}, outcomes
    children = [ids.drill_region_id(h.id, source) for h in handles]
    for wid in children:
        assert await _closed(client, wid) != WorkflowExecutionStatus.RUNNING, wid
    assert await _task_failures(client, [h.id for h in handles] + children) == {}
    for service in services:  # everything a rehearsal made is gone
        assert sim.list_resources(service) == [], service
    assert sim.inventory()["total_resources"] == 0
    spans = await _durations(client, [h.id for h in handles])
    print(
        f"\n{RACES} drills cancelled as a child's activity completed: all ended in {elapsed:.1f}s"
        f" (each {spans[0]:.1f}-{spans[-1]:.1f}s, median {spans[len(spans) // 2]:.1f}s)"
    )

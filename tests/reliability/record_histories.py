"""Record one event history per workflow type and path into tests/histories/ (replayed in CI).

Run `python -m tests.reliability.record_histories` only when a workflow change is meant to be
incompatible (see docs/development.md, "Changing a workflow safely"); otherwise the replay test must pass
against the histories recorded before the change.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.loader import load_policies, load_topology
from config.models import Policies, Topology
from config.notify import Hook, Hooks, Notification
from contracts import ids
from contracts.change import FreezeEnd, FreezeRequest, RegistryState
from contracts.dr import (
    BackupRequest,
    DrillRequest,
    RecoveryRequest,
)
from contracts.failover import (
    FailbackRequest,
    FailoverRequest,
    MonitorInput,
)
from contracts.ids import FREEZE_REGISTRY_ID
from contracts.inspect import InspectRequest
from contracts.notify import Event, NotifyInput
from contracts.practice import PracticeRequest
from contracts.readiness import ReadinessRequest
from contracts.rollout import RolloutRequest
from tests.helpers.receiver import Receiver
from tests.helpers.temporal import make_worker, progress_if_running
from workers.client import register_search_attributes
from workflows.backup import BackupWorkflow
from workflows.drill import DrillWorkflow
from workflows.failback import FailbackWorkflow
from workflows.failover import RegionFailoverWorkflow
from workflows.freezes import FreezeRegistryWorkflow
from workflows.inspect import HealthReportWorkflow, SnapshotInventoryWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow
from workflows.notify import NotifyWorkflow
from workflows.practice import FailoverPracticeWorkflow
from workflows.readiness import ReadinessWorkflow
from workflows.recovery import DisasterRecoveryWorkflow
from workflows.region_deployment import RegionDeploymentWorkflow
from workflows.rollout import RegionalRolloutWorkflow

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = Path(__file__).resolve().parents[1] / "histories"
QUEUE = "record"
Scenario = Callable[
    [WorkflowEnvironment, SimCloud, Topology, Policies], Awaitable[list[WorkflowHandle[Any, Any]]]
]


def fast() -> Policies:
    """Demo policies (short bakes), with an RPO target the test server's clock jumps cannot breach."""
    demo = load_policies(Path(__file__).resolve().parents[2] / "config" / "policies.demo.yaml")
    return demo.model_copy(update={"dr": demo.dr.model_copy(update={"rpo_target": 400 * 365 * 86400.0})})


async def rollout_ok(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    client = env.client
    req = RolloutRequest(service="checkout", release="2.0.0", request_id="h1", topology=topo, policies=pols)
    handle = await start_rollout(client, req)
    await handle.result()
    return [handle]


async def rollout_rolled_back(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    client = env.client
    sim.inject_release_fault("3.0.0", error_rate=0.3, regions=["us-east-1"])
    req = RolloutRequest(service="checkout", release="3.0.0", request_id="h2", topology=topo, policies=pols)
    handle = await start_rollout(client, req)
    await handle.result()
    return [handle]


async def canary_ok(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    client = env.client
    req = RolloutRequest(
        service="checkout", release="2.1.0", request_id="h3", topology=topo, policies=pols, strategy="canary"
    )
    handle = await start_rollout(client, req)
    await handle.result()
    return [handle]


async def blue_green_ok(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    client = env.client
    req = RolloutRequest(
        service="checkout",
        release="2.2.0",
        request_id="h4",
        topology=topo,
        policies=pols,
        strategy="blue-green",
    )
    handle = await start_rollout(client, req)
    await handle.result()
    return [handle]


async def failover_and_failback(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    client = env.client
    sim.inject_outage("eu-west-1")
    fo = await client.start_workflow(
        RegionFailoverWorkflow.run,
        FailoverRequest(
            service="checkout", from_region="eu-west-1", topology=topo, policies=pols, request_id="h5"
        ),
        id="failover:checkout:eu-west-1",
        task_queue=QUEUE,
    )
    report = await fo.result()
    sim.clear_outage("eu-west-1")
    fb = await client.start_workflow(
        FailbackWorkflow.run,
        FailbackRequest(
            service="checkout",
            region="eu-west-1",
            backup=report.to_region or "",
            original_share=report.weights_before["eu-west-1"],
            topology=topo,
            policies=pols,
            request_id="h6",
        ),
        id="failback:checkout:eu-west-1",
        task_queue=QUEUE,
    )
    await fb.result()
    return [fo, fb]


async def failover_refused(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    client = env.client
    for region in ("eu-west-1", "eu-central-1", "europe-west1"):
        sim.inject_outage(region)
    fo = await client.start_workflow(
        RegionFailoverWorkflow.run,
        FailoverRequest(
            service="checkout", from_region="eu-west-1", topology=topo, policies=pols, request_id="h7"
        ),
        id="failover:checkout:eu-west-1:refused",
        task_queue=QUEUE,
    )
    await fo.result()
    return [fo]


async def monitor_fails_over(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    client = env.client
    sim.inject_outage("eu-west-1")
    bounded = pols.model_copy(update={"failover": pols.failover.model_copy(update={"history_bound": 150})})
    mon = await client.start_workflow(
        RegionHealthMonitorWorkflow.run,
        MonitorInput(service="checkout", topology=topo, policies=bounded),
        id="monitor:checkout",
        task_queue=QUEUE,
    )
    for _ in range(400):
        status = await mon.query(RegionHealthMonitorWorkflow.status)
        if "eu-west-1" in status.active and status.runs >= 2:
            break
        await env.sleep(1)
    await client.get_workflow_handle(status.active["eu-west-1"]).result()
    await mon.execute_update(RegionHealthMonitorWorkflow.stop)
    await mon.result()
    return [mon, client.get_workflow_handle(status.active["eu-west-1"])]


async def backup_recover_drill(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    client = env.client
    bk = await client.start_workflow(
        BackupWorkflow.run,
        BackupRequest(service="checkout", topology=topo, policies=pols, request_id="h8"),
        id="backup:checkout",
        task_queue=QUEUE,
    )
    await bk.result()
    drill = await client.start_workflow(
        DrillWorkflow.run,
        DrillRequest(
            service="checkout", topology=topo, policies=pols, regions=["eu-west-1"], request_id="h9"
        ),
        id="drill:checkout:pass",
        task_queue=QUEUE,
    )
    await drill.result()
    sim.inject_dr_fault("eu-central-1")
    bad = await client.start_workflow(
        DrillWorkflow.run,
        DrillRequest(
            service="checkout", topology=topo, policies=pols, regions=["eu-west-1"], request_id="h10"
        ),
        id="drill:checkout:fail",
        task_queue=QUEUE,
    )
    await bad.result()
    sim.clear_faults()
    sim.inject_outage("eu-west-1")
    dr = await client.start_workflow(
        DisasterRecoveryWorkflow.run,
        RecoveryRequest(
            service="checkout",
            source_region="eu-west-1",
            target_region="eu-central-1",
            topology=topo,
            policies=pols,
            request_id="h11",
        ),
        id="dr:checkout:eu-west-1",
        task_queue=QUEUE,
    )
    await dr.result()
    children = [client.get_workflow_handle(f"{h.id}/eu-west-1") for h in (drill, bad)]
    return [bk, drill, bad, dr, *children]


async def inspect_reads(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    client = env.client
    sim.inject_metrics_gap("ap-south-1")  # one blind region in the report
    health = await client.start_workflow(
        HealthReportWorkflow.run,
        InspectRequest(service="checkout", topology=topo),
        id="inspect:health:checkout:h12",
        task_queue=QUEUE,
    )
    await health.result()
    snaps = await client.start_workflow(
        SnapshotInventoryWorkflow.run,
        InspectRequest(service="checkout", topology=topo, regions=["eu-west-1", "eu-central-1"]),
        id="inspect:snapshots:checkout:h13",
        task_queue=QUEUE,
    )
    await snaps.result()
    return [health, snaps]


async def rollout_partial(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    """An edge region down when the edge wave starts is held, then skipped: the rollout ends partial."""
    client = env.client
    sim.inject_metrics_gap("eu-west-2")  # another edge region reports nothing: its gates wait for promote
    req = RolloutRequest(service="checkout", release="2.0.0", request_id="h14", topology=topo, policies=pols)
    handle = await start_rollout(client, req)
    for _ in range(3000):
        progress = await handle.query(RegionalRolloutWorkflow.progress)
        if progress.current_wave == "core":
            break
        await env.sleep(5)
    sim.inject_outage("ap-south-1")
    for _ in range(3000):
        progress = await handle.query(RegionalRolloutWorkflow.progress)
        child = client.get_workflow_handle_for(RegionDeploymentWorkflow.run, "rollout:checkout/eu-west-2")
        blind = await progress_if_running(env, "rollout:checkout/eu-west-2")
        if blind is not None and blind.status == "waiting":
            await child.execute_update(RegionDeploymentWorkflow.promote, True)
        if "ap-south-1" in progress.held:
            await handle.execute_update(RegionalRolloutWorkflow.skip_region, "ap-south-1")
            break
        await env.sleep(5)
    await handle.result()
    return [handle, client.get_workflow_handle("rollout:checkout/eu-west-2")]


async def freeze_rollout(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    """A freeze stops a rollout at its next safe point; ending it lets the rollout finish."""
    client = env.client
    registry = await client.start_workflow(
        FreezeRegistryWorkflow.run, RegistryState(), id=FREEZE_REGISTRY_ID, task_queue=QUEUE
    )
    req = RolloutRequest(service="checkout", release="2.0.0", request_id="h15", topology=topo, policies=pols)
    handle = await start_rollout(client, req)
    for _ in range(3000):
        if (await handle.query(RegionalRolloutWorkflow.progress)).current_wave == "core":
            break
        await env.sleep(5)
    freeze = await registry.execute_update(
        FreezeRegistryWorkflow.start_freeze, FreezeRequest(reason="incident", services=["checkout"], by="h")
    )
    for _ in range(3000):
        if (await handle.query(RegionalRolloutWorkflow.progress)).status == "frozen":
            break
        await env.sleep(5)
    await registry.execute_update(FreezeRegistryWorkflow.end_freeze, FreezeEnd(id=freeze.id, by="h"))
    await handle.result()
    await registry.terminate("recorded")
    return [handle, registry]


async def notify_sinks(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    """One event to two sinks: a local receiver takes it, the other misses its ${NAME} (gives up at once)."""
    event = Event(
        id="rollout:checkout/h14/failed",
        kind="failed",
        operation="rollout",
        workflow_id="rollout:checkout",
        service="checkout",
        release="3.0.0",
        status="rolled_back",
        message="health gate failed in us-east-1",
        at=datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
    )
    with Receiver() as rx:
        sinks = [
            Notification(url=rx.url("/events", scheme="json"), events=["failed"]),
            Notification(url="json://127.0.0.1:9/x?-token=${GLOBALOPS_RECORD_UNSET}", events=["failed"]),
        ]
        handle = await env.client.start_workflow(
            NotifyWorkflow.run,
            NotifyInput(event=event, sinks=sinks),
            id=ids.notification_id(event.id),
            task_queue=topo.default_task_queue,
        )
        await handle.result()
    return [handle]


async def guarded_rollout(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    """A rollout that announces its events, asks a post_batch hook after every batch and watches a sim
    alarm: the alarm fires during the core bake and the rollout rolls back naming it."""
    with Receiver() as rx:
        alarms = pols.alarms.model_copy(update={"sim": ["checkout-5xx"], "interval": 60.0})
        watched = pols.model_copy(
            update={
                "alarms": alarms,
                "bake": {**pols.bake, "core": 600.0},
                "notifications": [
                    Notification(url=rx.url("/events", scheme="json"), events=["started", "rolled_back"])
                ],
                "hooks": Hooks(post_batch=[Hook(url=rx.url("/gate"), timeout=5, retries=0)]),
            }
        )
        req = RolloutRequest(
            service="checkout", release="2.0.0", request_id="h16", topology=topo, policies=watched
        )
        handle = await start_rollout(env.client, req)
        for _ in range(3000):
            if (await handle.query(RegionalRolloutWorkflow.progress)).phase.startswith("baking after core"):
                break
            await env.sleep(30)
        sim.set_alarm("checkout-5xx", "eu-west-1")
        await handle.result()
        for kind in ("started", "rolled_back"):
            await env.client.get_workflow_handle(ids.notification_id(f"rollout:checkout/h16/{kind}")).result()
    return [handle]


async def readiness(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    """A backup, then a readiness evaluation: lonely regions not ready, us-east-1's target short of quota.
    (The test server has no visibility: the history read fails and practices and drills are unknown.)"""
    await env.client.execute_workflow(
        BackupWorkflow.run,
        BackupRequest(service="checkout", topology=topo, policies=pols, request_id="h17"),
        id="backup:checkout:h17",
        task_queue=QUEUE,
    )
    sim.inject_quota("us-central1", 4)
    handle = await env.client.start_workflow(
        ReadinessWorkflow.run,
        ReadinessRequest(service="checkout", topology=topo, policies=pols, request_id="h18"),
        id="readiness:checkout:h18",
        task_queue=QUEUE,
    )
    await handle.result()
    return [handle]


async def failover_practice(
    env: WorkflowEnvironment, sim: SimCloud, topo: Topology, pols: Policies
) -> list[WorkflowHandle[Any, Any]]:
    """A practice that shifts, holds (checks), and fails back through its two children."""
    practice = await env.client.start_workflow(
        FailoverPracticeWorkflow.run,
        PracticeRequest(
            service="checkout",
            region="eu-west-1",
            duration_s=pols.practice.duration,
            topology=topo,
            policies=pols,
            request_id="h20",
        ),
        id="practice:checkout:eu-west-1:h20",
        task_queue=QUEUE,
    )
    await practice.result()
    return [practice]


SCENARIOS: dict[str, Scenario] = {
    "rollout_ok": rollout_ok,
    "rollout_rolled_back": rollout_rolled_back,
    "canary_ok": canary_ok,
    "blue_green_ok": blue_green_ok,
    "failover_and_failback": failover_and_failback,
    "failover_refused": failover_refused,
    "monitor_fails_over": monitor_fails_over,
    "backup_recover_drill": backup_recover_drill,
    "inspect_reads": inspect_reads,
    "rollout_partial": rollout_partial,
    "freeze_rollout": freeze_rollout,
    "notify_sinks": notify_sinks,
    "guarded_rollout": guarded_rollout,
    "readiness": readiness,
    "failover_practice": failover_practice,
}


async def record(names: list[str]) -> None:
    """Run each scenario on a fresh sim and write the histories of every workflow it ran."""
    HISTORIES.mkdir(exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        await register_search_attributes(env.client)
        topo = load_topology().model_copy(update={"default_task_queue": QUEUE})
        pols = fast()
        index_path = HISTORIES / "index.json"
        index: dict[str, str] = json.loads(index_path.read_text()) if index_path.exists() else {}
        with concurrent.futures.ThreadPoolExecutor(16) as pool, tempfile.TemporaryDirectory() as tmp:
            for name in names:
                sim = SimCloud(Path(tmp) / f"{name}-{uuid.uuid4().hex[:6]}.db")
                sim.seed_topology(topo)
                async with make_worker(env.client, sim, pool, QUEUE):
                    handles = await SCENARIOS[name](env, sim, topo, pols)
                    handles += await _children(env.client, handles)
                    for n, handle in enumerate(handles):
                        history = await handle.fetch_history()
                        kind = history.events[
                            0
                        ].workflow_execution_started_event_attributes.workflow_type.name
                        path = HISTORIES / f"{name}-{n:02d}-{kind}.json"
                        path.write_text(_without_machine_paths(history.to_json()))
                        index[path.name] = handle.id
                        print(f"{path.name}: {len(history.events)} events")
                await env.sleep(timedelta(seconds=1))
        index_path.write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n")
    finally:
        await env.shutdown()


def _without_machine_paths(text: str) -> str:
    """Stack traces in failure events name files by absolute path: keep them relative to the project
    (and the standard library's to its lib/python3.N/)."""
    return re.sub(r'File \\"/[^"\\]*?/(lib/python3\.\d+/)', r'File \\"\1', text.replace(str(ROOT) + "/", ""))


async def _children(
    client: Client, handles: list[WorkflowHandle[Any, Any]]
) -> list[WorkflowHandle[Any, Any]]:
    """Child workflows of rollouts (one per region): their histories are replayed too."""
    found: list[WorkflowHandle[Any, Any]] = []
    for handle in handles:
        if not handle.id.startswith("rollout:"):
            continue
        history = await handle.fetch_history()
        for event in history.events:
            if event.HasField("child_workflow_execution_started_event_attributes"):
                child = event.child_workflow_execution_started_event_attributes.workflow_execution
                found.append(client.get_workflow_handle(child.workflow_id, run_id=child.run_id))
    return found[:3]  # the pilot and two more are enough to cover the child's code paths


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:] or list(SCENARIOS)))

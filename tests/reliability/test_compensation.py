"""A failure at every step of every workflow is compensated: the sim's inventory ends as it began.

Each case runs a real workflow on the time-skipping server against a real sim and breaks it at
one step, either with a sim fault (a bad release in a region, an outage, a corrupt restore) or
by replacing one activity, under its real name, with one that fails non-retryably at its Nth
call. After the workflow ends, `sim.inventory()` must equal the inventory before it started,
except the ledger of keyed calls (which only grows), and nothing may be orphaned: no canary or
green group, no canary weight, no recovery resource.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from contracts.dr import (
    BackupRequest,
    DrillRequest,
    RecoveryRequest,
)
from contracts.failover import (
    FailbackRequest,
    FailoverRequest,
)
from contracts.rollout import (
    RegionDeployInput,
    RolloutRequest,
)
from tests.helpers.breaks import Break, broken_activities
from tests.helpers.temporal import unique_queue
from workers.client import register_search_attributes
from workers.main import WORKFLOWS
from workflows.backup import BackupWorkflow
from workflows.drill import DrillWorkflow
from workflows.failback import FailbackWorkflow
from workflows.failover import RegionFailoverWorkflow
from workflows.recovery import DisasterRecoveryWorkflow
from workflows.region_deployment import RegionDeploymentWorkflow

SERVICE = "checkout"
# Regions in the default topology, and in its failover/recovery paths: the failover of eu-west-1
# reads replica lag of the 15 healthy regions, then checks its target's lag (call 16); it probes
# all 16 regions, then validates its target under load (probes 17, 18, 19).
HEALTHY_AFTER_ONE_OUTAGE = 15


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


# ----- failure injection (Break: tests/helpers/breaks.py) -----------------------------------------


def worker(
    client: Client,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    queue: str,
    breaks: Sequence[Break] = (),
) -> Worker:
    """The real workflows and activities on the sim, with the named activities broken."""
    acts = broken_activities(CloudRegistry({"sim": lambda: sim}), breaks)
    return Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=acts, activity_executor=executor)


def comparable(sim: SimCloud) -> dict[str, Any]:
    """The inventory without the ledger, which legitimately grows with every keyed call."""
    inv = sim.inventory()
    inv.pop("ledger")
    return inv


def assert_no_orphans(sim: SimCloud, topology: Topology) -> None:
    inv = sim.inventory()
    assert inv["canary_weights"] == {}, inv["canary_weights"]
    canary_groups = {
        (region, release): n
        for region, groups in inv["groups"].get(SERVICE, {}).items()
        for release, n in groups.get("canary", {}).items()
        if n
    }
    assert canary_groups == {}, canary_groups
    assert inv["total_resources"] == 0 and sim.resources(SERVICE) == []
    for region in topology.regions:
        assert sim.region_state(SERVICE, region.name).canary_instances == 0


def on_queue(topology: Topology, queue: str) -> Topology:
    return topology.model_copy(update={"default_task_queue": queue})


def lenient_rpo(policies: Policies) -> Policies:
    """Cleanup, not RPO, is under test (the test server's clock may leap between workflows)."""
    dr = policies.dr.model_copy(update={"rpo_target": 400 * 365 * 86400.0})
    return policies.model_copy(update={"dr": dr})


# ----- rollout: per wave and pilot ---------------------------------------------------------------

ROLLOUT_CASES = {
    # wave (or pilot) -> the sim fault that breaks it
    "validate-preflight": ("outage", "sa-east-1"),
    "core-pilot": ("release", "us-east-1"),
    "core-after-pilot": ("release", "eu-west-1"),
    "edge": ("release", "ap-south-1"),
}


@pytest.mark.parametrize("case", list(ROLLOUT_CASES))
async def test_rollout_failure_in_every_wave_restores_the_inventory(
    case: str,
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    kind, region = ROLLOUT_CASES[case]
    queue = unique_queue()
    topo = on_queue(topology, queue)
    before = comparable(sim)
    if kind == "outage":
        sim.inject_outage(region)
    else:
        sim.inject_release_fault("3.0.0", error_rate=0.2, regions=[region])
    req = RolloutRequest(service=SERVICE, release="3.0.0", request_id=case, topology=topo, policies=policies)
    async with worker(ts_env.client, sim, executor, queue):
        result = await (await start_rollout(ts_env.client, req)).result()
    sim.clear_faults()
    assert result.status in ("failed", "rolled_back"), result.status
    assert region in (result.reason or "")
    assert result.compensation_order == list(reversed(result.deploy_order))
    assert comparable(sim) == before
    assert_no_orphans(sim, topo)


# ----- canary (per step) and blue-green (before / after the switch) --------------------------------


def deploy_input(topology: Topology, policies: Policies, strategy: str) -> RegionDeployInput:
    return RegionDeployInput(
        service=SERVICE,
        release="3.0.0",
        region=topology.region("us-east-1"),
        task_queue=topology.default_task_queue,
        wave=topology.wave_of("us-east-1"),
        policies=policies,
        key_prefix=f"deploy:comp/{uuid.uuid4().hex[:8]}",
        strategy=strategy,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class DeployCase:
    id: str
    strategy: str
    activity: str = ""  # break this activity ...
    nth: int = 1  # ... at this call
    release_fault: float = 0.0  # or give 3.0.0 this error rate
    under_load: bool = False  # only while it serves traffic (green is clean before the switch)


DEPLOY_CASES = [
    # Canary: default steps 5 / 25 / 50 / 100 %, each scaled then weighted; then full weight, promote.
    *(DeployCase(f"canary-step-{k}-scale", "canary", "scale_group", k) for k in range(1, 5)),
    *(DeployCase(f"canary-step-{k}-weight", "canary", "set_canary_weight", k) for k in range(1, 5)),
    DeployCase("canary-step-1-analysis", "canary", release_fault=0.08),
    DeployCase("canary-full-scale", "canary", "scale_group", 5),
    DeployCase("canary-full-weight", "canary", "set_canary_weight", 5),
    DeployCase("canary-promote", "canary", "promote_canary", 1),
    # Blue-green: green up, pre-promotion analysis, switch, post-promotion analysis, remove blue.
    DeployCase("bg-before-switch-green-up", "blue-green", "scale_group", 1),
    DeployCase("bg-before-switch-analysis", "blue-green", release_fault=0.08),
    DeployCase("bg-at-switch", "blue-green", "set_canary_weight", 1),
    DeployCase("bg-after-switch-analysis", "blue-green", release_fault=0.08, under_load=True),
    DeployCase("bg-after-switch-blue-removal", "blue-green", "promote_canary", 1),
    DeployCase("bg-after-switch-final-verify", "blue-green", "health_sample", 1),
    DeployCase("rolling-batch-2", "rolling", "ensure_release", 2),
]


@pytest.mark.parametrize("case", DEPLOY_CASES, ids=[c.id for c in DEPLOY_CASES])
async def test_deploy_failure_at_every_step_restores_the_region(
    case: DeployCase,
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    topo = on_queue(topology, queue)
    breaks = [Break(case.activity, case.nth)] if case.activity else []
    if case.release_fault:
        sim.inject_release_fault("3.0.0", error_rate=case.release_fault, under_load=case.under_load)
    before = comparable(sim)
    async with worker(ts_env.client, sim, executor, queue, breaks):
        out = await ts_env.client.execute_workflow(
            RegionDeploymentWorkflow.run,
            deploy_input(topo, policies, case.strategy),
            id=f"deploy:comp-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
    assert all(b.fired for b in breaks), "the injected failure never happened"
    assert out.status == "rolled_back", (out.status, out.detail)
    assert out.release == "1.0.0"
    assert comparable(sim) == before
    assert_no_orphans(sim, topo)


# ----- failover: prescale / lag check / shift / validate ----------------------------------------

FAILOVER_CASES = {
    "prescale": ("scale_group", 1),
    "lag-check": ("replica_lag", HEALTHY_AFTER_ONE_OUTAGE + 1),
    "shift": ("set_traffic", 1),
    "validate-first-probe": ("probe_region", 17),
    "validate-last-probe": ("probe_region", 19),
}


@pytest.mark.parametrize("case", list(FAILOVER_CASES))
async def test_failover_failure_at_every_step_restores_traffic_and_capacity(
    case: str,
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    topo = on_queue(topology, queue)
    name, nth = FAILOVER_CASES[case]
    breaks = [Break(name, nth)]
    sim.inject_outage("eu-west-1")
    before = comparable(sim)
    req = FailoverRequest(
        service=SERVICE, from_region="eu-west-1", topology=topo, policies=policies, request_id=case
    )
    async with worker(ts_env.client, sim, executor, queue, breaks):
        report = await ts_env.client.execute_workflow(
            RegionFailoverWorkflow.run, req, id=f"failover:{SERVICE}:comp-{case}", task_queue=queue
        )
    assert breaks[0].fired
    assert report.status == "failed", (report.status, report.reason)
    assert report.reason  # the activity's cause, not "Activity task failed" (docs/reliability.md)
    if case != "prescale":  # the target was pre-scaled before the failure, and scaled back after
        assert report.target_instances_before is not None
    assert comparable(sim) == before
    assert_no_orphans(sim, topo)


# ----- failback: a step fails (before or after its work): all traffic back on the backup -----------

FAILBACK_CASES = {
    # failback's set_traffic call -> (nth, fails after its work)
    "first-step": (1, False),
    "second-step": (2, False),
    "second-step-after-its-work": (2, True),
    "last-step-after-its-work": (3, True),
}


@pytest.mark.parametrize("case", list(FAILBACK_CASES))
async def test_failback_failure_at_every_step_puts_traffic_back_on_the_backup(
    case: str,
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    topo = on_queue(topology, queue)
    nth, after = FAILBACK_CASES[case]
    brk = Break("set_traffic", nth, after=after, armed=False)  # the failover before it runs unbroken
    sim.inject_outage("eu-west-1")
    failover = FailoverRequest(
        service=SERVICE, from_region="eu-west-1", topology=topo, policies=policies, request_id=case
    )
    async with worker(ts_env.client, sim, executor, queue, [brk]):
        moved = await ts_env.client.execute_workflow(
            RegionFailoverWorkflow.run, failover, id=f"failover:{SERVICE}:fb-{case}", task_queue=queue
        )
        assert moved.status == "succeeded", moved.reason
        sim.clear_outage("eu-west-1")
        before = comparable(sim)  # after the failover: eu-west-1's share on the backup
        brk.armed = True
        back = await ts_env.client.execute_workflow(
            FailbackWorkflow.run,
            FailbackRequest(
                service=SERVICE,
                region="eu-west-1",
                backup=moved.to_region or "",
                original_share=moved.weights_before["eu-west-1"],
                topology=topo,
                policies=policies,
                request_id=case,
            ),
            id=f"failback:{SERVICE}:comp-{case}",
            task_queue=queue,
        )
    assert brk.fired
    assert back.status == "failed", (back.status, back.reason)
    assert f"traffic left on {moved.to_region}" in (back.reason or ""), back.reason
    assert comparable(sim) == before
    assert_no_orphans(sim, topo)


# ----- recovery: restore / verify / launch / boot / serve ----------------------------------------

RECOVERY_CASES = {
    "restore": ("restore_volume", 1),
    "verify-check": ("check_volume", 1),
    "verify-corrupt": ("dr_fault", 0),
    "launch": ("launch_instances", 1),
    "boot-probe": ("probe_region", 1),
    "serve": ("set_traffic", 1),
}


async def _backup(env: WorkflowEnvironment, topo: Topology, policies: Policies, regions: list[str]) -> None:
    report = await env.client.execute_workflow(
        BackupWorkflow.run,
        BackupRequest(
            service=SERVICE, topology=topo, policies=policies, regions=regions, request_id=uuid.uuid4().hex
        ),
        id=f"backup:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=topo.default_task_queue,
    )
    assert report.status == "succeeded", report.reason


@pytest.mark.parametrize("case", list(RECOVERY_CASES))
async def test_recovery_failure_at_every_step_removes_what_it_made(
    case: str,
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    topo = on_queue(topology, queue)
    pols = lenient_rpo(policies)
    name, nth = RECOVERY_CASES[case]
    breaks = [] if name == "dr_fault" else [Break(name, nth)]
    async with worker(ts_env.client, sim, executor, queue, breaks):
        await _backup(ts_env, topo, pols, ["eu-west-1"])
        sim.inject_outage("eu-west-1")
        if name == "dr_fault":
            sim.inject_dr_fault("eu-central-1")  # the restored volume fails its integrity check
        before = comparable(sim)
        req = RecoveryRequest(
            service=SERVICE,
            source_region="eu-west-1",
            target_region="eu-central-1",
            topology=topo,
            policies=pols,
            request_id=uuid.uuid4().hex,
        )
        report = await ts_env.client.execute_workflow(
            DisasterRecoveryWorkflow.run, req, id=f"dr:{SERVICE}:comp-{case}", task_queue=queue
        )
    assert all(b.fired for b in breaks)
    assert report.status == "failed", (report.status, report.reason)
    assert comparable(sim) == before
    assert_no_orphans(sim, topo)


# ----- drill: a failure midway ------------------------------------------------------------------

DRILL_CASES = ["corrupt-restore", "second-launch", "second-check", "production-degrades"]


@pytest.mark.parametrize("case", DRILL_CASES)
async def test_a_drill_failing_midway_leaves_the_inventory_as_it_was(
    case: str,
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    topo = on_queue(topology, queue)
    pols = lenient_rpo(policies)
    regions = ["eu-west-1", "us-east-1"]
    breaks = {
        "second-launch": [Break("launch_instances", 2)],
        "second-check": [Break("check_volume", 2)],
    }.get(case, [])
    async with worker(ts_env.client, sim, executor, queue, breaks):
        await _backup(ts_env, topo, pols, regions)
        before = comparable(sim)
        if case == "corrupt-restore":
            sim.inject_dr_fault("eu-central-1")
        handle = await ts_env.client.start_workflow(
            DrillWorkflow.run,
            DrillRequest(
                service=SERVICE, topology=topo, policies=pols, regions=regions, request_id=uuid.uuid4().hex
            ),
            id=f"drill:{SERVICE}:comp-{case}",
            task_queue=queue,
        )
        if case == "production-degrades":
            for _ in range(200):  # midway: once the recovered environment exists (it soaks 5 minutes)
                if sim.resources(SERVICE):
                    break
                await ts_env.sleep(1)
            assert sim.resources(SERVICE), "the drill never created its environment"
            sim.inject_release_fault("1.0.0", error_rate=0.3, regions=["eu-west-1"])
        with pytest.raises(WorkflowFailureError):  # a failed drill fails its workflow (DrillFailed) ...
            await handle.result()
        report = await handle.query(DrillWorkflow.report)  # ... and keeps its report in the query
    sim.clear_faults()
    assert all(b.fired for b in breaks)
    assert report.verdict == "fail", report.markdown
    assert report.leftover_resources == 0
    assert comparable(sim) == before
    assert_no_orphans(sim, topo)

"""Missing data never passes a gate, and a region that is down is held, not rolled back around.

On the time-skipping server with the real activities on a real sim: a metrics gap makes a gate
or an analysis wait for a decision (or fail, per policy); an edge region that goes down during
the core wave is held while the rest of its wave deploys, then skipped (the rollout ends
`partial`) or deployed once it recovers; a short quota fails preflight before anything changes.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from contracts.ids import region_deployment_id, rollout_id
from contracts.rollout import RegionOutcome, RolloutRequest
from tests.helpers.polling import rollout_until
from tests.helpers.temporal import make_worker, progress_if_running, unique_queue
from workers.client import register_search_attributes
from workflows.region_deployment import RegionDeploymentWorkflow
from workflows.rollout import RegionalRolloutWorkflow

EDGE_DOWN = "ap-south-1"
EDGE = ["ca-central-1", "eu-west-2", "ap-southeast-2", "ap-south-1", "sa-east-1", "me-south-1", "af-south-1"]


@pytest.fixture
def topology(topology: Topology) -> Topology:
    """A task queue of each test's own: no worker of another test on this server can take its tasks."""
    return topology.model_copy(update={"default_task_queue": unique_queue()})


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def request(
    topology: Topology, policies: Policies, release: str = "2.0.0", strategy: str | None = None
) -> RolloutRequest:
    return RolloutRequest.model_validate(
        {
            "service": "checkout",
            "release": release,
            "request_id": "fail-closed",
            "topology": topology,
            "policies": policies,
            "strategy": strategy,
        }
    )


def health(policies: Policies, **changes: object) -> Policies:
    return policies.model_copy(update={"health": policies.health.model_copy(update=changes)})


wait_until = rollout_until


async def child_state(env: WorkflowEnvironment, region: str) -> RegionOutcome | None:
    return await progress_if_running(env, region_deployment_id(rollout_id("checkout"), region))


async def wait_child(
    env: WorkflowEnvironment, region: str, predicate: Callable[[RegionOutcome], bool]
) -> RegionOutcome:
    for _ in range(3000):
        state = await child_state(env, region)
        if state is not None and predicate(state):
            return state
        await env.sleep(30)
    raise AssertionError(f"{region}'s deploy never reached the expected state")


async def test_a_region_without_metrics_waits_for_a_decision_and_promote_goes_on(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_metrics_gap(EDGE_DOWN)
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        handle = await start_rollout(ts_env.client, request(topology, policies))
        waiting = await wait_child(ts_env, EDGE_DOWN, lambda o: o.status == "waiting")
        assert "no metrics arrived from ap-south-1 (sim)" in waiting.detail, waiting.detail
        assert "promote to go on" in waiting.detail
        # The region is held before its gate passes: the first batch only, nothing judged healthy.
        assert waiting.batches_done == 1 and waiting.gates == []
        child = ts_env.client.get_workflow_handle_for(
            RegionDeploymentWorkflow.run, region_deployment_id(rollout_id("checkout"), EDGE_DOWN)
        )
        # One gate at a time: a plain promote answers this gate, and the next one waits again.
        await child.execute_update(RegionDeploymentWorkflow.promote, False)
        again = await wait_child(ts_env, EDGE_DOWN, lambda o: o.status == "waiting" and o.batches_done == 2)
        assert len(again.gates) == 1 and again.gates[0].passed
        # `promote --full` accepts the missing metrics for the rest of this region's deploy.
        await child.execute_update(RegionDeploymentWorkflow.promote, True)
        result = await handle.result()
    assert result.status == "succeeded", result.reason
    down = result.region(EDGE_DOWN)
    assert down.release == "2.0.0"
    assert len(down.overrides) == len(down.gates) == 5  # four batches and the verify, each one decided
    assert all("no metrics" in o and "promoted by an operator" in o for o in down.overrides), down.overrides
    assert all(g.passed for g in down.gates)
    assert down.gates[0].reasons[0].startswith("no data: error rate, p99 latency, cpu, request count")


async def test_no_decision_before_the_deadline_fails_the_gate_and_rolls_back(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_metrics_gap(EDGE_DOWN)
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        result = await (
            await start_rollout(ts_env.client, request(topology, health(policies, no_data_deadline=600)))
        ).result()
    assert result.status == "rolled_back"
    down = result.region(EDGE_DOWN)
    assert "no metrics arrived from ap-south-1" in down.detail, down.detail
    assert [g.passed for g in down.gates] == [False]
    assert {row["release"] for row in sim.status("checkout")} == {"1.0.0"}  # every region restored


async def test_on_no_data_fail_fails_at_once_and_abort_rolls_back(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_metrics_gap("us-east-1")  # the pilot
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        result = await (
            await start_rollout(ts_env.client, request(topology, health(policies, on_no_data="fail")))
        ).result()
    assert result.status == "rolled_back"
    assert result.deploy_order == ["us-east-1"]
    pilot = result.region("us-east-1")
    assert pilot.gates[0].reasons == [
        "no metrics arrived from us-east-1 (sim): error rate, p99 latency, cpu, request count"
    ]
    assert pilot.overrides == []


async def test_abort_while_waiting_for_missing_metrics_rolls_back(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_metrics_gap("us-east-1")
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        handle = await start_rollout(ts_env.client, request(topology, policies))
        await wait_child(ts_env, "us-east-1", lambda o: o.status == "waiting")
        await handle.execute_update(RegionalRolloutWorkflow.abort, "no metrics, no rollout")
        result = await handle.result()
    assert result.status == "aborted"
    assert sim.region_state("checkout", "us-east-1").releases == {
        "1.0.0": topology.region("us-east-1").instances
    }


async def test_a_canary_without_metrics_waits_instead_of_passing(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_metrics_gap("us-east-1")
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        handle = await start_rollout(ts_env.client, request(topology, policies, strategy="canary"))
        waiting = await wait_child(ts_env, "us-east-1", lambda o: o.status == "waiting")
        assert "no metrics arrived from us-east-1" in waiting.detail, waiting.detail
        assert waiting.analysis and waiting.analysis[-1].no_data
        assert waiting.analysis[-1].verdict != "pass"
        await handle.execute_update(RegionalRolloutWorkflow.abort, "test over")
        result = await handle.result()
    assert result.status == "aborted"
    state = sim.region_state("checkout", "us-east-1")
    assert state.canary_instances == 0 and state.canary_weight == 0


async def test_an_edge_outage_during_the_core_wave_is_held_then_skipped_and_the_rollout_ends_partial(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        handle = await start_rollout(ts_env.client, request(topology, policies))
        await wait_until(ts_env, handle, lambda p: p.current_wave == "core")
        sim.inject_outage(EDGE_DOWN)  # after preflight: the region goes down while the core wave runs
        held = await wait_until(ts_env, handle, lambda p: EDGE_DOWN in p.held)
        assert held.region(EDGE_DOWN).status == "waiting"
        assert held.region(EDGE_DOWN).detail.startswith("region unreachable: ")
        # The rest of the edge wave deploys while the dead region is held.
        others = await wait_until(
            ts_env, handle, lambda p: all(p.region(r).status == "succeeded" for r in EDGE if r != EDGE_DOWN)
        )
        assert others.status == "running" and others.held == [EDGE_DOWN]
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(RegionalRolloutWorkflow.skip_region, "eu-west-2")
        assert "eu-west-2 is not held as unreachable (held: ap-south-1)" in str(refused.value.cause)
        await handle.execute_update(RegionalRolloutWorkflow.skip_region, EDGE_DOWN)
        result = await handle.result()
    assert result.status == "partial"
    assert result.skipped == [EDGE_DOWN] and result.held == []
    assert result.reason == f"skipped (unreachable): {EDGE_DOWN}"
    assert result.region(EDGE_DOWN).status == "skipped"
    assert result.compensation_order == []  # nothing was rolled back around the dead region
    releases = {row["region"]: row["release"] for row in sim.status("checkout")}
    assert releases.pop(EDGE_DOWN) == "1.0.0"
    assert set(releases.values()) == {"2.0.0"}


async def test_a_held_region_that_recovers_is_deployed_and_the_rollout_succeeds(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        handle = await start_rollout(ts_env.client, request(topology, policies))
        await wait_until(ts_env, handle, lambda p: p.current_wave == "core")
        sim.inject_outage(EDGE_DOWN)
        await wait_until(ts_env, handle, lambda p: EDGE_DOWN in p.held)
        sim.clear_outage(EDGE_DOWN)
        result = await handle.result()
    assert result.status == "succeeded", result.reason
    assert result.skipped == [] and result.region(EDGE_DOWN).release == "2.0.0"
    assert {row["release"] for row in sim.status("checkout")} == {"2.0.0"}


@pytest.mark.parametrize(("policy", "status"), [("skip", "partial"), ("rollback", "rolled_back")])
async def test_unavailable_region_policy_skip_or_rollback(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
    policy: str,
    status: str,
) -> None:
    pols = policies.model_copy(update={"unavailable_region": policy})
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        handle = await start_rollout(ts_env.client, request(topology, pols))
        await wait_until(ts_env, handle, lambda p: p.current_wave == "core")
        sim.inject_outage(EDGE_DOWN)
        result = await handle.result()
    assert result.status == status, result.reason
    if policy == "skip":
        assert result.skipped == [EDGE_DOWN]
        assert "skipped by policy" in result.region(EDGE_DOWN).detail
    else:
        assert f"{EDGE_DOWN}: region unreachable" in (result.reason or "")
        assert {row["release"] for row in sim.status("checkout")} == {"1.0.0"}


async def test_a_short_quota_fails_preflight_before_any_region_changes(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    in_use = sum(sim.region_state("checkout", "eu-west-1").releases.values())
    sim.inject_quota("eu-west-1", in_use)  # not one instance more
    before = sim.inventory()
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        result = await (
            await start_rollout(ts_env.client, request(topology, policies, strategy="blue-green"))
        ).result()
    assert result.status == "failed"
    assert result.deploy_order == []
    assert "eu-west-1: quota 'instances' in eu-west-1: the rollout needs" in (result.reason or ""), (
        result.reason
    )
    assert result.region("eu-west-1").status == "failed"
    assert sim.inventory()["instances"] == before["instances"]

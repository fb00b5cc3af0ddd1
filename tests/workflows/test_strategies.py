"""Canary and blue-green on the time-skipping server, real activities and judge, real sim."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Callable

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from config.strategies import CanaryStep
from contracts.rollout import (
    RegionDeployInput,
    RegionOutcome,
    RolloutRequest,
)
from tests.helpers.temporal import make_worker
from workers.client import register_search_attributes
from workers.main import WORKFLOWS, activity_functions
from workflows.region_deployment import RegionDeploymentWorkflow

EDGE = [
    "ca-central-1",
    "eu-west-2",
    "ap-southeast-2",
    "ap-south-1",
    "sa-east-1",
    "me-south-1",
    "af-south-1",
    "asia-southeast1",
]


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def with_analysis(policies: Policies, **changes: object) -> Policies:
    return policies.model_copy(update={"analysis": policies.analysis.model_copy(update=changes)})


def with_blue_green(policies: Policies, **changes: object) -> Policies:
    return policies.model_copy(update={"blue_green": policies.blue_green.model_copy(update=changes)})


def deploy_input(
    topology: Topology, policies: Policies, strategy: str, release: str, region: str = "us-east-1"
) -> RegionDeployInput:
    return RegionDeployInput(
        service="checkout",
        release=release,
        region=topology.region(region),
        task_queue="globalops",
        wave=topology.wave_of(region),
        policies=policies,
        key_prefix=f"deploy:test/{uuid.uuid4().hex[:8]}",
        strategy=strategy,  # type: ignore[arg-type]
    )


async def start_deploy(
    env: WorkflowEnvironment, inp: RegionDeployInput
) -> WorkflowHandle[RegionDeploymentWorkflow, RegionOutcome]:
    return await env.client.start_workflow(
        RegionDeploymentWorkflow.run, inp, id=f"deploy:{uuid.uuid4().hex[:8]}", task_queue="globalops"
    )


async def wait_child(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[RegionDeploymentWorkflow, RegionOutcome],
    predicate: Callable[[RegionOutcome], bool],
) -> RegionOutcome:
    """Poll the region's progress, moving the test clock a few seconds at a time."""
    for _ in range(3000):
        progress = await handle.query(RegionDeploymentWorkflow.progress)
        if progress is not None and predicate(progress):
            return progress
        await env.sleep(5)
    raise AssertionError("deploy never reached the expected state")


async def test_bad_canary_stops_at_the_first_step_in_the_pilot(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_release_fault("3.0.0", error_rate=0.08)
    req = RolloutRequest(
        service="checkout",
        release="3.0.0",
        request_id="bad-canary",
        topology=topology,
        policies=policies,
        strategy="canary",
    )
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        result = await (await start_rollout(ts_env.client, req)).result()

    assert result.status == "rolled_back"
    assert result.deploy_order == ["us-east-1"]  # no other region, and no edge region, was touched
    pilot = result.region("us-east-1")
    assert pilot.strategy == "canary"
    assert [a.step for a in pilot.analysis] == ["step 1/4 5%"]
    assert pilot.analysis[0].verdict == "fail"
    assert pilot.analysis[0].metrics["error_rate"]["canary_mean"] > 0.05  # type: ignore[operator]
    state = sim.region_state("checkout", "us-east-1")
    assert state.canary_weight == 0 and state.canary_instances == 0
    assert state.releases == {"1.0.0": 4}
    assert all(r.status in ("ready",) for r in result.regions if r.region in EDGE)


async def test_good_canary_is_promoted_through_every_step_everywhere(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    req = RolloutRequest(
        service="checkout",
        release="2.0.0",
        request_id="good-canary",
        topology=topology,
        policies=policies,
        strategy="canary",
    )
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        result = await (await start_rollout(ts_env.client, req)).result()

    assert result.status == "succeeded", result.reason
    for region in result.regions:
        assert region.strategy == "canary" and region.status == "succeeded"
        weights = sorted({a.weight for a in region.analysis})
        assert weights == [5, 25, 50, 100]
        assert all(a.verdict == "pass" for a in region.analysis)
        assert len(region.analysis) == 4 * policies.analysis.count
        first = region.analysis[0].metrics
        assert {"error_rate", "latency_p99"} <= set(first)
        assert first["latency_p99"]["p_value"] is not None
        state = sim.region_state("checkout", region.region)
        assert state.releases == {"2.0.0": 4} and state.canary_instances == 0


async def test_latency_only_regression_is_caught_by_the_judge(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_release_fault("3.0.0", error_rate=0.002, latency_ms=48)  # p99 80 → 128 ms: +60 %
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await start_deploy(ts_env, deploy_input(topology, policies, "canary", "3.0.0"))
        result = await handle.result()

    assert result.status == "rolled_back"
    run = result.analysis[0]
    assert run.verdict == "fail"
    assert run.metrics["latency_p99"]["classification"] == "High"
    assert run.metrics["error_rate"]["classification"] == "Pass"
    median = run.metrics["latency_p99"]["canary_median"]
    assert isinstance(median, float) and median < policies.health.max_p99_latency_ms  # thresholds alone pass
    assert sim.region_state("checkout", "us-east-1").releases == {"1.0.0": 4}


async def test_blue_green_switches_and_removes_blue_after_the_delay(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    pols = with_blue_green(policies, scale_down_delay=600)
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await start_deploy(ts_env, deploy_input(topology, pols, "blue-green", "2.0.0"))
        await wait_child(ts_env, handle, lambda p: "keeping blue" in p.detail)
        during = sim.region_state("checkout", "us-east-1")
        assert during.canary_weight == 1.0  # all traffic on green ...
        assert during.releases == {"1.0.0": 4, "2.0.0": 4}  # ... and blue still there
        result = await handle.result()
    assert result.status == "succeeded"
    after = sim.region_state("checkout", "us-east-1")
    assert after.releases == {"2.0.0": 4} and after.canary_instances == 0


async def test_blue_green_bad_green_leaves_blue_serving_untouched(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    blue = sim.instance_ids("checkout", "us-east-1")
    sim.inject_release_fault("3.0.0", error_rate=0.08)
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        result = await (
            await start_deploy(ts_env, deploy_input(topology, policies, "blue-green", "3.0.0"))
        ).result()
    assert result.status == "rolled_back"
    assert [a.step for a in result.analysis] == ["pre-promotion"]
    state = sim.region_state("checkout", "us-east-1")
    assert state.canary_weight == 0 and state.canary_instances == 0
    assert sim.instance_ids("checkout", "us-east-1") == blue  # the very same blue instances


async def test_blue_green_failure_after_the_switch_switches_back(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    blue = sim.instance_ids("checkout", "us-east-1")
    sim.inject_release_fault("3.0.0", error_rate=0.08, under_load=True)  # clean on preview traffic
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        result = await (
            await start_deploy(ts_env, deploy_input(topology, policies, "blue-green", "3.0.0"))
        ).result()
    assert result.status == "rolled_back"
    verdicts = {a.step: a.verdict for a in result.analysis}
    assert verdicts["pre-promotion"] == "pass" and verdicts["post-promotion"] == "fail"
    assert "switched back" in result.detail or any("post-promotion" in a.step for a in result.analysis)
    assert sim.instance_ids("checkout", "us-east-1") == blue
    assert sim.region_state("checkout", "us-east-1").canary_weight == 0


async def test_inconclusive_waits_for_promote(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    pols = with_analysis(policies, min_samples=1000, inconclusive_deadline=86400)
    pols = pols.model_copy(
        update={"canary": pols.canary.model_copy(update={"steps": [CanaryStep(set_weight=100)]})}
    )
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await start_deploy(ts_env, deploy_input(topology, pols, "canary", "2.0.0"))
        waiting = await wait_child(ts_env, handle, lambda p: p.status == "waiting")
        assert "inconclusive" in waiting.detail
        assert waiting.analysis[-1].verdict == "inconclusive"
        assert any("too few samples" in r for r in waiting.analysis[-1].reasons)
        await handle.execute_update(RegionDeploymentWorkflow.promote, False)
        result = await handle.result()
    assert result.status == "succeeded"
    assert any("promoted by an operator" in o for o in result.overrides)
    assert sim.region_state("checkout", "us-east-1").releases == {"2.0.0": 4}


async def test_inconclusive_aborts_at_the_deadline_when_nobody_answers(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    pols = with_analysis(policies, min_samples=1000, inconclusive_deadline=3600)
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        result = await (await start_deploy(ts_env, deploy_input(topology, pols, "canary", "2.0.0"))).result()
    assert result.status == "aborted"
    assert "nobody answered" in result.detail
    state = sim.region_state("checkout", "us-east-1")
    assert state.releases == {"1.0.0": 4} and state.canary_weight == 0


async def test_promote_full_skips_the_remaining_steps_and_is_recorded(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    steps = [
        CanaryStep(set_weight=5),
        CanaryStep(pause={}),
        CanaryStep(set_weight=50),
        CanaryStep(set_weight=100),
    ]
    pols = policies.model_copy(update={"canary": policies.canary.model_copy(update={"steps": steps})})
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await start_deploy(ts_env, deploy_input(topology, pols, "canary", "2.0.0"))
        await wait_child(ts_env, handle, lambda p: p.status == "waiting")
        await handle.execute_update(RegionDeploymentWorkflow.promote, True)
        result = await handle.result()
    assert result.status == "succeeded"
    assert {a.weight for a in result.analysis} == {5}  # 50 % and 100 % were never analysed
    assert any("promote --full" in o for o in result.overrides)


@activity.defn(name="analyse")
def analyse_unreachable(inp: object) -> object:
    """The metrics backend is down: every analysis run errors (non-retryable, so it is quick)."""
    raise ApplicationError("metrics backend unreachable", type="Unavailable", non_retryable=True)


async def test_a_step_whose_every_analysis_run_errors_is_inconclusive_not_a_pass(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    pols = with_analysis(policies, count=3, consecutive_error_limit=4, inconclusive_deadline=3600)
    acts = [a for a in activity_functions(CloudRegistry({"sim": lambda: sim})) if a.__name__ != "analyse"]
    worker = Worker(
        ts_env.client,
        task_queue="globalops",
        workflows=WORKFLOWS,
        activities=[*acts, analyse_unreachable],
        activity_executor=executor,
    )
    async with worker:
        result = await (await start_deploy(ts_env, deploy_input(topology, pols, "canary", "2.0.0"))).result()
    assert [a.verdict for a in result.analysis][:3] == ["error", "error", "error"]
    assert result.status == "aborted" and "nobody answered" in result.detail  # waited, never passed
    assert sim.region_state("checkout", "us-east-1").releases == {"1.0.0": 4}

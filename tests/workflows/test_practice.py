"""Failover practice on the time-skipping server, with the real activities on a real sim: it shifts, holds,
fails back to equal weights, and ends early on a degrading target, an alarm or a freeze."""

from __future__ import annotations

import concurrent.futures
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli import launch
from config.alarms import AlarmPolicy
from config.change import ChangeWindow
from config.models import Policies, Topology
from contracts import search_attributes as sa
from contracts.change import FreezeRequest, RegistryState
from contracts.ids import FREEZE_REGISTRY_ID
from contracts.practice import PracticeReport, PracticeRequest
from tests.helpers.temporal import make_worker, unique_queue
from workers.client import register_search_attributes
from workflows.freezes import FreezeRegistryWorkflow
from workflows.practice import FailoverPracticeWorkflow

QUEUE = unique_queue()
REGION = "eu-west-1"
EU = {"eu-central-1", "europe-west1"}
ALARM = "checkout-errors"


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> AsyncIterator[None]:
    await register_search_attributes(ts_env.client)
    yield
    with contextlib.suppress(Exception):  # no registry was started
        await ts_env.client.get_workflow_handle(FREEZE_REGISTRY_ID).terminate("test over")


@pytest.fixture
def topo(topology: Topology) -> Topology:
    return topology.model_copy(update={"default_task_queue": QUEUE})


@pytest.fixture
def pols(policies: Policies) -> Policies:
    """Outcome alarm ALARM (sim); failback with one short step bake: fewer probes, same path."""
    practice = policies.practice.model_copy(update={"alarms": AlarmPolicy(sim=[ALARM])})
    failover = policies.failover.model_copy(
        update={"failback": policies.failover.failback.model_copy(update={"step_bake": 10.0, "samples": 1})}
    )
    return policies.model_copy(update={"practice": practice, "failover": failover})


def practice_request(topo: Topology, pols: Policies, **extra: Any) -> PracticeRequest:
    return PracticeRequest(
        service="checkout",
        region=REGION,
        duration_s=pols.practice.duration,
        topology=topo,
        policies=pols,
        request_id=uuid.uuid4().hex[:8],
        **extra,
    )


async def start(
    env: WorkflowEnvironment, req: PracticeRequest
) -> WorkflowHandle[FailoverPracticeWorkflow, PracticeReport]:
    return await launch.start(
        env.client, launch.practice(req, f"practice:checkout:{REGION}:{req.request_id}")
    )


async def holding(
    env: WorkflowEnvironment, handle: WorkflowHandle[FailoverPracticeWorkflow, PracticeReport]
) -> PracticeReport:
    """Wait (moving the test clock) until the practice holds traffic on its target."""
    return await poll(env, lambda: handle.query(FailoverPracticeWorkflow.report), lambda r: r.checks >= 2)


async def poll(env: WorkflowEnvironment, read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    for _ in range(500):
        value = await read()
        if done(value):
            return value
        await env.sleep(5)
    raise AssertionError("never reached the expected state")


async def outcome(handle: WorkflowHandle[FailoverPracticeWorkflow, PracticeReport]) -> PracticeReport:
    try:
        return await handle.result()
    except WorkflowFailureError:
        return await handle.query(FailoverPracticeWorkflow.report)


async def test_a_practice_shifts_holds_and_fails_back_to_equal_weights(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topo: Topology,
    pols: Policies,
) -> None:
    before = sim.traffic("checkout").weights
    async with make_worker(ts_env.client, sim, executor, QUEUE):
        handle = await start(ts_env, practice_request(topo, pols))
        held = await holding(ts_env, handle)
        during = sim.traffic("checkout").weights  # traffic really moved, through the failover path
        report = await handle.result()
        attributes = (await handle.describe()).typed_search_attributes
    assert held.target in EU
    assert during[REGION] == 0 and during[held.target] == pytest.approx(2 / 16)
    assert report.verdict == "pass", report.reason
    assert report.failover_status == "succeeded" and report.failback_status == "succeeded"
    assert report.weights_before == before
    assert report.weights_after == report.weights_before  # equal at the end
    assert sim.traffic("checkout").weights == before
    assert set(report.timings) == {"failover", "hold", "failback", "total"}
    assert report.timings["hold"] >= pols.practice.duration
    assert report.timings["total"] == pytest.approx(
        sum(report.timings[p] for p in ("failover", "hold", "failback"))
    )
    assert report.checks >= pols.practice.duration / pols.practice.check_interval
    assert attributes.get(sa.OPERATION) == "practice" and attributes.get(sa.SERVICE) == "checkout"
    assert attributes.get(sa.REGIONS) == [REGION] and attributes.get(sa.STATUS) == "pass"


async def test_a_degrading_target_ends_the_practice_early_and_traffic_comes_back(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topo: Topology,
    pols: Policies,
) -> None:
    before = sim.traffic("checkout").weights
    async with make_worker(ts_env.client, sim, executor, QUEUE):
        handle = await start(ts_env, practice_request(topo, pols))
        held = await holding(ts_env, handle)
        assert held.target is not None
        sim.inject_release_fault("1.0.0", error_rate=0.3, regions=[held.target])
        report = await outcome(handle)
        status = (await handle.describe()).typed_search_attributes.get(sa.STATUS)
    assert report.verdict == "aborted"
    assert report.reason is not None and f"target {held.target} degraded" in report.reason
    assert report.timings["hold"] < pols.practice.duration
    assert report.weights_after == before == sim.traffic("checkout").weights
    assert status == "aborted"


async def test_a_firing_outcome_alarm_ends_the_practice_early(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topo: Topology,
    pols: Policies,
) -> None:
    before = sim.traffic("checkout").weights
    async with make_worker(ts_env.client, sim, executor, QUEUE):
        handle = await start(ts_env, practice_request(topo, pols))
        await holding(ts_env, handle)
        sim.set_alarm(ALARM, REGION)
        report = await outcome(handle)
    assert report.verdict == "aborted"
    assert report.reason is not None and f"alarm {ALARM} is firing in {REGION}" in report.reason
    assert report.timings["hold"] < pols.practice.duration
    assert report.weights_after == before == sim.traffic("checkout").weights


async def test_a_freeze_ends_the_practice_early_and_the_failback_is_not_held(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topo: Topology,
    pols: Policies,
) -> None:
    before = sim.traffic("checkout").weights
    async with make_worker(ts_env.client, sim, executor, QUEUE):
        registry = await ts_env.client.start_workflow(
            FreezeRegistryWorkflow.run, RegistryState(), id=FREEZE_REGISTRY_ID, task_queue=QUEUE
        )
        handle = await start(ts_env, practice_request(topo, pols))
        await holding(ts_env, handle)
        await registry.execute_update(
            FreezeRegistryWorkflow.start_freeze,
            FreezeRequest(reason="sale", services=["checkout"], by="alice"),
        )
        report = await outcome(handle)
    assert report.verdict == "aborted"
    assert report.reason is not None and "a freeze started: frz-1 (sale)" in report.reason
    assert report.failback_status == "succeeded"
    assert report.weights_after == before == sim.traffic("checkout").weights


async def test_a_scheduled_run_in_a_freeze_or_a_closed_window_skips_and_moves_nothing(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topo: Topology,
    pols: Policies,
) -> None:
    before = sim.traffic("checkout").weights
    every_day = ChangeWindow.model_validate(
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "00:00", "to": "24:00"}
    )
    closed = pols.model_copy(update={"change_windows": [every_day]})
    async with make_worker(ts_env.client, sim, executor, QUEUE):
        windowed = await outcome(await start(ts_env, practice_request(topo, closed, scheduled=True)))
        registry = await ts_env.client.start_workflow(
            FreezeRegistryWorkflow.run, RegistryState(), id=FREEZE_REGISTRY_ID, task_queue=QUEUE
        )
        await registry.execute_update(
            FreezeRegistryWorkflow.start_freeze, FreezeRequest(reason="sale", by="alice")
        )
        handle = await start(ts_env, practice_request(topo, pols, scheduled=True))
        frozen = await outcome(handle)
        status = (await handle.describe()).typed_search_attributes.get(sa.STATUS)
    assert windowed.verdict == "skipped" and "change window closed" in (windowed.reason or "")
    assert frozen.verdict == "skipped" and frozen.reason == "frozen by frz-1 (sale)"
    assert status == "skipped"
    assert frozen.failover_status is None and frozen.scheduled
    assert sim.traffic("checkout").weights == before


async def test_an_operator_abort_ends_the_hold_and_traffic_comes_back(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topo: Topology,
    pols: Policies,
) -> None:
    before = sim.traffic("checkout").weights
    async with make_worker(ts_env.client, sim, executor, QUEUE):
        handle = await start(ts_env, practice_request(topo, pols))
        await holding(ts_env, handle)
        assert await handle.execute_update(FailoverPracticeWorkflow.abort, "incident elsewhere") == "aborting"
        report = await outcome(handle)
    assert report.verdict == "aborted" and report.reason == "incident elsewhere"
    assert report.weights_after == before == sim.traffic("checkout").weights


async def test_a_region_that_cannot_fail_over_fails_the_practice_and_its_workflow(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topo: Topology,
    pols: Policies,
) -> None:
    """ap-northeast-1 is the only JP region: the failover refuses, nothing moves, the verdict is fail,
    and the workflow fails (so a schedule with pause_on_failure pauses)."""
    before = sim.traffic("checkout").weights
    async with make_worker(ts_env.client, sim, executor, QUEUE):
        req = practice_request(topo, pols).model_copy(update={"region": "ap-northeast-1"})
        handle = await start(ts_env, req)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        report = await handle.query(FailoverPracticeWorkflow.report)
        status = (await handle.describe()).typed_search_attributes.get(sa.STATUS)
    assert report.verdict == "fail" and status == "fail"
    assert report.reason == "failover refused: no region qualifies as a failover target"
    assert report.failback_status is None and set(report.timings) == {"failover", "total"}
    assert sim.traffic("checkout").weights == before

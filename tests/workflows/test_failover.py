"""Monitor, failover and failback on the time-skipping server, with the real activities on a real sim."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from contracts.failover import (
    FailbackRequest,
    FailoverRequest,
    MonitorInput,
    MonitorStatus,
)
from tests.helpers.temporal import make_worker, time_skipping_monitor
from workers.client import register_search_attributes
from workflows.failback import FailbackWorkflow
from workflows.failover import RegionFailoverWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow
from workflows.rollout import RegionalRolloutWorkflow

EU = {"eu-central-1", "europe-west1"}


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def with_failover(policies: Policies, **changes: Any) -> Policies:
    return policies.model_copy(update={"failover": policies.failover.model_copy(update=changes)})


def failover_request(topology: Topology, policies: Policies, region: str, **extra: Any) -> FailoverRequest:
    return FailoverRequest(
        service="checkout",
        from_region=region,
        topology=topology,
        policies=policies,
        request_id=uuid.uuid4().hex[:8],
        **extra,
    )


async def poll(
    env: WorkflowEnvironment, read: Callable[[], Any], predicate: Callable[[Any], bool], step: float = 5
) -> Any:
    """Read a query until it satisfies `predicate`, moving the test clock `step` seconds at a time."""
    for _ in range(3000):
        value = await read()
        if predicate(value):
            return value
        await env.sleep(step)
    raise AssertionError("never reached the expected state")


async def start_monitor(
    env: WorkflowEnvironment, topology: Topology, policies: Policies
) -> WorkflowHandle[RegionHealthMonitorWorkflow, MonitorStatus]:
    policies = policies.model_copy(update={"failover": time_skipping_monitor(policies.failover)})
    return await env.client.start_workflow(
        RegionHealthMonitorWorkflow.run,
        MonitorInput(service="checkout", topology=topology, policies=policies),
        id="monitor:checkout",
        task_queue="globalops",
    )


async def stop_monitor(monitor: WorkflowHandle[RegionHealthMonitorWorkflow, MonitorStatus]) -> None:
    """Stop through the update and wait for the end: a terminated run can leave an activity in flight,
    which keeps the test server from skipping time in the next test."""
    await monitor.execute_update(RegionHealthMonitorWorkflow.stop)
    await monitor.result()


async def test_outage_fails_over_automatically_to_an_eu_region_within_targets(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_outage("eu-west-1")
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        monitor = await start_monitor(ts_env, topology, policies)
        try:
            status = await poll(
                ts_env,
                lambda: monitor.query(RegionHealthMonitorWorkflow.status),
                lambda s: "eu-west-1" in s.active,
            )
            assert status.firings[-1].trigger == "probe_failures"
            failover = ts_env.client.get_workflow_handle_for(
                RegionFailoverWorkflow.run, status.active["eu-west-1"]
            )
            report = await failover.result()
        finally:
            await stop_monitor(monitor)
    assert report.status == "succeeded", report.reason
    assert report.to_region in EU  # never a US or UK region
    assert all(report.targets_met.values()), report.timings
    assert report.timings["detect_s"] < 30 and report.timings["decide_s"] < 10
    assert report.timings["total_s"] < 60 + policies.failover.dns_ttl
    weights = sim.traffic("checkout").weights
    assert weights["eu-west-1"] == 0
    assert weights[report.to_region] == pytest.approx(2 / 16)
    assert sum(weights.values()) == pytest.approx(1.0)


async def test_no_healthy_eu_region_refuses_and_changes_nothing(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    for region in ("eu-west-1", "eu-central-1", "europe-west1"):
        sim.inject_outage(region)
    before = sim.traffic("checkout").weights
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await ts_env.client.start_workflow(
            RegionFailoverWorkflow.run,
            failover_request(topology, policies, "eu-west-1"),
            id="failover:checkout:eu-west-1",
            task_queue="globalops",
        )
        report = await handle.result()
    assert report.status == "refused"
    assert report.to_region is None
    reasons = {c.region: c.reason for c in report.rejected_candidates}
    assert set(reasons) == {r.name for r in topology.regions} - {"eu-west-1"}  # every candidate, with why
    assert reasons["eu-central-1"] == "unhealthy" and reasons["europe-west1"] == "unhealthy"
    assert "outside group EU" in reasons["us-east-1"] and "outside group EU" in reasons["eu-west-2"]
    assert sim.traffic("checkout").weights == before


async def test_failback_returns_traffic_in_steps(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_outage("eu-west-1")
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        report = await (
            await ts_env.client.start_workflow(
                RegionFailoverWorkflow.run,
                failover_request(topology, policies, "eu-west-1"),
                id="failover:checkout:eu-west-1",
                task_queue="globalops",
            )
        ).result()
        assert report.status == "succeeded" and report.to_region
        sim.clear_outage("eu-west-1")
        back = await (
            await ts_env.client.start_workflow(
                FailbackWorkflow.run,
                FailbackRequest(
                    service="checkout",
                    region="eu-west-1",
                    backup=report.to_region,
                    original_share=report.weights_before["eu-west-1"],
                    backup_instances=report.target_instances_before,
                    topology=topology,
                    policies=policies,
                    request_id="fb1",
                ),
                id="failback:checkout:eu-west-1",
                task_queue="globalops",
            )
        ).result()
    assert back.status == "succeeded", back.reason
    assert back.steps_done == [10, 50, 100]
    assert report.target_instances_before == topology.region(report.to_region).instances
    assert sim.region_state("checkout", report.to_region).instances == report.target_instances_before
    weights = sim.traffic("checkout").weights
    assert weights["eu-west-1"] == pytest.approx(1 / 16)
    assert weights[report.to_region] == pytest.approx(1 / 16)


async def test_a_failing_failback_step_keeps_traffic_on_the_backup(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_outage("eu-west-1")
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        report = await (
            await ts_env.client.start_workflow(
                RegionFailoverWorkflow.run,
                failover_request(topology, policies, "eu-west-1"),
                id="failover:checkout:eu-west-1",
                task_queue="globalops",
            )
        ).result()
        after_failover = sim.traffic("checkout").weights
        sim.clear_outage("eu-west-1")
        handle = await ts_env.client.start_workflow(
            FailbackWorkflow.run,
            FailbackRequest(
                service="checkout",
                region="eu-west-1",
                backup=report.to_region or "",
                original_share=report.weights_before["eu-west-1"],
                topology=topology,
                policies=policies,
                request_id="fb2",
            ),
            id="failback:checkout:eu-west-1",
            task_queue="globalops",
        )
        await poll(ts_env, lambda: handle.query(FailbackWorkflow.report), lambda r: r.phase.startswith("10%"))
        sim.inject_release_fault("1.0.0", error_rate=0.3, regions=["eu-west-1"])  # it breaks again
        back = await handle.result()
    assert back.status == "failed"
    assert back.steps_done == []
    assert "10%" in (back.reason or "")
    assert sim.traffic("checkout").weights == pytest.approx(after_failover)


async def test_a_failover_holds_the_rollout_of_that_region_until_failback(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    from contracts.rollout import RolloutRequest

    pols = policies.model_copy(
        update={"approvals": policies.approvals.model_copy(update={"between_waves": True})}
    )
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        rollout = await start_rollout(
            ts_env.client,
            RolloutRequest(
                service="checkout", release="2.0.0", request_id="held", topology=topology, policies=pols
            ),
        )
        progress = lambda: rollout.query(RegionalRolloutWorkflow.progress)  # noqa: E731
        await poll(ts_env, progress, lambda p: p.waiting_for_approval == "core", step=60)
        sim.inject_outage("eu-west-1")
        failover = await (
            await ts_env.client.start_workflow(
                RegionFailoverWorkflow.run,
                failover_request(topology, pols, "eu-west-1"),
                id="failover:checkout:eu-west-1",
                task_queue="globalops",
            )
        ).result()
        assert failover.status == "succeeded"
        await rollout.execute_update(RegionalRolloutWorkflow.approve, "alice")
        held = await poll(ts_env, progress, lambda p: "holding for failback of eu-west-1" in p.phase, step=60)
        assert "eu-west-1" not in held.deploy_order
        sim.clear_outage("eu-west-1")
        back = await (
            await ts_env.client.start_workflow(
                FailbackWorkflow.run,
                FailbackRequest(
                    service="checkout",
                    region="eu-west-1",
                    backup=failover.to_region or "",
                    original_share=failover.weights_before["eu-west-1"],
                    topology=topology,
                    policies=pols,
                    request_id="fb3",
                ),
                id="failback:checkout:eu-west-1",
                task_queue="globalops",
            )
        ).result()
        assert back.status == "succeeded"
        await poll(ts_env, progress, lambda p: p.waiting_for_approval == "edge", step=60)
        await rollout.execute_update(RegionalRolloutWorkflow.approve, "alice")
        result = await rollout.result()
    assert result.status == "succeeded"
    assert "eu-west-1" in result.deploy_order
    assert sim.region_state("checkout", "eu-west-1").release == "2.0.0"


async def test_monitor_history_stays_bounded_and_sustained_windows_span_continue_as_new(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    bound = 150
    pols = with_failover(policies, history_bound=bound)
    pols = pols.model_copy(
        update={
            "failover": pols.failover.model_copy(
                update={"error_rate": pols.failover.error_rate.model_copy(update={"sustained_for": 120.0})}
            )
        }
    )
    sim.inject_release_fault("1.0.0", error_rate=0.2, regions=["ap-south-1"])  # errors, not an outage
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        monitor = await start_monitor(ts_env, topology, pols)
        try:
            status = await poll(
                ts_env,
                lambda: monitor.query(RegionHealthMonitorWorkflow.status),
                lambda s: "ap-south-1" in s.active,
                step=10,
            )
        finally:
            await stop_monitor(monitor)
    firing = status.firings[-1]
    assert firing.trigger == "error_rate"
    assert (firing.fired_at - firing.first_bad_at).total_seconds() >= 120
    assert status.runs >= 3  # the 120 s window spanned at least two continue-as-new cycles
    assert status.run_lengths and max(status.run_lengths) <= bound + 120  # one probe round past the bound


async def test_a_refused_failover_does_not_hold_the_concurrency_slot(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_outage("eu-west-2")  # UK: no other UK region, so its failover is refused
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        monitor = await start_monitor(ts_env, topology, with_failover(policies, max_concurrent=1))
        try:
            first = await poll(
                ts_env,
                lambda: monitor.query(RegionHealthMonitorWorkflow.status),
                lambda s: s.done.get("eu-west-2") == "refused",
            )
            assert first.active["eu-west-2"]  # still tracked: it is not retried while the region is down
            sim.inject_outage("eu-west-1")
            status = await poll(
                ts_env,
                lambda: monitor.query(RegionHealthMonitorWorkflow.status),
                lambda s: s.done.get("eu-west-1") is not None,
            )
        finally:
            await stop_monitor(monitor)
    assert status.done["eu-west-1"] == "succeeded"
    assert sim.traffic("checkout").weights["eu-west-1"] == 0


async def test_the_monitor_shows_a_blind_region_in_its_details_in_topology_order(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    """A region whose metrics stop has no numbers: its row says so (before, formatting None failed the
    workflow task), and the table lists regions as `sim status` and `health` do."""
    sim.inject_metrics_gap("ap-south-1")
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        monitor = await start_monitor(ts_env, topology, policies)
        try:
            await poll(
                ts_env,
                lambda: monitor.query(RegionHealthMonitorWorkflow.status),
                lambda s: s.probes >= 2 and "ap-south-1" in s.last,
            )
            metadata = await monitor.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        finally:
            await stop_monitor(monitor)
    rows = [line for line in metadata.current_details.splitlines() if line.startswith("| ")][1:]
    assert [row.split("\u2003")[0].removeprefix("| ") for row in rows] == topology.ordered_region_names()
    blind = next(row for row in rows if row.startswith("| ap-south-1"))
    assert blind.split(" | ")[1:4] == ["blind\u2003", "no data\u2003", "no data\u2003"]

"""A flaky cloud API (20 % of calls throttled) does not fail a rollout, a failover or a DR drill.

Temporal retries the throttled calls (workflows/retries.py: CLOUD_RETRY, up to 10 attempts);
the retries are counted from the workflow histories, children included: the attempt number of
each ActivityTaskStarted event (Temporal records one per activity, for its last attempt, so
attempt - 1 retries happened before it), and ActivityTaskFailed events (final failures).
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from contracts.dr import (
    BackupRequest,
    DrillRequest,
)
from contracts.failover import FailoverRequest
from contracts.rollout import RolloutRequest
from tests.helpers.retry_tally import count_retries
from tests.helpers.temporal import make_worker, unique_queue
from workers.client import register_search_attributes
from workflows.backup import BackupWorkflow
from workflows.drill import DrillWorkflow
from workflows.failover import RegionFailoverWorkflow

SERVICE = "checkout"
ERROR_RATE = 0.2


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


@pytest.fixture
def flaky(sim: SimCloud) -> Iterator[SimCloud]:
    """The sim with 20 % of its API calls throttled (cleared before the test looks at the result)."""
    sim.inject_api_fault(ERROR_RATE, throttle=True)
    yield sim
    sim.clear_faults()


def on_queue(topology: Topology, queue: str) -> Topology:
    return topology.model_copy(update={"default_task_queue": queue})


async def test_a_full_16_region_rollout_completes_under_api_throttling(
    ts_env: WorkflowEnvironment,
    flaky: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    topo = on_queue(topology, queue)
    req = RolloutRequest(
        service=SERVICE, release="2.0.0", request_id="faults", topology=topo, policies=policies
    )
    async with make_worker(ts_env.client, flaky, executor, queue):
        handle = await start_rollout(ts_env.client, req)
        result = await handle.result()
    flaky.clear_faults()
    assert result.status == "succeeded", result.reason
    assert len(result.deploy_order) == 16
    assert {row["release"] for row in flaky.status(SERVICE)} == {"2.0.0"}
    tally = await count_retries(ts_env.client, handle.id)
    print(tally.line("rollout"))
    assert tally.retries > 0 and tally.final_failures == 0


async def test_a_failover_completes_under_api_throttling(
    ts_env: WorkflowEnvironment,
    flaky: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    topo = on_queue(topology, queue)
    flaky.inject_outage("eu-west-1")
    wid = f"failover:{SERVICE}:faults-{uuid.uuid4().hex[:6]}"
    req = FailoverRequest(
        service=SERVICE, from_region="eu-west-1", topology=topo, policies=policies, request_id="faults"
    )
    async with make_worker(ts_env.client, flaky, executor, queue):
        report = await ts_env.client.execute_workflow(
            RegionFailoverWorkflow.run, req, id=wid, task_queue=queue
        )
    flaky.clear_faults()
    assert report.status == "succeeded", report.reason
    weights = flaky.traffic(SERVICE).weights
    assert weights["eu-west-1"] == 0 and weights[report.to_region or ""] == pytest.approx(2 / 16)
    tally = await count_retries(ts_env.client, wid)
    print(tally.line("failover"))
    assert tally.retries > 0 and tally.final_failures == 0


async def test_a_backup_and_a_dr_drill_complete_under_api_throttling(
    ts_env: WorkflowEnvironment,
    flaky: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    topo = on_queue(topology, queue)
    # Cleanup and retries are under test, not RPO: the test server's clock may leap between workflows.
    pols = policies.model_copy(
        update={"dr": policies.dr.model_copy(update={"rpo_target": 400 * 365 * 86400.0})}
    )
    regions = ["eu-west-1", "us-east-1"]
    backup_id = f"backup:{SERVICE}:faults-{uuid.uuid4().hex[:6]}"
    drill_id = f"drill:{SERVICE}:faults-{uuid.uuid4().hex[:6]}"
    async with make_worker(ts_env.client, flaky, executor, queue):
        backup = await ts_env.client.execute_workflow(
            BackupWorkflow.run,
            BackupRequest(
                service=SERVICE, topology=topo, policies=pols, regions=regions, request_id="faults"
            ),
            id=backup_id,
            task_queue=queue,
        )
        assert backup.status == "succeeded", backup.reason
        drill = await ts_env.client.execute_workflow(
            DrillWorkflow.run,
            DrillRequest(service=SERVICE, topology=topo, policies=pols, regions=regions, request_id="faults"),
            id=drill_id,
            task_queue=queue,
        )
    flaky.clear_faults()
    assert drill.verdict == "pass", drill.markdown
    assert drill.leftover_resources == 0 and flaky.resources(SERVICE) == []
    tally = await count_retries(ts_env.client, backup_id)
    print(tally.line("backup"))
    drill_tally = await count_retries(ts_env.client, drill_id)
    print(drill_tally.line("drill"))
    assert tally.retries + drill_tally.retries > 0
    assert tally.final_failures == 0 and drill_tally.final_failures == 0

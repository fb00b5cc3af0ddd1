"""The monitor's watch mode (policies `failover.probe_mode: watch`): one long probe activity per task queue.

It probes on the real clock inside the activity (time-skipping cannot skip an activity's own waits), so
these tests use 0.2 s probes: a sustained outage still fails over, a crashed worker's watch resumes
from its last heartbeat and the trigger still fires, and the history holds a handful of activities
for dozens of probe rounds instead of one per region per round plus a timer per round.
"""

from __future__ import annotations

import concurrent.futures
import json
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from config.models import Policies, Topology
from contracts.failover import MonitorInput, MonitorStatus
from tests.helpers.polling import apoll
from tests.helpers.temporal import make_worker, unique_queue
from workers.client import register_search_attributes
from workflows.failover import RegionFailoverWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow

PROBE_S = 0.2


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def watch_policies(policies: Policies, **changes: Any) -> Policies:
    failover = policies.failover.model_copy(
        update={"probe_mode": "watch", "probe_interval": PROBE_S, "watch_heartbeat": 2.0, **changes}
    )
    return policies.model_copy(update={"failover": failover})


async def start_monitor(
    env: WorkflowEnvironment, topology: Topology, policies: Policies, queue: str
) -> WorkflowHandle[RegionHealthMonitorWorkflow, MonitorStatus]:
    return await env.client.start_workflow(
        RegionHealthMonitorWorkflow.run,
        MonitorInput(service="checkout", topology=topology, policies=policies),
        id=f"monitor:checkout:{queue}",
        task_queue=queue,
    )


async def test_watch_fails_over_on_a_sustained_outage_with_a_few_activities_and_no_timers(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    topology = topology.model_copy(update={"default_task_queue": queue})
    async with make_worker(ts_env.client, sim, executor, queue):
        monitor = await start_monitor(ts_env, topology, watch_policies(policies), queue)
        await apoll(lambda: _probed(monitor, 1), "the first probe round", limit_s=60)
        sim.inject_outage("eu-west-1")
        fired = await apoll(lambda: _active(monitor, "eu-west-1"), "the outage to fire", limit_s=60)
        report = await ts_env.client.get_workflow_handle_for(
            RegionFailoverWorkflow.run, fired.active["eu-west-1"]
        ).result()
        # The watch keeps probing inside its one activity; its heartbeats carry the count.
        await apoll(lambda: _watching(monitor, fired.probes + 15), "15 more rounds in one watch", limit_s=60)
        sim.clear_outage("eu-west-1")  # ready again: a readiness change ends the watch, the count comes back
        await apoll(lambda: _probed(monitor, fired.probes + 15), "the watch to report its rounds", limit_s=60)
        await monitor.execute_update(RegionHealthMonitorWorkflow.stop)
        final = await monitor.result()
        history = await monitor.fetch_history()
    assert report.status == "succeeded", report.reason
    assert sim.traffic("checkout").weights["eu-west-1"] == 0
    firing = final.firings[-1]
    assert (firing.region, firing.trigger) == ("eu-west-1", "probe_failures")
    kinds = [e.event_type for e in history.events]
    scheduled = kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    # First round (baseline), readiness change ready → unhealthy, the firing, then watches that end on
    # the stop or on the region's own changes; never one per region per round.
    assert final.probes >= fired.probes + 15 >= 19
    assert scheduled <= 6, scheduled
    assert kinds.count(EventType.EVENT_TYPE_TIMER_STARTED) == 0


async def _probed(monitor: WorkflowHandle[Any, MonitorStatus], n: int) -> MonitorStatus | None:
    """The status once the monitor has folded in at least `n` probe rounds; None before."""
    status = await monitor.query(RegionHealthMonitorWorkflow.status)
    return status if status.probes >= n else None


async def _watching(monitor: WorkflowHandle[Any, MonitorStatus], n: int) -> bool:
    """True once the running watch has heartbeated a count of at least `n` probe rounds."""
    desc = await monitor.describe()
    for pending in desc.raw_description.pending_activities:
        for payload in pending.heartbeat_details.payloads:
            if json.loads(payload.data).get("probes", 0) >= n:
                return True
    return False


async def _active(monitor: WorkflowHandle[Any, MonitorStatus], region: str) -> MonitorStatus | None:
    status = await monitor.query(RegionHealthMonitorWorkflow.status)
    return status if region in status.active else None

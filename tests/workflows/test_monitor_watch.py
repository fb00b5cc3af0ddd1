"""The monitor's watch mode (policies `failover.probe_mode: watch`): one long probe activity per task queue.

It probes on the real clock inside the activity (time-skipping cannot skip an activity's own waits), so
these tests use 0.2 s probes: a sustained outage still fails over, a crashed worker's watch resumes
from its last heartbeat and the trigger still fires, and the history holds a handful of activities
for dozens of probe rounds instead of one per region per round plus a timer per round.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.failover import with_watch_heartbeat
from config.models import Policies, Topology
from contracts.failover import MonitorInput, MonitorStatus
from contracts.ids import failover_id
from tests.helpers.polling import apoll
from tests.helpers.temporal import dev_server, make_worker, unique_queue
from workers.client import register_search_attributes
from workflows.failover import RegionFailoverWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow

PROBE_S = 0.2
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


@pytest_asyncio.fixture(scope="module")
async def real_clock_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server for the crash: the test server leaves a dead worker's sticky workflow tasks (and
    queries) waiting, and skips time under a running watch whenever a result is awaited."""
    async with dev_server() as env:
        await register_search_attributes(env.client)
        yield env


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


@pytest.mark.usefixtures("_attributes")
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
        # `monitor status` and `health` fold the running watch's heartbeat in: fresher than the workflow.
        queried = await monitor.query(RegionHealthMonitorWorkflow.status)
        shown = await with_watch_heartbeat(
            ts_env.client, await monitor.describe(), queried.model_copy(deep=True)
        )
        assert queried.probes < fired.probes + 15 <= shown.probes
        assert shown.last["us-east-1"].at > queried.last["us-east-1"].at
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


@contextlib.contextmanager
def worker_process(env: WorkflowEnvironment, queue: str, home: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`globalops worker` on `queue` in its own process (to SIGKILL), on the test server, sharing the sim."""
    environ = {
        **os.environ,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "GLOBALOPS_HOME": str(home),  # its sim is the test's (home/sim.db)
        "GLOBALOPS_METRICS_PORT": "0",
        "GLOBALOPS_STICKY_TIMEOUT": "1",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "cli.main", "worker", "-q", queue, "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, env=environ, cwd=ROOT, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def test_a_worker_killed_mid_watch_loses_no_trigger_the_retry_resumes_from_the_heartbeat(
    real_clock_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
    tmp_path: Path,
) -> None:
    """SIGKILL the worker while a run of failed probes is counting (10 needed), then start another:
    the trigger fires, and its run of failures starts where it started before the crash."""
    queue = unique_queue()
    topology = topology.model_copy(update={"default_task_queue": queue})
    failures = policies.failover.probe_failures.model_copy(update={"consecutive": 10})
    # 0.5 s probes: heartbeats (every 1.6 s) land a few rounds apart, well before the 10th failure.
    pols = watch_policies(policies, probe_failures=failures, probe_interval=0.5)
    assert sim.db_path == tmp_path / "sim.db"
    with worker_process(real_clock_env, queue, tmp_path) as proc:
        monitor = await start_monitor(real_clock_env, topology, pols, queue)
        await apoll(lambda: _probed(monitor, 1), "the first probe round", limit_s=120)
        sim.inject_outage("eu-west-1")
        _, beat, before = await apoll(lambda: _heartbeat(monitor, "eu-west-1", 3), "3 failures counted", 60)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert before["consecutive_failures"] < 10  # killed before the trigger
    async with make_worker(real_clock_env.client, sim, executor, queue):
        # The retry's first heartbeat goes on counting from the last one before the crash (not from 1).
        n = before["consecutive_failures"] + 1
        attempt, _, after = await apoll(lambda: _heartbeat(monitor, "eu-west-1", 1, beat), "the retry", 60)
        wid = failover_id("checkout", "eu-west-1")
        env = real_clock_env
        await apoll(lambda: _exists(env, wid), "the trigger's failover after the crash", limit_s=60)
        request = await _input(real_clock_env.client.get_workflow_handle(wid))
        await monitor.execute_update(RegionHealthMonitorWorkflow.stop)
        await monitor.result()
    assert request["trigger"] == "probe_failures" and request["requested_by"] == "monitor"
    assert attempt >= 2 and after["consecutive_failures"] >= n, (attempt, before, after)
    assert after["failing_since"] == before["failing_since"]
    assert datetime.fromisoformat(request["first_bad_at"]) == datetime.fromisoformat(before["failing_since"])


async def _input(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """A workflow's input as JSON, from the first event of its history."""
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return json.loads(started.input.payloads[0].data)  # type: ignore[no-any-return]


async def _exists(env: WorkflowEnvironment, workflow_id: str) -> bool:
    try:
        await env.client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return True


async def _heartbeat(
    monitor: WorkflowHandle[Any, MonitorStatus], region: str, failures: int, after: datetime | None = None
) -> tuple[int, datetime, dict[str, Any]] | None:
    """(attempt, heartbeat time, trigger state of `region`) of the running watch, once its heartbeat
    (after `after`, if given) counts at least `failures` failed probes of the region; else None."""
    desc = await monitor.describe()
    for pending in desc.raw_description.pending_activities:
        beat = pending.last_heartbeat_time.ToDatetime(tzinfo=UTC)
        if after is not None and beat <= after:
            continue
        for payload in pending.heartbeat_details.payloads:
            state = json.loads(payload.data).get("states", {}).get(region, {})
            if state.get("consecutive_failures", 0) >= failures:
                return pending.attempt, beat, state
    return None


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

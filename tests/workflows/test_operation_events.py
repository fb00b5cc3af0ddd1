"""Operations' notifications and webhook gates, on the time-skipping server against a local receiver.

The real rollout announces its events through Apprise (json://) to tests/helpers/receiver.py and asks
the hooks of each stage there; the receiver answers a path with whatever the test registered.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections import Counter
from functools import partial

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from config.notify import EVENT_NAMES, Hook, Hooks, Notification
from contracts import ids
from contracts.failover import FailoverRequest, MonitorInput
from contracts.notify import NotifyResult
from contracts.rollout import RolloutProgress, RolloutRequest
from tests.helpers.polling import rollout_until
from tests.helpers.receiver import Receiver
from tests.helpers.temporal import make_worker, time_skipping_monitor, time_skipping_server, unique_queue
from workers.client import register_search_attributes
from workflows.failover import RegionFailoverWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow
from workflows.rollout import RegionalRolloutWorkflow


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def _request(topology: Topology, policies: Policies) -> RolloutRequest:
    queue = topology.model_copy(update={"default_task_queue": unique_queue()})
    return RolloutRequest(
        service="checkout",
        release="2.0.0",
        request_id=uuid.uuid4().hex[:8],
        topology=queue,
        policies=policies,
    )


def _with(policies: Policies, rx: Receiver, **hooks: list[Hook]) -> Policies:
    sink = Notification.model_validate({"url": rx.url("/events", scheme="json"), "events": list(EVENT_NAMES)})
    return policies.model_copy(update={"notifications": [sink], "hooks": Hooks(**hooks)})


def _releases(sim: SimCloud) -> set[str]:
    return {row["release"] for row in sim.status("checkout")}


_wait = partial(rollout_until, live=None)


async def _delivered(env: WorkflowEnvironment, rx: Receiver, key: str, *kinds: str) -> Counter[str]:
    """Wait until the NotifyWorkflow of each event `key/kind` is done (each sent); how often each id
    arrived (sinks are independent workflows: their order is not the operation's)."""
    for kind in kinds:
        handle = env.client.get_workflow_handle(
            ids.notification_id(f"{key}/{kind}"), result_type=NotifyResult
        )
        assert (await handle.result()).sent == [0], kind
    return Counter(e["id"] for e in rx.notifications("/events"))


async def _run(
    env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    req: RolloutRequest,
    rx: Receiver,
    kinds: list[str],
    approve: bool = False,
) -> tuple[RolloutProgress, Counter[str]]:
    """Run the rollout; then, still with a worker, wait for the events `kinds` to be sent."""
    async with make_worker(env.client, sim, executor, req.topology.default_task_queue):
        handle = await start_rollout(env.client, req)
        if approve:
            for wave in ("core", "edge"):
                await _wait(env, handle, lambda p, w=wave: p.waiting_for_approval == w)  # type: ignore[misc]
                await handle.execute_update(RegionalRolloutWorkflow.approve, "bob")
        result = await handle.result()
        received = await _delivered(env, rx, f"{ids.rollout_id('checkout')}/{req.request_id}", *kinds)
    return result, received


async def test_a_rollout_announces_each_event_once_by_a_stable_id(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    approvals = policies.approvals.model_copy(update={"between_waves": True})
    with Receiver() as rx:
        pols = _with(policies.model_copy(update={"approvals": approvals}), rx)
        req = _request(topology, pols)
        key = f"{ids.rollout_id('checkout')}/{req.request_id}"
        kinds = ["started", "awaiting_approval/wave-core", "awaiting_approval/wave-edge", "succeeded"]
        result, received = await _run(ts_env, sim, executor, req, rx, kinds, approve=True)
        events = {e["id"]: e for e in rx.notifications("/events")}

    assert result.status == "succeeded"
    assert received == {f"{key}/{kind}": 1 for kind in kinds}  # each exactly once, nothing else
    assert "wave core waits for approval" in events[f"{key}/awaiting_approval/wave-core"]["message"]
    done = events[f"{key}/succeeded"]
    assert (done["kind"], done["status"], done["release"]) == ("succeeded", "succeeded", "2.0.0")


async def test_a_pre_region_hook_that_says_no_rolls_the_rollout_back_naming_the_hook_and_its_answer(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    with Receiver() as rx:
        rx.answer("/change-board", 503, "maintenance window")
        pols = _with(policies, rx, pre_region=[Hook(url=rx.url("/change-board"), timeout=5, retries=0)])
        req = _request(topology, pols)
        key = f"{ids.rollout_id('checkout')}/{req.request_id}"
        result, received = await _run(ts_env, sim, executor, req, rx, ["started", "rolled_back"])
        [asked] = rx.at("/change-board")  # the pilot asked; the rollout stopped there

    assert result.status == "rolled_back"
    assert f"hook pre_region[0] {rx.url('/change-board')}: HTTP 503: maintenance window" in result.reason
    assert asked.json()["region"] == result.deploy_order[0] and asked.json()["step"] == "before-change"
    assert _releases(sim) == {"1.0.0"}
    assert received == {f"{key}/started": 1, f"{key}/rolled_back": 1}


async def test_a_post_batch_hook_that_says_no_restores_the_changed_region(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    with Receiver() as rx:
        rx.answer("/load-test", 409, "p99 regressed")
        pols = _with(policies, rx, post_batch=[Hook(url=rx.url("/load-test"), timeout=5, retries=0)])
        pols = pols.model_copy(update={"strategy": "rolling"})
        result, _ = await _run(ts_env, sim, executor, _request(topology, pols), rx, ["rolled_back"])
        [asked] = rx.at("/load-test")

    assert result.status == "rolled_back"
    assert "webhook gate failed at batch-1" in result.reason and "HTTP 409: p99 regressed" in result.reason
    assert asked.json()["step"] == "batch-1" and asked.json()["stage"] == "post_batch"
    pilot = result.region(result.deploy_order[0])
    assert pilot.batches_done == 1  # a batch changed before the hook said no, and was undone
    assert _releases(sim) == {"1.0.0"}


async def test_a_pre_rollout_hook_that_never_answers_fails_the_rollout_before_any_change(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    with Receiver() as rx:
        rx.hang("/calendar")
        pols = _with(policies, rx, pre_rollout=[Hook(url=rx.url("/calendar"), timeout=1, retries=1)])
        req = _request(topology, pols)
        key = f"{ids.rollout_id('checkout')}/{req.request_id}"
        result, received = await _run(ts_env, sim, executor, req, rx, ["started", "failed"])
        asked = rx.at("/calendar")

    assert result.status == "failed" and result.deploy_order == []
    assert "webhook gate failed before any change" in result.reason
    assert f"hook pre_rollout[0] {rx.url('/calendar')}" in result.reason and "2 attempts" in result.reason
    assert len(asked) == 2 and asked[0].json()["step"] == "pre_rollout"
    assert _releases(sim) == {"1.0.0"}
    assert received == {f"{key}/started": 1, f"{key}/failed": 1}


async def test_a_failover_announces_its_start_and_its_end_once_each(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_outage("eu-west-1")
    queue = unique_queue()
    with Receiver() as rx:
        req = FailoverRequest(
            service="checkout",
            from_region="eu-west-1",
            topology=topology.model_copy(update={"default_task_queue": queue}),
            policies=_with(policies, rx),
            request_id=uuid.uuid4().hex[:8],
        )
        wid = f"failover:checkout:eu-west-1:{req.request_id}"
        key = f"{wid}/{req.request_id}"
        async with make_worker(ts_env.client, sim, executor, queue):
            report = await ts_env.client.execute_workflow(
                RegionFailoverWorkflow.run, req, id=wid, task_queue=queue
            )
            received = await _delivered(ts_env, rx, key, "failover_started", "failover_done")
        events = {e["kind"]: e for e in rx.notifications("/events")}

    assert report.status == "succeeded", report.reason
    assert received == {f"{key}/failover_started": 1, f"{key}/failover_done": 1}
    assert f"eu-west-1 → {report.to_region}" in events["failover_started"]["message"]
    assert (
        events["failover_done"]["status"] == "succeeded" and events["failover_done"]["region"] == "eu-west-1"
    )


async def test_a_monitored_region_turning_unhealthy_is_announced_once(
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    """On a test server of its own: after other tests the shared one skips time slowly here (each
    `sleep` took its length in real time), and the monitor's many probe rounds ran out of time."""
    queue = unique_queue()
    async with time_skipping_server() as ts_env:
        await register_search_attributes(ts_env.client)
        await _announce_readiness(ts_env, sim, executor, topology, policies, queue)


async def _announce_readiness(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
    queue: str,
) -> None:
    with Receiver() as rx:
        sink = Notification.model_validate(
            {"url": rx.url("/events", scheme="json"), "events": ["readiness_changed"]}
        )
        failover = policies.failover
        manual = time_skipping_monitor(  # nothing fails over here
            failover, probe_failures=failover.probe_failures.model_copy(update={"mode": "manual"})
        )
        inp = MonitorInput(
            service="checkout",
            topology=topology.model_copy(update={"default_task_queue": queue}),
            policies=policies.model_copy(update={"notifications": [sink], "failover": manual}),
        )
        async with make_worker(ts_env.client, sim, executor, queue):
            monitor = await ts_env.client.start_workflow(
                RegionHealthMonitorWorkflow.run, inp, id=f"monitor:checkout:{queue}", task_queue=queue
            )
            status = RegionHealthMonitorWorkflow.status
            for _ in range(100):  # a first round finds every region ready: nothing to announce
                if (await monitor.query(status)).probes >= 1:
                    break
                await ts_env.sleep(5)
            sim.inject_outage("eu-west-1")
            for _ in range(100):
                last = (await monitor.query(status)).last["eu-west-1"]
                if not last.ok:
                    break
                await ts_env.sleep(5)
            probes = (await monitor.query(status)).probes
            await ts_env.sleep(inp.policies.failover.probe_interval * 3)  # more rounds, still unhealthy
            await monitor.execute_update(RegionHealthMonitorWorkflow.stop)
            await monitor.result()
            first_run = (await monitor.describe()).run_id
            event_id = f"monitor:checkout:{queue}/{first_run}/readiness_changed/eu-west-1/probe-{probes - 1}"
            await ts_env.client.get_workflow_handle(ids.notification_id(event_id)).result()
        events = rx.notifications("/events")

    assert [e["id"] for e in events] == [event_id]  # one change, one event; other regions stayed ready
    assert events[0]["status"] == "unhealthy" and "eu-west-1: ready → unhealthy" in events[0]["message"]

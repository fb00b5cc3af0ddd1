"""Freezes and change windows on the time-skipping server, real activities on a real sim.

A freeze stops a running rollout at its next safe point (it changes nothing while frozen) and the
rollout goes on by itself when the freeze ends or its --until passes; a rollout started during a
freeze waits; emergencies are held only by a freeze with `all`. A region whose change window is
closed in its own time zone waits while the others go on, and is deployed when it opens.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.change import DAYS, ChangeWindow
from config.models import Policies, Topology
from config.notify import Notification
from contracts import ids
from contracts.change import FreezeEnd, FreezeRequest, RegistryState
from contracts.ids import FREEZE_REGISTRY_ID
from contracts.rollout import RolloutRequest
from tests.helpers.polling import rollout_until
from tests.helpers.receiver import Receiver
from tests.helpers.temporal import make_worker, unique_queue
from workers.client import register_search_attributes
from workflows.freezes import FreezeRegistryWorkflow
from workflows.rollout import RegionalRolloutWorkflow

QUEUE = unique_queue()  # this module's own: no other module's worker can take its tasks
BERLIN = "eu-west-2"  # an edge region, given Europe/Berlin as its time zone here


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> AsyncIterator[None]:
    await register_search_attributes(ts_env.client)
    yield
    # No registry outlives its test: the next test's worker would find it bound to a stopped one.
    with contextlib.suppress(Exception):  # none was started
        await ts_env.client.get_workflow_handle(FREEZE_REGISTRY_ID).terminate("test over")


async def registry(env: WorkflowEnvironment) -> WorkflowHandle[FreezeRegistryWorkflow, None]:
    """The freeze registry, started for the test (what `freeze start` does with update-with-start)."""
    return await env.client.start_workflow(
        FreezeRegistryWorkflow.run, RegistryState(), id=FREEZE_REGISTRY_ID, task_queue=QUEUE
    )


def request(topology: Topology, policies: Policies) -> RolloutRequest:
    return RolloutRequest(
        service="checkout",
        release="2.0.0",
        request_id="change",
        topology=topology.model_copy(update={"default_task_queue": QUEUE}),
        policies=policies,
    )


wait_until = partial(rollout_until, live=("running", "frozen"), rounds=5000)


async def test_a_freeze_stops_a_running_rollout_at_its_next_safe_point_and_ending_it_goes_on(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    with Receiver() as rx:
        sink = Notification.model_validate(
            {"url": rx.url("/events", scheme="json"), "events": ["frozen", "unfrozen"]}
        )
        policies = policies.model_copy(update={"notifications": [sink]})
        async with make_worker(ts_env.client, sim, executor, QUEUE):
            reg = await registry(ts_env)
            handle = await start_rollout(ts_env.client, request(topology, policies))
            await wait_until(ts_env, handle, lambda p: p.current_wave == "core" and len(p.deploy_order) >= 1)
            freeze = await reg.execute_update(
                FreezeRegistryWorkflow.start_freeze,
                FreezeRequest(reason="payment incident", services=["checkout"], by="alice"),
            )
            frozen = await wait_until(ts_env, handle, lambda p: p.status == "frozen", step=10)
            assert frozen.frozen == f"frozen by {freeze.id} (payment incident, by alice)"
            deployed = list(frozen.deploy_order)
            ledger = sim.ledger_size()
            await ts_env.sleep(timedelta(hours=6))  # frozen: hours pass and nothing changes
            still = await handle.query(RegionalRolloutWorkflow.progress)
            assert still.status == "frozen" and still.deploy_order == deployed
            assert sim.ledger_size() == ledger
            listed = await reg.query(FreezeRegistryWorkflow.listing)
            assert [f.id for f in listed] == [freeze.id] and listed[0].ended_at is None
            ended = await reg.execute_update(
                FreezeRegistryWorkflow.end_freeze, FreezeEnd(id=freeze.id, by="bob")
            )
            assert ended.ended_by == "bob" and ended.ended_at is not None
            result = await handle.result()
            for kind in ("frozen", "unfrozen"):  # announced once each, with the freeze's reason
                event_id = f"rollout:checkout/change/{kind}/freeze-1"
                await ts_env.client.get_workflow_handle(ids.notification_id(event_id)).result()
    assert result.status == "succeeded", result.reason
    assert result.frozen is None
    assert {row["release"] for row in sim.status("checkout")} == {"2.0.0"}
    events = rx.notifications("/events")
    assert sorted(e["id"].rsplit("/", 2)[1] for e in events) == ["frozen", "unfrozen"]
    assert any("payment incident" in e["message"] for e in events if e["kind"] == "frozen")


async def test_a_rollout_started_during_a_freeze_waits_frozen_until_the_freeze_expires(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    async with make_worker(ts_env.client, sim, executor, QUEUE):
        reg = await registry(ts_env)
        until = (await ts_env.get_current_time()) + timedelta(days=2)  # the test server's own clock
        await reg.execute_update(
            FreezeRegistryWorkflow.start_freeze,
            FreezeRequest(reason="holiday", regions=["us-east-1"], until=until, by="carol"),
        )
        handle = await start_rollout(ts_env.client, request(topology, policies))
        frozen = await wait_until(ts_env, handle, lambda p: p.status == "frozen", step=5)
        assert frozen.deploy_order == []  # the pilot us-east-1 is covered: nothing deployed
        assert "holiday, by carol" in (frozen.frozen or "")
        result = await handle.result()  # the freeze's --until passes: the rollout goes on by itself
    assert result.status == "succeeded", result.reason
    assert result.started_at is not None and result.finished_at is not None
    assert result.finished_at >= until


async def test_emergencies_are_held_only_by_a_freeze_that_says_all(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    from contracts.failover import FailoverRequest
    from workflows.failover import RegionFailoverWorkflow

    sim.inject_outage("eu-west-1")
    failover = FailoverRequest(
        service="checkout",
        from_region="eu-west-1",
        topology=topology.model_copy(update={"default_task_queue": QUEUE}),
        policies=policies,
        request_id="fo",
    )
    async with make_worker(ts_env.client, sim, executor, QUEUE):
        reg = await registry(ts_env)
        routine = await reg.execute_update(
            FreezeRegistryWorkflow.start_freeze, FreezeRequest(reason="release freeze", by="alice")
        )
        report = await ts_env.client.execute_workflow(
            RegionFailoverWorkflow.run, failover, id="failover:checkout:eu-west-1:a", task_queue=QUEUE
        )
        assert report.status == "succeeded"  # an emergency: a routine freeze does not hold it
        await reg.execute_update(FreezeRegistryWorkflow.end_freeze, FreezeEnd(id=routine.id, by="alice"))
        sim.clear_outage("eu-west-1")
        sim.set_traffic(
            "checkout",
            {
                "eu-west-1": report.weights_before["eu-west-1"],
                report.to_region or "": report.weights_before[report.to_region or ""],
            },
            "back",
        )
        sim.inject_outage("eu-west-1")
        everything = await reg.execute_update(
            FreezeRegistryWorkflow.start_freeze, FreezeRequest(reason="all hands", all=True, by="dave")
        )
        handle = await ts_env.client.start_workflow(
            RegionFailoverWorkflow.run, failover, id="failover:checkout:eu-west-1:b", task_queue=QUEUE
        )
        for _ in range(300):
            held = await handle.query(RegionFailoverWorkflow.report)
            if held.phase.startswith("frozen by"):
                break
            await ts_env.sleep(5)
        assert held.phase == f"frozen by {everything.id} (all hands, by dave)", held.phase
        assert held.weights_after == {}  # nothing moved while frozen
        await reg.execute_update(FreezeRegistryWorkflow.end_freeze, FreezeEnd(id=everything.id, by="dave"))
        assert (await handle.result()).status == "succeeded"


async def test_a_region_whose_change_window_is_closed_waits_while_the_others_go_on(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    today = (await ts_env.get_current_time()).astimezone(berlin)  # the test server's own clock
    # Closed all of today, tomorrow and the day after in Berlin: the edge wave comes within hours.
    days = [DAYS[(today.weekday() + n) % 7] for n in range(3)]
    opens = datetime(today.year, today.month, today.day, tzinfo=berlin) + timedelta(days=3)
    closed = ChangeWindow.model_validate(
        {"days": days, "from": "00:00", "to": "24:00", "regions": [BERLIN], "reason": "Berlin freeze days"}
    )
    regions = [
        r.model_copy(update={"time_zone": "Europe/Berlin"}) if r.name == BERLIN else r
        for r in topology.regions
    ]
    topo = topology.model_copy(update={"regions": regions})
    pols = policies.model_copy(update={"change_windows": [closed]})
    async with make_worker(ts_env.client, sim, executor, QUEUE):
        handle = await start_rollout(ts_env.client, request(topo, pols))
        waiting = await wait_until(ts_env, handle, lambda p: BERLIN in p.held)
        detail = waiting.region(BERLIN).detail
        assert detail.startswith("change window closed until "), detail
        assert f"{opens:%a %Y-%m-%d} 00:00" in detail and "(Europe/Berlin)" in detail
        others = await wait_until(
            ts_env,
            handle,
            lambda p: (
                all(p.region(r).status == "succeeded" for r in p.deploy_order if r != BERLIN)
                and len(p.deploy_order) == len(topology.regions) - 1
            ),
        )
        assert BERLIN not in others.deploy_order  # held, not deployed
        result = await handle.result()  # the window opens: the region is deployed, nothing skipped
    assert result.status == "succeeded", result.reason
    assert result.deploy_order[-1] == BERLIN and result.skipped == []
    assert result.finished_at is not None and result.finished_at >= opens

"""Rollout workflows on the time-skipping test server, with the real activities on a real sim."""

from __future__ import annotations

import concurrent.futures
from functools import partial

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import AlreadyRunning, start_rollout
from cli.render import seed_hint
from config.models import Policies, ServiceConfig, Topology
from contracts.rollout import (
    RolloutProgress,
    RolloutRequest,
)
from tests.helpers.polling import rollout_until
from tests.helpers.temporal import make_worker
from workers.client import register_search_attributes
from workflows.rollout import RegionalRolloutWorkflow

CORE = [
    "us-east-1",
    "us-west-2",
    "us-central1",
    "eu-west-1",
    "eu-central-1",
    "europe-west1",
    "ap-southeast-1",
    "ap-northeast-1",
]


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def request(
    topology: Topology, policies: Policies, release: str = "2.0.0", rid: str = "t1"
) -> RolloutRequest:
    queue_topology = topology.model_copy(update={"default_task_queue": "globalops"})
    return RolloutRequest(
        service="checkout", release=release, request_id=rid, topology=queue_topology, policies=policies
    )


def releases(sim: SimCloud) -> dict[str, str]:
    return {row["region"]: row["release"] for row in sim.status("checkout")}


wait_until = partial(rollout_until, live=None)


async def run_rollout(
    env: WorkflowEnvironment, sim: SimCloud, executor: concurrent.futures.Executor, req: RolloutRequest
) -> RolloutProgress:
    async with make_worker(env.client, sim, executor, "globalops"):
        handle = await start_rollout(env.client, req)
        return await handle.result()


async def test_happy_path_runs_waves_in_order_and_honours_bakes(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    result = await run_rollout(ts_env, sim, executor, request(topology, policies))

    assert result.status == "succeeded", result.reason
    assert result.previous_release == "1.0.0"
    assert set(releases(sim).values()) == {"2.0.0"}
    assert all(r.status == "succeeded" and r.release == "2.0.0" for r in result.regions)
    # validate → core (pilot alone first) → edge
    assert result.deploy_order[0] == "us-east-1"
    assert set(result.deploy_order[:8]) == set(CORE)
    assert not set(result.deploy_order[8:]) & set(CORE)
    # Bakes were honoured in workflow time (pilot 1 h + core 2 h + edge 1 h) without real waiting.
    assert result.started_at and result.finished_at
    elapsed = (result.finished_at - result.started_at).total_seconds()
    assert elapsed >= policies.pilot_bake + policies.bake_for("core") + policies.bake_for("edge")
    assert all(g.passed for r in result.regions for g in r.gates)


@pytest.mark.parametrize(
    ("policy", "expected_status"),
    [("rollback_all", "rolled_back"), ("rollback_wave", "rolled_back"), ("halt", "failed")],
)
async def test_edge_failure_compensates_in_reverse_per_policy(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
    policy: str,
    expected_status: str,
) -> None:
    sim.inject_release_fault("3.0.0", error_rate=0.2, regions=["ap-south-1"])
    pols = policies.model_copy(update={"rollback_policy": policy})
    result = await run_rollout(ts_env, sim, executor, request(topology, pols, "3.0.0", f"p-{policy}"))

    assert result.status == expected_status
    assert result.region("ap-south-1").status == "rolled_back"
    assert "ap-south-1" in (result.reason or "")
    now = releases(sim)
    assert now["ap-south-1"] == "1.0.0"
    touched = result.deploy_order
    assert touched[:8] and set(touched[:8]) == set(CORE)  # core ran before edge
    edge_touched = [r for r in touched if r not in CORE]
    if policy == "rollback_all":
        assert result.compensation_order == list(reversed(touched))
        assert set(now.values()) == {"1.0.0"}
    elif policy == "rollback_wave":
        assert result.compensation_order == list(reversed(edge_touched))
        assert all(now[r] == "3.0.0" for r in CORE)
        assert all(now[r] == "1.0.0" for r in edge_touched)
    else:
        assert result.compensation_order == []
        assert all(now[r] == "3.0.0" for r in CORE)


async def test_approval_gate_waits_then_continues(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    pols = policies.model_copy(
        update={"approvals": policies.approvals.model_copy(update={"between_waves": True})}
    )
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await start_rollout(ts_env.client, request(topology, pols, rid="appr"))
        waiting = await wait_until(ts_env, handle, lambda p: p.waiting_for_approval == "core")
        assert waiting.deploy_order == []
        assert set(releases(sim).values()) == {"1.0.0"}
        await handle.execute_update(RegionalRolloutWorkflow.approve, "alice")
        await wait_until(ts_env, handle, lambda p: p.waiting_for_approval == "edge")
        assert set(releases(sim)[r] for r in CORE) == {"2.0.0"}
        await handle.execute_update(RegionalRolloutWorkflow.approve, "bob")
        result = await handle.result()
    assert result.status == "succeeded"
    assert result.approvals == ["core by alice", "edge by bob"]


async def test_approve_is_rejected_when_nothing_waits(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await start_rollout(ts_env.client, request(topology, policies, rid="noappr"))
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update(RegionalRolloutWorkflow.approve, "alice")
        assert "nothing is waiting for approval" in str(info.value.cause)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(RegionalRolloutWorkflow.resume)
        result = await handle.result()
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):  # finished: nothing to steer
            await handle.execute_update(RegionalRolloutWorkflow.abort, "too late")
    assert result.status == "succeeded"


async def test_pause_holds_new_regions_until_resume(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await start_rollout(ts_env.client, request(topology, policies, rid="pause"))
        await handle.execute_update(RegionalRolloutWorkflow.pause)
        held = await wait_until(
            ts_env, handle, lambda p: p.current_wave == "core" and all(r.status == "ready" for r in p.regions)
        )
        assert held.paused and held.deploy_order == []
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(RegionalRolloutWorkflow.pause)
        await handle.execute_update(RegionalRolloutWorkflow.resume)
        result = await handle.result()
    assert result.status == "succeeded"
    assert set(releases(sim).values()) == {"2.0.0"}


async def test_abort_compensates_every_changed_region(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    pols = policies.model_copy(
        update={"approvals": policies.approvals.model_copy(update={"between_waves": True})}
    )
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await start_rollout(ts_env.client, request(topology, pols, rid="abort"))
        await wait_until(ts_env, handle, lambda p: p.waiting_for_approval == "core")
        await handle.execute_update(RegionalRolloutWorkflow.approve, "alice")
        progress = await wait_until(ts_env, handle, lambda p: p.waiting_for_approval == "edge")
        assert set(releases(sim)[r] for r in CORE) == {"2.0.0"}
        await handle.execute_update(RegionalRolloutWorkflow.abort, "bad metrics seen by a human")
        result = await handle.result()
    assert result.status == "aborted"
    assert result.reason == "bad metrics seen by a human"
    assert result.compensation_order == list(reversed(progress.deploy_order))
    assert set(releases(sim).values()) == {"1.0.0"}


async def test_a_second_start_for_the_same_service_is_refused(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    pols = policies.model_copy(
        update={"approvals": policies.approvals.model_copy(update={"between_waves": True})}
    )
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await start_rollout(ts_env.client, request(topology, pols, rid="dup1"))
        await wait_until(ts_env, handle, lambda p: p.waiting_for_approval == "core")
        with pytest.raises(AlreadyRunning):
            await start_rollout(ts_env.client, request(topology, pols, "9.9.9", rid="dup2"))
        await handle.execute_update(RegionalRolloutWorkflow.abort, "test over")
        result = await handle.result()
    assert result.status == "aborted"
    assert result.release == "2.0.0"
    assert set(releases(sim).values()) == {"1.0.0"}


async def test_preflight_failure_changes_nothing(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_outage("sa-east-1")
    result = await run_rollout(ts_env, sim, executor, request(topology, policies, rid="pre"))
    assert result.status == "failed"
    assert "sa-east-1" in (result.reason or "")
    assert result.deploy_order == []
    sim.clear_faults()
    assert set(releases(sim).values()) == {"1.0.0"}


async def test_api_throttling_is_retried_by_temporal(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.inject_api_fault(0.2, throttle=True)
    result = await run_rollout(ts_env, sim, executor, request(topology, policies, rid="thr"))
    assert result.status == "succeeded", result.reason
    sim.clear_faults()
    assert set(releases(sim).values()) == {"2.0.0"}


async def test_region_activities_go_to_the_region_task_queue(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    eu = {"eu-west-1", "eu-central-1", "europe-west1"}
    regions = [
        r.model_copy(update={"task_queue": "region-eu"}) if r.name in eu else r for r in topology.regions
    ]
    pinned = topology.model_copy(update={"regions": regions})
    async with (
        make_worker(ts_env.client, sim, executor, "globalops"),
        make_worker(ts_env.client, sim, executor, "region-eu"),
    ):
        handle = await start_rollout(ts_env.client, request(pinned, policies, rid="queues"))
        result = await handle.result()
    assert result.status == "succeeded"
    for region, expected in (("eu-west-1", "region-eu"), ("us-east-1", "globalops")):
        child = ts_env.client.get_workflow_handle(f"rollout:checkout/{region}")
        queues = {
            e.activity_task_scheduled_event_attributes.task_queue.name
            async for e in child.fetch_history_events()
            if e.HasField("activity_task_scheduled_event_attributes")
        }
        assert queues == {expected}


@pytest.mark.parametrize("four_eyes", [True, False])
async def test_four_eyes_refuses_the_starter_as_approver_and_records_who_approved(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
    four_eyes: bool,
) -> None:
    approvals = policies.approvals.model_copy(update={"between_waves": True, "four_eyes": four_eyes})
    pols = policies.model_copy(update={"approvals": approvals})
    req = request(topology, pols, rid=f"eyes-{four_eyes}").model_copy(update={"requested_by": "alice"})
    async with make_worker(ts_env.client, sim, executor, "globalops"):
        handle = await start_rollout(ts_env.client, req)
        await wait_until(ts_env, handle, lambda p: p.waiting_for_approval == "core")
        if four_eyes:
            for same_person in ("alice", " Alice "):
                with pytest.raises(WorkflowUpdateFailedError) as info:
                    await handle.execute_update(RegionalRolloutWorkflow.approve, same_person)
                refusal = "four-eyes rule: the approver must differ from the starter alice"
                assert refusal in str(info.value.cause)
            still = await handle.query(RegionalRolloutWorkflow.progress)
            assert still.waiting_for_approval == "core" and still.approvals == []  # nothing changed
            approver = "bob"
        else:
            approver = "alice"  # without the rule, the starter may approve her own rollout
        assert await handle.execute_update(RegionalRolloutWorkflow.approve, approver) == (
            f"wave core approved by {approver}"
        )
        progress = await wait_until(ts_env, handle, lambda p: p.waiting_for_approval == "edge")
        assert progress.approvals == [f"core by {approver}"]  # the approver's identity is recorded
        await handle.execute_update(RegionalRolloutWorkflow.abort, "test over")
        result = await handle.result()
    assert result.status == "aborted"
    assert result.approvals == [f"core by {approver}"]


async def test_a_service_the_sim_never_seeded_fails_preflight_naming_the_command_that_seeds_it(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    """A topology of the user's own: the worker's sim holds only the shipped services. Preflight
    fails in every region with the command that seeds the sim, nothing changes, and after that
    command (here: the same seeding, in process) the same rollout succeeds."""
    payments = topology.model_copy(
        update={"services": [ServiceConfig(name="payments", initial_release="1.0.0")]}
    )
    req = request(payments, policies).model_copy(update={"service": "payments", "request_id": "unseeded"})
    before = sim.inventory()

    result = await run_rollout(ts_env, sim, executor, req)

    assert (result.status, result.deploy_order) == ("failed", [])
    assert all(
        o.status == "failed"
        and "was never seeded" in o.detail
        and "globalops sim seed --topology" in o.detail
        for o in result.regions
    )
    assert sim.inventory() == before  # nothing was changed
    hint = seed_hint(result, "payments.yaml")
    assert hint is not None and hint.count("\n") == 0
    assert hint.startswith(f"the simulated cloud has never run 'payments' in {CORE[0]}, {CORE[1]}, ")
    assert hint.endswith(
        "seed it with `globalops sim seed --topology payments.yaml`, then start the rollout again"
    )

    assert sim.seed_topology(payments) == {"payments": payments.region_names()}
    again = await run_rollout(ts_env, sim, executor, req.model_copy(update={"request_id": "seeded"}))
    assert again.status == "succeeded", again.reason
    assert {row["release"] for row in sim.status("payments")} == {"2.0.0"}

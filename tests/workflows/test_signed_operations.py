"""Signed promote, failover approve and freeze end on the time-skipping server (issue 20).

Each operation requires signatures (policies' approvals: require_signature, four_eyes, alice and bob
as approvers; alice started it): the unsigned update (what the Web UI sends) and every forged,
misdirected, stale, replayed or starter-signed approval is refused by the update's validator with
its reason and nothing changes; bob's good signature is taken and recorded.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from config.models import ApprovalPolicy, Approver, Policies, Topology
from config.strategies import CanaryStep
from contracts import ids
from contracts.approvals import SignedApproval, public_key_text, sign
from contracts.change import FreezeEnd, FreezeRequest, RegistryState
from contracts.failover import MonitorInput
from contracts.rollout import RegionDeployInput, RegionOutcome
from tests.helpers.temporal import make_worker, time_skipping_monitor, unique_queue
from workers.client import register_search_attributes
from workflows.freezes import FreezeRegistryWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow
from workflows.region_deployment import FULL, RegionDeploymentWorkflow

ALICE, BOB, EVE = (Ed25519PrivateKey.generate() for _ in range(3))
APPROVALS = ApprovalPolicy(
    four_eyes=True,
    require_signature=True,
    approvers=[
        Approver(name="alice", public_key=public_key_text(ALICE)),
        Approver(name="bob", public_key=public_key_text(BOB)),
    ],
)
Send = Callable[[SignedApproval], Awaitable[Any]]


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> AsyncIterator[None]:
    await register_search_attributes(ts_env.client)
    yield
    with contextlib.suppress(Exception):  # no registry outlives its test (only the freeze test starts one)
        await ts_env.client.get_workflow_handle(ids.FREEZE_REGISTRY_ID).terminate("test over")


def _signing(policies: Policies) -> Policies:
    return policies.model_copy(update={"approvals": APPROVALS})


async def _approval(
    env: WorkflowEnvironment, wid: str, step: str, key: Ed25519PrivateKey = BOB, **changes: Any
) -> SignedApproval:
    """Bob's approval of `step` of the workflow `wid`, signed now (by `key`), with a fresh nonce."""
    fields: dict[str, Any] = {
        "approver": "bob",
        "workflow_id": wid,
        "step": step,
        "signed_at": await env.get_current_time(),
        "nonce": uuid.uuid4().hex,
    }
    return sign(key, SignedApproval.model_validate(fields | changes))


async def _refused(call: Awaitable[Any], reason: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await call
    assert reason in str(info.value.cause), info.value.cause


async def _forgeries_refused(env: WorkflowEnvironment, send: Send, wid: str, step: str) -> None:
    """Every approval that is not bob's own, for this operation and step, now, is refused with its reason."""
    await _refused(
        send(await _approval(env, wid, step, EVE, approver="eve")),
        "'eve' is not an approver of these policies (approvals.approvers: alice, bob)",
    )
    await _refused(
        send(await _approval(env, wid, step, EVE)), "the signature does not match bob's public key"
    )
    tampered = (await _approval(env, wid, step)).model_copy(update={"nonce": "changed"})
    await _refused(send(tampered), "the signature does not match bob's public key")
    await _refused(
        send(await _approval(env, wid, step, workflow_id="other:op")), f"for other:op, not for {wid}"
    )
    now = await env.get_current_time()
    for minutes in (-10, 10):
        stale = await _approval(env, wid, step, signed_at=now + timedelta(minutes=minutes))
        await _refused(send(stale), "this approval is stale")
    await _refused(
        send(await _approval(env, wid, step, ALICE, approver="alice")),
        "four-eyes rule: the approver must differ from the starter alice",
    )


# ----- promote ---------------------------------------------------------------------------------------


async def _waiting(
    env: WorkflowEnvironment, handle: WorkflowHandle[RegionDeploymentWorkflow, RegionOutcome], not_: str = ""
) -> str:
    """What the deploy waits for (another than `not_`), moving the test clock a few seconds at a time."""
    for _ in range(3000):
        progress = await handle.query(RegionDeploymentWorkflow.progress)
        if progress is not None and progress.waiting_for not in (None, not_):
            return progress.waiting_for
        await env.sleep(5)
    raise AssertionError("the deploy never waited for promote")


async def test_signed_promote_refuses_every_bad_approval_and_takes_bobs(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    pause = CanaryStep(pause={})  # waits for promote, without end
    steps = [CanaryStep(set_weight=5), pause, CanaryStep(set_weight=50), pause, CanaryStep(set_weight=100)]
    pols = _signing(policies)
    pols = pols.model_copy(update={"canary": pols.canary.model_copy(update={"steps": steps})})
    inp = RegionDeployInput(
        service="checkout",
        release="2.0.0",
        region=topology.region("us-east-1"),
        task_queue=queue,
        wave=topology.wave_of("us-east-1"),
        policies=pols,
        key_prefix=f"deploy:signed/{uuid.uuid4().hex[:8]}",
        strategy="canary",
        requested_by="alice",
    )
    async with make_worker(ts_env.client, sim, executor, queue):
        handle = await ts_env.client.start_workflow(
            RegionDeploymentWorkflow.run, inp, id=f"deploy:signed-{uuid.uuid4().hex[:6]}", task_queue=queue
        )
        first = await _waiting(ts_env, handle)

        def send(approval: SignedApproval) -> Awaitable[str]:
            return handle.execute_update(RegionDeploymentWorkflow.promote_signed, approval)

        for full in (False, True):  # the Web UI's promote, either kind
            await _refused(
                handle.execute_update(RegionDeploymentWorkflow.promote, full),
                "this deploy requires a signed approval: globalops deploy promote signs with your key",
            )
        await _forgeries_refused(ts_env, send, handle.id, first)
        await _refused(send(await _approval(ts_env, handle.id, "bake at 50%")), f"but step {first} waits")
        still = await handle.query(RegionDeploymentWorkflow.progress)
        assert still is not None and still.waiting_for == first and still.overrides == []

        good = await _approval(ts_env, handle.id, first)
        assert await send(good) == f"us-east-1: promoted past '{first}' by bob"
        second = await _waiting(ts_env, handle, not_=first)
        await _refused(send(sign(BOB, good.model_copy(update={"step": second}))), "replay refused")
        assert await send(await _approval(ts_env, handle.id, FULL)) == (
            "us-east-1: full promotion by bob (remaining steps and analysis skipped)"
        )
        result = await handle.result()
    assert result.status == "succeeded"
    assert f"promoted past '{first}' by bob (signed)" in result.overrides
    assert "promote --full approved by bob (signed)" in result.overrides


# ----- failover approve ------------------------------------------------------------------------------


async def test_signed_failover_approval_refuses_every_bad_approval_and_takes_bobs(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    failover = policies.failover
    manual = time_skipping_monitor(
        failover, probe_failures=failover.probe_failures.model_copy(update={"mode": "manual"})
    )
    inp = MonitorInput(
        service="checkout",
        topology=topology.model_copy(update={"default_task_queue": queue}),
        policies=_signing(policies).model_copy(update={"failover": manual}),
        requested_by="alice",
    )
    sim.inject_outage("eu-west-1")
    sim.inject_outage("ap-south-1")
    async with make_worker(ts_env.client, sim, executor, queue):
        monitor = await ts_env.client.start_workflow(
            RegionHealthMonitorWorkflow.run, inp, id=f"monitor:checkout:{queue}", task_queue=queue
        )
        for _ in range(300):  # until both manual triggers fire and wait for approval
            status = await monitor.query(RegionHealthMonitorWorkflow.status)
            if {"eu-west-1", "ap-south-1"} <= set(status.pending):
                break
            await ts_env.sleep(5)
        else:
            raise AssertionError("the manual triggers never fired")

        def send(approval: SignedApproval) -> Awaitable[str]:
            return monitor.execute_update(RegionHealthMonitorWorkflow.approve_failover_signed, approval)

        await _refused(
            monitor.execute_update(RegionHealthMonitorWorkflow.approve_failover, "eu-west-1"),
            "this monitor requires a signed approval: globalops failover approve signs with your key",
        )
        await _forgeries_refused(ts_env, send, monitor.id, "eu-west-1")
        await _refused(
            send(await _approval(ts_env, monitor.id, "us-east-1")), "no failover of us-east-1 is waiting"
        )
        still = await monitor.query(RegionHealthMonitorWorkflow.status)
        assert set(still.pending) == {"eu-west-1", "ap-south-1"} and still.active == {}

        good = await _approval(ts_env, monitor.id, "eu-west-1")
        assert await send(good) == "failover of eu-west-1 approved by bob"
        await _refused(send(sign(BOB, good.model_copy(update={"step": "ap-south-1"}))), "replay refused")
        for _ in range(300):  # the monitor starts it at its next round
            status = await monitor.query(RegionHealthMonitorWorkflow.status)
            if "eu-west-1" in status.active:
                break
            await ts_env.sleep(5)
        assert status.active == {"eu-west-1": ids.failover_id("checkout", "eu-west-1")}
        assert set(status.pending) == {"ap-south-1"}  # still waits for its own approval
        await monitor.execute_update(RegionHealthMonitorWorkflow.stop)
        await monitor.result()
        # the failover itself is another test's subject (tests/workflows/test_failover.py)
        await ts_env.client.get_workflow_handle(status.active["eu-west-1"]).terminate("test over")


# ----- freeze end ------------------------------------------------------------------------------------


async def test_signed_freeze_end_refuses_every_bad_approval_and_takes_bobs(
    ts_env: WorkflowEnvironment, sim: SimCloud, executor: concurrent.futures.Executor
) -> None:
    queue = unique_queue()
    wid = ids.FREEZE_REGISTRY_ID
    async with make_worker(ts_env.client, sim, executor, queue):
        registry = await ts_env.client.start_workflow(
            FreezeRegistryWorkflow.run, RegistryState(), id=wid, task_queue=queue
        )

        async def freeze(reason: str) -> str:
            started = await registry.execute_update(
                FreezeRegistryWorkflow.start_freeze,
                FreezeRequest(reason=reason, by="alice", approvals=APPROVALS),
            )
            return started.id

        first = await freeze("incident 4711")

        def send(approval: SignedApproval) -> Awaitable[Any]:
            return registry.execute_update(FreezeRegistryWorkflow.end_freeze_signed, approval)

        await _refused(
            registry.execute_update(FreezeRegistryWorkflow.end_freeze, FreezeEnd(id=first, by="bob")),
            f"freeze '{first}' requires a signed approval: globalops freeze end signs with your key",
        )
        await _forgeries_refused(ts_env, send, wid, first)
        await _refused(send(await _approval(ts_env, wid, "frz-99")), "no freeze 'frz-99'")
        listed = await registry.query(FreezeRegistryWorkflow.listing)
        assert [(f.id, f.ended_at) for f in listed] == [(first, None)]

        good = await _approval(ts_env, wid, first)
        ended = await send(good)
        assert (ended.id, ended.ended_by) == (first, "bob") and ended.ended_at is not None
        await _refused(send(good), f"freeze '{first}' has already ended")
        second = await freeze("incident 4712")
        await _refused(send(sign(BOB, good.model_copy(update={"step": second}))), "replay refused")
        assert (await send(await _approval(ts_env, wid, second))).ended_by == "bob"
        await registry.terminate("test over")

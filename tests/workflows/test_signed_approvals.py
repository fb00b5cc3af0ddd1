"""Signed approvals of a rollout's waves on the time-skipping test server (issue 20, `rollout approve`).

The rollout waits for approval before its core wave; every bad approval is refused by the update's
validator with its reason and the rollout still waits, nothing recorded; a good one is recorded.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Approver, Policies, Topology
from contracts.approvals import SignedApproval, public_key_text, sign
from contracts.rollout import RolloutProgress, RolloutRequest
from tests.helpers.temporal import make_worker, unique_queue
from workers.client import register_search_attributes
from workflows.rollout import RegionalRolloutWorkflow

ALICE, BOB, EVE = (Ed25519PrivateKey.generate() for _ in range(3))

Handle = WorkflowHandle[RegionalRolloutWorkflow, RolloutProgress]


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def _request(topology: Topology, policies: Policies, queue: str, *, require: bool) -> RolloutRequest:
    approvals = policies.approvals.model_copy(
        update={
            "between_waves": True,
            "four_eyes": True,
            "require_signature": require,
            "approvers": [
                Approver(name="alice", public_key=public_key_text(ALICE)),
                Approver(name="bob", public_key=public_key_text(BOB)),
            ],
        }
    )
    return RolloutRequest(
        service="checkout",
        release="2.0.0",
        request_id=f"signed-{uuid.uuid4().hex[:6]}",
        topology=topology.model_copy(update={"default_task_queue": queue}),
        policies=policies.model_copy(update={"approvals": approvals}),
        requested_by="alice",
    )


async def _waiting_for_core(env: WorkflowEnvironment, handle: Handle) -> None:
    for _ in range(3000):
        if (await handle.query(RegionalRolloutWorkflow.progress)).waiting_for_approval == "core":
            return
        await env.sleep(60)
    raise AssertionError("the rollout never waited for approval of core")


async def _approval(env: WorkflowEnvironment, handle: Handle, **changes: Any) -> SignedApproval:
    """A fresh approval of core by bob for this rollout, signed now (by `key`, default bob's)."""
    key = changes.pop("key", BOB)
    fields: dict[str, Any] = {
        "approver": "bob",
        "workflow_id": handle.id,
        "step": "core",
        "signed_at": await env.get_current_time(),
        "nonce": uuid.uuid4().hex,
    }
    return sign(key, SignedApproval.model_validate(fields | changes))


async def _refused(handle: Handle, approval: SignedApproval, reason: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update(RegionalRolloutWorkflow.approve_signed, approval)
    assert reason in str(info.value.cause)


async def test_signed_approvals_refuse_forgery_replay_staleness_and_the_starter_and_record_the_approver(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    req = _request(topology, policies, queue, require=True)
    async with make_worker(ts_env.client, sim, executor, queue):
        handle = await start_rollout(ts_env.client, req)
        await _waiting_for_core(ts_env, handle)

        # unsigned (the Web UI, or any client without a key) is refused when a signature is required
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update(RegionalRolloutWorkflow.approve, "bob")
        assert "this rollout requires a signed approval" in str(info.value.cause)

        signed_at = await ts_env.get_current_time()
        await _refused(
            handle,
            await _approval(ts_env, handle, approver="eve", key=EVE),
            "'eve' is not an approver of these policies (approvals.approvers: alice, bob)",
        )
        await _refused(
            handle, await _approval(ts_env, handle, key=EVE), "the signature does not match bob's public key"
        )
        tampered = (await _approval(ts_env, handle)).model_copy(update={"nonce": "other"})
        await _refused(handle, tampered, "the signature does not match bob's public key")
        await _refused(
            handle,
            await _approval(ts_env, handle, workflow_id="rollout:payments"),
            f"signed for rollout:payments, not for {handle.id}",
        )
        await _refused(
            handle, await _approval(ts_env, handle, step="edge"), "signed for wave edge, but wave core waits"
        )
        for minutes in (-10, 10):
            stale = await _approval(ts_env, handle, signed_at=signed_at + timedelta(minutes=minutes))
            await _refused(handle, stale, "this approval is stale")
        await _refused(
            handle,
            await _approval(ts_env, handle, approver="alice", key=ALICE),
            "four-eyes rule: the approver must differ from the starter alice",
        )

        still = await handle.query(RegionalRolloutWorkflow.progress)
        assert still.waiting_for_approval == "core" and still.approvals == []  # nothing changed

        good = await _approval(ts_env, handle)
        answer = await handle.execute_update(RegionalRolloutWorkflow.approve_signed, good)
        assert answer == "wave core approved by bob"
        progress = await handle.query(RegionalRolloutWorkflow.progress)
        assert progress.approvals == ["core by bob"]

        # the same approval again: a replay (nothing waits for core any more; edge would be another step)
        for _ in range(3000):
            progress = await handle.query(RegionalRolloutWorkflow.progress)
            if progress.waiting_for_approval == "edge":
                break
            await ts_env.sleep(60)
        await _refused(handle, good.model_copy(update={"step": "edge"}), "the signature does not match")
        await _refused(handle, sign(BOB, good.model_copy(update={"step": "edge"})), "replay refused")
        assert (await handle.query(RegionalRolloutWorkflow.progress)).approvals == ["core by bob"]
        await handle.execute_update(RegionalRolloutWorkflow.abort, "test over")
        result = await handle.result()
    assert result.status == "aborted" and result.approvals == ["core by bob"]


async def test_without_require_signature_both_the_plain_and_the_signed_approval_are_taken(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    req = _request(topology, policies, queue, require=False)
    async with make_worker(ts_env.client, sim, executor, queue):
        handle = await start_rollout(ts_env.client, req)
        await _waiting_for_core(ts_env, handle)
        # a signed approval is still checked when signing is optional
        await _refused(handle, await _approval(ts_env, handle, key=EVE), "the signature does not match")
        assert await handle.execute_update(RegionalRolloutWorkflow.approve, "carol") == (
            "wave core approved by carol"
        )
        await handle.execute_update(RegionalRolloutWorkflow.abort, "test over")
        result = await handle.result()
    assert result.approvals == ["core by carol"]

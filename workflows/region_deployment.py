"""One region's deploy (rolling, canary or blue-green); it restores the region itself when it fails."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cloud_activities import CloudActivities
    from contracts import approvals as signed
    from contracts import search_attributes as sa
    from contracts.change import FreezeSet
    from contracts.cloud import RegionState
    from contracts.rollout import (
        RegionDeployInput,
        RegionOutcome,
        RegionRef,
    )

from workflows import patches
from workflows.freeze_api import FreezeAware, FreezeWatch
from workflows.region_steps import Aborted, RegionRun
from workflows.retries import CLOUD_RETRY, call_timeout, heartbeat_timeout
from workflows.signing import check_signed, check_unsigned
from workflows.strategies import run_blue_green, run_canary, run_rolling

#: The step a signed `promote --full` names (any other step is what waits: RegionOutcome.waiting_for).
FULL = "full"

STRATEGIES = {"rolling": run_rolling, "canary": run_canary, "blue-green": run_blue_green}


@workflow.defn(name="RegionDeploymentWorkflow")
class RegionDeploymentWorkflow(FreezeAware):
    """Deploys a release to one region; the parent rollout (or `globalops deploy`) decides what follows."""

    def __init__(self) -> None:
        self._run: RegionRun | None = None
        self._done = False
        self._watch = FreezeWatch("deploy")
        self._nonces: set[str] = set()

    @workflow.query
    def progress(self) -> RegionOutcome | None:
        """The region's state so far, with every analysis run."""
        return self._run.out if self._run else None

    @workflow.update
    def promote(self, full: bool) -> str:
        """Continue past a pause or an inconclusive analysis; `full` skips every remaining step."""
        return self._promote(full)

    def _promote(self, full: bool, by: str = "") -> str:
        run = self._active()
        signer = f" by {by}" if by else ""
        if full:
            run.full_promote = True
            if by:
                run.out.overrides.append(f"promote --full approved{signer} (signed)")
            return f"{run.region}: full promotion{signer} (remaining steps and analysis skipped)"
        waiting = run.waiting_for
        run.promotions += 1
        if by:
            run.out.overrides.append(f"promoted past '{waiting}'{signer} (signed)")
        return f"{run.region}: promoted past '{waiting}'{signer}"

    async def _freezes_changed(self, freezes: FreezeSet) -> None:
        """The active freezes (from the registry, or from the parent rollout)."""
        self._watch.changed(freezes)

    @promote.validator
    def _check_promote(self, full: bool) -> None:
        self._check_promotable(full)
        policy = self._active().inp.policies.approvals
        if policy.require_signature:  # a plain promote names nobody: only the signature rule applies
            command = "deploy promote" if workflow.info().parent is None else "rollout promote"
            check_unsigned(policy, "operator", "", operation="this deploy", command=command)

    def _check_promotable(self, full: bool) -> None:
        run = self._active()
        if run.inp.strategy == "rolling" and run.waiting_for is None:
            raise ValueError(f"{run.region} deploys rolling: nothing to promote")
        if not full and run.waiting_for is None:
            raise ValueError(f"{run.region} is not waiting for promote (use --full to skip ahead)")

    @workflow.update
    def promote_signed(self, approval: signed.SignedApproval) -> str:
        """Promote with the approver's signature: its step is what waits, or `full` to skip ahead."""
        self._nonces.add(approval.nonce)
        return self._promote(approval.step == FULL, approval.approver)

    @promote_signed.validator
    def _check_promote_signed(self, approval: signed.SignedApproval) -> None:
        full = approval.step == FULL
        self._check_promotable(full)
        run = self._active()
        check_signed(
            run.inp.policies.approvals,
            approval,
            step=None if full else run.waiting_for,
            noun="step",
            starter=run.inp.requested_by,
            used=self._nonces,
        )

    @workflow.update
    def abort(self, reason: str) -> str:
        """Stop this region's deploy and restore its previous release."""
        run = self._active()
        run.abort_reason = reason or "aborted by operator"
        return f"{run.region}: aborting"

    @abort.validator
    def _check_abort(self, reason: str) -> None:
        if self._active().abort_reason is not None:
            raise ValueError("already aborting")

    def _active(self) -> RegionRun:
        if self._run is None or self._done:
            raise ValueError("this region's deploy is not running")
        return self._run

    @workflow.run
    async def run(self, inp: RegionDeployInput) -> RegionOutcome:
        """Run the strategy; on failure, abort or cancellation, restore the previous release."""
        self._watch.service = inp.service
        standalone = workflow.info().parent is None and workflow.patched(patches.FREEZE_AWARE.id)
        if standalone:  # in a rollout, the parent tells its regions about freezes
            await self._watch.register(answer_within=5.0)
        previous = inp.previous_release or await self._current_release(inp)
        run = self._run = RegionRun(inp, previous, self._watch)
        run.show("starting")
        try:
            ok = await run.hook_gate("pre_region", "before-change") and await STRATEGIES[inp.strategy](run)
            ok = ok and await run.hook_gate("post_region", "verified")
            if ok:
                run.out.status, run.out.release = "succeeded", inp.release
                run.show("verified")
            else:
                await self._undo(run, "rolled_back")
        except Aborted as stop:
            await self._undo(run, "aborted", str(stop))
        except asyncio.CancelledError:
            await self._undo(run, "aborted", "cancelled: previous release restored")
            raise
        except ActivityError as err:
            run.out.detail = str(err.cause or err)
            await self._undo(run, "rolled_back")
        finally:
            self._done = True
            workflow.upsert_search_attributes([sa.STATUS.value_set(run.out.status)])
        await run.events.flush()
        if standalone:
            await self._watch.unregister()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return run.out

    async def _undo(self, run: RegionRun, status: str, detail: str | None = None) -> None:
        try:
            await run.restore()
            run.out.status = "aborted" if status == "aborted" else "rolled_back"
        except ActivityError as err:
            run.out.status = "failed"
            run.out.detail += f"; restore failed: {err.cause or err}"
        if detail:
            run.out.detail = detail
        run.show()

    async def _current_release(self, inp: RegionDeployInput) -> str:
        state: RegionState = await workflow.execute_activity_method(
            CloudActivities.region_state,
            RegionRef(service=inp.service, region=inp.region.name, provider=inp.region.provider),
            task_queue=inp.task_queue,
            start_to_close_timeout=call_timeout(inp.policies),
            heartbeat_timeout=heartbeat_timeout(inp.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{inp.region.name}: read current release",
        )
        return state.release or inp.release

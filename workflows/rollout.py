"""The regional rollout: validate → core (pilot first) → edge, with gates, bakes, approvals and rollback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import cast

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cloud_activities import CloudActivities
    from config.notify import EventName
    from contracts import approvals as signed
    from contracts import ids
    from contracts import search_attributes as sa
    from contracts.change import Freeze, FreezeSet
    from contracts.cloud import (
        PreflightReport,
        RegionState,
    )
    from contracts.notify import HookContext
    from contracts.rollout import (
        PreflightInput,
        RegionDeployInput,
        RegionOutcome,
        RegionRef,
        RestoreInput,
        RolloutProgress,
        RolloutRequest,
        RolloutStatus,
        WavePlan,
    )

# A module import: operations imports this module too (the registry tells rollouts about freezes).
from workflows import patches
from workflows import region_deployment as deployment_wf
from workflows.admission import Admission, Refused
from workflows.alarms import alarm_reason, watches
from workflows.failures import cause
from workflows.freeze_api import FreezeAware, FreezeWatch, freeze_text
from workflows.hooks import run_hooks
from workflows.logic.planning import (
    most_common_release,
    plan_waves,
    regions_to_compensate,
    render_details,
    surge_instances,
)
from workflows.notify import Announcer
from workflows.retries import CLOUD_RETRY, UNDO_RETRY, call_timeout, heartbeat_timeout
from workflows.signing import check_signed, check_unsigned

#: The event that announces how a rollout ended, by its final status.
ENDINGS: dict[str, EventName] = {
    "succeeded": "succeeded",
    "partial": "partial",
    "rolled_back": "rolled_back",
    "aborted": "rolled_back",
    "failed": "failed",
}


class _Stop(Exception):
    """Ends the forward path: a region failed, a preflight failed, or an operator aborted."""

    def __init__(self, status: RolloutStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@workflow.defn(name="RegionalRolloutWorkflow")
class RegionalRolloutWorkflow(FreezeAware):
    """Rolls one release of one service across every region of a topology, wave by wave."""

    @workflow.init
    def __init__(self, req: RolloutRequest) -> None:
        self._req = req
        self._plans = plan_waves(req.topology)
        wave_of = {r: p.name for p in self._plans if p.name != "validate" for r in p.regions}
        self._p = RolloutProgress(
            workflow_id=workflow.info().workflow_id,
            service=req.service,
            release=req.release,
            rollback_policy=req.policies.rollback_policy,
            regions=[
                RegionOutcome(region=r.name, wave=wave_of.get(r.name, "-")) for r in req.topology.regions
            ],
        )
        self._abort_reason: str | None = None
        self._approved: set[str] = set()
        self._nonces: set[str] = set()
        self._running: dict[str, asyncio.Task[RegionOutcome]] = {}
        self._touched: list[str] = []
        self._previous: dict[str, str | None] = {}
        self._held: set[str] = set()
        self._admission = Admission(req, self._p, lambda: self._abort_reason is not None, self._show)
        self._watch = FreezeWatch("rollout", req.service)
        self._key = f"{workflow.info().workflow_id}/{req.request_id}"
        self._events = Announcer(
            req.policies, operation="rollout", service=req.service, key=self._key, release=req.release
        )
        self._freezes_seen = 0
        self._frozen_now = False

    # ----- queries and updates -------------------------------------------------------------

    @workflow.query
    def progress(self) -> RolloutProgress:
        """Where the rollout is: phase, wave, every region's state."""
        return self._p

    @workflow.update
    def approve(self, approver: str) -> str:
        """Let the wave that waits for approval start."""
        return self._record_approval(approver)

    def _record_approval(self, approver: str) -> str:
        progress = self._progress()
        wave = progress.waiting_for_approval or ""
        self._approved.add(wave)
        progress.approvals.append(f"{wave} by {approver}")
        return f"wave {wave} approved by {approver}"

    @approve.validator
    def _check_approve(self, approver: str) -> None:
        if self._p.waiting_for_approval is None:
            raise ValueError("nothing is waiting for approval")
        # Four eyes: only the validator decides (validators do not run on replay), so no patch is needed.
        check_unsigned(
            self._req.policies.approvals,
            approver,
            self._req.requested_by,
            operation="this rollout",
            command="rollout approve",
        )

    @workflow.update
    def approve_signed(self, approval: signed.SignedApproval) -> str:
        """Let the wave that waits for approval start: approved with the approver's signature."""
        self._nonces.add(approval.nonce)
        return self._record_approval(approval.approver)

    @approve_signed.validator
    def _check_approve_signed(self, approval: signed.SignedApproval) -> None:
        wave = self._p.waiting_for_approval
        if wave is None:
            raise ValueError("nothing is waiting for approval")
        check_signed(
            self._req.policies.approvals,
            approval,
            step=wave,
            noun="wave",
            starter=self._req.requested_by,
            used=self._nonces,
        )

    @workflow.update
    def pause(self) -> str:
        """Start no new region until `resume` (regions in flight finish their step)."""
        self._progress().paused = True
        self._show()
        return "paused"

    @pause.validator
    def _check_pause(self) -> None:
        self._check_running()
        if self._progress().paused:
            raise ValueError("the rollout is already paused")

    @workflow.update
    def resume(self) -> str:
        """Continue a paused rollout."""
        self._progress().paused = False
        self._show()
        return "resumed"

    @resume.validator
    def _check_resume(self) -> None:
        self._check_running()
        if not self._progress().paused:
            raise ValueError("the rollout is not paused")

    @workflow.update
    def abort(self, reason: str) -> str:
        """Stop and return every changed region to its previous release."""
        self._abort_reason = reason or "aborted by operator"
        for task in self._running.values():
            task.cancel()
        return "aborting: every changed region returns to its previous release"

    @abort.validator
    def _check_abort(self, reason: str) -> None:
        self._check_running()
        if self._abort_reason is not None:
            raise ValueError("the rollout is already aborting")

    @workflow.signal
    def hold_region(self, region: str) -> None:
        """A failover took this region out: deploy nothing there until failback releases it."""
        self._held.add(region)
        self._show()

    @workflow.signal
    def release_region(self, region: str) -> None:
        """Failback finished: the region may be deployed again."""
        self._held.discard(region)
        self._show()

    @workflow.update
    def skip_region(self, region: str) -> str:
        """Leave out a region held (unreachable, or its change window closed); the rollout ends `partial`."""
        self._admission.skip(region, "operator")
        return f"{region} will be skipped: the rollout goes on without it and ends partial"

    @skip_region.validator
    def _check_skip(self, region: str) -> None:
        self._check_running()
        if region not in self._admission.why:
            held = ", ".join(self._admission.why) or "none"
            raise ValueError(f"{region} is not held as unreachable (held: {held})")

    async def _freezes_changed(self, freezes: FreezeSet) -> None:
        """The freeze registry's current set; passed on to the regions deploying now."""
        if not self._watch.changed(freezes):
            return
        child = deployment_wf.RegionDeploymentWorkflow
        wid = workflow.info().workflow_id
        for name in list(self._running):
            handle = workflow.get_external_workflow_handle_for(child.run, ids.region_deployment_id(wid, name))
            with contextlib.suppress(Exception):  # the region's deploy just ended
                await handle.signal(child.freezes_changed, freezes)

    def _check_running(self) -> None:
        if self._p.status not in ("running", "frozen"):
            raise ValueError("the rollout is not running")

    # ----- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, req: RolloutRequest) -> RolloutProgress:
        """Run every wave in order; on failure or abort, compensate per the rollback policy."""
        plans = self._plans
        self._p.started_at = workflow.now()
        current: WavePlan = plans[0]
        freezes = workflow.patched(patches.FREEZE_AWARE.id)
        if freezes:
            await self._watch.register(answer_within=5.0)
        self._events.emit(
            "started", f"{req.service} {req.release}: rollout to {len(req.topology.regions)} regions started"
        )
        try:
            try:
                await self._validate(plans[0])
                await self._pre_rollout_gate()
                for plan in plans[1:]:
                    current = plan
                    await self._run_wave(plan)
                self._p.status, self._p.phase = "succeeded", "done"
                if self._p.skipped:
                    self._p.status = "partial"
                    self._p.reason = f"skipped (unreachable): {', '.join(self._p.skipped)}"
            except _Stop as stop:
                await self._compensate(stop, current)
        except asyncio.CancelledError:
            await self._compensate(_Stop("aborted", "workflow cancelled"), current)
            raise
        finally:
            self._finish()
        p = self._p
        self._events.emit(
            ENDINGS.get(p.status, "failed"),
            f"{req.service} {req.release}: {p.status}" + (f": {p.reason}" if p.reason else ""),
            status=p.status,
        )
        await self._events.flush()
        if freezes:
            await self._watch.unregister()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._p

    async def _validate(self, plan: WavePlan) -> None:
        """Preflight every region at once and record what each runs now; nothing changes."""
        p, req = self._progress(), self._request()
        p.phase, p.current_wave = "validate", "validate"
        self._show()
        checks = [self._preflight_region(name) for name in plan.regions]
        results = await asyncio.gather(*checks, return_exceptions=True)
        problems: list[str] = []
        for name, result in zip(plan.regions, results, strict=True):
            outcome = p.region(name)
            if isinstance(result, BaseException):
                outcome.status, outcome.detail = "failed", _cause(result)
                problems.append(f"{name}: {outcome.detail}")
            elif not result[0].ok:
                outcome.status, outcome.detail = "failed", "; ".join(result[0].problems)
                problems.append(f"{name}: {outcome.detail}")
            else:
                outcome.status, outcome.release = "ready", result[1].release
                outcome.previous_release = result[1].release
                self._previous[name] = result[1].release
        p.previous_release = most_common_release(list(self._previous.values()))
        if problems:
            raise _Stop("failed", "preflight failed: " + " | ".join(problems))
        await self._bake("validate", req.policies.bake_for("validate"))

    async def _pre_rollout_gate(self) -> None:
        """The `pre_rollout` webhook gates, after validation and before anything changes."""
        req = self._request()
        context = HookContext(
            operation="rollout",
            workflow_id=workflow.info().workflow_id,
            service=req.service,
            release=req.release,
            step="pre_rollout",
            key=self._key,
        )
        reason = await run_hooks(req.policies, "pre_rollout", context)
        if reason is not None:
            raise _Stop("failed", f"webhook gate failed before any change: {reason}")

    async def _preflight_region(self, name: str) -> tuple[PreflightReport, RegionState]:
        req = self._request()
        region = req.topology.region(name)
        queue = req.topology.task_queue_for(name)
        strategy = req.strategy or region.strategy or req.policies.strategy
        surge = surge_instances(region.instances, strategy, req.policies.rolling.batch_size)
        report: PreflightReport = await workflow.execute_activity_method(
            CloudActivities.preflight,
            PreflightInput(
                service=req.service,
                region=name,
                provider=region.provider,
                release=req.release,
                surge_instances=surge,
            ),
            task_queue=queue,
            start_to_close_timeout=call_timeout(req.policies),
            heartbeat_timeout=heartbeat_timeout(req.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{name}: preflight {req.release}",
        )
        state: RegionState = await workflow.execute_activity_method(
            CloudActivities.region_state,
            RegionRef(service=req.service, region=name, provider=region.provider),
            task_queue=queue,
            start_to_close_timeout=call_timeout(req.policies),
            heartbeat_timeout=heartbeat_timeout(req.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{name}: read current release",
        )
        return report, state

    async def _run_wave(self, plan: WavePlan) -> None:
        p, req = self._progress(), self._request()
        p.current_wave = plan.name
        if req.policies.approvals.between_waves:
            await self._await_approval(plan.name)
        held: list[str] = []
        for index, group in enumerate(plan.groups):
            await self._await_unpaused()
            await self._await_unheld(plan.name, group)
            await self._await_unfrozen(group)
            self._raise_if_aborted()
            pilot = plan.pilot is not None and index == 0
            p.phase = f"{plan.name}: " + ("pilot " if pilot else "") + ", ".join(group)
            try:
                ready = await self._admission.admit(group, held)
                if pilot and held:  # the pilot goes first: the wave waits for it (or for it to be skipped)
                    ready += await self._admission.resolve(plan, held, self._deploy_later(plan), pilot=True)
            except Refused as refused:
                raise _Stop(cast(RolloutStatus, refused.status), refused.reason) from refused
            self._raise_if_aborted()
            if ready:
                await self._deploy_group(plan, ready)
            if pilot and len(plan.groups) > 1 and ready:
                await self._bake(f"pilot {plan.pilot}", req.policies.pilot_bake)
        try:
            await self._admission.resolve(plan, held, self._deploy_later(plan))
        except Refused as refused:
            raise _Stop(cast(RolloutStatus, refused.status), refused.reason) from refused
        self._raise_if_aborted()
        await self._bake(plan.name, req.policies.bake_for(plan.name))

    def _deploy_later(self, plan: WavePlan) -> Callable[[list[str]], Awaitable[None]]:
        """Deploy regions that were held, once they may be changed (a freeze still comes first)."""

        async def deploy(regions: list[str]) -> None:
            await self._await_unfrozen(regions)
            self._raise_if_aborted()
            await self._deploy_group(plan, regions)

        return deploy

    async def _await_unfrozen(self, regions: list[str]) -> None:
        """A safe point: while a freeze covers these regions, change nothing and show why."""
        p = self._progress()

        def show(held: list[Freeze]) -> None:
            p.status, p.frozen = "frozen", freeze_text(held)
            if not self._frozen_now:
                self._frozen_now, self._freezes_seen = True, self._freezes_seen + 1
                self._events.emit("frozen", p.frozen, step=f"freeze-{self._freezes_seen}", status="frozen")
            self._show()

        if await self._watch.wait(regions, show, lambda: self._abort_reason is not None):
            p.status, p.frozen = "running", None
            self._frozen_now = False
            self._events.emit("unfrozen", "freeze ended: going on", step=f"freeze-{self._freezes_seen}")
            self._show()

    async def _deploy_group(self, plan: WavePlan, group: list[str]) -> None:
        """Deploy a group of regions at once; any region that did not succeed stops the rollout."""
        p, req = self._progress(), self._request()
        wid = workflow.info().workflow_id
        for name in group:
            region = req.topology.region(name)
            child_input = RegionDeployInput(
                service=req.service,
                release=req.release,
                previous_release=self._previous.get(name) or req.release,
                region=region,
                task_queue=req.topology.task_queue_for(name),
                wave=plan.name,
                policies=req.policies.for_deploy(),
                key_prefix=f"{wid}/{req.request_id}",
                strategy=req.strategy or region.strategy or req.policies.strategy,
                requested_by=req.requested_by,
            )
            p.region(name).status = "deploying"
            p.region(name).strategy = child_input.strategy
            self._touched.append(name)
            p.deploy_order.append(name)
            self._running[name] = asyncio.create_task(
                workflow.execute_child_workflow(
                    deployment_wf.RegionDeploymentWorkflow.run,
                    child_input,
                    id=ids.region_deployment_id(wid, name),
                    static_summary=f"{req.service} {req.release} → {name} ({plan.name} wave)",
                )
            )
        self._show()
        tasks = [self._running[name] for name in group]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failures: list[str] = []
        for name, result in zip(group, results, strict=True):
            self._running.pop(name, None)
            outcome = p.region(name)
            if isinstance(result, BaseException):
                outcome.status = "aborted" if self._abort_reason else "failed"
                outcome.detail = _cause(result)
                failures.append(f"{name}: {outcome.detail}")
            else:
                p.regions[p.regions.index(outcome)] = result
                if result.status != "succeeded":
                    failures.append(f"{name}: {result.detail}")
        self._show()
        self._raise_if_aborted()
        if failures:
            raise _Stop("rolled_back", "; ".join(failures))

    async def _await_approval(self, wave: str) -> None:
        p, req = self._progress(), self._request()
        p.waiting_for_approval = wave
        self._events.emit(
            "awaiting_approval",
            f"{req.service} {req.release}: wave {wave} waits for approval (globalops rollout approve)",
            step=f"wave-{wave}",
        )
        self._show()
        try:
            await workflow.wait_condition(
                lambda: wave in self._approved or self._abort_reason is not None,
                timeout=timedelta(seconds=req.policies.approvals.timeout),
                timeout_summary=f"approval of wave {wave}",
            )
        except TimeoutError:
            self._abort_reason = f"no approval for wave {wave} within {req.policies.approvals.timeout:g}s"
        finally:
            p.waiting_for_approval = None
        self._raise_if_aborted()

    async def _await_unpaused(self) -> None:
        if self._progress().paused:
            self._show()
            await workflow.wait_condition(
                lambda: not self._progress().paused or self._abort_reason is not None
            )

    async def _await_unheld(self, wave: str, group: list[str]) -> None:
        """A region under failover waits for its failback before it is deployed."""
        held = [r for r in group if r in self._held]
        if not held:
            return
        p = self._progress()
        p.phase = f"{wave}: holding for failback of {', '.join(held)}"
        for name in held:
            p.region(name).detail = "failed over: waiting for failback"
        self._show()
        await workflow.wait_condition(lambda: not (set(group) & self._held) or self._abort_reason is not None)
        for name in held:
            p.region(name).detail = ""

    async def _bake(self, what: str, seconds: float) -> None:
        """Wait out a bake time; an abort ends it early."""
        if seconds <= 0:
            return
        p, req = self._progress(), self._request()
        p.phase = f"baking after {what} ({seconds:g}s)"
        self._show()
        # With alarms of a deployed region to watch, the bake waits in steps and checks them after each.
        watched = [r for r in self._touched if watches(req.policies, req.topology.region(r).provider)]
        left = seconds
        while left > 1e-6:  # a float remainder of steps is no further wait
            step = min(left, req.policies.alarms.interval) if watched else left
            try:
                await workflow.wait_condition(
                    lambda: self._abort_reason is not None,
                    timeout=timedelta(seconds=step),
                    timeout_summary=f"bake after {what}",
                )
            except TimeoutError:
                left -= step
                await self._check_alarms(watched, what)
                continue
            self._raise_if_aborted()
            return

    async def _check_alarms(self, regions: list[str], what: str) -> None:
        """A firing alarm in a deployed region stops the rollout: it rolls back per policy."""
        req = self._request()
        for name in regions:
            region = req.topology.region(name)
            queue = req.topology.task_queue_for(name)
            try:
                reason = await alarm_reason(req.policies, req.service, name, region.provider, queue)
            except ActivityError as err:
                why = f"alarms of {name} unreadable in the bake after {what}: {_cause(err)}"
                raise _Stop("failed", why) from err
            if reason:
                self._progress().region(name).detail = reason
                raise _Stop("rolled_back", f"{reason} during the bake after {what}")

    def _raise_if_aborted(self) -> None:
        if self._abort_reason is not None:
            raise _Stop("aborted", self._abort_reason)

    # ----- compensation --------------------------------------------------------------------

    async def _compensate(self, stop: _Stop, wave: WavePlan) -> None:
        """Restore touched regions per the rollback policy, newest change first (a saga)."""
        p, req = self._progress(), self._request()
        p.reason, p.phase = stop.reason, "compensating"
        policy = "rollback_all" if stop.status == "aborted" else req.policies.rollback_policy
        order = regions_to_compensate(self._touched, policy, wave.regions)
        self._show()
        undo_failed: list[str] = []
        for name in order:
            try:
                await self._restore(name)
            except ActivityError as err:
                p.region(name).status = "failed"
                p.region(name).detail = f"restore failed: {_cause(err)}"
                undo_failed.append(name)
                continue
            p.compensation_order.append(name)
            outcome = p.region(name)
            outcome.release = self._previous.get(name)
            if outcome.status not in ("failed", "aborted"):
                outcome.status = "rolled_back"
            self._show()
        if undo_failed:
            p.status, p.reason = "failed", f"{stop.reason}; could not restore {', '.join(undo_failed)}"
        elif stop.status == "rolled_back" and policy == "halt":
            p.status = "failed"
        else:
            p.status = stop.status
        p.phase = "done"

    async def _restore(self, name: str) -> RegionState:
        req = self._request()
        region = req.topology.region(name)
        previous = self._previous.get(name) or req.release
        return await workflow.execute_activity_method(
            CloudActivities.restore_region,
            RestoreInput(
                service=req.service,
                region=name,
                provider=region.provider,
                release=previous,
                count=region.instances,
                key=f"{workflow.info().workflow_id}/{req.request_id}/{name}/compensate",
            ),
            task_queue=req.topology.task_queue_for(name),
            start_to_close_timeout=call_timeout(req.policies),
            heartbeat_timeout=heartbeat_timeout(req.policies),
            retry_policy=UNDO_RETRY,
            summary=f"{name}: roll back to {previous}",
        )

    # ----- presentation --------------------------------------------------------------------

    def _finish(self) -> None:
        p = self._progress()
        if p.status == "running":
            p.status = "aborted"
        p.finished_at = workflow.now()
        p.current_wave = None
        workflow.upsert_search_attributes([sa.STATUS.value_set(p.status)])
        self._show()

    def _show(self) -> None:
        workflow.set_current_details(render_details(self._p))

    def _progress(self) -> RolloutProgress:
        return self._p

    def _request(self) -> RolloutRequest:
        return self._req


_cause = cause

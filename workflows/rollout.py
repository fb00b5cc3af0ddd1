"""The regional rollout: validate → core (pilot first) → edge, with gates, bakes, approvals and rollback."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.cloud_activities import CloudActivities
    from contracts import ids
    from contracts import search_attributes as sa
    from contracts.cloud import (
        PreflightReport,
        RegionState,
    )
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

from workflows import patches
from workflows.logic.planning import (
    most_common_release,
    plan_waves,
    regions_to_compensate,
    render_details,
    surge_instances,
)
from workflows.region_deployment import RegionDeploymentWorkflow
from workflows.retries import CLOUD_RETRY, READ_RETRY, UNDO_RETRY, call_timeout, heartbeat_timeout


class _Stop(Exception):
    """Ends the forward path: a region failed, a preflight failed, or an operator aborted."""

    def __init__(self, status: RolloutStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@workflow.defn(name="RegionalRolloutWorkflow")
class RegionalRolloutWorkflow:
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
        self._running: dict[str, asyncio.Task[RegionOutcome]] = {}
        self._touched: list[str] = []
        self._previous: dict[str, str | None] = {}
        self._held: set[str] = set()
        self._unreachable: dict[str, str] = {}  # region -> why, while held as unreachable
        self._skip: dict[str, str] = {}  # region -> who asked to skip it

    # ----- queries and updates -------------------------------------------------------------

    @workflow.query
    def progress(self) -> RolloutProgress:
        """Where the rollout is: phase, wave, every region's state."""
        return self._p

    @workflow.update
    def approve(self, approver: str) -> str:
        """Let the wave that waits for approval start."""
        progress = self._progress()
        wave = progress.waiting_for_approval or ""
        self._approved.add(wave)
        progress.approvals.append(f"{wave} by {approver}")
        return f"wave {wave} approved by {approver}"

    @approve.validator
    def _check_approve(self, approver: str) -> None:
        if self._p.waiting_for_approval is None:
            raise ValueError("nothing is waiting for approval")
        if not approver.strip():
            raise ValueError("approver must not be empty")
        # Four eyes: only the validator decides (validators do not run on replay), so no patch is needed.
        starter = self._req.requested_by
        same = approver.strip().casefold() == starter.strip().casefold()
        if self._req.policies.approvals.four_eyes and same:
            raise ValueError(f"four-eyes rule: the approver must differ from the starter {starter}")

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
        """Leave out a region held as unreachable; the rollout goes on and ends `partial`."""
        self._skip[region] = "operator"
        return f"{region} will be skipped: the rollout goes on without it and ends partial"

    @skip_region.validator
    def _check_skip(self, region: str) -> None:
        self._check_running()
        if region not in self._unreachable:
            held = ", ".join(self._unreachable) or "none"
            raise ValueError(f"{region} is not held as unreachable (held: {held})")

    def _check_running(self) -> None:
        if self._p.status != "running":
            raise ValueError("the rollout is not running")

    # ----- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, req: RolloutRequest) -> RolloutProgress:
        """Run every wave in order; on failure or abort, compensate per the rollback policy."""
        plans = self._plans
        self._p.started_at = workflow.now()
        current: WavePlan = plans[0]
        try:
            try:
                await self._validate(plans[0])
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
            self._raise_if_aborted()
            pilot = plan.pilot is not None and index == 0
            p.phase = f"{plan.name}: " + ("pilot " if pilot else "") + ", ".join(group)
            ready = await self._reachable(group, held)
            if pilot and held:  # the pilot goes first: the wave waits for it (or for it to be skipped)
                ready += await self._resolve_held(plan, held)
            if ready:
                await self._deploy_group(plan, ready)
            if pilot and len(plan.groups) > 1 and ready:
                await self._bake(f"pilot {plan.pilot}", req.policies.pilot_bake)
        await self._resolve_held(plan, held)
        await self._bake(plan.name, req.policies.bake_for(plan.name))

    async def _reachable(self, group: list[str], held: list[str]) -> list[str]:
        """The regions of `group` that answer now; the others are held, skipped or fail, per policy.

        A region that is down is not evidence about the release (DESIGN rule 10): it is not rolled
        back around unless `unavailable_region: rollback` says so.
        """
        if not workflow.patched(patches.RECHECK_REACHABILITY.id):
            return list(group)
        p, policy = self._progress(), self._request().policies.unavailable_region
        answers = await asyncio.gather(*(self._unreachable_why(name) for name in group))
        ready: list[str] = []
        for name, why in zip(group, answers, strict=True):
            if why is None:
                ready.append(name)
                continue
            if policy == "rollback":
                p.region(name).status, p.region(name).detail = "failed", f"region unreachable: {why}"
                raise _Stop("rolled_back", f"{name}: region unreachable: {why}")
            if policy == "skip":
                self._mark_skipped(name, f"region unreachable: {why}; skipped by policy")
                continue
            self._unreachable[name] = why
            held.append(name)
            p.region(name).status, p.region(name).detail = "waiting", f"region unreachable: {why}"
            p.held = list(self._unreachable)
        self._show()
        return ready

    async def _resolve_held(self, plan: WavePlan, held: list[str]) -> list[str]:
        """Wait until every held region recovered (then deploy it) or was skipped, or the rollout aborted.

        Returns the regions that recovered before they were deployed when called for the pilot;
        otherwise deploys them itself and returns nothing.
        """
        p, req = self._progress(), self._request()
        recovered: list[str] = []
        while held:
            p.phase = f"{plan.name}: waiting for unreachable {', '.join(held)} (or `rollout skip-region`)"
            self._show()
            with contextlib.suppress(TimeoutError):  # time to look again
                await workflow.wait_condition(
                    lambda: any(r in self._skip for r in held) or self._abort_reason is not None,
                    timeout=timedelta(seconds=req.policies.unavailable_recheck),
                    timeout_summary=f"recheck {', '.join(held)}",
                )
            self._raise_if_aborted()
            for name in [r for r in held if r in self._skip]:
                held.remove(name)
                self._unreachable.pop(name, None)
                self._mark_skipped(name, f"region unreachable; skipped by {self._skip[name]}")
            answers = await asyncio.gather(*(self._unreachable_why(name) for name in held))
            back = [name for name, why in zip(list(held), answers, strict=True) if why is None]
            for name, why in zip(list(held), answers, strict=True):
                if why is not None:
                    self._unreachable[name] = why
                    p.region(name).detail = f"region unreachable: {why}"
            for name in back:
                held.remove(name)
                self._unreachable.pop(name, None)
                p.region(name).status, p.region(name).detail = "ready", "reachable again"
            p.held = list(self._unreachable)
            if back and plan.pilot in back:
                recovered += back
            elif back:
                await self._deploy_group(plan, back)
        return recovered

    async def _unreachable_why(self, name: str) -> str | None:
        """None if the region answers; else why not (down, unavailable or throttled past quick retries).

        Asked through preflight, the same question validate asked: `region_reachable` false, or
        an error that says the region's API is down, holds the region.
        """
        req = self._request()
        region = req.topology.region(name)
        strategy = req.strategy or region.strategy or req.policies.strategy
        try:
            report: PreflightReport = await workflow.execute_activity_method(
                CloudActivities.preflight,
                PreflightInput(
                    service=req.service,
                    region=name,
                    provider=region.provider,
                    release=req.release,
                    surge_instances=surge_instances(
                        region.instances, strategy, req.policies.rolling.batch_size
                    ),
                ),
                task_queue=req.topology.task_queue_for(name),
                start_to_close_timeout=call_timeout(req.policies),
                heartbeat_timeout=heartbeat_timeout(req.policies),
                retry_policy=READ_RETRY,
                summary=f"{name}: reachable?",
            )
        except ActivityError as err:
            if _cause_type(err) in UNREACHABLE_TYPES:
                return _cause(err)
            raise _Stop("failed", f"{name}: {_cause(err)}") from err
        if not report.checks.get("region_reachable", True):
            return "; ".join(report.problems) or "not reachable"
        return None

    def _mark_skipped(self, name: str, why: str) -> None:
        p = self._progress()
        outcome = p.region(name)
        outcome.status, outcome.detail = "skipped", why
        if name not in p.skipped:
            p.skipped.append(name)
        p.held = list(self._unreachable)

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
                policies=req.policies,
                key_prefix=f"{wid}/{req.request_id}",
                strategy=req.strategy or region.strategy or req.policies.strategy,
            )
            p.region(name).status = "deploying"
            p.region(name).strategy = child_input.strategy
            self._touched.append(name)
            p.deploy_order.append(name)
            self._running[name] = asyncio.create_task(
                workflow.execute_child_workflow(
                    RegionDeploymentWorkflow.run,
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
        p = self._progress()
        p.phase = f"baking after {what} ({seconds:g}s)"
        self._show()
        try:
            await workflow.wait_condition(
                lambda: self._abort_reason is not None,
                timeout=timedelta(seconds=seconds),
                timeout_summary=f"bake after {what}",
            )
        except TimeoutError:
            return
        self._raise_if_aborted()

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


#: Error types that say a region is down rather than that the request or the release is wrong.
UNREACHABLE_TYPES = frozenset({"RegionUnavailable", "Unavailable", "Throttled", "TimeoutError"})


def _cause_type(err: BaseException) -> str:
    """The ApplicationError type (or the error class) at the bottom of an activity error."""
    while isinstance(err, ActivityError | ChildWorkflowError) and err.cause is not None:
        err = err.cause
    if isinstance(err, ApplicationError):
        return err.type or "ApplicationError"
    return type(err).__name__


def _cause(err: BaseException) -> str:
    """The innermost message of an activity or child-workflow error, for humans."""
    while isinstance(err, ActivityError | ChildWorkflowError) and err.cause is not None:
        err = err.cause
    if isinstance(err, asyncio.CancelledError):
        return "cancelled"
    return str(err) or type(err).__name__

"""Failover practice: fail a healthy region over for real, hold, fail back, so the plan is known to work.

The failover and the failback are the real workflows, run as children (the same pre-scale, lag check,
shift and validation as an emergency; the same gated steps back), so a practice rehearses exactly the
path an outage would take. While traffic is away the target's health and the outcome alarms are
checked; a degrading target, a firing alarm, a freeze or an abort ends the hold early and traffic goes
back at once. A practice never starts in a freeze or a blocked change window: it records that it skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.traffic_activities import TrafficActivities
    from contracts import ids
    from contracts import search_attributes as sa
    from contracts.change import FreezeSet
    from contracts.failover import (
        FailbackReport,
        FailbackRequest,
        FailoverReport,
        FailoverRequest,
        ProbeResult,
        SetTrafficInput,
        TrafficRef,
    )
    from contracts.practice import PracticeReport, PracticeRequest
    from contracts.rollout import RegionRef

from workflows import failback as failback_wf
from workflows import failover as failover_wf
from workflows.alarms import alarm_reason
from workflows.freeze_api import FreezeAware, FreezeWatch
from workflows.logic.practice import (
    KIND,
    frozen_reason,
    needs_settling,
    phase_timings,
    region_for_week,
    skip_reason,
    target_problem,
    verdict,
)
from workflows.retries import activity_options


@workflow.defn(name="FailoverPracticeWorkflow")
class FailoverPracticeWorkflow(FreezeAware):
    """Shift a region's traffic to its failover target, hold it while watching, fail back, report."""

    @workflow.init
    def __init__(self, req: PracticeRequest) -> None:
        self._req = req
        self._report = PracticeReport(
            workflow_id=workflow.info().workflow_id,
            service=req.service,
            region=req.region,
            scheduled=req.scheduled,
        )
        self._watch = FreezeWatch(KIND, req.service)
        self._abort: str | None = None

    @workflow.query
    def report(self) -> PracticeReport:
        """Where the practice is; the verdict once done."""
        return self._report

    @workflow.update
    def abort(self, reason: str) -> str:
        """End the practice now: traffic goes back to the region (verdict aborted)."""
        self._abort = reason or "aborted by operator"
        return "aborting"

    @abort.validator
    def _check_abort(self, reason: str) -> None:
        if self._report.verdict != "running":
            raise ValueError(f"the practice is not running (verdict {self._report.verdict})")

    async def _freezes_changed(self, freezes: FreezeSet) -> None:
        """A freeze that covers the practice ends it early (traffic goes back; failback is not held)."""
        self._watch.changed(freezes)

    @workflow.run
    async def run(self, req: PracticeRequest) -> PracticeReport:
        """Skip if blocked; else fail over (child), hold while watching, fail back (child), compare."""
        r = self._report
        region = req.region or region_for_week(req.regions or req.topology.region_names(), workflow.now())
        r.region = region
        workflow.upsert_search_attributes([sa.REGIONS.value_set([region])])
        await self._watch.register(answer_within=5.0)
        cancelled = False
        try:
            before = await self._weights()
            r.weights_before = before
            reason = skip_reason(
                workflow.now(),
                service=req.service,
                region=region,
                time_zone=req.topology.region(region).time_zone,
                share=before.get(region, 0.0),
                freezes=self._watch.current.freezes,
                windows=req.policies.change_windows,
            )
            if reason is not None:
                r.verdict, r.reason, r.weights_after = "skipped", reason, before
                self._step(f"skipped: {reason}")
                return r
            marks: list[tuple[str, datetime]] = [("start", workflow.now())]
            moved, cancelled = await self._failover(region)
            marks.append(("failover", workflow.now()))
            back: FailbackReport | None = None
            if moved.status == "succeeded" and moved.to_region:
                r.target = moved.to_region
                cancelled = await self._hold(region, moved.to_region) or cancelled
                marks.append(("hold", workflow.now()))
                back = await self._failback(region, moved, before.get(region, 0.0))
                marks.append(("failback", workflow.now()))
            r.weights_after = await self._weights()
            if back is not None and back.status == "succeeded" and needs_settling(before, r.weights_after):
                r.weights_after = await self._settle(before)
            r.timings = phase_timings(marks)
            r.verdict, r.reason = verdict(
                moved.status,
                moved.reason,
                back.status if back else None,
                back.reason if back else None,
                self._abort,
                before,
                r.weights_after,
            )
            self._step(f"verdict {r.verdict}" + (f": {r.reason}" if r.reason else ""))
        finally:
            if r.verdict == "running":
                r.verdict, r.reason = "fail", r.reason or "the practice ended before its verdict"
            workflow.upsert_search_attributes([sa.STATUS.value_set(r.verdict)])
            self._show()
            await self._watch.unregister()
        if cancelled:
            raise asyncio.CancelledError("practice cancelled; traffic was returned first")
        await workflow.wait_condition(workflow.all_handlers_finished)
        if r.verdict == "fail":
            # A failed practice fails the workflow: red in the Web UI, and a schedule with
            # pause_on_failure pauses. The report stays readable through the `report` query.
            raise ApplicationError(
                f"practice failed: {r.reason}",
                r.model_dump(mode="json"),
                type="PracticeFailed",
                non_retryable=True,
            )
        return r

    # ----- phases ------------------------------------------------------------------------------

    async def _failover(self, region: str) -> tuple[FailoverReport, bool]:
        """The real failover as a child; cancelled (it undoes itself) if a freeze or an abort comes first."""
        req = self._req
        self._step(f"failing over {region}")
        handle = await workflow.start_child_workflow(
            failover_wf.RegionFailoverWorkflow.run,
            FailoverRequest(
                service=req.service,
                from_region=region,
                topology=req.topology,
                policies=req.policies,
                request_id=req.request_id,
                requested_by=req.requested_by,
                trigger="practice",
                require_lag=req.policies.practice.require_lag,
            ),
            id=ids.practice_child_id(workflow.info().workflow_id, "failover"),
            static_summary=f"practice failover of {req.service} {region}",
        )
        cancelled = False
        try:
            await workflow.wait_condition(lambda: handle.done() or self._interrupted(region))
        except asyncio.CancelledError:
            cancelled = True
        if not handle.done():
            self._abort = self._abort or ("cancelled" if cancelled else self._interrupt_reason(region))
            handle.cancel()
        try:
            moved = await handle
        except ChildWorkflowError as err:
            moved = FailoverReport(
                workflow_id=handle.id,
                service=req.service,
                from_region=region,
                status="aborted" if self._abort else "failed",
                reason=self._abort or str(err.cause or err),
            )
        self._step(f"failover {moved.status}" + (f" → {moved.to_region}" if moved.to_region else ""))
        self._report.failover_status = moved.status
        return moved, cancelled

    async def _hold(self, region: str, target: str) -> bool:
        """Keep traffic on `target` for the duration, checking it; end early on a problem. True: cancelled."""
        req = self._req
        policy = req.policies.practice
        end = workflow.now() + timedelta(seconds=req.duration_s)
        self._step(f"holding on {target} for {req.duration_s:g}s")
        try:
            while workflow.now() < end and self._abort is None:
                try:
                    problem = await self._check(region, target)
                except ActivityError as err:  # fail closed: a check that cannot be made ends the hold
                    problem = f"check failed: {err.cause or err}"
                self._report.checks += 1
                if problem is not None:
                    self._abort = problem
                    break
                left = (end - workflow.now()).total_seconds()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):  # the next check is due
                    await workflow.wait_condition(
                        functools.partial(self._woken, self._watch.current.version),
                        timeout=timedelta(seconds=min(policy.check_interval, left)),
                        timeout_summary=f"hold on {target}: next check",
                    )
        except asyncio.CancelledError:
            self._abort = "cancelled"
            return True
        if self._abort:
            self._step(f"ending early: {self._abort}")
        return False

    async def _check(self, region: str, target: str) -> str | None:
        """A freeze, a firing outcome alarm (target or region), or the target's health: what ends the hold."""
        req = self._req
        frozen = frozen_reason(self._watch.hold([region, target]))
        if frozen:
            return frozen
        alarms = req.policies.model_copy(
            update={"alarms": req.policies.practice.outcome_alarms(req.policies.alarms)}
        )
        for name in (target, region):
            alarm = await alarm_reason(
                alarms,
                req.service,
                name,
                req.topology.region(name).provider,
                req.topology.task_queue_for(name),
            )
            if alarm:
                return alarm
        probe: ProbeResult = await workflow.execute_activity_method(
            TrafficActivities.probe_region,
            RegionRef(service=req.service, region=target, provider=req.topology.region(target).provider),
            **activity_options(req.topology, req.policies, target, f"{target}: practice check"),
        )
        return target_problem(target, probe, req.policies.health.max_error_rate)

    async def _failback(self, region: str, moved: FailoverReport, share: float) -> FailbackReport:
        """The real failback as a child: the region was never down, so it needs no sustained recovery."""
        req = self._req
        target = moved.to_region or ""
        self._step(f"failing back {target} → {region}")
        failover = req.policies.failover
        quick = failover.model_copy(
            update={"failback": failover.failback.model_copy(update={"healthy_for": 0.0})}
        )
        request = FailbackRequest(
            service=req.service,
            region=region,
            backup=target,
            original_share=share,
            topology=req.topology,
            policies=req.policies.model_copy(update={"failover": quick}),
            request_id=req.request_id,
            max_wait_s=req.policies.practice.failback_wait,
            backup_instances=moved.target_instances_before,
        )
        try:
            back = await workflow.execute_child_workflow(
                failback_wf.FailbackWorkflow.run,
                request,
                id=ids.practice_child_id(workflow.info().workflow_id, "failback"),
                static_summary=f"practice failback of {req.service} {target} → {region}",
            )
        except ChildWorkflowError as err:  # it ended without its report: traffic may still be on the target
            back = FailbackReport(
                workflow_id=ids.practice_child_id(workflow.info().workflow_id, "failback"),
                service=req.service,
                region=region,
                backup=target,
                status="failed",
                reason=str(err.cause or err),
            )
        self._report.failback_status = back.status
        self._step(f"failback {back.status}" + (f": {back.reason}" if back.reason else ""))
        return back

    async def _settle(self, before: dict[str, float]) -> dict[str, float]:
        """Put the exact weights of before back (the failback's steps round to 9 decimals)."""
        req = self._req
        region = self._report.region or ""
        state = await workflow.execute_activity_method(
            TrafficActivities.set_traffic,
            SetTrafficInput(
                service=req.service,
                provider=req.topology.region(region).provider,
                weights=before,
                key=f"{workflow.info().workflow_id}/{req.request_id}/settle",
            ),
            **activity_options(req.topology, req.policies, None, "traffic weights: exactly as before"),
        )
        self._step("weights set exactly as before (rounding of the failback steps)")
        return dict(state.weights)

    async def _weights(self) -> dict[str, float]:
        req = self._req
        region = self._report.region or ""
        state = await workflow.execute_activity_method(
            TrafficActivities.get_traffic,
            TrafficRef(service=req.service, provider=req.topology.region(region).provider),
            **activity_options(req.topology, req.policies, None, "read global traffic weights"),
        )
        return dict(state.weights)

    # ----- helpers -----------------------------------------------------------------------------

    def _woken(self, seen: int) -> bool:
        """An abort, or a new set of freezes (check at once whether one covers the practice)."""
        return self._abort is not None or self._watch.current.version != seen

    def _interrupted(self, region: str) -> bool:
        return self._abort is not None or bool(self._watch.hold([region]))

    def _interrupt_reason(self, region: str) -> str:
        return self._abort or frozen_reason(self._watch.hold([region])) or "stopped"

    def _step(self, text: str) -> None:
        self._report.steps.append(text)
        self._report.phase = text
        self._show()

    def _show(self) -> None:
        r = self._report
        route = f"{r.region} → {r.target or '?'}"
        lines = [f"**failover practice {r.service}: {route}** · {r.verdict} · {r.phase}"]
        if r.timings:
            lines.append(" · ".join(f"{k} {v:.1f}s" for k, v in r.timings.items()))
        lines += ["", *[f"- {s}" for s in r.steps]]
        workflow.set_current_details("\n".join(lines))

"""Health monitor: probes every region, evaluates triggers, starts failovers; bounded by continue-as-new."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.traffic_activities import TrafficActivities
    from activities.watch_activities import WatchActivities
    from contracts import approvals as signed
    from contracts import ids
    from contracts.failover import (
        FailoverDone,
        FailoverRequest,
        Firing,
        MonitorInput,
        MonitorStatus,
        ProbeResult,
        ProbeSample,
        RegionTriggerState,
    )
    from contracts.rollout import RegionRef
    from contracts.triggers import RECOVERY_PROBES
    from contracts.watch import WatchInput, WatchRegion, WatchResult, WatchState

# Imported as a module: the failover module imports this one too (it signals its monitor).
from workflows import failover as failover_workflow
from workflows import patches
from workflows.logic.approvals import remembered
from workflows.logic.failover import evaluate
from workflows.logic.markdown import monitor_details
from workflows.notify import Announcer
from workflows.retries import CLOUD_RETRY, WATCH_RETRY, call_timeout, heartbeat_timeout
from workflows.signing import check_signed, check_unsigned


@workflow.defn(name="RegionHealthMonitorWorkflow")
class RegionHealthMonitorWorkflow:
    """Long-running per service; its history stays bounded by continuing as new with its trigger state."""

    @workflow.init
    def __init__(self, inp: MonitorInput) -> None:
        self._inp = inp
        self._status = MonitorStatus(
            service=inp.service,
            runs=inp.runs + 1,
            probes=inp.probes,
            states=dict(inp.states),
            active=dict(inp.active),
            pending=dict(inp.pending),
            done=dict(inp.done),
            run_lengths=list(inp.run_lengths)[-20:],
            firings=list(inp.firings),
        )
        self._approved: set[str] = set()
        self._stop = False
        self._healthy_streak: dict[str, int] = {}
        self._readiness = dict(inp.readiness)
        self._nonces = dict(inp.nonces)
        self._wake = False  # an approval or a finished failover, for the watch loop
        # The watch's counters between watches (states and readiness also travel in MonitorInput).
        self._watch = WatchState(probes=inp.probes, states=dict(inp.states), readiness=dict(inp.readiness))
        # One monitor's events, across its continue-as-new runs (never a later monitor's).
        key = f"{workflow.info().workflow_id}/{workflow.info().first_execution_run_id}"
        self._events = Announcer(
            inp.policies, operation="monitor", service=inp.service, key=key, release=None
        )

    @workflow.query
    def status(self) -> MonitorStatus:
        """Last probe of every region, trigger state, failovers started and pending."""
        self._status.history_length = workflow.info().get_current_history_length()
        return self._status

    @workflow.update
    def approve_failover(self, region: str) -> str:
        """Let a manual-mode trigger's failover start."""
        self._approved.add(region)
        self._wake = True
        return f"failover of {region} approved"

    @approve_failover.validator
    def _check_approve(self, region: str) -> None:
        self._check_pending(region)
        check_unsigned(
            self._inp.policies.approvals,
            "operator",
            "",
            operation="this monitor",
            command="failover approve",
        )

    def _check_pending(self, region: str) -> None:
        if region not in self._status.pending:
            raise ValueError(f"no failover of {region} is waiting for approval")

    @workflow.update
    def approve_failover_signed(self, approval: signed.SignedApproval) -> str:
        """Let a manual-mode trigger's failover of the region the approval names (its step) start."""
        self._nonces = remembered(self._nonces, approval, workflow.now())
        self._approved.add(approval.step)
        self._wake = True
        return f"failover of {approval.step} approved by {approval.approver}"

    @approve_failover_signed.validator
    def _check_approve_signed(self, approval: signed.SignedApproval) -> None:
        self._check_pending(approval.step)
        check_signed(
            self._inp.policies.approvals,
            approval,
            step=None,
            noun="region",
            starter=self._inp.requested_by,
            used=self._nonces,
        )

    @workflow.signal
    def failover_finished(self, done: FailoverDone) -> None:
        """A failover this monitor started has ended: it no longer counts toward max_concurrent."""
        if self._status.active.get(done.region) == done.workflow_id:
            self._status.done[done.region] = done.status
            self._wake = True

    @workflow.update
    def stop(self) -> str:
        """End monitoring after the current probe round."""
        self._stop = True
        return "stopping"

    def _continue_as_new(self, inp: MonitorInput, length: int) -> None:
        workflow.continue_as_new(
            inp.model_copy(
                update={
                    "states": self._status.states,
                    "active": self._status.active,
                    "pending": self._status.pending,
                    "done": self._status.done,
                    "runs": self._status.runs,
                    "probes": self._status.probes,
                    "run_lengths": [*self._status.run_lengths, length][-20:],
                    "firings": self._status.firings,
                    "readiness": self._readiness,
                    "nonces": self._nonces,
                }
            )
        )

    @workflow.run
    async def run(self, inp: MonitorInput) -> MonitorStatus:
        """Probe, evaluate, act, sleep; continue as new before the history passes its bound."""
        policy = inp.policies.failover
        if policy.probe_mode == "watch" and workflow.patched(patches.MONITOR_WATCH.id):
            await self._watch_loop(inp)
        while not self._stop:
            await self._probe_round()
            await self._start_failovers()
            await self._events.flush()
            self._show()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._stop,
                    timeout=timedelta(seconds=policy.probe_interval),
                    timeout_summary="probe interval",
                )
            length = workflow.info().get_current_history_length()
            if not self._stop and (
                length >= policy.history_bound or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._continue_as_new(inp, length)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    async def _probe_round(self) -> None:
        inp = self._inp
        names = [r.name for r in inp.topology.regions]
        results = await asyncio.gather(*(self._probe(n) for n in names), return_exceptions=True)
        now = workflow.now()
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                continue  # the probe itself could not run (throttled past retries): no evidence either way
            sample = ProbeSample(
                region=name,
                at=now,
                ok=result.ok,
                error_rate=result.error_rate,
                latency_p99_ms=result.latency_p99_ms,
                blind=result.blind,
            )
            self._status.last[name] = sample
            state = self._status.states.get(name, RegionTriggerState())
            state, firings = evaluate(state, sample, inp.policies.failover)
            self._status.states[name] = state
            for firing in firings:
                self._on_firing(firing)
            self._track_recovery(name, sample)
            self._announce_readiness(name, sample)
        self._status.probes += 1

    def _announce_readiness(self, name: str, sample: ProbeSample) -> None:
        """A region that turns ready, unhealthy or blind (no data) is announced once per change."""
        now = "blind" if sample.blind else "ready" if sample.ok else "unhealthy"
        before = self._readiness.get(name)
        self._readiness[name] = now
        if before is not None and before != now:
            self._emit_readiness(name, before, now, self._status.probes)

    def _emit_readiness(self, name: str, before: str, now: str, probe: int) -> None:
        self._events.emit(
            "readiness_changed",
            f"{self._inp.service} in {name}: {before} → {now}",
            step=f"{name}/probe-{probe}",
            region=name,
            status=now,
        )

    # ------------------------------------------------------------------ watch mode (patch monitor-watch)

    async def _watch_loop(self, inp: MonitorInput) -> None:
        """One watch activity per task queue probes its regions; act on whatever one returns (B6 cost).

        While watches run, an approval or a finished failover wakes the loop to start failovers; a
        watch that returns is folded in exactly as a probe round would be, then started again.
        """
        policy = inp.policies.failover
        groups: dict[str, list[WatchRegion]] = {}
        for region in inp.topology.regions:
            queue = inp.topology.task_queue_for(region.name)
            groups.setdefault(queue, []).append(WatchRegion(name=region.name, provider=region.provider))
        running: dict[str, workflow.ActivityHandle[WatchResult]] = {}
        while not self._stop:
            for queue, regions in groups.items():
                if queue not in running:
                    running[queue] = self._start_watch(queue, regions)
            self._wake = False
            await workflow.wait_condition(
                lambda: self._stop or self._wake or any(h.done() for h in running.values())
            )
            failed = False
            for queue, handle in list(running.items()):
                if handle.done():
                    del running[queue]
                    try:
                        self._on_watch(handle.result())
                    except ActivityError:
                        failed = True  # only a non-retryable error ends a watch: no evidence either way
            await self._start_failovers()
            await self._events.flush()
            self._show()
            if failed and not self._stop:
                await workflow.sleep(timedelta(seconds=policy.probe_interval), summary="watch failed: wait")
            length = workflow.info().get_current_history_length()
            if not self._stop and (
                length >= policy.history_bound
                or (not running and workflow.info().is_continue_as_new_suggested())
            ):
                # A watch still running is abandoned: it learns so at its next heartbeat.
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._continue_as_new(inp, length)

    def _start_watch(self, queue: str, regions: list[WatchRegion]) -> workflow.ActivityHandle[WatchResult]:
        inp, status, mine = self._inp, self._status, {r.name for r in regions}
        policy = inp.policies.failover
        have = self._watch
        state = WatchState(
            probes=have.probes,
            states={k: v for k, v in have.states.items() if k in mine},
            streaks={k: v for k, v in have.streaks.items() if k in mine},
            readiness={k: v for k, v in have.readiness.items() if k in mine},
            last={k: v for k, v in have.last.items() if k in mine},
        )
        busy = set(status.active) | set(status.pending)
        watch = WatchInput(
            service=inp.service,
            regions=regions,
            policy=policy,
            call_timeout=inp.policies.call_timeout,
            state=state,
            exclude=sorted(busy & mine),
            recovering=sorted((busy | set(status.done)) & mine),
            first_round_returns=not have.readiness,  # no baseline yet: show the first round at once
        )
        longest = policy.watch_window + policy.watch_heartbeat + policy.probe_interval
        longest += inp.policies.call_timeout
        return workflow.start_activity_method(
            WatchActivities.watch_regions,
            watch,
            task_queue=queue,
            start_to_close_timeout=timedelta(seconds=longest),
            heartbeat_timeout=timedelta(seconds=policy.watch_heartbeat),
            retry_policy=WATCH_RETRY,
            summary=f"watch {len(regions)} regions every {policy.probe_interval:g}s",
        )

    def _on_watch(self, result: WatchResult) -> None:
        """Fold a finished watch in: its counters, last samples, triggers, recoveries and changes."""
        got, have = result.state, self._watch
        self._watch = WatchState(
            probes=max(have.probes, got.probes),
            states={**have.states, **got.states},
            streaks={**have.streaks, **got.streaks},
            readiness={**have.readiness, **got.readiness},
            last={**have.last, **got.last},
        )
        status = self._status
        status.probes = self._watch.probes
        status.states.update(got.states)
        status.last.update(got.last)
        for firing in result.firings:
            self._on_firing(firing)
        for name in result.recovered:
            status.active.pop(name, None)
            status.pending.pop(name, None)
            status.done.pop(name, None)
        for change in result.changes:
            self._emit_readiness(change.region, change.before, change.now, change.probe)
        self._readiness.update(got.readiness)

    async def _probe(self, name: str) -> ProbeResult:
        inp = self._inp
        region = inp.topology.region(name)
        return await workflow.execute_activity_method(
            TrafficActivities.probe_region,
            RegionRef(service=inp.service, region=name, provider=region.provider),
            task_queue=inp.topology.task_queue_for(name),
            start_to_close_timeout=call_timeout(self._inp.policies),
            heartbeat_timeout=heartbeat_timeout(self._inp.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{name}: probe",
        )

    def _on_firing(self, firing: Firing) -> None:
        status = self._status
        if firing.region in status.active or firing.region in status.pending:
            return
        status.firings = [*status.firings[-19:], firing]
        status.pending[firing.region] = firing
        if firing.mode == "auto":
            self._approved.add(firing.region)

    def _track_recovery(self, name: str, sample: ProbeSample) -> None:
        """A region that passes several probes in a row may fail over again later."""
        if sample.ok and not sample.blind:
            self._healthy_streak[name] = self._healthy_streak.get(name, 0) + 1
            if self._healthy_streak[name] >= RECOVERY_PROBES:
                self._status.active.pop(name, None)
                self._status.pending.pop(name, None)
                self._status.done.pop(name, None)
        else:
            self._healthy_streak[name] = 0

    async def _start_failovers(self) -> None:
        inp, status = self._inp, self._status
        for region, firing in list(status.pending.items()):
            if region not in self._approved:
                continue
            running = [r for r in status.active if r not in status.done]
            if len(running) >= inp.policies.failover.max_concurrent:
                return  # safety rule: at most N failovers of a service at once
            wid = ids.failover_id(inp.service, region)
            request = FailoverRequest(
                service=inp.service,
                from_region=region,
                topology=inp.topology,
                policies=inp.policies,
                request_id=f"{workflow.info().workflow_id}-{firing.fired_at:%Y%m%dT%H%M%S}",
                requested_by="monitor",
                trigger=firing.trigger,
                first_bad_at=firing.first_bad_at,
                detected_at=firing.fired_at,
            )
            # One already running for this region (started by hand) is treated as ours.
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await workflow.start_child_workflow(
                    failover_workflow.RegionFailoverWorkflow.run,
                    request,
                    id=wid,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    static_summary=f"failover {inp.service}: {region} ({firing.trigger})",
                )
            status.active[region] = wid
            status.done.pop(region, None)
            status.pending.pop(region, None)
            self._approved.discard(region)

    def _show(self) -> None:
        workflow.set_current_details(monitor_details(self._status, self._inp.topology.ordered_region_names()))

"""Health monitor: probes every region, evaluates triggers, starts failovers; bounded by continue-as-new."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.traffic_activities import TrafficActivities
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

# Imported as a module: the failover module imports this one too (it signals its monitor).
from workflows import failover as failover_workflow
from workflows.logic.approvals import remembered
from workflows.logic.failover import evaluate
from workflows.logic.markdown import monitor_details
from workflows.notify import Announcer
from workflows.retries import CLOUD_RETRY, call_timeout, heartbeat_timeout
from workflows.signing import check_signed, check_unsigned

#: Probes a region must pass in a row before an active failover entry is cleared.
RECOVERY_PROBES = 3


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

    @workflow.update
    def stop(self) -> str:
        """End monitoring after the current probe round."""
        self._stop = True
        return "stopping"

    @workflow.run
    async def run(self, inp: MonitorInput) -> MonitorStatus:
        """Probe, evaluate, act, sleep; continue as new before the history passes its bound."""
        policy = inp.policies.failover
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
            self._events.emit(
                "readiness_changed",
                f"{self._inp.service} in {name}: {before} → {now}",
                step=f"{name}/probe-{self._status.probes}",
                region=name,
                status=now,
            )

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

"""Regional failover: pick a safe target, pre-scale, check lag, shift traffic, validate; undo on failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cloud_activities import CloudActivities
    from activities.traffic_activities import TrafficActivities
    from contracts import ids
    from contracts import search_attributes as sa
    from contracts.change import Freeze, FreezeSet
    from contracts.cloud import (
        RegionState,
        TrafficState,
    )
    from contracts.failover import (
        Candidate,
        FailoverDone,
        FailoverReport,
        FailoverRequest,
        ProbeResult,
        SetTrafficInput,
        TrafficRef,
    )
    from contracts.rollout import (
        RegionRef,
        ScaleGroupInput,
    )

# The monitor starts failovers and a failover signals its monitor: each module imports the other as a
# module and reads the class when it runs, so either can be imported first.
from workflows import monitor as monitor_workflow
from workflows import patches
from workflows import rollout as rollout_wf
from workflows.freeze_api import FreezeAware, FreezeWatch, freeze_text
from workflows.logic.failover import (
    against_targets,
    choose_target,
    healthy_probe,
    measure,
    record_ttl,
    safe_to_shift,
    shifted_weights,
    visible_after,
)
from workflows.logic.markdown import state, table
from workflows.notify import Announcer
from workflows.retries import CLOUD_RETRY, UNDO_RETRY, call_timeout, heartbeat_timeout


class _Refused(Exception):
    """A safety rule or the target choice says no: nothing was changed."""


class _Failed(Exception):
    """A step failed after something changed: the saga undoes it."""


@workflow.defn(name="RegionFailoverWorkflow")
class RegionFailoverWorkflow(FreezeAware):
    """Moves a failed region's traffic to the best safe region and reports how long each part took."""

    @workflow.init
    def __init__(self, req: FailoverRequest) -> None:
        self._req = req
        self._report = FailoverReport(
            workflow_id=workflow.info().workflow_id,
            service=req.service,
            from_region=req.from_region,
            to_region=req.to_region,
            trigger=req.trigger,
        )
        self._undo: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        self._watch = FreezeWatch("failover", req.service)
        self._events = Announcer(
            req.policies,
            operation="failover",
            service=req.service,
            key=f"{workflow.info().workflow_id}/{req.request_id}",
            release=None,
        )
        self._abort: str | None = None

    @workflow.query
    def report(self) -> FailoverReport:
        """Where the failover is, and its timings so far."""
        return self._report

    @workflow.update
    def abort(self, reason: str) -> str:
        """Stop and undo every step taken (traffic back, pre-scaling removed)."""
        self._abort = reason or "aborted by operator"
        return "aborting"

    @abort.validator
    def _check_abort(self, reason: str) -> None:
        if self._report.status != "running":
            raise ValueError("the failover is not running")

    async def _freezes_changed(self, freezes: FreezeSet) -> None:
        """The active freezes: only one that says `all` holds a failover (an emergency)."""
        self._watch.changed(freezes)

    @workflow.run
    async def run(self, req: FailoverRequest) -> FailoverReport:
        """Decide, then act step by step; refuse without change, or undo what changed on failure."""
        r = self._report
        r.traffic_layer = req.topology.traffic.provider if req.topology.traffic else None
        r.dns_ttl_s = self._ttl()
        started = workflow.now()
        first_bad = req.first_bad_at or started
        detected = req.detected_at or started
        registered = workflow.patched(patches.FREEZE_AWARE.id)
        if registered:
            await self._watch.register(answer_within=5.0)
        try:
            weights, candidates, failed = await self._gather()
            choice = choose_target(
                failed,
                candidates,
                residency=self._residency(),
                group_of=req.topology.group_of,
                moved_traffic=weights.weights.get(req.from_region, 0.0),
                rpo_target_s=req.policies.failover.rpo_target,
                preferred=req.to_region,
                require_lag=self._require_lag(),
                layer=req.topology.traffic.provider if req.topology.traffic else None,
                layer_regions=set(weights.weights),
            )
            r.rejected_candidates = choice.rejected
            if choice.target is None:
                raise _Refused("no region qualifies as a failover target")
            target = r.to_region = choice.target
            healthy = {c.region: c.healthy for c in candidates} | {req.from_region: failed.healthy}
            problem = safe_to_shift(weights.weights, healthy, req.from_region, target)
            if problem:
                raise _Refused(problem)
            if registered:
                await self._watch.wait([req.from_region, target], self._show_frozen)
            decided = workflow.now()
            self._step(f"decided: {req.from_region} → {target}")
            self._events.emit(
                "failover_started",
                f"{req.service}: failing over {req.from_region} → {target} ({req.trigger})",
                region=req.from_region,
                status="running",
            )
            await self._hold_rollout(req.from_region)
            await self._prescale(target, choice.needed_instances)
            await self._check_lag(target)
            r.weights_before = dict(weights.weights)
            after = shifted_weights(weights.weights, req.from_region, target)
            undo = ("traffic back", lambda: self._set_traffic(r.weights_before, "undo-shift"))
            early = workflow.patched(patches.UNDO_BEFORE_STEP.id)
            if early:
                self._undo.append(undo)
            await self._set_traffic(after, "shift")
            if not early:
                self._undo.append(undo)
            shifted = workflow.now()
            r.weights_after = after
            ttl = self._ttl()
            r.traffic_shift_visible_after = shifted + timedelta(seconds=ttl)
            self._step(
                f"traffic shifted: {req.from_region} {weights.weights.get(req.from_region, 0):.1%} → {target}"
            )
            await self._validate(target)
            finished = workflow.now()
            r.timings = visible_after(measure(first_bad, detected, decided, shifted, finished), ttl)
            r.targets_met = against_targets(r.timings, req.policies.failover, ttl)
            r.status, r.phase = "succeeded", "done"
        except _Refused as refusal:
            r.status, r.phase, r.reason = "refused", "done", str(refusal)
            await self._release_rollout(req.from_region)
        except (_Failed, ActivityError) as err:
            await self._compensate()
            cause = err.cause if isinstance(err, ActivityError) and err.cause else err
            r.status, r.phase, r.reason = ("aborted" if self._abort else "failed"), "done", str(cause)
            await self._release_rollout(req.from_region)
        except asyncio.CancelledError:
            await self._compensate()
            r.status, r.reason = "aborted", "cancelled"
            await self._release_rollout(req.from_region)
            raise
        finally:
            workflow.upsert_search_attributes([sa.STATUS.value_set(r.status)])
            self._show()
            if workflow.patched(patches.NOTIFY_MONITOR.id):
                await self._notify_monitor()
            if registered:
                await self._watch.unregister()
        why = f": {r.reason}" if r.reason else ""
        moved = f" → {r.to_region}" if r.to_region else ""
        self._events.emit(
            "failover_done",
            f"{req.service}: failover of {req.from_region}{moved} {r.status}{why}",
            region=req.from_region,
            status=r.status,
        )
        await self._events.flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return r

    # ----- steps -----------------------------------------------------------------------------

    async def _gather(self) -> tuple[TrafficState, list[Candidate], Candidate]:
        """Probe every region and read traffic, capacity and lag: the facts the decision needs."""
        req = self._req
        weights = await workflow.execute_activity_method(
            TrafficActivities.get_traffic,
            TrafficRef(
                service=req.service,
                provider=req.topology.region(req.from_region).provider,
                layer=req.topology.traffic,
            ),
            start_to_close_timeout=call_timeout(self._req.policies),
            heartbeat_timeout=heartbeat_timeout(self._req.policies),
            retry_policy=CLOUD_RETRY,
            summary="read global traffic weights",
        )
        names = [r.name for r in req.topology.regions]
        facts = await asyncio.gather(*(self._candidate(n, weights) for n in names))
        by_name = dict(zip(names, facts, strict=True))
        failed = by_name.pop(req.from_region)
        return weights, list(by_name.values()), failed

    async def _candidate(self, name: str, weights: TrafficState) -> Candidate:
        req = self._req
        region = req.topology.region(name)
        queue = req.topology.task_queue_for(name)
        ref = RegionRef(service=req.service, region=name, provider=region.provider)
        probe: ProbeResult = await workflow.execute_activity_method(
            TrafficActivities.probe_region,
            ref,
            task_queue=queue,
            start_to_close_timeout=call_timeout(self._req.policies),
            heartbeat_timeout=heartbeat_timeout(self._req.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{name}: probe",
        )
        lag: float | None = None
        instances = region.instances
        if probe.ok and not probe.blind and name != req.from_region:
            state: RegionState = await workflow.execute_activity_method(
                CloudActivities.region_state,
                ref,
                task_queue=queue,
                start_to_close_timeout=call_timeout(self._req.policies),
                heartbeat_timeout=heartbeat_timeout(self._req.policies),
                retry_policy=CLOUD_RETRY,
                summary=f"{name}: capacity",
            )
            instances = state.instances
            lag = await workflow.execute_activity_method(
                TrafficActivities.replica_lag,
                ref,
                task_queue=queue,
                start_to_close_timeout=call_timeout(self._req.policies),
                heartbeat_timeout=heartbeat_timeout(self._req.policies),
                retry_policy=CLOUD_RETRY,
                summary=f"{name}: replica lag",
            )
        return Candidate(
            region=name,
            jurisdiction=region.jurisdiction,
            provider=region.provider,
            healthy=probe.ok and not probe.blind,
            blind=probe.blind,
            traffic=weights.weights.get(name, 0.0),
            instances=instances,
            max_instances=region.capacity_limit,
            latency_ms=region.latency_ms,
            replica_lag_s=lag,
        )

    async def _prescale(self, target: str, needed: int) -> None:
        req = self._req
        region = req.topology.region(target)
        ref = RegionRef(service=req.service, region=target, provider=region.provider)
        state: RegionState = await workflow.execute_activity_method(
            CloudActivities.region_state,
            ref,
            task_queue=req.topology.task_queue_for(target),
            start_to_close_timeout=call_timeout(self._req.policies),
            heartbeat_timeout=heartbeat_timeout(self._req.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{target}: read capacity",
        )
        if needed <= state.instances or state.release is None:
            self._step(f"{target}: capacity {state.instances} is enough")
            return
        release, before = state.release, state.instances

        async def scale(count: int, step: str) -> object:
            return await workflow.execute_activity_method(
                CloudActivities.scale_group,
                ScaleGroupInput(
                    **ref.model_dump(), group="stable", release=release, count=count, key=self._key(step)
                ),
                task_queue=req.topology.task_queue_for(target),
                start_to_close_timeout=call_timeout(self._req.policies),
                heartbeat_timeout=heartbeat_timeout(self._req.policies),
                retry_policy=UNDO_RETRY if step.startswith("undo") else CLOUD_RETRY,
                summary=f"{target}: scale to {count} instances",
            )

        self._report.target_instances_before = before
        undo = (f"{target} back to {before} instances", lambda: scale(before, "undo-prescale"))
        # Registered before the call: a call that scaled and then failed for good is undone too.
        early = workflow.patched(patches.UNDO_BEFORE_STEP.id)
        if early:
            self._undo.append(undo)
        await scale(needed, "prescale")
        if not early:
            self._undo.append(undo)
        self._step(f"{target}: pre-scaled {before} → {needed} instances")

    async def _check_lag(self, target: str) -> None:
        req = self._req
        region = req.topology.region(target)
        lag = await workflow.execute_activity_method(
            TrafficActivities.replica_lag,
            RegionRef(service=req.service, region=target, provider=region.provider),
            task_queue=req.topology.task_queue_for(target),
            start_to_close_timeout=call_timeout(self._req.policies),
            heartbeat_timeout=heartbeat_timeout(self._req.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{target}: replica lag against RPO",
        )
        rpo = req.policies.failover.rpo_target
        if lag is None:
            if self._require_lag():  # an automatic failover needs the lag it promises to respect
                raise _Failed(f"{target}: replica lag unknown; an automatic failover needs it within the RPO")
            self._step(f"{target}: replica lag unknown (manual failover: the operator decided)")
            return
        if lag > rpo:
            raise _Failed(f"{target}: replica lag {lag:g}s exceeds the RPO target {rpo:g}s")
        self._step(f"{target}: replica lag {lag:g}s within RPO {rpo:g}s")

    async def _set_traffic(self, weights: dict[str, float], step: str) -> TrafficState:
        req = self._req
        return await workflow.execute_activity_method(
            TrafficActivities.set_traffic,
            SetTrafficInput(
                service=req.service,
                provider=req.topology.region(req.from_region).provider,
                layer=req.topology.traffic,
                weights=weights,
                key=self._key(step),
            ),
            start_to_close_timeout=call_timeout(self._req.policies),
            heartbeat_timeout=heartbeat_timeout(self._req.policies),
            retry_policy=UNDO_RETRY if step.startswith("undo") else CLOUD_RETRY,
            summary=f"traffic weights: {step}",
        )

    async def _validate(self, target: str) -> None:
        """The target must stay healthy under its new load for `validate_samples` probes."""
        req = self._req
        policy = req.policies.failover
        region = req.topology.region(target)
        for n in range(1, policy.validate_samples + 1):
            if self._abort:
                raise _Failed(self._abort)
            if n > 1:
                await workflow.sleep(
                    timedelta(seconds=policy.probe_interval), summary=f"{target}: validate interval"
                )
            probe: ProbeResult = await workflow.execute_activity_method(
                TrafficActivities.probe_region,
                RegionRef(service=req.service, region=target, provider=region.provider),
                task_queue=req.topology.task_queue_for(target),
                start_to_close_timeout=call_timeout(self._req.policies),
                heartbeat_timeout=heartbeat_timeout(self._req.policies),
                retry_policy=CLOUD_RETRY,
                summary=f"{target}: validate under load {n}/{policy.validate_samples}",
            )
            if not healthy_probe(probe, req.policies.health.max_error_rate):
                shown = probe.detail or f"error rate {probe.error_rate:.2%}"
                raise _Failed(f"{target} unhealthy under the new load: {shown}")
        self._step(f"{target}: healthy under the new load ({policy.validate_samples} probes)")

    async def _compensate(self) -> None:
        """Undo in reverse order (a saga); each undo is an idempotent, keyed activity."""
        while self._undo:
            what, undo = self._undo.pop()
            await undo()
            self._step(f"undone: {what}")

    def _show_frozen(self, held: list[Freeze]) -> None:
        self._report.phase = freeze_text(held)
        self._show()

    async def _hold_rollout(self, region: str) -> None:
        await self._signal_rollout(rollout_wf.RegionalRolloutWorkflow.hold_region, "hold region", region)

    async def _release_rollout(self, region: str) -> None:
        await self._signal_rollout(
            rollout_wf.RegionalRolloutWorkflow.release_region, "release region", region
        )

    async def _notify_monitor(self) -> None:
        """Free the monitor's concurrency slot (the safety rule counts running failovers only)."""
        r = self._report
        monitor = monitor_workflow.RegionHealthMonitorWorkflow
        handle = workflow.get_external_workflow_handle_for(monitor.run, ids.monitor_id(r.service))
        done = FailoverDone(region=r.from_region, workflow_id=r.workflow_id, status=r.status)
        try:
            await handle.signal(monitor.failover_finished, done)
        except Exception:  # noqa: BLE001 - no monitor running (a failover started by hand)
            return

    async def _signal_rollout(
        self, signal: Callable[[rollout_wf.RegionalRolloutWorkflow, str], None], what: str, region: str
    ) -> None:
        """Tell a running rollout of the service to hold (or release) the region; none running is fine."""
        handle = workflow.get_external_workflow_handle_for(
            rollout_wf.RegionalRolloutWorkflow.run, ids.rollout_id(self._req.service)
        )
        try:
            await handle.signal(signal, region)
        except Exception:  # noqa: BLE001 - no rollout running: nothing to pause
            return
        self._step(f"rollout: {what} {region}")

    # ----- presentation ------------------------------------------------------------------------

    def _require_lag(self) -> bool:
        """An automatic failover needs a known lag; a manual one (or a practice, by policy) may go without."""
        req = self._req
        return req.require_lag if req.require_lag is not None else req.trigger != "manual"

    def _ttl(self) -> float:
        """The records' TTL: the global layer's when the topology has one, else the policy's dns_ttl."""
        layer = self._req.topology.traffic
        return record_ttl(self._req.policies.failover, layer.ttl if layer else None)

    def _residency(self) -> bool:
        service = self._req.topology.service(self._req.service)
        return bool(service and service.data_residency)

    def _key(self, step: str) -> str:
        return f"{workflow.info().workflow_id}/{self._req.request_id}/{step}"

    def _step(self, text: str) -> None:
        self._report.steps.append(text)
        self._report.phase = text
        self._show()

    def _show(self) -> None:
        r = self._report
        route = f"{r.from_region} → {r.to_region or '?'}"
        lines = [f"**failover {r.service}: {route}** · {state(r.status)} · {r.phase}"]
        if r.timings:
            lines.append(
                " · ".join(
                    f"{k} {v:.1f}s ({'met' if r.targets_met.get(k, True) else 'missed'})"
                    for k, v in r.timings.items()
                )
            )
        if r.rejected_candidates:
            rejected = [[c.region, c.reason] for c in r.rejected_candidates]
            lines += ["", *table(["Candidate", "Rejected because"], rejected)]
        lines += ["", *[f"- {s}" for s in r.steps]]
        workflow.set_current_details("\n".join(lines))

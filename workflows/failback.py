"""Failback: once a failed region has been healthy long enough, return its traffic in gated steps."""

from __future__ import annotations

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
        FailbackReport,
        FailbackRequest,
        ProbeResult,
        SetTrafficInput,
        TrafficRef,
    )
    from contracts.rollout import (
        RegionRef,
        ScaleGroupInput,
    )

from workflows import patches
from workflows import rollout as rollout_wf
from workflows.freeze_api import FreezeAware, FreezeWatch, freeze_text
from workflows.logic.failover import failback_weights, healthy_probe
from workflows.retries import CLOUD_RETRY, UNDO_RETRY, activity_options, call_timeout, heartbeat_timeout


@workflow.defn(name="FailbackWorkflow")
class FailbackWorkflow(FreezeAware):
    """Waits for sustained recovery, then 10 → 50 → 100 % back with a health gate at each step."""

    @workflow.init
    def __init__(self, req: FailbackRequest) -> None:
        self._req = req
        self._watch = FreezeWatch("failback", req.service)
        self._report = FailbackReport(
            workflow_id=workflow.info().workflow_id, service=req.service, region=req.region, backup=req.backup
        )

    @workflow.query
    def report(self) -> FailbackReport:
        """Where the failback is."""
        return self._report

    @workflow.run
    async def run(self, req: FailbackRequest) -> FailbackReport:
        """Wait for recovery; step traffic back; on a failed gate put it all on the backup again."""
        r = self._report
        before: dict[str, float] | None = None  # the weights to restore while traffic is moving
        registered = workflow.patched(patches.FREEZE_AWARE.id)
        if registered:
            await self._watch.register(answer_within=5.0)
        try:
            if not await self._await_recovery():
                r.status, r.reason = "failed", f"{req.region} did not stay healthy within {req.max_wait_s:g}s"
                return r
            if registered:
                await self._watch.wait([req.region, req.backup], self._show_frozen)
            start = await self._traffic()
            before = dict(start.weights)
            current = dict(before)
            for percent in req.policies.failover.failback.steps:
                current = failback_weights(current, req.region, req.backup, req.original_share, percent)
                await self._set(current, f"step-{percent:g}")
                r.phase = f"{percent:g}% of traffic back on {req.region}"
                self._show()
                if not await self._gate(percent):
                    await self._set(before, f"undo-{percent:g}")
                    r.status = "failed"
                    r.reason = f"health gate failed at {percent:g}%: traffic left on {req.backup}"
                    r.weights_after = before
                    return r
                r.steps_done.append(percent)
            before = None  # every step is done: from here on nothing is undone
            r.status, r.phase, r.weights_after = "succeeded", "done", current
            if req.backup_instances and workflow.patched(patches.SCALE_BACK_BACKUP.id):
                await self._scale_back(req.backup_instances)
            await self._release_rollout()
            return r
        except ActivityError as err:
            r.status, r.reason = "failed", str(err.cause or err)
            if before is not None and workflow.patched(patches.UNDO_BEFORE_STEP.id):
                await self._restore(before)  # a step failed midway: all traffic on the backup again
            return r
        finally:
            workflow.upsert_search_attributes([sa.STATUS.value_set(r.status)])
            self._show()
            if registered:
                await self._watch.unregister()

    async def _freezes_changed(self, freezes: FreezeSet) -> None:
        """The active freezes: only one that says `all` holds a failback (part of an emergency)."""
        self._watch.changed(freezes)

    def _show_frozen(self, held: list[Freeze]) -> None:
        self._report.phase = freeze_text(held)
        self._show()

    async def _restore(self, before: dict[str, float]) -> None:
        """Put the weights of before the failback back: a target state, safe whatever the failed step did."""
        r = self._report
        try:
            await self._set(before, "undo-error")
        except ActivityError as err:
            r.reason = f"{r.reason}; putting traffic back on {self._req.backup} failed: {err.cause or err}"
            return
        r.reason = f"{r.reason}; traffic left on {self._req.backup}"
        r.weights_after = before

    async def _await_recovery(self) -> bool:
        """Probe until the region has been healthy for `healthy_for` in a row (or give up)."""
        req = self._req
        policy = req.policies.failover
        deadline = workflow.now() + timedelta(seconds=req.max_wait_s)
        healthy_since = None
        while workflow.now() < deadline:
            probe = await self._probe(req.region, "recovery probe")
            now = workflow.now()
            if healthy_probe(probe, req.policies.health.max_error_rate):
                healthy_since = healthy_since or now
                if (now - healthy_since).total_seconds() >= policy.failback.healthy_for:
                    return True
            else:
                healthy_since = None
            self._report.phase = (
                f"healthy for {(now - healthy_since).total_seconds():.0f}s"
                f" of {policy.failback.healthy_for:g}s"
                if healthy_since
                else f"waiting for {req.region} to recover"
            )
            self._show()
            await workflow.sleep(
                timedelta(seconds=policy.probe_interval), summary=f"{req.region}: recovery probe"
            )
        return False

    async def _gate(self, percent: float) -> bool:
        req = self._req
        policy = req.policies.failover.failback
        await workflow.sleep(timedelta(seconds=policy.step_bake), summary=f"bake at {percent:g}%")
        for n in range(1, policy.samples + 1):
            if n > 1:
                await workflow.sleep(
                    timedelta(seconds=req.policies.failover.probe_interval), summary="failback probe interval"
                )
            probe = await self._probe(req.region, f"gate {percent:g}% {n}/{policy.samples}")
            if not healthy_probe(probe, req.policies.health.max_error_rate):
                return False
        return True

    async def _probe(self, region: str, what: str) -> ProbeResult:
        req = self._req
        return await workflow.execute_activity_method(
            TrafficActivities.probe_region,
            RegionRef(service=req.service, region=region, provider=req.topology.region(region).provider),
            task_queue=req.topology.task_queue_for(region),
            start_to_close_timeout=call_timeout(self._req.policies),
            heartbeat_timeout=heartbeat_timeout(self._req.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{region}: {what}",
        )

    async def _traffic(self) -> TrafficState:
        req = self._req
        return await workflow.execute_activity_method(
            TrafficActivities.get_traffic,
            TrafficRef(
                service=req.service,
                provider=req.topology.region(req.region).provider,
                layer=req.topology.traffic,
            ),
            start_to_close_timeout=call_timeout(self._req.policies),
            heartbeat_timeout=heartbeat_timeout(self._req.policies),
            retry_policy=CLOUD_RETRY,
            summary="read global traffic weights",
        )

    async def _set(self, weights: dict[str, float], step: str) -> None:
        req = self._req
        await workflow.execute_activity_method(
            TrafficActivities.set_traffic,
            SetTrafficInput(
                service=req.service,
                provider=req.topology.region(req.region).provider,
                layer=req.topology.traffic,
                weights=weights,
                key=f"{workflow.info().workflow_id}/{req.request_id}/{step}",
            ),
            start_to_close_timeout=call_timeout(self._req.policies),
            heartbeat_timeout=heartbeat_timeout(self._req.policies),
            retry_policy=UNDO_RETRY if step.startswith("undo") else CLOUD_RETRY,
            summary=f"traffic weights: {step}",
        )

    async def _scale_back(self, count: int) -> None:
        """The backup no longer carries the region's traffic: remove the failover's extra capacity."""
        req = self._req
        region = req.topology.region(req.backup)
        ref = RegionRef(service=req.service, region=req.backup, provider=region.provider)
        state: RegionState = await workflow.execute_activity_method(
            CloudActivities.region_state,
            ref,
            **activity_options(req.topology, req.policies, req.backup, f"{req.backup}: read capacity"),
        )
        if state.release is None or state.instances <= count:
            return
        await workflow.execute_activity_method(
            CloudActivities.scale_group,
            ScaleGroupInput(
                **ref.model_dump(),
                group="stable",
                release=state.release,
                count=count,
                key=f"{workflow.info().workflow_id}/{req.request_id}/scale-back",
            ),
            **activity_options(
                req.topology, req.policies, req.backup, f"{req.backup}: scale back to {count} instances"
            ),
        )
        self._report.phase = f"done; {req.backup} scaled back {state.instances} → {count}"

    async def _release_rollout(self) -> None:
        handle = workflow.get_external_workflow_handle_for(
            rollout_wf.RegionalRolloutWorkflow.run, ids.rollout_id(self._req.service)
        )
        try:
            await handle.signal(rollout_wf.RegionalRolloutWorkflow.release_region, self._req.region)
        except Exception:  # noqa: BLE001 - no rollout running: nothing to resume
            return

    def _show(self) -> None:
        r = self._report
        workflow.set_current_details(
            f"**failback {r.service}: {r.backup} → {r.region}** · {r.status} · {r.phase}\n\n"
            f"steps done: {', '.join(f'{s:g}%' for s in r.steps_done) or 'none'}"
        )

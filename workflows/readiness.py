"""Standing readiness: read every region once (probe, capacity, lag, snapshots, quota, past practices and
drills) and say, per region, whether it could fail over and be recovered now, with every reason why not.

It changes nothing. Each evaluation publishes its verdict as search attributes (GlobalopsNotReady) and
Web UI details, and announces `standing_readiness_changed` for each region whose state differs from
the previous evaluation of the service, found through visibility (the newest completed one and its
search attributes).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cloud_activities import CloudActivities
    from activities.readiness_activities import ReadinessActivities
    from activities.storage_activities import StorageActivities
    from activities.traffic_activities import TrafficActivities
    from contracts import search_attributes as sa
    from contracts.cloud import RegionState, TrafficState
    from contracts.dr import StorageRef
    from contracts.failover import Candidate, ProbeResult, TrafficRef
    from contracts.readiness import HistoryQuery, ReadinessHistory, ReadinessReport, ReadinessRequest
    from contracts.rollout import PreflightInput, RegionRef
    from contracts.storage import Snapshot

from workflows.logic.readiness import Facts, changes, evaluate_region, markdown, plan, previous_states
from workflows.notify import Announcer
from workflows.retries import READ_RETRY, call_timeout


def _reason(err: BaseException) -> str:
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return str(err) or type(err).__name__


@workflow.defn(name="ReadinessWorkflow")
class ReadinessWorkflow:
    """One evaluation of a service's readiness (by hand, or hourly from its schedule)."""

    @workflow.init
    def __init__(self, req: ReadinessRequest) -> None:
        self._req = req
        self._report = ReadinessReport(workflow_id=workflow.info().workflow_id, service=req.service)

    @workflow.query
    def report(self) -> ReadinessReport:
        """The evaluation so far (regions once evaluated)."""
        return self._report

    @workflow.run
    async def run(self, req: ReadinessRequest) -> ReadinessReport:
        """Read the facts, evaluate each region, publish the verdict, announce what changed."""
        r = self._report
        workflow.set_current_details(f"**readiness {req.service}** · reading every region")
        names = req.topology.region_names()
        history_call = asyncio.ensure_future(self._history())
        snapshots_call = asyncio.gather(*(self._snapshots(n) for n in names), return_exceptions=True)
        weights = await self._weights()
        read = await asyncio.gather(*(self._candidate(n, weights) for n in names))
        candidates = [c for c, _ in read]
        states = {c.region: st for c, st in read if st is not None}
        listed = await snapshots_call
        history_error: str | None = None
        try:
            history = await history_call
        except ActivityError as err:  # visibility unreadable: nothing passed is known, nothing compared
            history, history_error = ReadinessHistory(), _reason(err)
        snapshots: list[Snapshot] = []
        unreadable: list[str] = []
        for name, found in zip(names, listed, strict=True):
            if isinstance(found, BaseException):
                unreadable.append(f"{name}: {_reason(found)}")
            else:
                snapshots.extend(found)
        quota = await self._quota(candidates, states)
        facts = Facts(
            candidates=candidates,
            quota=quota,
            snapshots=snapshots,
            unreadable=unreadable,
            last_practice=history.last_practice,
            last_drill=history.last_drill,
            history_error=history_error,
            layer_regions=frozenset(weights) if req.topology.traffic is not None else frozenset(),
        )
        now = workflow.now()
        r.evaluated_at = now
        order = req.topology.ordered_region_names()
        r.regions = [evaluate_region(n, facts, req.topology, req.policies, req.service, now) for n in order]
        r.not_ready = [x.region for x in r.regions if x.state == "not_ready"]
        r.state = "not_ready" if r.not_ready else "ready"
        before = history.previous
        r.previous_workflow_id = before.workflow_id if before else None
        if history_error is None:  # without the previous evaluation no change can be told
            r.changes = changes(
                previous_states(before.regions, before.not_ready) if before else None, r.regions
            )
        r.markdown = markdown(req.service, r.regions, now, order)
        workflow.upsert_search_attributes(
            [sa.STATUS.value_set(r.state), sa.NOT_READY.value_set(r.not_ready), sa.REGIONS.value_set(names)]
        )
        workflow.set_current_details(r.markdown)
        await self._announce()
        return r

    async def _announce(self) -> None:
        r, req = self._report, self._req
        events = Announcer(
            req.policies,
            operation="readiness",
            service=req.service,
            key=f"{workflow.info().workflow_id}/{req.request_id}",
            release=None,
        )
        by_name = {x.region: x for x in r.regions}
        for change in r.changes:
            region = by_name[change.region]
            was = change.before.replace("_", " ") if change.before else "unknown"
            why = f": {'; '.join(region.reasons)}" if region.reasons else ""
            events.emit(
                "standing_readiness_changed",
                f"{req.service}: {change.region} {was} → {change.after.replace('_', ' ')}{why}",
                step=change.region,
                region=change.region,
                status=change.after,
            )
        await events.flush()

    # ----- reads -------------------------------------------------------------------------------

    def _opts(self, region: str | None, summary: str) -> dict[str, Any]:
        topo = self._req.topology
        return {
            "task_queue": topo.task_queue_for(region) if region else topo.default_task_queue,
            "start_to_close_timeout": call_timeout(self._req.policies),
            "retry_policy": READ_RETRY,
            "summary": summary,
        }

    async def _history(self) -> ReadinessHistory:
        return await workflow.execute_activity_method(
            ReadinessActivities.readiness_history,
            HistoryQuery(service=self._req.service, exclude_workflow_id=workflow.info().workflow_id),
            **self._opts(None, "passed practices and drills, previous evaluation"),
        )

    async def _weights(self) -> dict[str, float]:
        """The traffic split: the global layer's when the topology has one, else every provider's, merged
        (each region's weight is kept by its own provider). A split that cannot be read adds nothing."""
        topo = self._req.topology
        refs = (
            [TrafficRef(service=self._req.service, provider=topo.regions[0].provider, layer=topo.traffic)]
            if topo.traffic is not None
            else [
                TrafficRef(service=self._req.service, provider=p)
                for p in sorted({r.provider for r in topo.regions})
            ]
        )
        splits = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    TrafficActivities.get_traffic,
                    ref,
                    **self._opts(None, f"{ref.layer.provider if ref.layer else ref.provider}: traffic split"),
                )
                for ref in refs
            ),
            return_exceptions=True,
        )
        weights: dict[str, float] = {}
        for split in splits:
            if isinstance(split, TrafficState):
                weights.update(split.weights)
        return weights

    async def _candidate(self, name: str, weights: dict[str, float]) -> tuple[Candidate, RegionState | None]:
        """The region as the failover sees a candidate; capacity and lag read only when it is healthy."""
        req = self._req
        region = req.topology.region(name)
        ref = RegionRef(service=req.service, region=name, provider=region.provider)
        probe: ProbeResult | None = None
        try:
            probe = await workflow.execute_activity_method(
                TrafficActivities.probe_region, ref, **self._opts(name, f"{name}: probe")
            )
        except ActivityError:
            probe = None
        healthy = probe is not None and probe.ok and not probe.blind
        state: RegionState | None = None
        lag: float | None = None
        if healthy:
            try:
                state = await workflow.execute_activity_method(
                    CloudActivities.region_state, ref, **self._opts(name, f"{name}: capacity")
                )
                lag = await workflow.execute_activity_method(
                    TrafficActivities.replica_lag, ref, **self._opts(name, f"{name}: replica lag")
                )
            except ActivityError:
                healthy = False  # fail closed: a region that cannot be read is no target
        candidate = Candidate(
            region=name,
            jurisdiction=region.jurisdiction,
            provider=region.provider,
            healthy=healthy,
            blind=probe is not None and probe.blind,
            traffic=weights.get(name, 0.0),
            instances=state.instances if state else region.instances,
            max_instances=region.capacity_limit,
            latency_ms=region.latency_ms,
            replica_lag_s=lag,
        )
        return candidate, state

    async def _snapshots(self, name: str) -> list[Snapshot]:
        req = self._req
        return await workflow.execute_activity_method(
            StorageActivities.list_snapshots,
            StorageRef(service=req.service, region=name, provider=req.topology.region(name).provider),
            **self._opts(name, f"{name}: list snapshots"),
        )

    async def _quota(
        self, candidates: list[Candidate], states: dict[str, RegionState]
    ) -> dict[str, str | None]:
        """For each region whose target must scale: does the target's quota fit the added instances
        (the preflight a rollout runs)? Failed region -> problem, None = it fits."""
        req = self._req
        asks: dict[tuple[str, int], list[str]] = {}
        for failed in candidates:
            p = plan(failed, candidates, req.topology, req.policies, req.service)
            if p.candidate is not None and p.surge > 0 and p.needed <= p.candidate.max_instances:
                asks.setdefault((p.candidate.region, p.surge), []).append(failed.region)
        keys = list(asks)
        answers = await asyncio.gather(*(self._preflight(t, n, states.get(t)) for t, n in keys))
        return {failed: answer for key, answer in zip(keys, answers, strict=True) for failed in asks[key]}

    async def _preflight(self, target: str, surge: int, state: RegionState | None) -> str | None:
        if state is None or state.release is None:
            return f"quota unknown: {target} runs no release to scale"
        req = self._req
        try:
            report = await workflow.execute_activity_method(
                CloudActivities.preflight,
                PreflightInput(
                    service=req.service,
                    region=target,
                    provider=req.topology.region(target).provider,
                    release=state.release,
                    surge_instances=surge,
                ),
                **self._opts(target, f"{target}: quota for {surge} more instances"),
            )
        except ActivityError as err:
            return f"quota unknown: {_reason(err)}"
        return None if report.ok else "; ".join(report.problems) or "preflight failed"

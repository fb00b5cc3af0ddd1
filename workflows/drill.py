"""DR drills: rehearse recoveries in an isolated environment, watch production, always clean up."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.storage_activities import StorageActivities
    from activities.traffic_activities import TrafficActivities
    from contracts import ids
    from contracts import search_attributes as sa
    from contracts.change import Freeze, FreezeSet
    from contracts.dr import (
        DrillRegion,
        DrillReport,
        DrillRequest,
        RecoveryReport,
        RecoveryRequest,
        ResourceQuery,
        ResourceRef,
    )
    from contracts.failover import ProbeResult
    from contracts.rollout import RegionRef
    from contracts.storage import Resource

from workflows import patches
from workflows import recovery as recovery_wf
from workflows.freeze_api import FreezeAware, FreezeWatch, freeze_text
from workflows.logic.dr import (
    drill_regions,
    freeze_at,
    recovery_target,
)
from workflows.logic.drill_report import drill_markdown
from workflows.logic.failover import healthy_probe
from workflows.notify import Announcer
from workflows.retries import activity_options


def drill_env(workflow_id: str) -> str:
    """The isolated environment tag of one drill: short, stable across retries and replays."""
    return "drill-" + hashlib.sha256(workflow_id.encode()).hexdigest()[:12]


@workflow.defn(name="DrillWorkflow")
class DrillWorkflow(FreezeAware):
    """Recoveries in drill mode, one child per region; production probed throughout; a final sweep."""

    @workflow.init
    def __init__(self, req: DrillRequest) -> None:
        self._req = req
        dr = req.policies.dr
        self._report = DrillReport(
            workflow_id=workflow.info().workflow_id,
            service=req.service,
            env=drill_env(workflow.info().workflow_id),
            rto_target_s=dr.rto_target,
            rpo_target_s=dr.rpo_target,
        )
        self._abort: str | None = None
        self._watch = FreezeWatch("drill", req.service)
        self._events = Announcer(
            req.policies,
            operation="drill",
            service=req.service,
            key=f"{workflow.info().workflow_id}/{req.request_id}",
            release=None,
        )
        self._stopping = False  # the drill is ending: the watch returns after its current probe round

    @workflow.query
    def report(self) -> DrillReport:
        """Per region results so far, and the verdict once done."""
        return self._report

    @workflow.update
    def abort(self, reason: str) -> str:
        """Stop the drill now; everything it created is removed."""
        self._abort = reason or "aborted by operator"
        return "aborting"

    @abort.validator
    def _check_abort(self, reason: str) -> None:
        if self._report.status not in ("running", "frozen"):
            raise ValueError(f"the drill is not running (status {self._report.status})")

    async def _freezes_changed(self, freezes: FreezeSet) -> None:
        """The active freezes: a drill waits for a freeze that covers it before it starts rehearsing."""
        self._watch.changed(freezes)

    @workflow.run
    async def run(self, req: DrillRequest) -> DrillReport:
        """Skip in a freeze; else recover each region in isolation, sweep, verify, report."""
        r = self._report
        r.started_at = workflow.now()
        freeze = freeze_at(r.started_at, req.policies.dr.drill.freeze_windows)
        if freeze is not None:
            r.status, r.verdict = "skipped", "skipped"
            r.reason = f"in a freeze window until {freeze.end.isoformat()}: {freeze.reason}"
            return self._finish()
        names = drill_regions(req.topology, req.regions, req.policies.dr.drill.regions, req.service)
        r.regions = [
            DrillRegion(region=n, target_region=recovery_target(req.topology, req.service, n)) for n in names
        ]
        self._show()
        if workflow.patched(patches.FREEZE_AWARE.id):
            await self._watch.register(answer_within=2.0)
            if await self._watch.wait(names, self._show_frozen, lambda: self._abort is not None):
                r.status, r.reason = "running", None
                self._show()
            await self._watch.unregister()  # rehearsals are isolated: once started, a drill runs to its end
        rehearsals = asyncio.gather(*(self._rehearse(row) for row in r.regions))
        watch = asyncio.ensure_future(self._watch_production())
        try:
            done, _ = await workflow.wait(
                [asyncio.ensure_future(self._await(rehearsals)), watch], return_when=asyncio.FIRST_COMPLETED
            )
            r.status = "succeeded"
        except asyncio.CancelledError:
            r.status, r.reason = "aborted", "cancelled"
            await self._stop(rehearsals, watch)
            await self._sweep()
            self._finish()
            raise
        if watch in done:  # production degraded, or an operator aborted: stop the rehearsals
            r.status, r.reason = "aborted", self._abort
        await self._stop(rehearsals, watch)
        await self._sweep()
        report = self._finish()
        self._events.emit(
            "drill_verdict",
            f"{req.service}: drill {report.verdict}" + (f": {report.reason}" if report.reason else ""),
            status=report.verdict,
        )
        await self._events.flush()
        if report.verdict == "fail" and workflow.patched(patches.FAIL_ON_FAILED_VERDICT.id):
            # A failed drill fails the workflow: the Web UI shows it red and a Schedule with
            # pause_on_failure pauses. The report stays readable through the `report` query.
            raise ApplicationError(
                f"drill failed: {report.reason or 'a region missed its targets'}",
                report.model_dump(mode="json"),
                type="DrillFailed",
                non_retryable=True,
            )
        return report

    async def _stop(self, rehearsals: asyncio.Future[list[None]], watch: asyncio.Future[None]) -> None:
        """Cancel the rehearsals, stop the watch, and wait until both have ended (each child removes
        what it made)."""
        rehearsals.cancel()
        if workflow.patched(patches.DRILL_WATCH_STOPS_ITSELF.id):
            self._stopping = True
        else:
            watch.cancel()
        await asyncio.gather(rehearsals, watch, return_exceptions=True)

    async def _await(self, rehearsals: asyncio.Future[list[None]]) -> None:
        await rehearsals

    async def _rehearse(self, row: DrillRegion) -> None:
        req = self._req
        if row.target_region is None:
            row.status, row.reason = "failed", "no region allowed to receive its data (data residency)"
            self._show()
            return
        wid = ids.drill_region_id(workflow.info().workflow_id, row.region)
        try:
            result: RecoveryReport = await workflow.execute_child_workflow(
                recovery_wf.DisasterRecoveryWorkflow.run,
                RecoveryRequest(
                    service=req.service,
                    source_region=row.region,
                    target_region=row.target_region,
                    topology=req.topology,
                    policies=req.policies,
                    mode="drill",
                    env=self._report.env,
                    failed_at=self._report.started_at,
                    request_id=req.request_id,
                ),
                id=wid,
                static_summary=f"drill {req.service}: recover {row.region} into {row.target_region}",
            )
        except ChildWorkflowError as err:
            row.status, row.reason = "failed", str(err.cause or err)
        except asyncio.CancelledError:
            row.status, row.reason = "aborted", self._abort or "cancelled"
            raise
        else:
            row.status, row.reason = result.status, result.reason
            row.snapshot_id, row.rto_s, row.rpo_s = result.snapshot_id, result.rto_s, result.rpo_s
            row.met_targets = result.met_targets
        self._show()

    async def _watch_production(self) -> None:
        """Return when production degrades in a drilled region (or an operator aborts)."""
        req = self._req
        policy = req.policies.dr.drill
        watched = sorted(
            {row.region for row in self._report.regions}
            | {row.target_region for row in self._report.regions if row.target_region}
        )
        while True:
            probes: list[ProbeResult] = await asyncio.gather(*(self._probe(n) for n in watched))
            if self._stopping:
                return
            # Fail closed: a production region that is down, failing or blind (no metrics) stops the drill.
            bad = [p for p in probes if not healthy_probe(p, policy.abort_error_rate)]
            if bad:
                worst = bad[0]
                self._abort = (
                    f"production degraded in {worst.region} (error rate {worst.error_rate:.1%}"
                    f"{', ' + worst.detail if worst.detail else ''}): drill stopped"
                )
                return
            try:
                await workflow.wait_condition(
                    lambda: self._abort is not None or self._stopping,
                    timeout=timedelta(seconds=req.policies.health.probe_interval),
                    timeout_summary="production probe interval",
                )
                return
            except TimeoutError:
                continue

    async def _probe(self, region: str) -> ProbeResult:
        req = self._req
        return await workflow.execute_activity_method(
            TrafficActivities.probe_region,
            RegionRef(service=req.service, region=region, provider=req.topology.region(region).provider),
            **self._opts(region, f"{region}: production probe"),
        )

    async def _sweep(self) -> None:
        """Delete whatever still carries the drill's tag, then list again: the leftover count."""
        req, r = self._req, self._report
        providers = sorted({req.topology.region(row.region).provider for row in r.regions} or {"sim"})
        leftovers = 0
        for provider in providers:
            query = ResourceQuery(service=req.service, provider=provider, env=r.env)
            found: list[Resource] = await workflow.execute_activity_method(
                StorageActivities.list_resources, query, **self._opts(None, "find drill resources", undo=True)
            )
            for res in found:
                await workflow.execute_activity_method(
                    StorageActivities.delete_resource,
                    ResourceRef(
                        service=req.service, region=res.region, provider=provider, resource_id=res.id
                    ),
                    **self._opts(res.region, f"{res.region}: sweep {res.kind} {res.id}", undo=True),
                )
                r.cleaned_up.append(res.id)
            left: list[Resource] = await workflow.execute_activity_method(
                StorageActivities.list_resources, query, **self._opts(None, "verify cleanup", undo=True)
            )
            leftovers += len(left)
        r.leftover_resources = leftovers

    def _finish(self) -> DrillReport:
        r = self._report
        r.finished_at = workflow.now()
        if r.status != "skipped":
            passed = (
                r.status == "succeeded"
                and r.leftover_resources == 0
                and all(row.status == "succeeded" and row.met_targets for row in r.regions)
            )
            r.verdict = "pass" if passed else "fail"
            if r.status == "succeeded" and not passed:
                r.status = "failed"
        r.markdown = drill_markdown(r)
        workflow.upsert_search_attributes([sa.STATUS.value_set(r.verdict or r.status)])
        workflow.set_current_details(r.markdown)
        return r

    def _show_frozen(self, held: list[Freeze]) -> None:
        self._report.status, self._report.reason = "frozen", freeze_text(held)
        self._show()

    def _show(self) -> None:
        workflow.set_current_details(drill_markdown(self._report))

    def _opts(self, region: str | None, summary: str, undo: bool = False) -> dict[str, Any]:
        return activity_options(self._req.topology, self._req.policies, region, summary, undo)

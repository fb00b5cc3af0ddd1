"""Disaster recovery: restore a region from its latest cross-region snapshot, verify, serve, measure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cloud_activities import CloudActivities
    from activities.storage_activities import StorageActivities
    from activities.traffic_activities import TrafficActivities
    from contracts import search_attributes as sa
    from contracts.change import Freeze, FreezeSet
    from contracts.cloud import (
        RegionState,
        TrafficState,
    )
    from contracts.dr import (
        LaunchInput,
        RecoveryReport,
        RecoveryRequest,
        ResourceQuery,
        ResourceRef,
        RestoreInput,
        SnapshotRef,
        StorageRef,
        VolumeRef,
    )
    from contracts.failover import (
        ProbeResult,
        SetTrafficInput,
        TrafficRef,
    )
    from contracts.rollout import RegionRef
    from contracts.storage import (
        Resource,
        Snapshot,
        SnapshotVerification,
        VolumeCheck,
    )
    from contracts.validation import ValidationCall

from workflows import patches
from workflows.freeze_api import FreezeAware, FreezeWatch, freeze_text
from workflows.logic.dr import (
    choose_snapshot,
    integrity_problem,
    met,
    rpo_s,
    target_problem,
    unencrypted_refusal,
)
from workflows.logic.failover import healthy_probe, shifted_weights
from workflows.retries import activity_options
from workflows.validation import ask_validation


class _Refused(Exception):
    """The request is not safe or not possible: nothing was changed."""


class _Failed(Exception):
    """A step failed after something changed: the saga undoes it."""


@workflow.defn(name="DisasterRecoveryWorkflow")
class DisasterRecoveryWorkflow(FreezeAware):
    """Recover (production), drill (isolated, always removed) or validate (restore, check, remove)."""

    @workflow.init
    def __init__(self, req: RecoveryRequest) -> None:
        self._req = req
        self._watch = FreezeWatch("recover", req.service)
        dr = req.policies.dr
        self._report = RecoveryReport(
            workflow_id=workflow.info().workflow_id,
            mode=req.mode,
            service=req.service,
            source_region=req.source_region,
            target_region=req.target_region,
            env=req.env,
            rto_target_s=req.rto_target_s or dr.rto_target,
            rpo_target_s=req.rpo_target_s or dr.rpo_target,
        )
        self._undo: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        self._instances: list[str] = []

    @workflow.query
    def report(self) -> RecoveryReport:
        """Where the recovery is, and what it measured so far."""
        return self._report

    @workflow.run
    async def run(self, req: RecoveryRequest) -> RecoveryReport:
        """Refuse without change, or restore → verify → launch → serve, undoing on failure."""
        r = self._report
        started = workflow.now()
        failed_at = req.failed_at or started
        # A recovery by hand is an emergency (held only by a freeze with `all`); drills and
        # validations are held by their drill, or change nothing.
        registered = req.mode == "recover" and workflow.patched(patches.FREEZE_AWARE.id)
        if registered:
            await self._watch.register(answer_within=5.0)
        try:
            problem = target_problem(req.topology, req.service, req.source_region, req.target_region)
            if problem:
                raise _Refused(problem)
            snap = await self._snapshot()
            r.snapshot_id, r.snapshot_taken_at = snap.id, snap.taken_at
            r.rpo_s = rpo_s(failed_at, snap)
            if r.rpo_s > r.rpo_target_s and not req.accept_rpo_breach:
                raise _Refused(
                    f"snapshot {snap.id} is {r.rpo_s:.0f}s older than the failure, over the RPO target"
                    f" {r.rpo_target_s:.0f}s (accept with --accept-rpo-breach)"
                )
            if registered:
                await self._watch.wait([req.source_region, req.target_region], self._show_frozen)
            volume = await self._restore(snap)
            await self._verify(volume, snap)
            if req.mode == "validate":
                await self._validate(volume, snap)
            else:
                await self._launch(volume)
                await self._validate(volume, snap)  # before any traffic reaches the restored data
                if req.mode == "recover":
                    await self._serve()
                r.rto_s = (workflow.now() - started).total_seconds()
                if req.mode == "drill":
                    self._step(f"soaking for {req.policies.dr.drill.soak:g}s before removal")
                    await workflow.sleep(timedelta(seconds=req.policies.dr.drill.soak), summary="drill soak")
            r.met_targets = met(r.rto_s, r.rpo_s, r.rto_target_s, r.rpo_target_s) or (
                req.mode == "validate" and r.rpo_s <= r.rpo_target_s
            )
            r.status = "succeeded"
        except _Refused as refusal:
            r.status, r.reason = "refused", str(refusal)
        except (_Failed, ActivityError) as err:
            r.status, r.reason = (
                "failed",
                str(err.cause or err) if isinstance(err, ActivityError) else str(err),
            )
            await self._compensate()
        except asyncio.CancelledError:
            r.status, r.reason = "aborted", "cancelled"
            await self._compensate()
            raise
        finally:
            if req.mode != "recover" and r.status != "refused":
                await self._compensate()  # drills and validations never leave anything behind
            r.phase = "done"
            workflow.upsert_search_attributes([sa.STATUS.value_set(r.status)])
            self._show()
            if registered:
                await self._watch.unregister()
        return r

    async def _freezes_changed(self, freezes: FreezeSet) -> None:
        """The active freezes: only one that says `all` holds a recovery (an emergency)."""
        self._watch.changed(freezes)

    def _show_frozen(self, held: list[Freeze]) -> None:
        self._report.phase = freeze_text(held)
        self._show()

    # ----- steps ---------------------------------------------------------------------------------

    async def _snapshot(self) -> Snapshot:
        req = self._req
        held: list[Snapshot] = await workflow.execute_activity_method(
            StorageActivities.list_snapshots,
            self._ref(req.target_region),
            **self._opts(req.target_region, f"{req.target_region}: find snapshots of {req.source_region}"),
        )
        chosen = choose_snapshot(held, req.source_region, req.snapshot)
        if isinstance(chosen, str):
            raise _Refused(f"{chosen} in {req.target_region}")
        text = f"snapshot {chosen.id} taken {chosen.taken_at.isoformat()}"
        if workflow.patched(patches.ENCRYPTED_BACKUPS.id):
            required = req.policies.dr.backup.require_encryption
            refusal = unencrypted_refusal(chosen, required, req.allow_unencrypted)
            if refusal:
                raise _Refused(refusal)
            text += f", encrypted with {chosen.kms_key}" if chosen.encrypted else ", NOT encrypted"
        self._step(text)
        return chosen

    async def _restore(self, snap: Snapshot) -> Resource:
        req = self._req
        target = req.target_region
        key = self._key("restore")
        early = self._undo_made_by(target, key, "restored volume")
        volume: Resource = await workflow.execute_activity_method(
            StorageActivities.restore_volume,
            RestoreInput(**self._ref(target).model_dump(), snapshot_id=snap.id, env=req.env, key=key),
            **self._opts(target, f"{target}: restore {snap.id}"),
        )
        if early:
            self._undo.pop()  # the volume's id is known now: remove it by id
        self._created(volume)
        self._step(f"{target}: volume {volume.id} restored ({req.env})")
        return volume

    async def _verify(self, volume: Resource, snap: Snapshot) -> None:
        req, r = self._req, self._report
        if not (req.check_integrity or req.check_consistency):
            return
        check: VolumeCheck = await workflow.execute_activity_method(
            StorageActivities.check_volume,
            VolumeRef(**self._ref(req.target_region).model_dump(), volume_id=volume.id),
            **self._opts(req.target_region, f"{req.target_region}: verify {volume.id}"),
        )
        if req.check_integrity:
            r.integrity_ok = check.checksum == snap.checksum
            if not r.integrity_ok:
                raise _Failed(
                    f"integrity: {volume.id} checksum {check.checksum[:16]} ≠ snapshot {snap.checksum[:16]}"
                )
            self._step("integrity: checksum matches the snapshot")
            if workflow.patched(patches.VERIFY_SNAPSHOT_DATA.id):
                await self._verify_data(snap)
        if req.check_consistency:
            r.consistency_ok = check.watermark == snap.watermark
            if not r.consistency_ok:
                raise _Failed(f"consistency: watermark {check.watermark} ≠ snapshot {snap.watermark}")
            self._step(f"consistency: data watermark {check.watermark}")

    async def _verify_data(self, snap: Snapshot) -> None:
        """Read the snapshot's stored data back (EBS blocks on AWS): a corrupt snapshot fails here."""
        req, r = self._req, self._report
        found: SnapshotVerification = await workflow.execute_activity_method(
            StorageActivities.verify_snapshot,
            SnapshotRef(**self._ref(req.target_region).model_dump(), snapshot_id=snap.id),
            **self._opts(req.target_region, f"{req.target_region}: verify the data of {snap.id}"),
        )
        problem = integrity_problem(found)
        if problem:
            r.integrity_ok = False
            raise _Failed(f"integrity: {problem}")
        self._step(
            f"integrity: {found.method}"
            if found.checked
            else f"integrity: data not read back ({found.reason})"
        )

    async def _validate(self, volume: Resource, snap: Snapshot) -> None:
        """Ask the policy's validation hook: the restored data's watermark must reach the snapshot's."""
        req, r = self._req, self._report
        hook = req.policies.dr.validation
        if hook is None or not workflow.patched(patches.VALIDATION_HOOK.id):
            return
        target = req.target_region
        call = ValidationCall(
            hook=hook,
            workflow_id=workflow.info().workflow_id,
            mode=req.mode,
            service=req.service,
            source_region=req.source_region,
            region=target,
            env=req.env,
            snapshot_id=snap.id,
            snapshot_taken_at=snap.taken_at,
            snapshot_watermark=snap.watermark,
            volume_id=volume.id,
            instances=list(self._instances),
            key=self._key("validate"),
        )
        answered, problem = await ask_validation(call, self._opts(target, "validate")["task_queue"])
        r.validation_ok, r.validated_watermark = problem is None, answered
        if problem:
            raise _Failed(f"validation: {problem}")
        self._step(
            f"validation: the restored service answers watermark {answered} ≥ snapshot's {snap.watermark}"
        )

    async def _launch(self, volume: Resource) -> None:
        req = self._req
        target = req.target_region
        state: RegionState = await workflow.execute_activity_method(
            CloudActivities.region_state,
            RegionRef(**self._ref(target).model_dump()),
            **self._opts(target, f"{target}: release to launch"),
        )
        count = req.policies.dr.instances or req.topology.region(req.source_region).instances
        key = self._key("launch")
        early = self._undo_made_by(target, key, "launched instances")
        made: list[Resource] = await workflow.execute_activity_method(
            StorageActivities.launch_instances,
            LaunchInput(
                **self._ref(target).model_dump(),
                release=state.release or "unknown",
                count=count,
                volume_id=volume.id,
                env=req.env,
                key=key,
            ),
            **self._opts(target, f"{target}: launch {count} instances"),
        )
        if early:
            self._undo.pop()  # the instances' ids are known now: remove them by id
        for res in made:
            self._created(res)
            self._instances.append(res.id)
        await self._boot(target)
        self._step(f"{target}: {len(made)} instances on {state.release} ({req.env})")

    async def _boot(self, target: str) -> None:
        """Production capacity must pass health probes before it counts as serving."""
        req = self._req
        if req.mode != "recover":
            return
        for n in range(1, req.policies.dr.drill.boot_probes + 1):
            if n > 1:
                await workflow.sleep(
                    timedelta(seconds=req.policies.health.probe_interval), summary="boot probe"
                )
            probe: ProbeResult = await workflow.execute_activity_method(
                TrafficActivities.probe_region,
                RegionRef(**self._ref(target).model_dump()),
                **self._opts(target, f"{target}: boot probe {n}"),
            )
            if not healthy_probe(probe, req.policies.health.max_error_rate):
                raise _Failed(f"{target}: restored capacity unhealthy ({probe.detail or probe.error_rate})")

    async def _serve(self) -> None:
        req = self._req
        ref = TrafficRef(
            service=req.service,
            provider=req.topology.region(req.target_region).provider,
            layer=req.topology.traffic,
        )
        before: TrafficState = await workflow.execute_activity_method(
            TrafficActivities.get_traffic, ref, **self._opts(req.target_region, "read traffic weights")
        )
        after = shifted_weights(before.weights, req.source_region, req.target_region)

        async def set_weights(weights: dict[str, float], step: str) -> object:
            return await workflow.execute_activity_method(
                TrafficActivities.set_traffic,
                SetTrafficInput(**ref.model_dump(), weights=weights, key=self._key(step)),
                **self._opts(req.target_region, f"traffic: {step}", undo=step.startswith("undo")),
            )

        undo = ("traffic back", lambda: set_weights(dict(before.weights), "undo-shift"))
        early = workflow.patched(patches.UNDO_BEFORE_STEP.id)
        if early:
            self._undo.append(undo)  # a shift that was made and then failed for good is undone too
        await set_weights(after, "shift")
        if not early:
            self._undo.append(undo)
        self._step(f"serving: {req.source_region}'s traffic now on {req.target_region}")

    async def _compensate(self) -> None:
        """Undo in reverse (a saga); each undo is idempotent, so running it twice is harmless."""
        while self._undo:
            what, undo = self._undo.pop()
            await undo()
            self._step(f"removed: {what}")

    # ----- helpers -------------------------------------------------------------------------------

    def _created(self, res: Resource) -> None:
        """Record a resource and register its removal before the next step (DESIGN rule 4)."""
        self._report.resources.append(res.id)

        async def delete() -> object:
            return await workflow.execute_activity_method(
                StorageActivities.delete_resource,
                ResourceRef(**self._ref(res.region).model_dump(), resource_id=res.id),
                **self._opts(res.region, f"{res.region}: delete {res.kind} {res.id}", undo=True),
            )

        self._undo.append((f"{res.kind} {res.id}", delete))

    def _undo_made_by(self, region: str, key: str, what: str) -> bool:
        """Before a creating call: register the removal of whatever the call's key made in `region`.

        A call can create its resource and still fail for good (its answer lost, a read-back
        denied): its ids are unknown, so the undo finds the env's resources by key. False for
        histories from before the patch (no such undo: the old order).
        """
        if not workflow.patched(patches.UNDO_BEFORE_STEP.id):
            return False
        req = self._req
        query = ResourceQuery(service=req.service, provider=req.topology.region(region).provider, env=req.env)

        async def remove() -> object:
            found: list[Resource] = await workflow.execute_activity_method(
                StorageActivities.list_resources, query, **self._opts(region, f"find {what}", undo=True)
            )
            for res in found:
                if res.key == key and res.region == region:
                    await workflow.execute_activity_method(
                        StorageActivities.delete_resource,
                        ResourceRef(**self._ref(region).model_dump(), resource_id=res.id),
                        **self._opts(region, f"{region}: delete {res.kind} {res.id}", undo=True),
                    )
            return len(found)

        self._undo.append((f"{what} in {region}", remove))
        return True

    def _opts(self, region: str, summary: str, undo: bool = False) -> dict[str, Any]:
        return activity_options(self._req.topology, self._req.policies, region, summary, undo)

    def _ref(self, region: str) -> StorageRef:
        req = self._req
        return StorageRef(service=req.service, region=region, provider=req.topology.region(region).provider)

    def _key(self, step: str) -> str:
        return f"{workflow.info().workflow_id}/{self._req.request_id}/{step}"

    def _step(self, text: str) -> None:
        self._report.steps.append(text)
        self._report.phase = text
        self._show()

    def _show(self) -> None:
        r = self._report
        rto = f"{r.rto_s:.0f}s" if r.rto_s is not None else "—"
        rpo = f"{r.rpo_s:.0f}s" if r.rpo_s is not None else "—"
        lines = [
            f"**{r.mode} {r.service}: {r.source_region} → {r.target_region}** ({r.env})"
            f" · {r.status} · {r.phase}",
            "",
            f"RTO {rto} (target {r.rto_target_s:.0f}s) · RPO {rpo} (target {r.rpo_target_s:.0f}s)"
            f" · {'met' if r.met_targets else 'not met'}",
        ]
        if r.reason:
            lines.append(f"\n> {r.reason}")
        lines += ["", *[f"- {s}" for s in r.steps]]
        workflow.set_current_details("\n".join(lines))

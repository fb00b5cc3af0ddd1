"""Backups: snapshot every region, copy each snapshot within its jurisdiction group, prune by age."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.storage_activities import StorageActivities
    from contracts import search_attributes as sa
    from contracts.dr import (
        BackupReport,
        BackupRequest,
        CopyInput,
        RegionBackup,
        SnapshotInput,
        SnapshotRef,
        StorageRef,
    )
    from contracts.storage import Snapshot

from workflows import patches
from workflows.logic.dr import (
    copy_destination,
    missing_key,
    stored_unencrypted,
    to_prune,
)
from workflows.logic.markdown import state, table
from workflows.retries import activity_options


@workflow.defn(name="BackupWorkflow")
class BackupWorkflow:
    """Every region in parallel: one failing region is reported, it does not stop the others."""

    @workflow.init
    def __init__(self, req: BackupRequest) -> None:
        self._req = req
        self._report = BackupReport(workflow_id=workflow.info().workflow_id, service=req.service)

    @workflow.query
    def report(self) -> BackupReport:
        """Per region: snapshot, copy, pruned snapshots."""
        return self._report

    @workflow.run
    async def run(self, req: BackupRequest) -> BackupReport:
        """Snapshot and copy every region, then prune every store the backup touched."""
        r = self._report
        r.taken_at = workflow.now()
        names = req.regions or req.topology.region_names()
        r.regions = [RegionBackup(region=n) for n in names]
        self._show()
        await asyncio.gather(*(self._backup(row) for row in r.regions))
        dests = {copy_destination(req.topology, req.service, n)[0] for n in names}
        stores = sorted(set(names) | {d for d in dests if d})  # unreachable ones prune nothing
        pruned = await asyncio.gather(*(self._prune(s) for s in stores))
        by_store = dict(zip(stores, pruned, strict=True))
        for row in r.regions:
            row.pruned = by_store.get(row.region, [])
        failed = [row.region for row in r.regions if not row.ok]
        r.status = "failed" if failed else "succeeded"
        r.reason = f"no backup of {', '.join(failed)}" if failed else None
        workflow.upsert_search_attributes([sa.STATUS.value_set(r.status)])
        self._show()
        return r

    async def _backup(self, row: RegionBackup) -> None:
        req = self._req
        topo, required = req.topology, req.policies.dr.backup.require_encryption
        dest, why = copy_destination(topo, req.service, row.region)
        # Each snapshot and copy is encrypted with its own region's key, and neither is stored
        # where a required key is missing (fail closed): the region is reported, not backed up.
        encrypt = workflow.patched(patches.ENCRYPTED_BACKUPS.id)
        if encrypt:
            problem = missing_key(topo, row.region, required) or (dest and missing_key(topo, dest, required))
            if problem:
                row.note = problem
                self._show()
                return
        try:
            snap: Snapshot = await workflow.execute_activity_method(
                StorageActivities.snapshot_volume,
                SnapshotInput(
                    **self._ref(row.region).model_dump(),
                    taken_at=self._report.taken_at,
                    key=self._key(row.region, "snapshot"),
                    kms_key=topo.region(row.region).snapshot_key if encrypt else None,
                ),
                **self._opts(row.region, f"{row.region}: snapshot"),
            )
            row.snapshot_id = snap.id
            row.note = why
            copy: Snapshot | None = None
            if dest is not None:
                copy = await workflow.execute_activity_method(
                    StorageActivities.copy_snapshot,
                    CopyInput(
                        **self._ref(row.region).model_dump(),
                        snapshot_id=snap.id,
                        dest_region=dest,
                        key=self._key(row.region, "copy"),
                        kms_key=topo.region(dest).snapshot_key if encrypt else None,
                    ),
                    **self._opts(dest, f"{row.region}: copy to {dest}"),
                )
                row.copy_region, row.copy_id = dest, copy.id
            row.ok = True
            if encrypt:
                self._encryption(row, snap, copy, required)
        except ActivityError as err:
            row.note = str(err.cause or err)
        self._show()

    def _encryption(self, row: RegionBackup, snap: Snapshot, copy: Snapshot | None, required: bool) -> None:
        """Record the key the provider reports on what the backup stored; a policy breach fails the region."""
        kept = copy or snap
        row.kms_key = kept.kms_key if kept.encrypted else None
        if copy is not None and copy.encrypted and not snap.encrypted:
            row.note += "; unencrypted snapshot, re-encrypted on copy"
        dest_key = self._req.topology.region(copy.region).snapshot_key if copy else None
        problem = stored_unencrypted(snap, copy, dest_key) if required else None
        if problem:
            row.ok, row.note = False, problem

    async def _prune(self, store: str) -> list[str]:
        """Delete the store's snapshots past retention, never the newest of each source region."""
        req = self._req
        try:
            held: list[Snapshot] = await workflow.execute_activity_method(
                StorageActivities.list_snapshots,
                self._ref(store),
                **self._opts(store, f"{store}: list snapshots"),
            )
            # Age is measured from this backup's own point in time, the same for every store.
            doomed = to_prune(held, self._report.taken_at or workflow.now(), req.policies.dr.backup.retention)
            for snap in doomed:
                await workflow.execute_activity_method(
                    StorageActivities.delete_snapshot,
                    SnapshotRef(**self._ref(store).model_dump(), snapshot_id=snap.id),
                    **self._opts(store, f"{store}: prune {snap.id}"),
                )
        except ActivityError:
            return []  # pruning is retried by the next backup; the snapshots are safe
        return [s.id for s in doomed]

    def _opts(self, region: str, summary: str) -> dict[str, Any]:
        return activity_options(self._req.topology, self._req.policies, region, summary)

    def _ref(self, region: str) -> StorageRef:
        req = self._req
        return StorageRef(service=req.service, region=region, provider=req.topology.region(region).provider)

    def _key(self, region: str, step: str) -> str:
        return f"{workflow.info().workflow_id}/{self._req.request_id}/{region}/{step}"

    def _show(self) -> None:
        r = self._report
        rows = [
            [
                row.region,
                row.snapshot_id or "—",
                f"{row.copy_id} in {row.copy_region}" if row.copy_id else "—",
                str(len(row.pruned)),
                row.note,
            ]
            for row in r.regions
        ]
        lines = [
            f"**backup {r.service}** · {state(r.status)}",
            "",
            *table(["Region", "Snapshot", "Copy", "Pruned", "Note"], rows),
        ]
        workflow.set_current_details("\n".join(lines))

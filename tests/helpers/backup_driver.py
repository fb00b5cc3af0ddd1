"""A test-only workflow that runs BackupWorkflow every 6 hours, so one clock drives days of backups."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.dr import (
        BackupReport,
        BackupRequest,
    )
    from workflows.backup import BackupWorkflow


@workflow.defn(name="BackupDriverWorkflow")
class BackupDriverWorkflow:
    """What the backup Schedule does in production, on the time-skipping server (it has no Schedules)."""

    @workflow.run
    async def run(self, req: BackupRequest, runs: int, every_s: float) -> list[BackupReport]:
        reports = []
        for n in range(runs):
            if n:
                await workflow.sleep(timedelta(seconds=every_s))
            reports.append(
                await workflow.execute_child_workflow(
                    BackupWorkflow.run,
                    req.model_copy(update={"request_id": f"run-{n}"}),
                    id=f"{workflow.info().workflow_id}/{n}",
                )
            )
        return reports

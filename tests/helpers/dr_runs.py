"""Backups, recoveries and drills of the sim through the real workflows (time-skipping server), for the
tests of restore validation; a fail verdict is read back by query."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from config.models import Policies, Topology
from contracts.dr import (
    BackupReport,
    BackupRequest,
    DrillReport,
    DrillRequest,
    RecoveryReport,
    RecoveryRequest,
)
from workflows.backup import BackupWorkflow
from workflows.drill import DrillWorkflow
from workflows.recovery import DisasterRecoveryWorkflow

SERVICE = "checkout"


def on_queue(topology: Topology, queue: str) -> Topology:
    """The topology on a task queue of its own (tests share one server)."""
    return topology.model_copy(update={"default_task_queue": queue})


def with_dr(policies: Policies, **dr: Any) -> Policies:
    """The policies with `dr` fields replaced, and an RPO target no clock jump of the test server breaks
    (these tests check verification, not RPO)."""
    update = {"rpo_target": 400 * 365 * 86400.0, **dr}
    return policies.model_copy(update={"dr": policies.dr.model_copy(update=update)})


async def backup(
    env: WorkflowEnvironment, topology: Topology, policies: Policies, regions: list[str]
) -> BackupReport:
    return await env.client.execute_workflow(
        BackupWorkflow.run,
        BackupRequest(
            service=SERVICE,
            topology=topology,
            policies=policies,
            regions=regions,
            request_id=uuid.uuid4().hex,
        ),
        id=f"backup:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=topology.default_task_queue,
    )


def recovery(
    topology: Topology, policies: Policies, source: str, target: str, **extra: Any
) -> RecoveryRequest:
    return RecoveryRequest(
        service=SERVICE,
        source_region=source,
        target_region=target,
        topology=topology,
        policies=policies,
        request_id=uuid.uuid4().hex,
        **extra,
    )


async def recover(env: WorkflowEnvironment, request: RecoveryRequest, wid: str) -> RecoveryReport:
    return await env.client.execute_workflow(
        DisasterRecoveryWorkflow.run, request, id=wid, task_queue=request.topology.default_task_queue
    )


async def run_drill(
    env: WorkflowEnvironment, topology: Topology, policies: Policies, regions: list[str]
) -> DrillReport:
    """The drill's report; a fail verdict fails the workflow (DrillFailed), so it is read by query."""
    handle = await env.client.start_workflow(
        DrillWorkflow.run,
        DrillRequest(
            service=SERVICE,
            topology=topology,
            policies=policies,
            regions=regions,
            request_id=uuid.uuid4().hex,
        ),
        id=f"drill:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=topology.default_task_queue,
    )
    try:
        return await handle.result()
    except WorkflowFailureError as err:
        assert isinstance(err.cause, ApplicationError) and err.cause.type == "DrillFailed"
        return await handle.query(DrillWorkflow.report)

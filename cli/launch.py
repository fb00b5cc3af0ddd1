"""Start operations as workflows: the plain Python API behind every `start` command, bench and scripts.

No typer and no terminal here: a `Launch` says which workflow runs with which request under which id
(contracts.ids), on which task queue, with which search attributes and Web UI summary; `start` starts
it and raises `AlreadyRunning` when an operation on the same target is in flight (DESIGN rule 5).
Schedules start the same launches (`Launch.schedule_action`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from temporalio.client import Client, ScheduleActionStartWorkflow, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from config.models import Topology
from contracts import ids
from contracts import search_attributes as sa
from contracts.dr import (
    BackupReport,
    BackupRequest,
    DrillReport,
    DrillRequest,
    RecoveryReport,
    RecoveryRequest,
)
from contracts.failover import (
    FailbackReport,
    FailbackRequest,
    FailoverReport,
    FailoverRequest,
    MonitorInput,
    MonitorStatus,
)
from contracts.inspect import HealthReport, InspectRequest, SnapshotInventory
from contracts.practice import PracticeReport, PracticeRequest
from contracts.readiness import ReadinessReport, ReadinessRequest
from contracts.rollout import RegionDeployInput, RegionOutcome, RolloutProgress, RolloutRequest
from workflows.backup import BackupWorkflow
from workflows.drill import DrillWorkflow
from workflows.failback import FailbackWorkflow
from workflows.failover import RegionFailoverWorkflow
from workflows.inspect import HealthReportWorkflow, SnapshotInventoryWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow
from workflows.practice import FailoverPracticeWorkflow
from workflows.readiness import ReadinessWorkflow
from workflows.recovery import DisasterRecoveryWorkflow
from workflows.region_deployment import RegionDeploymentWorkflow
from workflows.rollout import RegionalRolloutWorkflow

W = TypeVar("W")
R = TypeVar("R")


class AlreadyRunning(Exception):
    """An operation with the same workflow id is running: one operation per target at a time."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"{workflow_id} is already running")
        self.workflow_id = workflow_id


@dataclass(frozen=True)
class Launch(Generic[W, R]):
    """Everything needed to start one operation's workflow (by hand or from a schedule)."""

    run: Callable[[W, Any], Awaitable[R]]
    request: Any
    workflow_id: str
    task_queue: str
    summary: str
    details: str | None = None
    attributes: TypedSearchAttributes | None = field(default=None)

    def schedule_action(self, workflow_id: str | None = None) -> ScheduleActionStartWorkflow:
        """The same start as a schedule's action (Temporal appends the scheduled time to the id)."""
        return ScheduleActionStartWorkflow(
            self.run,
            self.request,
            id=workflow_id or self.workflow_id,
            task_queue=self.task_queue,
            typed_search_attributes=self.attributes or TypedSearchAttributes.empty,
            static_summary=f"scheduled {self.summary}",
        )


async def start(
    client: Client, launch: Launch[W, R], *, search_attributes: bool = True
) -> WorkflowHandle[W, R]:
    """Start the launch's workflow; AlreadyRunning while one with the same id runs."""
    try:
        return await client.start_workflow(
            launch.run,
            launch.request,
            id=launch.workflow_id,
            task_queue=launch.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=launch.attributes if search_attributes else None,
            static_summary=launch.summary,
            static_details=launch.details,
        )
    except WorkflowAlreadyStartedError as exc:
        raise AlreadyRunning(launch.workflow_id) from exc


def dr_attributes(operation: str, service: str, regions: list[str]) -> TypedSearchAttributes:
    """Search attributes a backup, recovery or drill starts with (no release: DR moves data, not code)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.OPERATION, operation),
            SearchAttributePair(sa.SERVICE, service),
            SearchAttributePair(sa.REGIONS, regions),
            SearchAttributePair(sa.STATUS, "running"),
        ]
    )


def new_request_id() -> str:
    """A request id for one started operation (part of its idempotency keys)."""
    return uuid.uuid4().hex[:12]


# ----- one builder per operation -----------------------------------------------------------------------


def rollout(request: RolloutRequest) -> Launch[RegionalRolloutWorkflow, RolloutProgress]:
    """A rollout of one release of one service across every region of the topology."""
    regions = request.topology.region_names()
    return Launch(
        RegionalRolloutWorkflow.run,
        request,
        ids.rollout_id(request.service),
        request.topology.default_task_queue,
        f"rollout {request.service} {request.release} to {len(regions)} regions",
        f"requested by {request.requested_by}; rollback policy {request.policies.rollback_policy}",
        sa.operation_attributes("rollout", request.service, request.release, regions),
    )


async def start_rollout(
    client: Client, request: RolloutRequest, *, search_attributes: bool = True
) -> WorkflowHandle[RegionalRolloutWorkflow, RolloutProgress]:
    """Start a rollout; AlreadyRunning while one runs for the service."""
    return await start(client, rollout(request), search_attributes=search_attributes)


def deploy(topology: Topology, inp: RegionDeployInput) -> Launch[RegionDeploymentWorkflow, RegionOutcome]:
    """A single-region canary or blue-green deploy (no waves)."""
    region = inp.region.name
    return Launch(
        RegionDeploymentWorkflow.run,
        inp,
        ids.deploy_id(inp.service, region),
        topology.default_task_queue,
        f"{inp.strategy} {inp.service} {inp.release} in {region}",
        attributes=sa.operation_attributes(f"deploy-{inp.strategy}", inp.service, inp.release, [region]),
    )


def monitor(inp: MonitorInput) -> Launch[RegionHealthMonitorWorkflow, MonitorStatus]:
    """The long-running health monitor of a service."""
    regions = inp.topology.region_names()
    return Launch(
        RegionHealthMonitorWorkflow.run,
        inp,
        ids.monitor_id(inp.service),
        inp.topology.default_task_queue,
        f"health monitor of {inp.service} in {len(regions)} regions",
        attributes=sa.operation_attributes("monitor", inp.service, "-", regions),
    )


def failover(request: FailoverRequest) -> Launch[RegionFailoverWorkflow, FailoverReport]:
    """A failover of one region, by hand."""
    return Launch(
        RegionFailoverWorkflow.run,
        request,
        ids.failover_id(request.service, request.from_region),
        request.topology.default_task_queue,
        f"failover {request.service}: {request.from_region} → {request.to_region or 'best target'}",
        attributes=sa.operation_attributes("failover", request.service, "-", [request.from_region]),
    )


def failback(request: FailbackRequest) -> Launch[FailbackWorkflow, FailbackReport]:
    """Traffic back to a recovered region, step by step."""
    return Launch(
        FailbackWorkflow.run,
        request,
        ids.failback_id(request.service, request.region),
        request.topology.default_task_queue,
        f"failback {request.service}: {request.backup} → {request.region}",
        attributes=sa.operation_attributes("failback", request.service, "-", [request.region]),
    )


def backup(request: BackupRequest) -> Launch[BackupWorkflow, BackupReport]:
    """Snapshots of some regions (empty: all), copied within their residency groups, pruned."""
    regions = request.regions or request.topology.region_names()
    return Launch(
        BackupWorkflow.run,
        request,
        ids.backup_id(request.service),
        request.topology.default_task_queue,
        f"backup {request.service}: {len(regions)} regions",
        attributes=dr_attributes("backup", request.service, regions),
    )


def recovery(request: RecoveryRequest) -> Launch[DisasterRecoveryWorkflow, RecoveryReport]:
    """A recovery of a lost region (mode recover) or a restore validation (mode validate)."""
    wid = (
        ids.validation_id(request.service, request.target_region)
        if request.mode == "validate"
        else ids.recovery_id(request.service, request.source_region)
    )
    return Launch(
        DisasterRecoveryWorkflow.run,
        request,
        wid,
        request.topology.default_task_queue,
        f"{request.mode} {request.service}: {request.source_region} → {request.target_region}",
        attributes=dr_attributes("dr", request.service, [request.source_region, request.target_region]),
    )


def drill(
    request: DrillRequest, regions: list[str], workflow_id: str | None = None
) -> Launch[DrillWorkflow, DrillReport]:
    """A DR drill of `regions` (the ones the request resolves to), isolated from production."""
    return Launch(
        DrillWorkflow.run,
        request,
        workflow_id or ids.drill_id(request.service),
        request.topology.default_task_queue,
        f"DR drill {request.service}: {', '.join(regions)}",
        attributes=dr_attributes("drill", request.service, regions),
    )


def readiness(
    request: ReadinessRequest, workflow_id: str | None = None
) -> Launch[ReadinessWorkflow, ReadinessReport]:
    """One readiness evaluation of a service (read-only; its schedule re-runs it hourly)."""
    regions = request.topology.region_names()
    return Launch(
        ReadinessWorkflow.run,
        request,
        workflow_id or ids.readiness_id(request.service, request.request_id or new_request_id()),
        request.topology.default_task_queue,
        f"readiness of {request.service}: {len(regions)} regions",
        attributes=dr_attributes("readiness", request.service, regions),
    )


def practice(
    request: PracticeRequest, workflow_id: str | None = None
) -> Launch[FailoverPracticeWorkflow, PracticeReport]:
    """A failover practice of one region (or, from a schedule, of the region whose turn it is).

    Search attributes: operation `practice`, the service, the region (a rotation's run narrows its
    regions to the one practiced), status `running` until the verdict (pass, fail, aborted, skipped).
    """
    region = request.region
    regions = [region] if region else (request.regions or request.topology.region_names())
    return Launch(
        FailoverPracticeWorkflow.run,
        request,
        workflow_id or ids.practice_id(request.service, region or "rotation"),
        request.topology.default_task_queue,
        f"failover practice {request.service}: {region or 'region of the week'}",
        f"requested by {request.requested_by}; hold {request.duration_s:g}s",
        dr_attributes("practice", request.service, regions),
    )


# ----- reads through the workers -----------------------------------------------------------------------


async def read_health(client: Client, service: str, topology: Topology) -> HealthReport:
    """Every region's probe and traffic share, read by the workers (the CLI holds no credentials)."""
    return await client.execute_workflow(
        HealthReportWorkflow.run,
        InspectRequest(service=service, topology=topology),
        id=ids.inspect_id("health", service, new_request_id()),
        task_queue=topology.default_task_queue,
        static_summary=f"health of {service}",
    )


async def read_snapshots(
    client: Client, service: str, topology: Topology, regions: list[str]
) -> SnapshotInventory:
    """The snapshots stored in `regions` (empty: all), read by the workers."""
    return await client.execute_workflow(
        SnapshotInventoryWorkflow.run,
        InspectRequest(service=service, topology=topology, regions=regions),
        id=ids.inspect_id("snapshots", service, new_request_id()),
        task_queue=topology.default_task_queue,
        static_summary=f"snapshots of {service}",
    )

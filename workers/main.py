"""The worker process: polls the orchestration queue and region queues, runs workflows and activities."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.alarm_activities import AlarmActivities
from activities.analysis_activities import AnalysisActivities
from activities.cloud_activities import CloudActivities
from activities.clouds.registry import CloudRegistry, default_registry
from activities.freeze_activities import FreezeActivities
from activities.hook_activities import call_hook
from activities.notify_activities import send_notification
from activities.readiness_activities import ReadinessActivities
from activities.storage_activities import StorageActivities
from activities.traffic_activities import TrafficActivities
from activities.validation_activities import validate_restore
from activities.watch_activities import WatchActivities
from workers import telemetry
from workflows.backup import BackupWorkflow
from workflows.drill import DrillWorkflow
from workflows.failback import FailbackWorkflow
from workflows.failover import RegionFailoverWorkflow
from workflows.freezes import FreezeRegistryWorkflow
from workflows.inspect import HealthReportWorkflow, SnapshotInventoryWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow
from workflows.notify import NotifyWorkflow
from workflows.practice import FailoverPracticeWorkflow
from workflows.readiness import ReadinessWorkflow
from workflows.recovery import DisasterRecoveryWorkflow
from workflows.region_deployment import RegionDeploymentWorkflow
from workflows.rollout import RegionalRolloutWorkflow

DEFAULT_TASK_QUEUE = "globalops"
WORKFLOWS = [
    RegionalRolloutWorkflow,
    RegionDeploymentWorkflow,
    RegionHealthMonitorWorkflow,
    RegionFailoverWorkflow,
    FailbackWorkflow,
    BackupWorkflow,
    DisasterRecoveryWorkflow,
    DrillWorkflow,
    FailoverPracticeWorkflow,
    FreezeRegistryWorkflow,
    HealthReportWorkflow,
    SnapshotInventoryWorkflow,
    NotifyWorkflow,
    ReadinessWorkflow,
]


def activity_functions(clouds: CloudRegistry, client: Client | None = None) -> list[Callable[..., Any]]:
    """Every activity this worker runs, bound to its cloud adapters (and its client, for the freeze
    registry's look at running operations and readiness's look at passed practices and drills)."""
    acts = CloudActivities(clouds)
    freezes = FreezeActivities(client)
    readiness = ReadinessActivities(client)
    analysis = AnalysisActivities(clouds)
    traffic = TrafficActivities(clouds)
    storage = StorageActivities(clouds)
    alarms = AlarmActivities(clouds)
    watch = WatchActivities(clouds)
    return [
        acts.preflight,
        acts.region_state,
        acts.ensure_release,
        acts.health_sample,
        acts.scale_group,
        acts.set_canary_weight,
        acts.promote_canary,
        acts.restore_region,
        analysis.analyse,
        alarms.check_alarms,
        traffic.probe_region,
        watch.watch_regions,
        traffic.get_traffic,
        traffic.set_traffic,
        traffic.replica_lag,
        storage.snapshot_volume,
        storage.copy_snapshot,
        storage.list_snapshots,
        storage.delete_snapshot,
        storage.restore_volume,
        storage.launch_instances,
        storage.check_volume,
        storage.verify_snapshot,
        storage.list_resources,
        storage.delete_resource,
        freezes.running_operations,
        readiness.readiness_history,
        send_notification,
        call_hook,
        validate_restore,
    ]


#: The workflows' helper modules, which define no workflow and keep no state: the worker passes them through
#: the sandbox, which would otherwise import them afresh for every workflow run (about 9 ms for a region's
#: deployment child, a quarter of a busy worker's Python CPU in bench B2). The workflow modules themselves
#: stay sandboxed, and the tests' workers (the default runner) and the replay tests still run every helper
#: inside the sandbox, which checks them there.
SANDBOX_PASSTHROUGH = (
    "workflows.logic",
    "workflows.admission",
    "workflows.alarms",
    "workflows.failures",
    "workflows.freeze_api",
    "workflows.hooks",
    "workflows.patches",
    "workflows.region_steps",
    "workflows.retries",
    "workflows.signing",
    "workflows.strategies",
    "workflows.validation",
)


def build_models() -> int:
    """Build every config and contract model's validator now (they defer it, config/base.py), so no
    workflow or activity pays a first-use build while it runs; returns how many were built."""
    import importlib
    import inspect
    import pkgutil

    from pydantic import BaseModel

    import config
    import contracts

    built = 0
    for package in (config, contracts):
        for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if not (issubclass(cls, BaseModel) and cls.__module__ == info.name):
                    continue
                if not cls.__pydantic_complete__:
                    cls.model_rebuild()
                    built += 1
    return built


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox with the helper modules passed through (SANDBOX_PASSTHROUGH)."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions)


#: The worker's activity slots, and the threads that run its (synchronous) activities.
ACTIVITY_SLOTS = 32
#: How long a workflow task waits for the worker that has its workflow cached (`--sticky-timeout`).
STICKY_TIMEOUT_S = 10.0


def build_workers(
    client: Client,
    task_queues: Sequence[str],
    clouds: CloudRegistry,
    executor: concurrent.futures.Executor,
    interceptors: Sequence[Interceptor] = (),
    sticky_timeout: float = STICKY_TIMEOUT_S,
) -> list[Worker]:
    """One Worker per task queue, each running the workflows and the activities."""
    build_models()
    activities = activity_functions(clouds, client)
    return [
        Worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=activities,
            activity_executor=executor,
            workflow_runner=workflow_runner(),
            max_concurrent_activities=ACTIVITY_SLOTS,
            interceptors=interceptors,
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=sticky_timeout),
        )
        for queue in task_queues
    ]


async def run_worker(
    client: Client, task_queues: Sequence[str], sticky_timeout: float = STICKY_TIMEOUT_S
) -> None:
    """Run until cancelled (Ctrl-C or SIGTERM)."""
    log = structlog.get_logger("globalops.worker")
    queues = list(dict.fromkeys(task_queues)) or [DEFAULT_TASK_QUEUE]
    # Telemetry: Prometheus metrics runtime (GLOBALOPS_METRICS_PORT), globalops metrics, optional tracing.
    client, interceptors = await telemetry.instrument(client)
    with concurrent.futures.ThreadPoolExecutor(max_workers=ACTIVITY_SLOTS) as executor:
        workers = build_workers(client, queues, default_registry(), executor, interceptors, sticky_timeout)
        log.info("worker started", task_queues=queues)
        await asyncio.gather(*(w.run() for w in workers))

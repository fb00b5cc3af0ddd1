"""What every benchmark shares: an in-process worker like the real one, history counts, medians."""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import statistics
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.worker import Worker

from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from bench.floor import FloorChildWorkflow, FloorRolloutWorkflow, noop
from workers.main import ACTIVITY_SLOTS, WORKFLOWS, activity_functions, build_models, workflow_runner
from workers.telemetry import MetricsInterceptor


@contextlib.asynccontextmanager
async def in_process_worker(client: Client, queue: str, sim: SimCloud) -> AsyncIterator[Worker]:
    """The production worker's settings (32 activity slots and threads, its sandbox, metrics interceptor)
    + the floor."""
    registry = CloudRegistry({"sim": lambda: sim})
    build_models()
    with concurrent.futures.ThreadPoolExecutor(max_workers=ACTIVITY_SLOTS) as pool:
        worker = Worker(
            client,
            task_queue=queue,
            workflows=[*WORKFLOWS, FloorRolloutWorkflow, FloorChildWorkflow],
            activities=[*activity_functions(registry), noop],
            activity_executor=pool,
            workflow_runner=workflow_runner(),
            max_concurrent_activities=ACTIVITY_SLOTS,
            interceptors=[MetricsInterceptor()],
        )
        async with worker:
            yield worker


@dataclass
class HistoryCount:
    """How big one workflow's history is and what it is made of."""

    events: int
    activities: int
    timers: int
    children: int
    history_bytes: int = 0
    payload_bytes: dict[str, int] = field(default_factory=dict)


def _payload_bytes(event: HistoryEvent) -> tuple[str, int] | None:
    """The kind and size (serialised bytes) of the payloads an event carries, if it is one that does."""
    t = event.event_type
    if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        return "workflow inputs", event.workflow_execution_started_event_attributes.input.ByteSize()
    if t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return "activity inputs", event.activity_task_scheduled_event_attributes.input.ByteSize()
    if t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        return "activity results", event.activity_task_completed_event_attributes.result.ByteSize()
    if t == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        child = event.start_child_workflow_execution_initiated_event_attributes
        return "child inputs", child.input.ByteSize()
    return None


async def count_history(client: Client, workflow_id: str, run_id: str | None = None) -> HistoryCount:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    kinds = [e.event_type for e in history.events]
    payloads: dict[str, int] = {}
    for event in history.events:
        found = _payload_bytes(event)
        if found:
            payloads[found[0]] = payloads.get(found[0], 0) + found[1]
    return HistoryCount(
        events=len(kinds),
        activities=kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        timers=kinds.count(EventType.EVENT_TYPE_TIMER_STARTED),
        children=kinds.count(EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
        history_bytes=sum(e.ByteSize() for e in history.events),
        payload_bytes=payloads,
    )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of one run's values."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])

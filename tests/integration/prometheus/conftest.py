"""Fixtures of the Prometheus tests: a sim, its exporter and a real Prometheus scraping it, and a Temporal dev
server on the real clock; one of each per test module, stopped after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from activities.clouds.sim_exporter import serve
from config.models import Topology
from tests.helpers.prometheus import (
    BAD,
    FLAWLESS,
    GAPPED,
    PROMETHEUS,
    prometheus_server,
    prometheus_topology,
    scraped,
)
from tests.helpers.temporal import dev_server
from workers.client import register_search_attributes


@pytest.fixture(scope="module")
def prom_topology() -> Topology:
    return prometheus_topology()


@pytest.fixture(scope="module")
def prom_sim(tmp_path_factory: pytest.TempPathFactory, prom_topology: Topology) -> SimCloud:
    """The sim the exporter serves: release BAD fails 30 % of requests (+400 ms), FLAWLESS none, and GAPPED
    serves but reports no metrics. Each test of a module works on services of its own."""
    cloud = SimCloud(tmp_path_factory.mktemp("prom-sim") / "sim.db")
    cloud.seed_topology(prom_topology)
    cloud.inject_release_fault(BAD, error_rate=0.3, latency_ms=400)
    cloud.inject_release_fault(FLAWLESS, error_rate=0.0)
    cloud.inject_metrics_gap(GAPPED)
    return cloud


@pytest.fixture(scope="module")
def prom_exporter(prom_sim: SimCloud) -> Iterator[int]:
    """The sim's exporter on a free port (returned), in a thread of the test process."""
    served = serve(prom_sim.db_path, port=0)
    try:
        yield served.port
    finally:
        served.stop()


@pytest.fixture(scope="module")
def prometheus(prom_exporter: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's Prometheus scraping the exporter every second; its URL once it has scraped it once."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is missing: `make test` installs it, or `apt-get install prometheus`")
    with prometheus_server([f"127.0.0.1:{prom_exporter}"], tmp_path_factory.mktemp("prometheus")) as url:
        scraped(url)
        yield url


@pytest_asyncio.fixture(scope="module")
async def real_clock_env() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server: bakes take wall-clock time, as Prometheus' data does."""
    async with dev_server() as env:
        await register_search_attributes(env.client)
        yield env

"""Fixtures for the AWS adapter: one moto server per session, fresh AWS resources per test."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.clouds.aws import AwsCloud
from activities.clouds.sim import SimCloud
from config.models import Topology
from tests.helpers.aws.moto_server import moto_server, reset_moto
from tests.helpers.aws.provision import aws_topology, provision


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (all services) on a free port, reached over HTTP like real AWS."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def topology(moto_endpoint: str) -> Topology:
    """The four-region test topology (two AWS regions), on a task queue of its own, provisioned fresh."""
    reset_moto(moto_endpoint)
    topo = aws_topology(moto_endpoint, queue=f"aws-{uuid.uuid4().hex[:8]}")
    provision(topo, moto_endpoint)
    return topo


@pytest.fixture
def sim(tmp_path: Path, topology: Topology) -> SimCloud:
    """The simulated cloud for the topology's non-AWS regions (seeded with all of them)."""
    cloud = SimCloud(tmp_path / "sim.db")
    cloud.seed_topology(topology)
    return cloud


@pytest.fixture
def aws(topology: Topology) -> AwsCloud:
    return AwsCloud(topology)


@pytest.fixture
def executor() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        yield pool

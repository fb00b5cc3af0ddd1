"""A GCP topology on the local Compute test server (`gcp_server`, tests/conftest.py), bootstrapped fresh."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.gcp import GcpCloud
from config.models import Policies, Topology
from tests.helpers.gcp import gcp_topology, monitoring_policies
from tests.helpers.gcp_server import ComputeTestServer
from workers.client import register_search_attributes


@pytest.fixture
def gtopo(topology: Topology, gcp_server: ComputeTestServer) -> Topology:
    return gcp_topology(topology, gcp_server)


@pytest.fixture
def policies(policies: Policies) -> Policies:
    """The default policies, with an analysis window that holds `min_samples` Cloud Monitoring periods."""
    return monitoring_policies(policies)


@pytest.fixture
def gcp(gtopo: Topology, gcp_server: ComputeTestServer) -> GcpCloud:
    """A fresh server state, bootstrapped: template, stable MIG, data disk per region, backend service."""
    gcp_server.reset()
    cloud = GcpCloud(gtopo)
    cloud.bootstrap_topology()
    return cloud


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)

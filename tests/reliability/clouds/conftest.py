"""Here `topology` is the moto one (tests/conftest.py), and the time-skipping server is this module's own.

The broken workflows of these cases run on a time-skipping server of their own: a case whose
worker stops while one of its children still waits on an activity would otherwise stall the
shared server's time skipping for every later test.
"""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from config.models import Topology
from tests.helpers.temporal import time_skipping_server


@pytest.fixture
def topology(moto_topology: Topology) -> Topology:
    return moto_topology


@pytest_asyncio.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server for this module only."""
    async with time_skipping_server() as env:
        yield env

"""The AWS (moto) fixtures, overriding the sim-only `topology` and `sim` of tests/conftest.py here.

The broken workflows of these cases run on a time-skipping server of their own: a case whose
worker stops while one of its children still waits on an activity would otherwise stall the
shared server's time skipping for every later test.
"""

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.helpers.temporal import time_skipping_server
from tests.integration.aws.conftest import aws, executor, moto_endpoint, sim, topology  # noqa: F401


@pytest_asyncio.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server for this module only."""
    async with time_skipping_server() as env:
        yield env

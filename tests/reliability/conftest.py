"""Fixtures for crash and restart tests: a `globalops dev up` environment whose processes we kill.

The environment and the kill log are in tests/helpers/crash.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.helpers.crash import DevEnv, KillLog, crash_policies, running


@pytest_asyncio.fixture(scope="module")
async def dev_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevEnv]:
    """A fresh `dev up` environment for one test module; `dev down` after, even on failure."""
    home = tmp_path_factory.mktemp("globalops-home")
    with running(DevEnv(home, crash_policies(tmp_path_factory.mktemp("policies")))) as env:
        yield env


@pytest.fixture(scope="module")
def kill_log() -> KillLog:
    return KillLog()

"""Fixtures for end-to-end tests: `globalops dev up` environments (dev server + worker) used via the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.helpers.cli_user import User
from tests.helpers.crash import DevEnv, KillLog, crash_policies, running
from tests.helpers.ports import free_port


@pytest.fixture(scope="session")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    home = tmp_path_factory.mktemp("globalops-home")
    u = User(home, free_port())
    up = u.run("dev", "up", "--port", str(u.port), "--ui-port", str(u.ui_port), timeout=120)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield u
    finally:
        down = u.run("dev", "down", timeout=60)
        assert down.returncode == 0, down.stderr
        assert not (home / "temporal.pid").exists()


@pytest_asyncio.fixture(scope="module")
async def dev_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevEnv]:
    """A fresh `dev up` environment, killable (crash and restart tests), for one test module; `dev down`
    after, even on failure."""
    home = tmp_path_factory.mktemp("globalops-home")
    with running(DevEnv(home, crash_policies(tmp_path_factory.mktemp("policies")))) as env:
        yield env


@pytest.fixture(scope="module")
def kill_log() -> KillLog:
    return KillLog()

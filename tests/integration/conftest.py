"""Fixtures for end-to-end tests: one dev server + worker started by `globalops dev up`, used via the CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.cli_user import User
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

"""Fixtures for end-to-end tests: one dev server + worker started by `globalops dev up`, used via the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GLOBALOPS = str(Path(sys.executable).parent / "globalops")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class User:
    """Runs `globalops` commands in their own processes against one dev environment."""

    def __init__(self, home: Path, port: int, ui_port: int | None = None) -> None:
        self.port = port
        self.ui_port = free_port() if ui_port is None else ui_port  # the Web UI, for `dev up --ui-port`
        self.env = {
            **os.environ,
            "GLOBALOPS_HOME": str(home),
            "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "GLOBALOPS_POLICIES": str(ROOT / "config" / "policies.demo.yaml"),
            # A port of its own: environments of parallel test processes must not race for :9464.
            "GLOBALOPS_METRICS_PORT": str(free_port()),
        }
        self.env.pop("GLOBALOPS_TOPOLOGY", None)

    @property
    def web_ui(self) -> str:
        """Base URL of the dev server's Web UI (once `dev up --ui-port self.ui_port` ran)."""
        return f"http://127.0.0.1:{self.ui_port}"

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [GLOBALOPS, *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        done = self.run(*args)
        assert done.stdout.strip(), done.stderr
        return done.returncode, json.loads(done.stdout)


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


def releases(user: User) -> dict[str, str]:
    code, status = user.json("sim", "status", "--json")
    assert code == 0
    return {r["region"]: r["release"] for r in status["regions"]}

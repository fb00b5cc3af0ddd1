"""A user of the `globalops` CLI: commands in their own processes against one dev environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
GLOBALOPS = str(Path(sys.executable).parent / "globalops")


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


def releases(user: User) -> dict[str, str]:
    code, status = user.json("sim", "status", "--json")
    assert code == 0
    return {r["region"]: r["release"] for r in status["regions"]}

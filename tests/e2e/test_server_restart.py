"""Temporal server restarts: the dev server (SQLite database) stopped twice mid-rollout, restarted.

`globalops dev up` restarts only what is down: the server on the same port with the same
`--db-filename` (cli/dev.py), while the worker keeps running and reconnects by itself.

Run: .venv/bin/python -m pytest tests/e2e/test_server_restart.py -q -s
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from temporalio.api.enums.v1 import WorkflowExecutionStatus

from tests.helpers.crash import DevEnv
from tests.helpers.polling import apoll, poll

pytestmark = pytest.mark.e2e
RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
COMPLETED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED


async def test_rollout_completes_across_two_server_restarts(dev_env: DevEnv) -> None:
    env = dev_env
    assert env.run("sim", "status", "--json").returncode == 0  # the CLI seeds the sim on first use
    base = env.sim.ledger_size()
    worker = env.pid("worker")
    started = env.run("rollout", "start", "--service", "checkout", "--release", "2.0.0")
    assert started.returncode == 0, started.stdout + started.stderr
    figures: list[str] = []

    # Graceful stop in the core wave, hard kill in the edge wave (2 keyed changes per region).
    for sig, at_ledger in ((signal.SIGTERM, 6), (signal.SIGKILL, 20)):

        def reached(n: int = at_ledger) -> bool | None:
            return env.sim.ledger_size() - base >= n or None

        await poll(reached, f"the rollout's {at_ledger}th keyed change")
        assert await env.status("rollout:checkout") == RUNNING
        server = env.pid("temporal")
        stopped = time.monotonic()
        await env.kill("temporal", sig)
        at = env.sim.ledger_size() - base
        out = env.up()
        assert "Temporal dev server starting" in out and f"worker already running (pid {worker})" in out, out
        restarted = time.monotonic() - stopped
        assert env.pid("temporal") != server

        def moved(before: int = at) -> bool | None:
            return env.sim.ledger_size() - base > before or None

        await poll(moved, f"the rollout to change a region again after {sig.name}", limit_s=120)
        figures.append(
            f"{sig.name} at ledger {at}: server back in {restarted:.1f}s, "
            f"next region change {time.monotonic() - stopped:.1f}s after the stop"
        )

    async def done() -> WorkflowExecutionStatus.ValueType | None:
        status = await env.status("rollout:checkout")
        return None if status == RUNNING else status

    assert await apoll(done, "the rollout to finish", limit_s=180) == COMPLETED
    status = json.loads(env.run("rollout", "status", "checkout", "--json").stdout)
    assert status["status"] == "succeeded", status
    assert env.releases() == {region: {"2.0.0"} for region in env.configured}
    assert env.instance_counts() == env.configured
    assert env.duplicates() == {"snapshots": [], "dr_resources": [], "ledger": []}
    assert env.sim.ledger_size() - base == 2 * len(env.configured)  # every batch applied once
    assert env.pid("worker") == worker  # the same worker process throughout
    print("\n" + "\n".join(figures))

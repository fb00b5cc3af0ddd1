"""End to end on the dev server's real clock: monitor, outage, automatic failover, failback."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.helpers.cli_user import User

pytestmark = pytest.mark.e2e


def health(user: User) -> dict[str, dict[str, Any]]:
    code, data = user.json("health", "--service", "checkout", "--json")
    assert code == 0
    return {r["region"]: r for r in data["regions"]}


def wait_for(check: Any, what: str, limit_s: float = 120) -> Any:
    """Poll a real system for a state (bounded): the dev server runs on the real clock."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def finished_failover(user: User) -> dict[str, Any] | None:
    done = user.run("failover", "status", "failover:checkout:eu-west-1", "--json")
    report: dict[str, Any] = json.loads(done.stdout) if done.returncode == 0 else {}
    return report if report.get("status") == "succeeded" else None


def test_outage_fails_over_to_the_eu_and_fails_back(user: User) -> None:
    assert user.run("sim", "clear").returncode == 0
    started = user.run("monitor", "start", "--service", "checkout")
    assert started.returncode == 0, started.stderr
    try:
        wait_for(lambda: all(r["last_probe"] for r in health(user).values()), "first probes")
        assert user.run("sim", "fault", "outage", "eu-west-1").returncode == 0
        wait_for(lambda: health(user)["eu-west-1"]["traffic"] == 0, "traffic to leave eu-west-1")
        report = wait_for(lambda: finished_failover(user), "the failover to finish")
        assert report["to_region"] in ("eu-central-1", "europe-west1")
        assert all(report["targets_met"].values()), report["timings"]
        now = health(user)
        assert now[report["to_region"]]["traffic"] == pytest.approx(2 / 16)
        assert user.run("sim", "recover", "eu-west-1").returncode == 0
        back = user.run("failback", "start", "--service", "checkout", "--region", "eu-west-1", "--wait")
        assert back.returncode == 0, back.stdout + back.stderr
        assert health(user)["eu-west-1"]["traffic"] == pytest.approx(1 / 16)
    finally:
        user.run("monitor", "stop", "--service", "checkout")

"""End to end on the dev server's real clock: monitor, outage, failover, failback, failover practice."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.helpers.cli_user import User
from workflows.practice import FailoverPracticeWorkflow

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


READINESS_QUERY = (
    'GlobalopsOperation = "practice" AND GlobalopsService = "checkout"'
    ' AND GlobalopsRegions = "eu-west-1" AND GlobalopsStatus = "{status}"'
)


async def test_practice_moves_traffic_and_back_and_its_schedule_skips_in_a_freeze(user: User) -> None:
    """A practice by hand passes with equal weights and is found by the readiness query; the weekly
    schedule (SKIP, explicit catch-up) starts a run that, in a freeze, skips and moves nothing."""
    assert user.run("sim", "clear").returncode == 0
    code, report = user.json(
        "practice",
        "run",
        "--service",
        "checkout",
        "--region",
        "eu-west-1",
        "--duration",
        "2s",
        "--wait",
        "--json",
    )
    assert code == 0, report
    assert report["verdict"] == "pass", report
    assert report["target"] in ("eu-central-1", "europe-west1")
    assert report["weights_after"] == report["weights_before"]
    assert set(report["timings"]) == {"failover", "hold", "failback", "total"}
    client = await Client.connect(f"127.0.0.1:{user.port}", data_converter=pydantic_data_converter)
    passed = await poll_async(lambda: _ids(client, READINESS_QUERY.format(status="pass")), "visibility")
    assert report["workflow_id"] in passed

    sched = ("--service", "checkout")
    freeze = ""
    try:
        created = user.run("practice", "schedule", "create", *sched, "--region", "eu-west-1")
        assert created.returncode == 0, created.stderr
        code, desc = user.json("practice", "schedule", "describe", *sched, "--json")
        assert code == 0, desc
        assert desc["cron_expressions"] == ["0 10 * * TUE"] and desc["time_zone"] == "UTC"
        assert desc["overlap"] == "SKIP" and desc["catchup_window_s"] == 3600
        assert all(
            datetime.fromisoformat(t).strftime("%a %H:%M") == "Tue 10:00" for t in desc["next_action_times"]
        )
        code, frozen = user.json("freeze", "start", "--reason", "game day", "--service", "checkout", "--json")
        assert code == 0, frozen
        freeze = frozen["id"]
        assert user.run("practice", "schedule", "trigger", *sched).returncode == 0
        skipped_query = (
            READINESS_QUERY.format(status="skipped") + ' AND TemporalScheduledById = "practice:checkout"'
        )
        (run_id,) = await poll_async(lambda: _ids(client, skipped_query), "the scheduled practice to skip")
        assert run_id.startswith("practice:checkout:eu-west-1-")
        result = await client.get_workflow_handle_for(FailoverPracticeWorkflow.run, run_id).result()
        assert result.verdict == "skipped" and result.reason == f"frozen by {freeze} (game day)"
        assert result.failover_status is None and result.scheduled
        # Nothing moved since the practice put every weight back.
        assert {name: r["traffic"] for name, r in health(user).items()} == pytest.approx(
            report["weights_before"]
        )
    finally:
        if freeze:
            user.run("freeze", "end", freeze)
        user.run("practice", "schedule", "delete", *sched)
    gone = user.run("practice", "schedule", "describe", *sched)
    assert gone.returncode == 2 and "no schedule 'practice:checkout'" in gone.stderr


async def _ids(client: Client, query: str) -> list[str]:
    return [wf.id async for wf in client.list_workflows(query)]


async def poll_async(check: Callable[[], Awaitable[list[str]]], what: str, limit_s: float = 60) -> list[str]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")

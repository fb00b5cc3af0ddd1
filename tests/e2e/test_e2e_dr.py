"""End to end on the dev server's real clock: backups, a disaster recovery, drills and their schedules."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import yaml
from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.helpers.cli_user import ROOT, User

pytestmark = pytest.mark.e2e
T = TypeVar("T")
EU = ("--source-region", "eu-west-1", "--target-region", "eu-central-1")


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo policies with a short drill soak (the default keeps a drill's environment up 5 minutes)."""
    data = yaml.safe_load((ROOT / "config" / "policies.demo.yaml").read_text(encoding="utf-8"))
    data.setdefault("dr", {}).setdefault("drill", {})["soak"] = "2s"
    path = tmp_path_factory.mktemp("dr-policies") / "policies.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def fresh_sim(user: User) -> Iterator[None]:
    """Start from, and leave behind, a freshly seeded sim (traffic, instances and snapshots reset)."""
    assert user.run("sim", "reset").returncode == 0
    yield
    assert user.run("sim", "reset").returncode == 0


def ok_json(user: User, *args: str) -> dict[str, Any]:
    code, data = user.json(*args)
    assert code == 0, data
    return data


def traffic(user: User) -> dict[str, float]:
    data = ok_json(user, "health", "--service", "checkout", "--json")
    return {r["region"]: r["traffic"] for r in data["regions"]}


def backup(user: User, *regions: str) -> dict[str, Any]:
    args = [a for r in regions for a in ("--region", r)]
    report = ok_json(user, "backup", "run", "--service", "checkout", *args, "--wait", "--json")
    assert report["status"] == "succeeded", report
    return report


async def poll(check: Callable[[], Awaitable[T | None]], what: str, limit_s: float = 90) -> T:
    """Poll a real system for a state (bounded): the dev server runs on the real clock."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_backup_then_recover_eu_west_1_into_eu_central_1(user: User, fresh_sim: None) -> None:
    # No snapshot yet (listed by the workers): refused with one line, nothing started, traffic unchanged.
    refused = user.run("dr", "recover", "--service", "checkout", *EU)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    line = refused.stderr.strip()
    assert len(line.splitlines()) == 1, line
    for needle in ("--snapshot", "no snapshot of eu-west-1", "backup run"):
        assert needle in line, (needle, line)
    assert traffic(user)["eu-west-1"] == pytest.approx(1 / 16)

    report = backup(user)
    for row in report["regions"]:
        assert row["ok"] and row["snapshot_id"], row
        if row["copy_region"] is None:  # no other region of its jurisdiction group may hold its data
            assert "stays in" in row["note"], row
        else:
            assert row["copy_id"], row
    rows = {row["region"]: row for row in report["regions"]}
    assert rows["eu-west-1"]["copy_region"] == "eu-central-1"
    assert rows["eu-west-2"]["copy_region"] is None  # UK data stays in the UK
    listed = ok_json(user, "backup", "list", "--service", "checkout", "--region", "eu-central-1", "--json")
    held = listed["regions"][0]["snapshots"]
    assert rows["eu-west-1"]["copy_id"] in {s["id"] for s in held}

    # Too old for a 1 s RPO if the region "fails" an hour from now: refused before anything starts.
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    refused = user.run("dr", "recover", "--service", "checkout", *EU, "--rpo", "1s", "--failed-at", later)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    line = refused.stderr.strip()
    assert len(line.splitlines()) == 1, line
    for needle in ("--rpo", rows["eu-west-1"]["copy_id"], "1h old", "RPO target 1s", "--accept-rpo-breach"):
        assert needle in line, (needle, line)
    assert traffic(user)["eu-west-1"] == pytest.approx(1 / 16)

    result = ok_json(user, "dr", "recover", "--service", "checkout", *EU, "--wait", "--json")
    assert set(result) == {
        "workflow_id",
        "status",
        "service",
        "source_region",
        "target_region",
        "snapshot_id",
        "rto_s",
        "rpo_s",
        "rto_target_s",
        "rpo_target_s",
        "met_targets",
    }
    assert result["workflow_id"] == "dr:checkout:eu-west-1"
    assert result["status"] == "succeeded" and result["met_targets"] is True, result
    assert result["snapshot_id"] == rows["eu-west-1"]["copy_id"]
    assert isinstance(result["rto_s"], float) and 0 < result["rto_s"] <= result["rto_target_s"]
    assert isinstance(result["rpo_s"], float) and 0 <= result["rpo_s"] <= result["rpo_target_s"]
    weights = traffic(user)
    assert weights["eu-west-1"] == 0
    assert weights["eu-central-1"] == pytest.approx(2 / 16)

    breach = ok_json(
        user,
        "dr",
        "recover",
        "--service",
        "checkout",
        *EU,
        "--rpo",
        "1s",
        "--failed-at",
        later,
        "--accept-rpo-breach",
        "--wait",
        "--json",
    )
    assert breach["status"] == "succeeded", breach
    assert breach["met_targets"] is False
    assert breach["rpo_s"] >= 3500 and breach["rpo_target_s"] == 1.0


def test_drill_passes_cleans_up_and_reports(user: User, fresh_sim: None, policies: Path) -> None:
    backup(user, "eu-west-1", "us-east-1")
    before = traffic(user)
    regions = ("--region", "eu-west-1", "--region", "us-east-1")
    args = ("drill", "run", "--service", "checkout", *regions, "--policies", str(policies))
    report = ok_json(user, *args, "--wait", "--json")
    assert set(report) == {"workflow_id", "status", "verdict", "regions", "leftover_resources"}
    assert report["verdict"] == "pass", report
    assert report["leftover_resources"] == 0
    assert {(r["region"], r["target_region"]) for r in report["regions"]} == {
        ("eu-west-1", "eu-central-1"),
        ("us-east-1", "us-west-2"),
    }
    assert all(r["met_targets"] and r["rto_s"] is not None for r in report["regions"])
    assert traffic(user) == before  # production untouched

    wid = report["workflow_id"]
    shown = user.run("drill", "report", wid)
    assert shown.returncode == 0, shown.stderr
    assert "## DR drill checkout · pass" in shown.stdout
    assert "eu-central-1" in shown.stdout
    saved = Path(user.env["GLOBALOPS_HOME"]) / "reports"
    stem = wid.replace(":", "_")
    assert (saved / f"{stem}.md").read_text(encoding="utf-8").startswith("## DR drill checkout")
    assert json.loads((saved / f"{stem}.json").read_text(encoding="utf-8"))["verdict"] == "pass"

    listed = ok_json(user, "drill", "list", "--service", "checkout", "--json")
    assert {"workflow_id": wid, "verdict": "pass"}.items() <= next(
        d for d in listed["drills"] if d["workflow_id"] == wid
    ).items()


def coming_mondays_9utc(count: int, after: datetime) -> list[datetime]:
    """The next `count` Mondays 09:00 UTC strictly after `after`."""
    day = after.astimezone(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    day -= timedelta(days=day.weekday())  # this week's Monday 09:00
    while day <= after:
        day += timedelta(weeks=1)
    return [day + timedelta(weeks=n) for n in range(count)]


async def test_schedules_run_drills_on_mondays_and_skip_overlaps(
    user: User, fresh_sim: None, policies: Path
) -> None:
    backup(user, "eu-west-1")
    client = await Client.connect(f"127.0.0.1:{user.port}", data_converter=pydantic_data_converter)
    sched = ("--service", "checkout")
    try:
        created = user.run(
            "drill", "schedule", "create", *sched, "--region", "eu-west-1", "--policies", str(policies)
        )
        assert created.returncode == 0, created.stderr
        again = user.run("drill", "schedule", "create", *sched)
        assert again.returncode == 2 and "already exists" in again.stderr, again.stderr

        now = datetime.now(UTC)
        desc = ok_json(user, "drill", "schedule", "describe", *sched, "--json")
        assert desc["cron_expressions"] == ["0 9 * * MON"]
        assert desc["overlap"] == "SKIP"
        assert desc["catchup_window_s"] == 3600
        got = [datetime.fromisoformat(t) for t in desc["next_action_times"]]
        assert got == coming_mondays_9utc(5, now)

        # Backfill three past Mondays 09:00 (ALLOW_ALL: they may run side by side).
        last_monday = coming_mondays_9utc(1, now)[0] - timedelta(weeks=1)
        handle = client.get_schedule_handle("drill:checkout")
        await handle.backfill(
            ScheduleBackfill(
                start_at=last_monday - timedelta(weeks=2, minutes=1),
                end_at=last_monday + timedelta(minutes=1),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            )
        )
        by_schedule = 'TemporalScheduledById = "drill:checkout"'

        async def runs(closed_only: bool = False) -> list[Any]:
            query = by_schedule + (' AND ExecutionStatus != "Running"' if closed_only else "")
            return [wf async for wf in client.list_workflows(query)]

        async def three_done() -> list[Any] | None:
            done = await runs(closed_only=True)
            return done if len(done) >= 3 else None

        done = await poll(three_done, "the 3 backfilled drills to finish")
        assert len(await runs()) == 3
        assert all(wf.id.startswith("drill:checkout-") for wf in done)

        # SKIP: a trigger while the previous scheduled drill still runs starts nothing. Two triggers
        # a few milliseconds apart (a drill soaks for seconds) give one run, where ALLOW_ALL gives two.
        # (The server may fold the second into the first rather than count it as skipped, so the
        # number of runs is the evidence, not num_actions_skipped_overlap.)
        await handle.trigger()
        await handle.trigger()

        async def four_done() -> list[Any] | None:
            finished = await runs(closed_only=True)
            return finished if len(finished) >= 4 else None

        await poll(four_done, "the triggered drill to finish")
        assert len(await runs()) == 4

        listed = ok_json(user, "drill", "schedule", "list", *sched, "--json")
        assert [s["schedule_id"] for s in listed["schedules"]] in (["drill:checkout"], [])  # eventual
        assert user.run("drill", "schedule", "pause", *sched, "--note", "game day").returncode == 0
        assert ok_json(user, "drill", "schedule", "describe", *sched, "--json")["paused"] is True
    finally:
        user.run("drill", "schedule", "delete", *sched)
    gone = user.run("drill", "schedule", "describe", *sched)
    assert gone.returncode == 2 and "no schedule 'drill:checkout'" in gone.stderr


def test_backup_schedule_uses_an_explicit_interval_and_catch_up_window(user: User) -> None:
    sched = ("--service", "checkout")
    try:
        created = user.run(
            "backup", "schedule", "create", *sched, "--every", "6h", "--catchup-window", "30m", "--paused"
        )
        assert created.returncode == 0, created.stderr
        desc = ok_json(user, "backup", "schedule", "describe", *sched, "--json")
        assert desc["intervals_s"] == [6 * 3600]
        assert desc["catchup_window_s"] == 1800
        assert desc["overlap"] == "SKIP"
        assert desc["paused"] is True
        assert desc["num_actions"] == 0
        assert user.run("backup", "schedule", "unpause", *sched).returncode == 0
        assert ok_json(user, "backup", "schedule", "describe", *sched, "--json")["paused"] is False
    finally:
        assert user.run("backup", "schedule", "delete", *sched).returncode == 0


def test_a_drill_schedule_in_a_time_zone_runs_at_nine_local_time(user: User, policies: Path) -> None:
    sched = ("--service", "checkout")
    user.run("drill", "schedule", "delete", *sched)  # none left from another test
    try:
        created = user.run(
            "drill", "schedule", "create", *sched, "--time-zone", "Europe/Berlin", "--policies", str(policies)
        )
        assert created.returncode == 0, created.stderr
        assert "'0 9 * * MON' (Europe/Berlin)" in created.stdout
        desc = ok_json(user, "drill", "schedule", "describe", *sched, "--json")
        assert desc["time_zone"] == "Europe/Berlin"
        berlin = ZoneInfo("Europe/Berlin")
        runs = [datetime.fromisoformat(t) for t in desc["next_action_times"]]
        assert len(runs) == 5
        for at in runs:  # every Monday 09:00 in Berlin, summer or winter time
            local = at.astimezone(berlin)
            assert (local.weekday(), local.hour, local.minute) == (0, 9, 0), at
            assert at.utcoffset() == local.utcoffset()  # shown in the schedule's own zone
        listed = ok_json(user, "drill", "schedule", "list", *sched, "--json")["schedules"]
        assert all(s["time_zone"] == "Europe/Berlin" for s in listed)
        bad = user.run("drill", "schedule", "create", *sched, "--time-zone", "Mars/Olympus_Mons")
        assert bad.returncode == 2 and "--time-zone: unknown time zone 'Mars/Olympus_Mons'" in bad.stderr
    finally:
        user.run("drill", "schedule", "delete", *sched)

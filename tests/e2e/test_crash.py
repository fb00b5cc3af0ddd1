"""Worker crashes: SIGKILL the worker at 14-15 points of a rollout, a failover and a drill, restart it.

Six of them land inside a keyed sim change: made, its answer held (the sim's GLOBALOPS_SIM_HOLD hook).

Each operation must still end in the right state, and nothing may exist twice: every region
keeps exactly its configured instances, one snapshot per (region, key), one recovery resource
per (region, key, kind), and the sim ledger records each keyed change once (a change repeated
under a new key would show as an extra ledger row and extra instances).

Run: .venv/bin/python -m pytest tests/e2e/test_crash.py -q -s   (-s prints the kill log)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from temporalio.api.enums.v1 import PendingActivityState, TimeoutType

from tests.helpers.cli_user import ROOT
from tests.helpers.crash import (
    COMPLETED,
    DevEnv,
    KillLog,
    crash_at,
    crash_policies,
    finished,
    ok_json,
    sim_in_call,
)
from tests.helpers.polling import apoll

pytestmark = pytest.mark.e2e
DRILL_REGIONS = ("eu-west-1", "us-east-1")
US_PRIMARIES = ("us-east-1", "us-west-2")  # each the other's backup region
PENDING_ACTIVITY_STARTED = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
TIMEOUT_TYPE_HEARTBEAT = TimeoutType.TIMEOUT_TYPE_HEARTBEAT


def assert_nothing_twice(env: DevEnv, expected_instances: dict[str, int]) -> None:
    assert env.duplicates() == {"snapshots": [], "dr_resources": [], "ledger": []}
    assert env.instance_counts() == expected_instances


async def test_rollout_completes_after_seven_worker_kills_two_inside_calls(
    dev_env: DevEnv, kill_log: KillLog
) -> None:
    env = dev_env
    assert env.run("sim", "status", "--json").returncode == 0  # the CLI seeds the sim on first use
    base = env.sim.ledger_size()
    assert {r for rel in env.releases().values() for r in rel} == {"1.0.0"}
    started = env.run("rollout", "start", "--service", "checkout", "--release", "2.0.0")
    assert started.returncode == 0, started.stdout + started.stderr

    def ledger(n: int) -> Callable[[], bool]:
        return lambda: env.sim.ledger_size() - base >= n

    # Two batches per region (crash_policies): 2 keyed changes per region, 32 in all.
    # Core wave: pilot us-east-1, then 3 groups of 2; edge wave: 2 groups of 4.
    await crash_at(
        env,
        kill_log,
        "rollout",
        "rollout:checkout",
        [
            ("validate: preflight of 16 regions", lambda: True),
            ("pilot us-east-1 done: pilot bake", ledger(2)),
            sim_in_call(env, "ensure_release", "in call: a core batch made, answer held"),
            ("core wave: second group of two", ledger(8)),
            ("edge wave: first group of four", ledger(17)),
            sim_in_call(env, "ensure_release", "in call: an edge batch made, answer held"),
            ("edge wave: last group of four", ledger(26)),
        ],
    )
    assert await finished(env, "rollout:checkout") == COMPLETED
    status = json.loads(env.run("rollout", "status", "checkout", "--json").stdout)
    assert status["status"] == "succeeded", status
    assert {r["region"]: r["status"] for r in status["regions"]} == dict.fromkeys(env.configured, "succeeded")
    assert env.releases() == {region: {"2.0.0"} for region in env.configured}
    assert_nothing_twice(env, env.configured)
    assert env.sim.ledger_size() - base == 2 * len(env.configured)  # each batch applied exactly once
    assert env.sim.inventory()["canary_weights"] == {}
    print("\n" + kill_log.summary("rollout"))


async def test_failover_completes_after_four_worker_kills_two_inside_calls(
    dev_env: DevEnv, kill_log: KillLog
) -> None:
    env = dev_env
    wid = "failover:checkout:eu-west-1"
    assert env.run("sim", "fault", "outage", "eu-west-1").returncode == 0
    started = env.run("failover", "start", "--service", "checkout", "--from", "eu-west-1")
    assert started.returncode == 0, started.stdout + started.stderr

    def prescaled() -> bool:
        return any(n > env.configured[r] for r, n in env.instance_counts().items())

    def shifted() -> bool:
        return bool(env.sim.inventory()["traffic"]["checkout"]["eu-west-1"] == 0)

    await crash_at(
        env,
        kill_log,
        "failover",
        wid,
        [
            sim_in_call(env, "scale_group", "in call: target pre-scaled, answer held"),
            sim_in_call(env, "set_traffic", "in call: traffic moved, answer held"),
            ("target pre-scaled, traffic not moved", prescaled),
            ("traffic shifted: validating the target", shifted),
        ],
    )
    assert await finished(env, wid) == COMPLETED
    report = ok_json(env, "failover", "status", wid, "--json")
    assert report["status"] == "succeeded", report
    target = report["to_region"]
    assert target in ("eu-central-1", "europe-west1")
    weights = env.sim.inventory()["traffic"]["checkout"]
    assert weights["eu-west-1"] == 0
    assert weights[target] == pytest.approx(2 / 16)
    assert sum(weights.values()) == pytest.approx(1)
    scaled = [s for s in report["steps"] if re.search(rf"{target}: pre-scaled \d+ → \d+ instances", s)]
    assert len(scaled) == 1, report["steps"]  # pre-scaled once, not once per restart
    after = int(scaled[0].rsplit("→", 1)[1].split()[0])
    assert_nothing_twice(env, {**env.configured, target: after})
    print("\n" + kill_log.summary("failover"))


async def test_drill_passes_and_leaves_nothing_after_worker_kills(dev_env: DevEnv, kill_log: KillLog) -> None:
    env = dev_env
    assert env.run("sim", "reset").returncode == 0  # production healthy again, fresh ledger
    regions = [a for r in DRILL_REGIONS for a in ("--region", r)]
    # Production probes every 1 s (not 0.2 s), 3 boot probes and an 8 s soak: timers to be killed
    # in. A kill while an activity runs would cost that activity's call timeout (10 s here).
    policies = yaml.safe_load(Path(env.env["GLOBALOPS_POLICIES"]).read_text(encoding="utf-8"))
    policies["health"]["probe_interval"] = "1s"
    policies["dr"]["drill"] |= {"boot_probes": 3, "soak": "8s"}
    drill_policies = env.home / "drill-policies.yaml"
    drill_policies.write_text(yaml.safe_dump(policies), encoding="utf-8")
    backup = ok_json(env, "backup", "run", "--service", "checkout", *regions, "--wait", "--json")
    assert backup["status"] == "succeeded", backup
    snapshots = env.sim.inventory()["snapshots"]
    traffic = env.sim.inventory()["traffic"]
    started = ok_json(
        env, "drill", "run", "--service", "checkout", *regions, "--policies", str(drill_policies), "--json"
    )
    wid = started["workflow_id"]
    peak = {"resources": 0}

    async def soaking() -> bool:
        # A region launched (volume + instances) and in its soak before removal. Not "both": a
        # kill that lands mid-activity delays one region by the call timeout.
        peak["resources"] = max(peak["resources"], int(env.sim.inventory()["total_resources"]))
        client = await env.connect()
        phases = [
            (await client.get_workflow_handle(f"{wid}/{region}").query("report"))["phase"]
            for region in DRILL_REGIONS
        ]
        return any(p.startswith("soaking") for p in phases)

    def removing() -> bool:
        n = int(env.sim.inventory()["total_resources"])
        return n < peak["resources"]

    await crash_at(
        env,
        kill_log,
        "drill",
        wid,
        [
            sim_in_call(env, "restore_volume", "in call: volume restored, answer held"),
            sim_in_call(env, "launch_instances", "in call: instances launched, answer held"),
            ("every region launched: soaking", soaking),
            ("soak over: removing, sweeping", removing),
        ],
        optional=1,
    )
    await finished(env, wid)
    report = await (await env.connect()).get_workflow_handle(wid).query("report")
    assert report["verdict"] == "pass", report
    assert report["leftover_resources"] == 0
    assert {r["region"] for r in report["regions"]} == set(DRILL_REGIONS)
    inventory = env.sim.inventory()
    assert inventory["total_resources"] == 0  # zero drill resources left
    assert inventory["snapshots"] == snapshots  # a drill reads snapshots; it never takes one
    assert inventory["traffic"] == traffic  # production untouched
    assert_nothing_twice(env, env.configured)
    print("\n" + kill_log.summary("drill"))
    assert len(kill_log.kills) >= 10
    in_call = [k.point for k in kill_log.kills if k.in_flight == "in-call"]
    assert len(in_call) == 6, in_call  # two inside cloud calls of each operation


async def test_a_worker_killed_inside_a_long_cloud_call_is_retried_after_its_heartbeat_timeout(
    dev_env: DevEnv, tmp_path: Path
) -> None:
    """The call's heartbeats stop with the worker: the step is retried after the heartbeat timeout
    (2 s here), long before its call timeout (120 s) would have run out, and changes once.

    Over the two US primaries only (the pilot and one more region): what is tested is the pilot's
    call, and the other 14 regions' deploys would only add half a minute to the suite."""
    env = dev_env
    policies = yaml.safe_load(crash_policies(tmp_path).read_text(encoding="utf-8"))
    policies |= {"call_timeout": "120s", "heartbeat_timeout": "2s"}
    path = tmp_path / "long-call-policies.yaml"
    path.write_text(yaml.safe_dump(policies), encoding="utf-8")
    topology = yaml.safe_load((ROOT / "config" / "topology.yaml").read_text(encoding="utf-8"))
    topology["regions"] = [r for r in topology["regions"] if r["name"] in US_PRIMARIES]
    topology["waves"] = [
        {"name": "validate"},
        {"name": "core", "pilot": "us-east-1", "regions": list(US_PRIMARIES)},
    ]
    regions = tmp_path / "us-primaries.yaml"
    regions.write_text(yaml.safe_dump(topology), encoding="utf-8")
    base = env.sim.ledger_size()
    assert env.run("sim", "fault", "api", "--error-rate", "0", "--delay", "30").returncode == 0
    started = env.run(
        "rollout", "start", "--service", "checkout", "--release", "4.0.0",
        "--policies", str(path), "--topology", str(regions),
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    client = await env.connect()
    pilot = client.get_workflow_handle("rollout:checkout/us-east-1")

    async def in_the_call() -> bool:
        try:
            desc = await pilot.describe()
        except Exception:  # noqa: BLE001 - the pilot's deploy has not started yet
            return False
        return any(
            a.activity_type.name == "ensure_release" and a.state == PENDING_ACTIVITY_STARTED
            for a in desc.raw_description.pending_activities
        )

    await apoll(in_the_call, "the pilot's first batch call to be running", limit_s=90)
    await env.kill("worker")  # inside the 30 s call: the change is not made yet
    assert env.sim.ledger_size() == base
    env.run("sim", "clear")  # the retry runs at full speed
    out = env.up()
    assert "worker starting" in out, out
    assert await finished(env, "rollout:checkout") == COMPLETED
    history = await pilot.fetch_history()
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    first_batch = next(
        e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and scheduled[e.activity_task_started_event_attributes.scheduled_event_id] == "ensure_release"
    )
    assert first_batch.attempt == 2
    timeout = first_batch.last_failure.timeout_failure_info
    assert timeout.timeout_type == TIMEOUT_TYPE_HEARTBEAT, first_batch.last_failure
    assert env.sim.ledger_size() - base == 2 * len(US_PRIMARIES)  # every batch changed once
    assert {r for r, rel in env.releases().items() if "4.0.0" in rel} == set(US_PRIMARIES)
    assert_nothing_twice(env, env.configured)

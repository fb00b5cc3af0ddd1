"""`globalops sim` shows and breaks the simulated cloud, and refuses bad input in one line."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from cli.sim import sim_app
from config.loader import load_topology
from config.paths import default_topology_path

app = typer.Typer()
app.add_typer(sim_app, name="sim")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    for var in ("GLOBALOPS_TOPOLOGY", "GLOBALOPS_SERVICE", "GLOBALOPS_JSON"):
        monkeypatch.delenv(var, raising=False)


def run(*args: str) -> Result:
    return runner.invoke(app, ["sim", *args])


def status() -> dict[str, dict[str, Any]]:
    result = run("status", "--json")
    assert result.exit_code == 0, result.output
    return {row["region"]: row for row in json.loads(result.stdout)["regions"]}


def assert_refused(result: Result, needle: str) -> None:
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert needle in lines[0]


def test_status_json_on_a_fresh_sim(tmp_path: Path) -> None:
    result = run("status", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc) == ["regions", "baseline", "release_faults", "alarms"]
    assert doc["alarms"] == []  # no sim alarm fires on a fresh sim
    rows = doc["regions"]
    assert len(rows) == 16
    assert [r["region"] for r in rows] == load_topology().ordered_region_names()
    for row in rows:
        assert set(row) == {
            "region",
            "release",
            "groups",
            "healthy",
            "traffic",
            "error_rate",
            "latency_ms",
            "canary_release",
            "canary_weight",
            "canary_instances",
        }
        assert row["release"] == "1.0.0"
        assert row["groups"] == {"stable": {"1.0.0": 4}, "canary": {}}
        assert row["canary_release"] is None
        assert row["canary_weight"] == 0.0
        assert row["canary_instances"] == 0
        assert row["healthy"] == 4
        assert row["error_rate"] < 0.01
    assert sum(r["traffic"] for r in rows) == pytest.approx(1.0)
    assert (tmp_path / "sim.db").exists()


def test_status_table() -> None:
    result = run("status")
    assert result.exit_code == 0, result.output
    assert "us-east-1" in result.stdout
    assert "1.0.0" in result.stdout
    assert "4/4" in result.stdout


def test_release_fault_shows_only_where_named() -> None:
    from activities.clouds.sim import SimCloud

    result = run("fault", "release", "1.0.0", "--error-rate", "0.3", "--regions", "us-east-1")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    assert "us-east-1" in result.stdout
    rows = status()
    assert rows["us-east-1"]["error_rate"] == pytest.approx(0.3, rel=0.11)
    assert all(row["error_rate"] < 0.01 for name, row in rows.items() if name != "us-east-1")

    SimCloud().ensure_release("checkout", "us-west-2", "2.0.0", 4, "k")
    run("fault", "release", "2.0.0", "--error-rate", "0.5", "--latency-ms", "400")
    rows = status()
    assert rows["us-west-2"]["release"] == "2.0.0"
    assert rows["us-west-2"]["error_rate"] == pytest.approx(0.5, rel=0.11)
    assert rows["us-west-2"]["latency_ms"] > 400

    assert run("clear").exit_code == 0
    assert all(row["error_rate"] < 0.01 for row in status().values())


def test_release_fault_error_rate_is_optional_and_latency_relative_to_the_baseline() -> None:
    """--latency +50% adds half the 80 ms baseline p99; without --error-rate the baseline 0.2 % stays."""
    result = run("fault", "release", "1.0.0", "--latency", "+50%", "--regions", "us-east-1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines() == [
        "release 1.0.0 now fails 0.2% of requests (baseline 0.2%) with p99 120 ms (baseline 80 ms)"
        " in us-east-1"
    ]
    row = status()["us-east-1"]
    assert 120 * 0.95 <= row["latency_ms"] <= 120 * 1.05
    assert row["error_rate"] == pytest.approx(0.002, rel=0.11)

    assert run("fault", "release", "1.0.0", "--latency", "+40ms", "--error-rate", "0.3").exit_code == 0
    row = status()["eu-west-1"]  # replaced: everywhere now, 30 % errors, +40 ms
    assert 120 * 0.95 <= row["latency_ms"] <= 120 * 1.05
    assert row["error_rate"] == pytest.approx(0.3, rel=0.11)


def test_latency_ms_still_adds_milliseconds() -> None:
    result = run("fault", "release", "1.0.0", "--error-rate", "0.2", "--latency-ms", "100")
    assert result.exit_code == 0, result.output
    assert "with p99 180 ms" in result.stdout
    assert 180 * 0.95 <= status()["us-east-1"]["latency_ms"] <= 180 * 1.05


def test_status_shows_the_baseline_and_every_release_fault() -> None:
    run("fault", "release", "3.0.0", "--error-rate", "0.2", "--regions", "ap-south-1,eu-west-1")
    run("fault", "release", "2.0.0", "--latency", "+30%", "--under-load")
    result = run("status", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["baseline"] == {"error_rate": 0.002, "latency_ms": 80.0}
    assert doc["release_faults"] == [
        {
            "release": "2.0.0",
            "error_rate": 0.002,
            "added_latency_ms": 24.0,
            "regions": None,
            "under_load": True,
        },
        {
            "release": "3.0.0",
            "error_rate": 0.2,
            "added_latency_ms": 0.0,
            "regions": ["ap-south-1", "eu-west-1"],
            "under_load": False,
        },
    ]
    table = run("status").stdout.splitlines()
    assert table[-3:] == [
        "baseline (a healthy release): 0.2% errors, p99 80 ms",
        "fault: release 2.0.0 fails 0.2% of requests, p99 +24 ms, in all regions (under live traffic only)",
        "fault: release 3.0.0 fails 20% of requests, p99 +0 ms, in ap-south-1, eu-west-1",
    ]
    assert run("clear").exit_code == 0
    assert json.loads(run("status", "--json").stdout)["release_faults"] == []
    assert run("status").stdout.splitlines()[-1] == "baseline (a healthy release): 0.2% errors, p99 80 ms"


def test_outage_and_api_fault() -> None:
    result = run("fault", "outage", "eu-west-1")
    assert result.exit_code == 0, result.output
    rows = status()
    assert rows["eu-west-1"]["healthy"] == 0
    assert rows["eu-west-1"]["error_rate"] == 1.0

    result = run("fault", "api", "--error-rate", "1", "--throttle")
    assert result.exit_code == 0, result.output
    assert "Throttled" in result.stdout
    assert len(status()) == 16  # the operator's view is not behind the flaky API


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            [
                "fault",
                "release",
                "2.0.0",
                "--error-rate",
                "0.1",
                "--regions",
                "us-east-1,mars-1",
            ],
            "mars-1",
        ),
        (["fault", "outage", "atlantis-1"], "atlantis-1"),
        (["fault", "release", "2.0.0", "--error-rate", "1.5"], "--error-rate"),
        (["fault", "api", "--error-rate", "-0.1"], "--error-rate"),
        (
            ["fault", "release", "2.0.0", "--error-rate", "0.1", "--latency-ms", "-5"],
            "--latency-ms",
        ),
        (["status", "--service", "nope"], "nope"),
        (["fault", "release", "2.0.0"], "--error-rate, --latency: give one or both"),
        (["fault", "release", "2.0.0", "--latency", "30%"], "--latency: '30%'"),
        (["fault", "release", "2.0.0", "--latency", "+fast"], "--latency: '+fast'"),
        (["fault", "release", "2.0.0", "--latency", "+5ms", "--latency-ms", "5"], "give one of them"),
    ],
)
def test_bad_input_is_refused_in_one_line(args: list[str], needle: str) -> None:
    assert_refused(run(*args), needle)


def test_bad_topology_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "topology.yaml"
    bad.write_text("services: [\n", encoding="utf-8")
    assert_refused(run("status", "--topology", str(bad)), str(bad))


def test_seed_adds_a_topology_of_your_own_and_keeps_what_is_there(tmp_path: Path) -> None:
    """A topology with a service the sim has never seen: `sim seed` adds it, nothing else changes."""
    import yaml

    from activities.clouds.sim import SimCloud

    status()  # seeds the shipped topology: checkout everywhere
    SimCloud().ensure_release("checkout", "us-east-1", "2.0.0", 4, "k")
    shipped = yaml.safe_load(default_topology_path().read_text(encoding="utf-8"))
    shipped["services"].append({"name": "payments", "initial_release": "4.1.0"})
    mine = tmp_path / "payments.yaml"
    mine.write_text(yaml.safe_dump(shipped), encoding="utf-8")

    result = run("seed", "--topology", str(mine))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "checkout: already seeded in every region of the topology",
        f"seeded payments 4.1.0 in 16 region(s): {', '.join(load_topology().region_names())}",
    ]
    rows = {
        r["region"]: r
        for r in json.loads(run("status", "--service", "payments", "--json", "--topology", str(mine)).stdout)[
            "regions"
        ]
    }
    assert len(rows) == 16 and {r["release"] for r in rows.values()} == {"4.1.0"}
    assert status()["us-east-1"]["release"] == "2.0.0"  # checkout kept its rollout

    again = run("seed", "--topology", str(mine))
    assert again.stdout.splitlines()[-1] == "payments: already seeded in every region of the topology"
    assert_refused(run("seed", "--topology", str(tmp_path / "missing.yaml")), "missing.yaml")


def test_reset_restores() -> None:
    from activities.clouds.sim import SimCloud

    status()  # seeds the fresh sim
    SimCloud().ensure_release("checkout", "us-east-1", "2.0.0", 4, "k")
    run("fault", "outage", "us-west-2")
    assert status()["us-east-1"]["release"] == "2.0.0"

    result = run("reset")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    rows = status()
    assert all(row["release"] == "1.0.0" and row["healthy"] == 4 for row in rows.values())
    assert SimCloud().ledger_size() == 0


def test_under_load_fault_bites_only_live_traffic() -> None:
    from activities.clouds.sim import SimCloud

    result = run("fault", "release", "2.0.0", "--error-rate", "0.5", "--regions", "us-east-1", "--under-load")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    assert "live traffic only" in result.stdout

    cloud = SimCloud()
    cloud.scale_group("checkout", "us-east-1", "canary", "2.0.0", 4, "green")
    green = cloud.metrics("checkout", "us-east-1", "canary", 300)
    assert max(green.error_rate) < 0.01  # preview traffic to the 0-weight green group is clean
    cloud.set_canary_weight("checkout", "us-east-1", 1.0, "switch")
    assert min(cloud.metrics("checkout", "us-east-1", "canary", 300).error_rate) >= 0.5 * 0.8
    assert status()["us-east-1"]["error_rate"] == pytest.approx(0.5, rel=0.11)


def test_plain_release_fault_is_not_under_load() -> None:
    from activities.clouds.sim import SimCloud

    assert run("fault", "release", "2.0.0", "--error-rate", "0.5").exit_code == 0
    cloud = SimCloud()
    cloud.scale_group("checkout", "us-east-1", "canary", "2.0.0", 1, "green")
    assert min(cloud.metrics("checkout", "us-east-1", "canary", 60).error_rate) >= 0.5 * 0.8


def test_status_shows_the_canary_in_json_and_table() -> None:
    from activities.clouds.sim import SimCloud

    status()  # seeds the fresh sim
    cloud = SimCloud()
    cloud.scale_group("checkout", "us-east-1", "canary", "2.0.0", 1, "c")
    cloud.set_canary_weight("checkout", "us-east-1", 0.25, "w")
    rows = status()
    row = rows["us-east-1"]
    assert (row["canary_release"], row["canary_weight"], row["canary_instances"]) == ("2.0.0", 0.25, 1)
    assert (row["release"], row["healthy"]) == ("1.0.0", 5)
    assert rows["us-west-2"]["canary_release"] is None

    result = run("status")
    assert result.exit_code == 0, result.output
    assert "canary" in result.stdout
    assert "2.0.0 @ 25%" in result.stdout
    assert "5/5" in result.stdout
    assert result.stdout.count("@") == 1


def test_status_json_counts_instances_per_release_and_group() -> None:
    """Mid-rollout a region runs a mix: the majority release alone would hide it."""
    from activities.clouds.sim import SimCloud

    status()  # seeds the fresh sim
    cloud = SimCloud()
    cloud.ensure_release("checkout", "us-east-1", "2.0.0", 1, "batch-1")
    cloud.scale_group("checkout", "us-west-2", "canary", "2.0.0", 2, "canary")
    cloud.ensure_release("checkout", "us-west-2", "1.1.0", 3, "hotfix")
    rows = status()
    assert (rows["us-east-1"]["release"], rows["us-east-1"]["groups"]) == (
        "1.0.0",
        {"stable": {"1.0.0": 3, "2.0.0": 1}, "canary": {}},
    )
    assert (rows["us-west-2"]["release"], rows["us-west-2"]["groups"]) == (
        "1.1.0",
        {"stable": {"1.0.0": 1, "1.1.0": 3}, "canary": {"2.0.0": 2}},
    )


def traffic_json(*args: str) -> dict[str, Any]:
    result = run("traffic", "--json", *args)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_traffic_shows_the_split_and_follows_set_traffic() -> None:
    from activities.clouds.sim import SimCloud

    doc = traffic_json()
    assert list(doc) == ["service", "weights"]
    assert doc["service"] == "checkout"
    assert len(doc["weights"]) == 16
    assert sum(doc["weights"].values()) == pytest.approx(1.0)

    share = doc["weights"]["us-east-1"]
    SimCloud().set_traffic("checkout", {"us-east-1": 0.0, "us-west-2": 2 * share}, "evacuate")
    weights = traffic_json("--service", "checkout")["weights"]
    assert (weights["us-east-1"], weights["us-west-2"]) == (0.0, pytest.approx(2 * share))
    rows = status()
    assert rows["us-east-1"]["traffic"] == 0.0
    assert rows["us-east-1"]["healthy"] == 4 and rows["us-east-1"]["error_rate"] < 0.01
    assert rows["us-west-2"]["traffic"] == pytest.approx(2 * share)

    result = run("traffic")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 16
    assert any(line.startswith("us-east-1") and line.endswith("0.00%") for line in lines)
    assert any(line.startswith("us-west-2") and line.endswith("12.50%") for line in lines)


def test_traffic_ignores_the_api_fault() -> None:
    assert run("fault", "api", "--error-rate", "1").exit_code == 0
    assert len(traffic_json()["weights"]) == 16


def test_lag_fault_then_clear() -> None:
    from activities.clouds.sim import SimCloud

    result = run("fault", "lag", "eu-west-1", "45")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    assert "eu-west-1" in result.stdout and "45" in result.stdout
    cloud = SimCloud()
    assert cloud.replica_lag("checkout", "eu-west-1") == 45.0
    assert cloud.replica_lag("checkout", "us-east-1") == 1.0
    assert run("fault", "lag", "eu-west-1", "0").exit_code == 0
    assert cloud.replica_lag("checkout", "eu-west-1") == 0.0
    run("fault", "lag", "eu-west-1", "12")
    assert run("clear").exit_code == 0
    assert cloud.replica_lag("checkout", "eu-west-1") == 1.0


def test_recover_clears_only_the_outage() -> None:
    from activities.clouds.sim import SimCloud

    run("fault", "outage", "eu-west-1")
    run("fault", "outage", "us-east-1")
    run("fault", "lag", "eu-west-1", "30")
    run("fault", "release", "1.0.0", "--error-rate", "0.3", "--regions", "eu-west-1")
    assert status()["eu-west-1"]["healthy"] == 0

    result = run("recover", "eu-west-1")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    assert "eu-west-1" in result.stdout
    rows = status()
    assert rows["eu-west-1"]["healthy"] == 4
    assert rows["eu-west-1"]["error_rate"] == pytest.approx(0.3, rel=0.11)  # release fault stays
    assert rows["us-east-1"]["healthy"] == 0  # other outages stay
    assert SimCloud().replica_lag("checkout", "eu-west-1") == 30.0
    assert run("recover", "eu-west-1").exit_code == 0  # recovering a healthy region is fine


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["recover", "atlantis-1"], "atlantis-1"),
        (["fault", "lag", "atlantis-1", "5"], "atlantis-1"),
        (["fault", "lag", "eu-west-1", "--", "-5"], "SECONDS"),
        (["fault", "lag", "eu-west-1", "nan"], "SECONDS"),
        (["traffic", "--service", "nope"], "nope"),
    ],
)
def test_new_commands_refuse_bad_input_in_one_line(args: list[str], needle: str) -> None:
    assert_refused(run(*args), needle)


def snapshots_json(*args: str) -> dict[str, Any]:
    result = run("snapshots", "--json", *args)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_snapshots_lists_originals_and_copies() -> None:
    from datetime import UTC, datetime, timedelta

    from activities.clouds.sim import SimCloud

    assert snapshots_json() == {"service": "checkout", "snapshots": []}
    result = run("snapshots")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no snapshots of checkout"

    cloud = SimCloud()
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    old = cloud.snapshot_volume("checkout", "us-east-1", t0, "a")
    new = cloud.snapshot_volume("checkout", "us-east-1", t0 + timedelta(days=1), "b")
    copy = cloud.copy_snapshot("checkout", old.id, "us-east-1", "eu-west-1", "c", kms_key="sim-kms/eu-west-1")

    doc = snapshots_json("--service", "checkout")
    rows = doc["snapshots"]
    assert [r["id"] for r in rows] == [new.id, old.id, copy.id]  # by region in topology order, newest first
    assert set(rows[2]) == {
        "id",
        "region",
        "source_region",
        "taken_at",
        "watermark",
        "checksum",
        "copy_of",
        "kms_key",
    }
    assert (rows[1]["kms_key"], rows[2]["kms_key"]) == (None, "sim-kms/eu-west-1")  # plain, re-encrypted
    assert (rows[2]["region"], rows[2]["source_region"], rows[2]["copy_of"]) == (
        "eu-west-1",
        "us-east-1",
        old.id,
    )
    assert datetime.fromisoformat(rows[1]["taken_at"]) == t0
    assert rows[0]["copy_of"] is None

    assert run("fault", "outage", "us-east-1").exit_code == 0
    result = run("snapshots")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("snap-") == 4  # three ids and one copy_of
    assert "2030-01-02 00:00:00" in result.stdout
    assert_refused(run("snapshots", "--service", "nope"), "nope")


def test_corrupt_fault_until_clear() -> None:
    from datetime import UTC, datetime

    from activities.clouds.sim import SimCloud

    result = run("fault", "corrupt", "eu-west-1")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    assert "eu-west-1" in result.stdout

    cloud = SimCloud()
    snap = cloud.snapshot_volume("checkout", "eu-west-1", datetime(2030, 1, 1, tzinfo=UTC), "s")
    bad = cloud.restore_volume("checkout", "eu-west-1", snap.id, "drill-1", "bad")
    assert cloud.check_volume("checkout", "eu-west-1", bad.id).checksum != snap.checksum

    assert run("clear").exit_code == 0
    good = cloud.restore_volume("checkout", "eu-west-1", snap.id, "drill-1", "good")
    assert cloud.check_volume("checkout", "eu-west-1", good.id).checksum == snap.checksum
    assert_refused(run("fault", "corrupt", "atlantis-1"), "atlantis-1")


def test_exporter_serves_the_sim_until_ctrl_c() -> None:
    """`sim exporter` in its own process (it runs in the foreground): it serves, then Ctrl-C stops it."""
    assert run("fault", "metrics-gap", "ap-south-1").exit_code == 0
    exe = Path(sys.executable).parent / "globalops"
    proc = subprocess.Popen(
        [str(exe), "sim", "exporter", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"http://\S+/metrics", first)
        assert url, first
        with urllib.request.urlopen(url.group(0), timeout=10) as response:  # noqa: S310 (http, matched above)
            text = response.read().decode()
        assert 'region="us-east-1"' in text and 'group="stable"' in text
        assert "http_request_duration_seconds_bucket" in text
        assert 'region="ap-south-1"' not in text  # a metrics gap exports nothing
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == "stopped"


def test_exporter_refuses_a_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert_refused(run("exporter", "--port", str(busy.getsockname()[1])), "cannot listen on 127.0.0.1:")

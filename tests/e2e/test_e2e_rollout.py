"""End to end as a user runs it: `globalops dev up` (real dev server + worker process), then the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers.cli_user import ROOT, User, releases

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_batches(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo policies with two batches per region, not four: the same path through every region, faster."""
    data = yaml.safe_load((ROOT / "config" / "policies.demo.yaml").read_text(encoding="utf-8"))
    data["rolling"]["batch_size"] = 0.5
    path = tmp_path_factory.mktemp("policies") / "policies.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_rollout_to_every_region_succeeds(user: User, two_batches: str) -> None:
    assert set(releases(user).values()) == {"1.0.0"}
    code, result = user.json(
        "rollout",
        "start",
        "--service",
        "checkout",
        "--release",
        "2.0.0",
        "--policies",
        two_batches,
        "--wait",
        "--json",
    )
    assert code == 0, result
    assert result["status"] == "succeeded"
    assert result["previous_release"] == "1.0.0"
    assert len(result["regions"]) == 16
    assert result["web_ui_url"].endswith("/workflows/rollout%3Acheckout")
    assert set(releases(user).values()) == {"2.0.0"}
    status = user.run("rollout", "status", "checkout", "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["status"] == "succeeded"


def test_bad_release_in_an_edge_region_rolls_everything_back(user: User, two_batches: str) -> None:
    before = releases(user)
    fault = user.run("sim", "fault", "release", "3.0.0", "--error-rate", "0.2", "--regions", "ap-south-1")
    assert fault.returncode == 0, fault.stderr
    code, result = user.json(
        "rollout",
        "start",
        "--service",
        "checkout",
        "--release",
        "3.0.0",
        "--policies",
        two_batches,
        "--wait",
        "--json",
    )
    assert code == 1
    assert result["status"] == "rolled_back"
    assert releases(user) == before
    order = result["deploy_order"]
    core = [r["region"] for r in result["regions"] if r["wave"] == "core"]
    assert order[0] == "us-east-1"
    assert set(order[: len(core)]) == set(core)  # core finished before any edge region started
    assert "ap-south-1" in order[len(core) :]
    assert result["compensation_order"] == list(reversed(order))
    assert user.run("sim", "clear").returncode == 0


def test_bad_input_exits_2_and_starts_nothing(user: User, tmp_path: Path) -> None:
    bad = tmp_path / "policies.yaml"
    bad.write_text("health:\n  max_error_rate: 1.5\n")
    done = user.run("rollout", "start", "--service", "checkout", "--release", "4.0.0", "--policies", str(bad))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "health.max_error_rate" in lines[0]
    latest = json.loads(user.run("rollout", "status", "checkout", "--json").stdout)
    assert latest["release"] == "3.0.0"  # the last rollout is still the one before: nothing started
    assert set(releases(user).values()) == {"2.0.0"}


def test_bad_canary_stops_in_the_pilot_and_reports_its_analysis(user: User) -> None:
    before = releases(user)
    assert user.run("sim", "fault", "release", "5.0.0", "--error-rate", "0.08").returncode == 0
    code, result = user.json(
        "rollout",
        "start",
        "--service",
        "checkout",
        "--release",
        "5.0.0",
        "--strategy",
        "canary",
        "--wait",
        "--json",
    )
    assert code == 1
    assert result["status"] == "rolled_back"
    assert result["deploy_order"] == ["us-east-1"]
    pilot = next(r for r in result["regions"] if r["region"] == "us-east-1")
    assert pilot["strategy"] == "canary"
    assert pilot["analysis"][0]["weight"] == 5 and pilot["analysis"][0]["verdict"] == "fail"
    assert pilot["analysis"][0]["metrics"]["error_rate"]["canary_mean"] > 0.05
    assert releases(user) == before
    assert user.run("sim", "clear").returncode == 0

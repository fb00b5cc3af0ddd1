"""Every list of regions the CLI shows is in topology order: by wave (core, then edge), and inside a
wave in the order of the topology's `regions` list, which is how a rollout lists them.

The shipped topology lists ca-central-1 (edge) third, between core regions, and its names are far
from alphabetical, so each list below would fail in file order or sorted by name.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

import cli.backup
import cli.console
import cli.failover
from cli import launch
from cli.main import app
from cli.render import progress_table, rollout_json
from config.loader import load_topology
from config.models import Topology
from contracts.inspect import HealthReport, RegionHealth, RegionSnapshots, SnapshotInventory
from contracts.rollout import RegionOutcome, RolloutProgress

runner = CliRunner()


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    for var in ("GLOBALOPS_TOPOLOGY", "GLOBALOPS_POLICIES", "GLOBALOPS_SERVICE", "GLOBALOPS_JSON"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def order() -> list[str]:
    """Topology order of the shipped topology, written out: the 8 core regions, then the 8 edge ones."""
    return [
        *("us-east-1", "us-west-2", "us-central1", "eu-west-1"),
        *("eu-central-1", "europe-west1", "ap-southeast-1", "ap-northeast-1"),
        *("ca-central-1", "eu-west-2", "me-south-1", "af-south-1"),
        *("ap-southeast-2", "ap-south-1", "asia-southeast1", "sa-east-1"),
    ]


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reads the workers answer, in file order (as they come back), without a Temporal server."""

    async def no_client() -> None:
        return None

    async def health(_client: Any, service: str, topology: Topology) -> HealthReport:
        return HealthReport(
            service=service,
            regions=[RegionHealth(region=n, provider="sim", ok=True) for n in topology.region_names()],
        )

    async def snapshots(
        _client: Any, service: str, topology: Topology, _regions: list[str]
    ) -> SnapshotInventory:
        return SnapshotInventory(
            service=service, regions=[RegionSnapshots(region=n) for n in topology.region_names()]
        )

    async def no_monitor(_client: Any, _service: str) -> None:
        return None

    # Wide enough that no region name wraps, whatever width the shared console was made with.
    monkeypatch.setattr(cli.console.out, "width", 200)
    monkeypatch.setattr(cli.failover, "client_or_fail", no_client)
    monkeypatch.setattr(cli.backup, "client_or_fail", no_client)
    monkeypatch.setattr(cli.failover, "_monitor_status", no_monitor)
    monkeypatch.setattr(launch, "read_health", health)
    monkeypatch.setattr(launch, "read_snapshots", snapshots)


def json_of(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def lines_naming(output: str, names: list[str]) -> list[str]:
    """The region each line of a table names, in the order of the lines (one per line at most)."""
    found = []
    for line in output.splitlines():
        named = [n for n in names if f" {n} " in f" {line.replace('│', ' ')} "]
        if named:
            found.append(named[0])
    return found


def test_the_shipped_topology_is_not_in_topology_order_by_file_or_name(order: list[str]) -> None:
    topology = load_topology()
    assert topology.ordered_region_names() == order
    assert topology.region_names() != order
    assert sorted(order) != order


def test_inside_a_wave_the_file_order_counts_not_the_wave_listing() -> None:
    topology = load_topology()
    core = next(w for w in topology.waves if w.name == "core")
    core.regions.reverse()  # the wave's own listing does not change where a region is shown
    assert topology.ordered_region_names()[:2] == ["us-east-1", "us-west-2"]


def test_sim_status_json_and_table(order: list[str]) -> None:
    assert [r["region"] for r in json_of("sim", "status", "--json")["regions"]] == order
    table = runner.invoke(app, ["sim", "status"])
    assert table.exit_code == 0, table.output
    assert lines_naming(table.stdout, order) == order


def test_sim_traffic_json_and_text(order: list[str]) -> None:
    assert list(json_of("sim", "traffic", "--json")["weights"]) == order
    text = runner.invoke(app, ["sim", "traffic"])
    assert text.exit_code == 0, text.output
    assert [line.split()[0] for line in text.stdout.splitlines()] == order


def test_sim_snapshots_by_region_in_topology_order_newest_first() -> None:
    from activities.clouds.sim import SimCloud

    json_of("sim", "status", "--json")  # seeds the sim
    cloud = SimCloud()
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    edge = cloud.snapshot_volume("checkout", "ca-central-1", t0, "a")
    core_old = cloud.snapshot_volume("checkout", "us-central1", t0, "b")
    core_new = cloud.snapshot_volume("checkout", "us-central1", t0.replace(day=2), "c")
    first = cloud.snapshot_volume("checkout", "us-east-1", t0, "d")
    rows = json_of("sim", "snapshots", "--json")["snapshots"]
    assert [r["id"] for r in rows] == [first.id, core_new.id, core_old.id, edge.id]
    text = runner.invoke(app, ["sim", "snapshots"])
    titles = [line.split(" in ")[-1].strip() for line in text.stdout.splitlines() if "snapshots in" in line]
    assert titles == ["us-east-1", "us-central1", "ca-central-1"]


def test_health_json_and_table(workers: None, order: list[str]) -> None:
    assert [r["region"] for r in json_of("health", "--service", "checkout", "--json")["regions"]] == order
    table = runner.invoke(app, ["health", "--service", "checkout"])
    assert table.exit_code == 0, table.output
    assert lines_naming(table.stdout, order) == order


def test_backup_list_json_and_table(workers: None, order: list[str]) -> None:
    doc = json_of("backup", "list", "--service", "checkout", "--json")
    assert [r["region"] for r in doc["regions"]] == order
    table = runner.invoke(app, ["backup", "list", "--service", "checkout"])
    assert table.exit_code == 0, table.output
    assert lines_naming(table.stdout, order) == order


def test_rollout_status_json_and_table(order: list[str]) -> None:
    topology = load_topology()
    progress = RolloutProgress(
        workflow_id="rollout:checkout",
        service="checkout",
        release="2.0.0",
        rollback_policy="rollback_all",
        regions=[RegionOutcome(region=n, wave=topology.wave_of(n)) for n in topology.region_names()],
    )
    assert [r["region"] for r in rollout_json(progress)["regions"]] == order
    console = Console(width=200, file=io.StringIO())
    console.print(progress_table(progress))
    assert lines_naming(console.file.getvalue(), order) == order  # type: ignore[attr-defined]

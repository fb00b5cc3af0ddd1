"""`globalops rollout start` refuses bad input with one line and exit 2, before touching Temporal; what
`rollout start --wait` and `rollout status` print."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client
from typer.testing import CliRunner, Result

import cli.follow
from cli.main import app
from config.paths import default_policies_path, default_topology_path

runner = CliRunner()

Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    for var in ("GLOBALOPS_TOPOLOGY", "GLOBALOPS_POLICIES"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def connect_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the CLI's `connect` so any attempt to reach Temporal is recorded (and fails)."""
    calls: list[str] = []

    async def fake_connect() -> Client:
        calls.append("connect")
        raise AssertionError("rollout start must not connect to Temporal here")

    monkeypatch.setattr(cli.follow, "connect", fake_connect)
    return calls


def _mutated(source: Path, target: Path, mutate: Mutation) -> Path:
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    mutate(data)
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def _set(path: str, value: Any) -> Mutation:
    """A mutation that sets a dotted path ("waves.2.name") to `value`."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _append_region_to_edge(region: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        edge = next(w for w in data["waves"] if w["name"] == "edge")
        edge["regions"].append(region)

    return mutate


@dataclass(frozen=True)
class Case:
    """One bad invocation and the fragments its single error line must contain."""

    id: str
    topology: Mutation | str | None = None  # a mutation of the default YAML, or raw file text
    policies: Mutation | str | None = None
    args: tuple[str, ...] = ()
    service: str = "checkout"
    release: str = "2.0.0"
    missing_policies: bool = False
    needles: tuple[str, ...] = field(default_factory=tuple)
    names_file: str | None = None  # "topology" or "policies": the line must name that file


CASES = [
    Case(
        "unknown-wave-name",
        topology=_set("waves.2.name", "edges"),
        names_file="topology",
        needles=("waves[2].name", "'edges'"),
    ),
    Case(
        "region-in-two-waves",
        topology=_append_region_to_edge("us-east-1"),
        names_file="topology",
        needles=("waves[2].regions[8]", "'us-east-1' is already in wave 'core'"),
    ),
    Case(
        "backup-not-in-topology",
        topology=_set("regions.0.backup_region", "mars-central-1"),
        names_file="topology",
        needles=("regions[0].backup_region", "'mars-central-1' is not a region of this topology"),
    ),
    Case(
        "yaml-syntax-error",
        topology="services:\n  - name: checkout\n    initial_release: [1.0.0\nregions: []\n",
        names_file="topology",
        needles=("line ", "column ", "YAML syntax error"),
    ),
    Case(
        "unknown-topology-field",
        topology=_set("regions.3.instance", 4),
        names_file="topology",
        needles=("regions[3].instance", "unknown field 'instance'", "did you mean 'instances'"),
    ),
    Case(
        "empty-topology-file",
        topology="",
        names_file="topology",
        needles=("(top level)", "empty file"),
    ),
    Case(
        "error-rate-above-one",
        policies=_set("health.max_error_rate", 1.5),
        names_file="policies",
        needles=("health.max_error_rate", "1.5"),
    ),
    Case(
        "negative-bake",
        policies=_set("bake.core", -5),
        names_file="policies",
        needles=("bake.core", "must be >= 0"),
    ),
    Case(
        "unknown-bake-wave",
        policies=_set("bake.canary", "1h"),
        names_file="policies",
        needles=("bake", "unknown wave 'canary'", "validate, core, edge"),
    ),
    Case(
        "bad-duration",
        policies=_set("pilot_bake", "1 fortnight"),
        names_file="policies",
        needles=("pilot_bake", "'1 fortnight' is not a duration"),
    ),
    Case(
        "unknown-rollback-policy",
        policies=_set("rollback_policy", "rollback_some"),
        names_file="policies",
        needles=("rollback_policy", "'rollback_some'"),
    ),
    Case(
        "unknown-policies-field",
        policies=_set("health.max_latency_ms", 100),
        names_file="policies",
        needles=("health.max_latency_ms", "unknown field", "max_p99_latency_ms"),
    ),
    Case(
        "missing-policies-file",
        missing_policies=True,
        names_file="policies",
        needles=("(file)", "cannot read"),
    ),
    Case(
        "canary-weights-not-increasing",
        policies=_set("canary.steps", [{"set_weight": 25}, {"set_weight": 5}]),
        names_file="policies",
        needles=("canary.steps[1].set_weight", "must be greater than the previous weight 25"),
    ),
    Case(
        "canary-weight-over-100",
        policies=_set("canary.steps.3.set_weight", 150),
        names_file="policies",
        needles=("canary.steps[3].set_weight", "less than or equal to 100"),
    ),
    Case(
        "canary-negative-bake",
        policies=_set("canary.step_bake", "-5s"),
        names_file="policies",
        needles=("canary.step_bake", "must be >= 0"),
    ),
    Case(
        "unknown-metrics-provider",
        policies=_set("analysis.provider", "datadog"),
        names_file="policies",
        needles=("analysis.provider", "'datadog'", "'prometheus'"),
    ),
    Case(
        "prometheus-without-url",
        policies=_set("analysis.provider", "prometheus"),
        names_file="policies",
        needles=("analysis.prometheus_url", "required when provider is prometheus"),
    ),
    Case(
        "canary-step-both-kinds",
        policies=_set("canary.steps.0", {"set_weight": 5, "pause": {}}),
        names_file="policies",
        needles=("canary.steps[0]", "exactly one"),
    ),
    Case(
        "bad-strategy-option",
        args=("--strategy", "big-bang"),
        needles=("--strategy", "big-bang"),
    ),
    Case(
        "unknown-service",
        service="payments",
        needles=("--service", "'payments'", "known: checkout"),
    ),
    Case(
        "bad-release",
        release="2.0.0; rm -rf /",
        needles=("--release", "'2.0.0; rm -rf /'", "is not a release name"),
    ),
    Case(
        "release-with-slash",
        release="2.0.0/../../etc",
        needles=("--release", "'2.0.0/../../etc'"),
    ),
]


def _file_arg(spec: Mutation | str | None, default: Path, target: Path) -> Path | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        target.write_text(spec, encoding="utf-8")
        return target
    return _mutated(default, target, spec)


def _invoke(case: Case, tmp_path: Path) -> tuple[Result, dict[str, Path]]:
    files: dict[str, Path] = {}
    args = ["rollout", "start", "--service", case.service, "--release", case.release]
    topology = _file_arg(case.topology, default_topology_path(), tmp_path / "bad-topology.yaml")
    if topology is not None:
        files["topology"] = topology
        args += ["--topology", str(topology)]
    policies = _file_arg(case.policies, default_policies_path(), tmp_path / "bad-policies.yaml")
    if case.missing_policies:
        policies = tmp_path / "no-such-policies.yaml"
    if policies is not None:
        files["policies"] = policies
        args += ["--policies", str(policies)]
    return runner.invoke(app, [*args, *case.args]), files


def test_cases_are_many_and_distinct() -> None:
    assert len(CASES) >= 10
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line_and_starts_nothing(
    case: Case, tmp_path: Path, connect_calls: list[str]
) -> None:
    result, files = _invoke(case, tmp_path)

    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert result.stderr.strip() == lines[0]
    line = lines[0]
    assert line.startswith("error: ")
    if case.names_file is not None:
        assert line.startswith(f"error: {files[case.names_file]}: "), line
    for needle in case.needles:
        assert needle in line, (needle, line)
    assert result.stdout == ""
    assert connect_calls == []


def test_valid_input_does_reach_temporal(tmp_path: Path, connect_calls: list[str]) -> None:
    """Control for the cases above: with good files, `start` gets as far as connecting."""
    topology = _mutated(default_topology_path(), tmp_path / "topology.yaml", lambda data: None)
    policies = _mutated(default_policies_path(), tmp_path / "policies.yaml", lambda data: None)
    result = runner.invoke(
        app,
        [
            "rollout",
            "start",
            "--service",
            "checkout",
            "--release",
            "2.0.0",
            "--topology",
            str(topology),
            "--policies",
            str(policies),
        ],
    )
    assert connect_calls == ["connect"]
    assert result.exit_code == 1, result.output
    assert "cannot reach Temporal" in result.stderr


def test_env_vars_name_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connect_calls: list[str]
) -> None:
    bad = _mutated(default_policies_path(), tmp_path / "env-policies.yaml", _set("rollback_policy", "nope"))
    monkeypatch.setenv("GLOBALOPS_POLICIES", str(bad))
    result = runner.invoke(app, ["rollout", "start", "-s", "checkout", "-r", "2.0.0"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"error: {bad}: rollback_policy: ")
    assert connect_calls == []


def test_missing_required_option_is_a_usage_error(connect_calls: list[str]) -> None:
    result = runner.invoke(app, ["rollout", "start", "--service", "checkout"])
    assert result.exit_code == 2
    assert "--release" in result.stderr
    assert connect_calls == []


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        ([], ("rollout", "sim", "dev", "worker")),
        (["rollout"], ("start", "status", "approve", "pause", "resume", "abort", "list")),
        (["rollout", "start"], ("--service", "--release", "--topology", "--policies", "--wait", "--json")),
    ],
)
def test_help(args: list[str], needles: tuple[str, ...], connect_calls: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    for needle in needles:
        assert needle in result.stdout, needle
    assert connect_calls == []


def test_a_sim_that_never_ran_the_service_is_one_line_naming_the_topology_to_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollout fails every preflight with the sim's NotFound; `--wait` says so in one line with
    the command that fixes it, the user's topology file filled in (not the whole reason, 16 times)."""
    import cli.rollout
    from cli.follow import Follow
    from contracts.rollout import RegionOutcome, RolloutProgress

    mine = _mutated(
        default_topology_path(),
        tmp_path / "payments.yaml",
        _set("services.0", {"name": "payments", "initial_release": "1.0.0"}),
    )

    async def failed_preflight(launch: Any, follow: Follow[Any, RolloutProgress], **_: Any) -> int:
        topology = launch.request.topology
        message = "sim: service 'payments' was never seeded in region '{}': seed the sim from your topology"
        message += " with `globalops sim seed --topology FILE`"
        progress = RolloutProgress(
            workflow_id="rollout:payments",
            status="failed",
            service="payments",
            release="2.0.0",
            rollback_policy="rollback_all",
            reason="preflight failed: " + " | ".join(message.format(n) for n in topology.region_names()),
            regions=[
                RegionOutcome(region=n, wave=topology.wave_of(n), status="failed", detail=message.format(n))
                for n in topology.region_names()
            ],
        )
        follow.report(progress, False)
        return 1

    monkeypatch.setattr(cli.follow, "start_and_follow", failed_preflight)
    result = runner.invoke(
        app, ["rollout", "start", "-s", "payments", "-r", "2.0.0", "--topology", str(mine), "--wait"]
    )
    assert result.exit_code == 1
    first, web_ui = result.stdout.splitlines()
    assert first.startswith(
        "rollout:payments: failed — the simulated cloud has never run 'payments' in us-east-1, us-west-2,"
        " us-central1, "
    )
    assert first.endswith(
        f", sa-east-1, so nothing was changed: seed it with `globalops sim seed --topology {mine}`,"
        " then start the rollout again"
    )
    assert web_ui.startswith("Web UI: ")


ROLLOUT_JSON_KEYS = {
    "workflow_id",
    "status",
    "service",
    "release",
    "previous_release",
    "regions",
    "reason",
    "deploy_order",
    "compensation_order",
    "held",
    "skipped",
    "waiting_for_approval",
    "started_at",
    "finished_at",
    "web_ui_url",
}


@pytest.mark.parametrize("finished", [False, True])
def test_status_json_has_start_and_end_times_held_and_skipped(
    monkeypatch: pytest.MonkeyPatch, finished: bool
) -> None:
    """`rollout status --json` gives the documented keys; a running rollout has no end time yet."""
    from datetime import UTC, datetime, timedelta

    import cli.rollout
    from contracts.rollout import RolloutProgress

    started = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    progress = RolloutProgress(
        workflow_id="rollout:checkout",
        status="partial" if finished else "running",
        service="checkout",
        release="2.0.0",
        rollback_policy="rollback_all",
        held=[] if finished else ["ap-south-1"],
        skipped=["ap-south-1"] if finished else [],
        started_at=started,
        finished_at=started + timedelta(minutes=42) if finished else None,
    )

    def fake_status(wid: str, query_timeout: float) -> RolloutProgress:
        assert wid == "rollout:checkout" and query_timeout == cli.rollout.QUERY_TIMEOUT_S
        return progress

    monkeypatch.setattr(cli.rollout, "_status", fake_status)
    result = runner.invoke(app, ["rollout", "status", "checkout", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == ROLLOUT_JSON_KEYS
    assert datetime.fromisoformat(doc["started_at"]) == started
    if finished:
        assert datetime.fromisoformat(doc["finished_at"]) - started == timedelta(minutes=42)
        assert (doc["held"], doc["skipped"]) == ([], ["ap-south-1"])
    else:
        assert doc["finished_at"] is None
        assert (doc["held"], doc["skipped"]) == (["ap-south-1"], [])

"""`globalops backup|dr|drill` refuse bad input with one line and exit 2, before touching Temporal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from typer.testing import CliRunner

import cli.follow
from cli.main import app
from tests.helpers.ports import free_port

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    # A closed port: if a command got as far as connecting, the message would say so.
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    for var in ("GLOBALOPS_TOPOLOGY", "GLOBALOPS_POLICIES"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def connect_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any attempt to reach Temporal (and fail it)."""
    calls: list[str] = []

    async def fake_connect() -> Client:
        calls.append("connect")
        raise AssertionError("must not connect to Temporal on bad input")

    monkeypatch.setattr(cli.follow, "connect", fake_connect)
    return calls


@dataclass(frozen=True)
class Case:
    """One bad invocation and the fragments its single error line must contain."""

    id: str
    args: tuple[str, ...]
    needles: tuple[str, ...]


RECOVER = ("dr", "recover", "--service", "checkout", "--source-region", "eu-west-1")

CASES = [
    Case("backup-unknown-service", ("backup", "run", "--service", "payments"), ("--service", "'payments'")),
    Case("backup-list-unknown-service", ("backup", "list", "-s", "payments"), ("--service", "'payments'")),
    Case(
        "backup-unknown-region",
        ("backup", "run", "--service", "checkout", "--region", "mars-central-1"),
        ("--region", "'mars-central-1'", "not a region"),
    ),
    Case(
        "recover-unknown-source",
        (
            "dr",
            "recover",
            "--service",
            "checkout",
            "--source-region",
            "moon-1",
            "--target-region",
            "eu-west-1",
        ),
        ("--source-region", "'moon-1'"),
    ),
    Case(
        "recover-unknown-target",
        (*RECOVER, "--target-region", "mars-central-1"),
        ("--target-region", "'mars-central-1'"),
    ),
    Case(
        "recover-cross-jurisdiction",
        (*RECOVER, "--target-region", "us-east-1"),
        ("--target-region", "us-east-1", "jurisdiction group US", "data residency"),
    ),
    Case(
        "recover-into-itself",
        (*RECOVER, "--target-region", "eu-west-1"),
        ("--target-region", "source region itself"),
    ),
    Case(
        "recover-no-target-for-uk",
        ("dr", "recover", "--service", "checkout", "--source-region", "eu-west-2"),
        ("--target-region", "eu-west-2", "jurisdiction group UK"),
    ),
    Case(
        "recover-rto-fast",
        (*RECOVER, "--target-region", "eu-central-1", "--rto", "fast"),
        ("--rto", "'fast' is not a duration", "30s, 10m, 1h"),
    ),
    Case(
        "recover-rpo-zero",
        (*RECOVER, "--target-region", "eu-central-1", "--rpo", "0s"),
        ("--rpo", "must be more than 0"),
    ),
    Case(
        "recover-failed-at-not-iso",
        (*RECOVER, "--target-region", "eu-central-1", "--failed-at", "yesterday"),
        ("--failed-at", "'yesterday'", "ISO 8601"),
    ),
    Case(
        "validate-cross-jurisdiction",
        (
            "dr",
            "validate",
            "--service",
            "checkout",
            "--region",
            "eu-central-1",
            "--source-region",
            "us-east-1",
        ),
        ("--region", "jurisdiction group EU"),
    ),
    Case(
        "validate-nothing-copied-here",
        ("dr", "validate", "--service", "checkout", "--region", "eu-west-2"),
        ("--source-region", "no region's snapshots are copied into eu-west-2"),
    ),
    Case(
        "drill-unknown-region",
        ("drill", "run", "--service", "checkout", "--region", "mars-central-1"),
        ("--region", "'mars-central-1'"),
    ),
    Case(
        "drill-region-without-target",
        ("drill", "run", "--service", "checkout", "--region", "ap-northeast-1"),
        ("--region", "ap-northeast-1 cannot be drilled", "jurisdiction group JP"),
    ),
    Case(
        "drill-cron-not-cron",
        ("drill", "schedule", "create", "--service", "checkout", "--cron", "every monday"),
        ("--cron", "'every monday' is not a cron expression", "5 fields"),
    ),
    Case(
        "drill-cron-bad-field",
        ("drill", "schedule", "create", "--service", "checkout", "--cron", "0 9 * * FUNDAY"),
        ("--cron", "day-of-week", "'FUNDAY'"),
    ),
    Case(
        "drill-catchup-window-bad",
        ("drill", "schedule", "create", "--service", "checkout", "--catchup-window", "soon"),
        ("--catchup-window", "'soon' is not a duration"),
    ),
    Case(
        "backup-every-zero",
        ("backup", "schedule", "create", "--service", "checkout", "--every", "0s"),
        ("--every", "'0s' must be more than 0"),
    ),
    Case(
        "backup-catchup-too-short",
        ("backup", "schedule", "create", "--service", "checkout", "--catchup-window", "1s"),
        ("--catchup-window", "at least 10s"),
    ),
    Case(
        "schedule-describe-unknown-service",
        ("drill", "schedule", "describe", "--service", "payments"),
        ("--service", "'payments'"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_starts_nothing(case: Case, connect_calls: list[str]) -> None:
    result = runner.invoke(app, list(case.args))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in case.needles:
        assert needle in lines[0], (needle, lines[0])
    assert "cannot reach Temporal" not in result.stderr
    assert connect_calls == []
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        ([], ("backup", "dr", "drill")),
        (["backup"], ("run", "list", "schedule")),
        (["backup", "schedule"], ("create", "list", "pause", "unpause", "delete", "describe", "trigger")),
        (["backup", "run"], ("--service", "--region", "--wait", "--json", "Example")),
        (["backup", "schedule", "create"], ("--every", "--catchup-window", "--paused", "Example")),
        (["dr"], ("recover", "validate")),
        (
            ["dr", "recover"],
            (
                "--source-region",
                "--target-region",
                "--rto",
                "--rpo",
                "--failed-at",
                "--accept-rpo-breach",
                "--allow-unencrypted",
                "Risk:",
            ),
        ),
        (
            ["dr", "validate"],
            ("--region", "--check-integrity", "--check-consistency", "--allow-unencrypted", "Example"),
        ),
        (["drill"], ("run", "list", "report", "abort", "schedule")),
        (["drill", "report"], ("--markdown-out", "--json-out", "--json", "Example")),
        (
            ["drill", "schedule", "create"],
            ("--cron", "--region", "--catchup-window", "--pause-on-failure", "--paused", "Example"),
        ),
        (["drill", "schedule", "describe"], ("--service", "--json", "next 5")),
    ],
)
def test_help_teaches(args: list[str], needles: tuple[str, ...], connect_calls: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for needle in needles:
        assert needle in result.stdout, needle
    assert connect_calls == []

"""Commands import only what they use: `--help` and `rollout status` stay clear of the heavy modules.

Each case runs the command in a fresh interpreter (modules already imported by this test process would
hide an import) and lists what it imported; no time is measured (bench/RESULTS.md does that).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from cli import main
from cli.rollout import PROGRESS_QUERY
from workflows.rollout import RegionalRolloutWorkflow

ROOT = Path(__file__).resolve().parents[2]
#: Never needed to print help or a rollout's status: the worker's side, cloud SDKs, crypto, science.
HEAVY = (
    "opentelemetry",
    "boto3",
    "botocore",
    "google.cloud",
    "google.api_core",
    "scipy",
    "numpy",
    "cryptography",
    "apprise",
    "structlog",
    "prometheus_client",
    "workers.telemetry",
    "workers.main",
    "workflows",
    "activities",
    "cli.launch",
)
SCRIPT = """
import sys
from cli.main import app
try:
    app(sys.argv[1:], standalone_mode=False)
except BaseException:
    pass
print("\\n".join("imported " + name for name in sorted(sys.modules)))
"""


def imported(*args: str) -> set[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing listens: status gets as far as connecting
        "COLUMNS": "80",
    }
    env.pop("GLOBALOPS_CODEC_KEY", None)
    env.pop("GLOBALOPS_CODEC_KEY_ID", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    return {line.split()[1] for line in done.stdout.splitlines() if line.startswith("imported ")}


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize(
    "args", [("--help",), ("rollout", "--help"), ("rollout", "status", "--help")], ids=" ".join
)
def test_help_imports_no_heavy_module_nor_the_temporal_client(args: tuple[str, ...]) -> None:
    modules = imported(*args)
    assert "cli.main" in modules  # the command ran
    assert heavy_in(modules) == []
    assert "temporalio.client" not in modules and "config.loader" not in modules


@pytest.mark.parametrize(
    ("args", "module"),
    [
        (("monitor", "status", "--help"), "cli.failover"),
        (("failover", "start", "--help"), "cli.failover"),
        (("deploy", "--help"), "cli.deploy"),
        (("backup", "run", "--help"), "cli.backup"),
        (("dr", "--help"), "cli.dr"),
        (("drill", "run", "--help"), "cli.drill"),
        (("freeze", "--help"), "cli.freeze"),
        (("keys", "--help"), "cli.keys"),
        (("dev", "up", "--help"), "cli.dev"),
    ],
)
def test_the_help_of_other_nouns_imports_no_heavy_module(args: tuple[str, ...], module: str) -> None:
    """(`sim` is the simulated cloud itself: its commands import it.)"""
    modules = imported(*args)
    assert module in modules
    assert heavy_in(modules) == []


def test_rollout_status_imports_the_client_but_nothing_heavy() -> None:
    modules = imported("rollout", "status", "checkout", "--json")
    assert "temporalio.client" in modules and "cli.render" in modules  # it got as far as connecting
    assert heavy_in(modules) == []


def test_the_top_help_lists_each_noun_with_its_own_help() -> None:
    """cli/main.py lists the nouns from its table without importing them: the table must say what
    each module's own help says (its first paragraph)."""
    for name in main.LAZY:
        command = main.load(name)
        own = (command.help or "").split("\n\n")[0].replace("\n", " ").strip()
        assert main.LAZY[name][2] == own, name
    assert isinstance(main.app, typer.Typer)


def test_status_asks_the_query_the_workflow_defines() -> None:
    definition = getattr(RegionalRolloutWorkflow.progress, "__temporal_query_definition")
    assert definition.name == PROGRESS_QUERY

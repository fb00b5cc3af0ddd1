"""`dev up --ui-port N` makes every Web UI link the CLI prints point at N, until `dev down`.

The server and worker are not started here (their spawn and readiness wait are replaced): what is
tested is what `dev up` records and what the links read. tests/e2e/test_web_ui.py follows such a
link in a browser.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.dev
from cli.main import app
from cli.render import web_ui_url

runner = CliRunner()
LINK = "/namespaces/default/workflows/rollout%3Acheckout"


@pytest.fixture(autouse=True)
def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    for var in ("GLOBALOPS_WEB_UI", "TEMPORAL_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    started: list[list[str]] = []

    def spawn(cmd: list[str], _log: Path, _pid_file: Path, _env: dict[str, str]) -> int:
        started.append(cmd)
        return 4242

    async def ready(*_: object) -> None:
        return None

    monkeypatch.setattr(cli.dev, "_spawn", spawn)
    monkeypatch.setattr(cli.dev, "_wait_ready", ready)
    return started


def test_links_follow_the_ui_port_of_dev_up_until_dev_down(started: list[list[str]]) -> None:
    assert web_ui_url("rollout:checkout") == f"http://localhost:8233{LINK}"  # nothing started yet

    up = runner.invoke(app, ["dev", "up", "--port", "7301", "--ui-port", "8301", "--no-worker"])
    assert up.exit_code == 0, up.output
    assert "--ui-port" in started[0] and "8301" in started[0]
    assert "Web UI: http://localhost:8301" in up.stdout
    assert web_ui_url("rollout:checkout") == f"http://localhost:8301{LINK}"

    down = runner.invoke(app, ["dev", "down"])
    assert down.exit_code == 0, down.output
    assert web_ui_url("rollout:checkout") == f"http://localhost:8233{LINK}"


def test_globalops_web_ui_wins_over_the_recorded_port(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["dev", "up", "--ui-port", "8301", "--no-worker"]).exit_code == 0
    monkeypatch.setenv("GLOBALOPS_WEB_UI", "https://temporal.example.com/")
    assert web_ui_url("rollout:checkout") == f"https://temporal.example.com{LINK}"

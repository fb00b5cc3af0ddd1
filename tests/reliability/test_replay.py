"""Determinism guard: every recorded history replays against today's workflow code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workers.main import WORKFLOWS, workflow_runner

FOLDER = Path(__file__).resolve().parents[1] / "histories"
IDS: dict[str, str] = json.loads((FOLDER / "index.json").read_text())  # file name -> workflow id
HISTORIES = [FOLDER / name for name in IDS]
KINDS = {w.__temporal_workflow_definition.name for w in WORKFLOWS}  # type: ignore[attr-defined]


def workflow_type(path: Path) -> str:
    first = json.loads(path.read_text())["events"][0]
    return str(first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"])


def test_every_workflow_type_has_a_recorded_history() -> None:
    assert {workflow_type(p) for p in HISTORIES} == KINDS


@pytest.mark.parametrize("runner", ["default", "worker"], ids=["sandbox", "worker-sandbox"])
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_without_nondeterminism(path: Path, runner: str) -> None:
    """Under the default sandbox (checks every helper) and the worker's (helpers passed through)."""
    history = WorkflowHistory.from_json(IDS[path.name], path.read_text())
    sandbox = workflow_runner() if runner == "worker" else SandboxedWorkflowRunner()
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=sandbox)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_no_recorded_history_names_a_path_of_the_recording_machine() -> None:
    """Stack traces in failure events are kept relative to the project (record_histories strips the root)."""
    absolute = [path.name for path in sorted(FOLDER.glob("*.json")) if 'File \\"/' in path.read_text()]
    assert absolute == []

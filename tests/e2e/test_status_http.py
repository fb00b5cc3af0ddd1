"""`rollout status` over Temporal's HTTP API says what the SDK says, without importing the SDK.

After `globalops dev up` (which records the dev server's HTTP API address) `rollout status` reads the
rollout over HTTP; pointing GLOBALOPS_TEMPORAL_HTTP at a dead port makes it fall back to the SDK. Both
must print the same JSON for a rollout waiting for approval (the progress query), for the same rollout
once aborted (its result) and the same error for an unknown rollout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cli import temporal_http
from tests.helpers.cli_user import ROOT, User
from tests.helpers.polling import poll
from tests.helpers.ports import free_port

pytestmark = pytest.mark.e2e
SERVICE = "statuscheck"
IDLE = "statusidle"  # a rollout no worker ever runs
#: Runs `globalops …` and lists every module the process imported.
SCRIPT = """
import os, sys
from cli.main import app
code = app(sys.argv[1:], standalone_mode=False)
print("\\n".join("imported " + name for name in sorted(sys.modules)), file=sys.stderr)
sys.stdout.flush()
sys.stderr.flush()
os._exit(code if isinstance(code, int) else 0)  # as cli/entry.py does (the SDK's threads)
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The shipped topology with a service of this file's own, and the demo policies with an approval
    between waves (so the rollout waits, running, after its first wave)."""
    folder = tmp_path_factory.mktemp("status-http")
    topology = yaml.safe_load((ROOT / "config" / "topology.yaml").read_text(encoding="utf-8"))
    topology["services"].append({"name": SERVICE, "initial_release": "1.0.0", "data_residency": True})
    policies = yaml.safe_load((ROOT / "config" / "policies.demo.yaml").read_text(encoding="utf-8"))
    policies["approvals"]["between_waves"] = True
    (folder / "topology.yaml").write_text(yaml.safe_dump(topology), encoding="utf-8")
    (folder / "policies.yaml").write_text(yaml.safe_dump(policies), encoding="utf-8")
    return str(folder / "topology.yaml"), str(folder / "policies.yaml")


def status(
    user: User, ident: str, *, http: bool, extra: tuple[str, ...] = ()
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`globalops rollout status IDENT --json [extra]`, over HTTP or (a dead HTTP address) the SDK."""
    env = dict(user.env)
    if not http:
        env[temporal_http.HTTP_ENV] = f"127.0.0.1:{free_port()}"  # nothing listens: falls back
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "rollout", "status", ident, "--json", *extra],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    modules = {line.split()[1] for line in done.stderr.splitlines() if line.startswith("imported ")}
    return done, modules


def same_answer(user: User, ident: str) -> dict[str, object]:
    over_http, http_modules = status(user, ident, http=True)
    over_sdk, sdk_modules = status(user, ident, http=False)
    assert over_http.stdout.strip() and over_http.stdout == over_sdk.stdout, over_http.stderr[-2000:]
    assert not any(m.startswith("temporalio") for m in http_modules), "the HTTP path imported the SDK"
    assert "temporalio.client" in sdk_modules, "the fallback did not use the SDK"
    answer: dict[str, object] = json.loads(over_http.stdout)
    return answer


def test_dev_up_records_its_http_api(user: User) -> None:
    record = (Path(user.env["GLOBALOPS_HOME"]) / temporal_http.RECORD).read_text(encoding="utf-8").split()
    assert record[0] == user.env["TEMPORAL_ADDRESS"] and record[1].startswith("http://127.0.0.1:")


async def test_status_over_http_matches_the_sdk_while_running_and_once_ended(
    user: User, files: tuple[str, str]
) -> None:
    topology, policies = files
    seeded = user.run("sim", "seed", "--topology", topology)
    assert seeded.returncode == 0, seeded.stderr
    started = user.run(
        "rollout", "start", "--service", SERVICE, "--release", "2.0.0",
        "--topology", topology, "--policies", policies, "--json",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr

    def over_http() -> dict[str, object]:
        done, _ = status(user, SERVICE, http=True)
        assert done.returncode == 0, done.stderr[-2000:]
        answer: dict[str, object] = json.loads(done.stdout)
        return answer

    await poll(lambda: over_http()["waiting_for_approval"], "the rollout waiting for approval after a wave")
    running = same_answer(user, SERVICE)  # it stands still while it waits
    assert running["status"] == "running" and running["waiting_for_approval"] == "core"

    aborted = user.run("rollout", "abort", SERVICE, "--reason", "status test")
    assert aborted.returncode == 0, aborted.stderr
    await poll(lambda: over_http()["status"] != "running", "the aborted rollout's result")
    final = same_answer(user, SERVICE)
    assert final["status"] == "aborted" and final["reason"] == "status test"
    assert final["finished_at"] is not None and final["waiting_for_approval"] is None


def test_an_unknown_rollout_gets_the_same_error_over_both(user: User) -> None:
    over_http, http_modules = status(user, "no-such-service", http=True)
    over_sdk, _ = status(user, "no-such-service", http=False)
    assert over_http.returncode == over_sdk.returncode == 2
    assert "no rollout with id 'rollout:no-such-service'" in over_http.stderr
    assert over_http.stderr.splitlines()[0] == over_sdk.stderr.splitlines()[0]
    assert not any(m.startswith("temporalio") for m in http_modules)


def test_no_worker_to_answer_is_one_line_after_one_wait_over_both(
    user: User, files: tuple[str, str], tmp_path: Path
) -> None:
    """A rollout on a task queue no worker polls: its progress query waits --query-timeout, once."""
    shipped, policies = files
    topology = yaml.safe_load(Path(shipped).read_text(encoding="utf-8"))
    topology["default_task_queue"] = "nobody-polls"  # and its own service: the rollout stays running
    topology["services"].append({"name": IDLE, "initial_release": "1.0.0", "data_residency": True})
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(topology), encoding="utf-8")
    started = user.run(
        "rollout", "start", "--service", IDLE, "--release", "3.0.0",
        "--topology", str(path), "--policies", policies, "--json",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    over_http, http_modules = status(user, IDLE, http=True, extra=("--query-timeout", "0.5"))
    over_sdk, _ = status(user, IDLE, http=False, extra=("--query-timeout", "0.5"))
    line = f"error: no worker answered for rollout 'rollout:{IDLE}' within 0.5s"
    assert over_http.returncode == over_sdk.returncode == 1, over_http.stderr[-2000:]
    assert over_http.stderr.splitlines()[0].startswith(line), over_http.stderr[-2000:]
    assert over_http.stderr.splitlines()[0] == over_sdk.stderr.splitlines()[0], over_sdk.stderr[-2000:]
    assert not any(m.startswith("temporalio") for m in http_modules), "the HTTP path retried through the SDK"

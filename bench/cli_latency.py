"""CLI latency: `globalops rollout status … --json` against `temporal workflow describe` on one workflow.

Both are separate processes started the way a user starts them, on the bench's dev server, with the
in-process worker answering the status query. The rollout waits for approval between waves, so it is
running (status asks describe, then the progress query) for as long as the measurement takes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from activities.clouds.sim import SimCloud
from bench.common import median
from bench.configs import ROOT, default_topology, zero_wait_policies
from bench.server import TEMPORAL, DevServer
from cli import launch, temporal_http
from contracts.rollout import RolloutRequest
from workflows.rollout import RegionalRolloutWorkflow

SERVICE = "checkout"
#: The floor of any command that talks to Temporal through the Python SDK: importing its client.
SDK_IMPORT = [sys.executable, "-c", "import temporalio.client"]
#: The console script's own entry (pyproject: globalops = "cli.entry:run"), from this checkout.
GLOBALOPS = [sys.executable, "-c", "from cli.entry import run; run()"]


@dataclass
class CliResult:
    cli_s: list[float] = field(default_factory=list)
    temporal_s: list[float] = field(default_factory=list)
    help_s: list[float] = field(default_factory=list)
    status_help_s: list[float] = field(default_factory=list)
    sdk_import_s: list[float] = field(default_factory=list)
    workflow_id: str = ""

    @property
    def ratio(self) -> float:
        return median(self.cli_s) / median(self.temporal_s)


async def _timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall time of one command; off the event loop, which runs the worker that answers the query."""
    return await asyncio.to_thread(_run, cmd, env)


def _run(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return took


async def cli_latency(server: DevServer, sim: SimCloud, queue: str, runs: int, home: Path) -> CliResult:
    """`runs` timed runs of each command (after one warm-up each), alternating, on one running rollout.

    The status command reads over the server's HTTP API, as it does after `globalops dev up`.
    """
    client, address = server.client, server.address
    topology = default_topology(queue)
    sim.seed_topology(topology)
    policies = zero_wait_policies()
    policies = policies.model_copy(
        update={"approvals": policies.approvals.model_copy(update={"between_waves": True})}
    )
    request = RolloutRequest(
        service=SERVICE,
        release="2.0.0",
        request_id=launch.new_request_id(),
        topology=topology,
        policies=policies,
        requested_by="bench",
    )
    handle = await launch.start(client, launch.rollout(request))
    while (await handle.query(RegionalRolloutWorkflow.progress)) is None:
        await asyncio.sleep(0.05)
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        temporal_http.HTTP_ENV: server.http_address,
        "GLOBALOPS_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    wid = handle.id
    status = [*GLOBALOPS, "rollout", "status", wid, "--json"]
    describe = [
        str(TEMPORAL),
        "workflow",
        "describe",
        "--workflow-id",
        wid,
        "--address",
        address,
        "-o",
        "json",
    ]
    out = CliResult(workflow_id=wid)
    for cmd in (status, describe, [*GLOBALOPS, "--help"], [*GLOBALOPS, "rollout", "status", "--help"]):
        await _timed(cmd, env)  # warm-up: the OS file cache, not the measurement
    for _ in range(runs):
        out.cli_s.append(await _timed(status, env))
        out.temporal_s.append(await _timed(describe, env))
        out.help_s.append(await _timed([*GLOBALOPS, "--help"], env))
        out.status_help_s.append(await _timed([*GLOBALOPS, "rollout", "status", "--help"], env))
        out.sdk_import_s.append(await _timed(SDK_IMPORT, env))
    await handle.terminate("bench over")
    return out

"""B2: 100 rollouts of 16 regions started together on one worker process (`globalops worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from activities.clouds.sim import SimCloud
from bench.common import count_history, percentile
from bench.configs import (
    ROOT,
    default_topology,
    many_services,
    one_service,
    write_topology,
    zero_wait_policies,
)
from bench.server import free_port
from cli.launch import start_rollout
from contracts.rollout import RolloutRequest

QUEUE = "bench-b2"


@dataclass
class B2Run:
    total_s: float
    per_rollout_s: list[float]
    activities: int
    peak_rss_mib: float
    finished_metric: float | None

    @property
    def activities_per_s(self) -> float:
        return self.activities / self.total_s


@dataclass
class B2Result:
    rollouts: int
    regions: int
    runs: list[B2Run] = field(default_factory=list)


def _status_kib(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


@contextlib.asynccontextmanager
async def worker_process(
    client: Client, home: Path, topology_file: Path, address: str
) -> AsyncIterator[tuple[int, str]]:
    """The real worker command in its own process; yields its pid and metrics address."""
    metrics = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "GLOBALOPS_HOME": str(home),
        "GLOBALOPS_TOPOLOGY": str(topology_file),
        "TEMPORAL_ADDRESS": address,
        "GLOBALOPS_METRICS_PORT": metrics.rsplit(":", 1)[1],
    }
    log = (home / "worker.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker", "--task-queue", QUEUE],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}; see {home / 'worker.log'}")
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=QUEUE),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
            if resp.pollers:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("worker did not poll within 60 s")
            await asyncio.sleep(0.2)
        yield proc.pid, metrics
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _finished_rollouts(metrics: str) -> float | None:
    """globalops_operations_finished_total{kind="rollout"} from the worker's own endpoint (a cross-check)."""
    try:
        with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as resp:
            text: str = resp.read().decode()
    except OSError:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith("globalops_operations_finished_total{") and 'kind="rollout"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def one_run(
    client: Client, address: str, home: Path, topology_file: Path, services: list[str]
) -> B2Run:
    base = default_topology(QUEUE)
    policies = zero_wait_policies()
    release = f"5.0.{uuid.uuid4().hex[:6]}"
    async with worker_process(client, home, topology_file, address) as (pid, metrics):

        async def rollout(service: str) -> float:
            request = RolloutRequest(
                service=service,
                release=release,
                request_id=uuid.uuid4().hex[:12],
                topology=one_service(base, service),
                policies=policies,
                requested_by="bench",
            )
            started = time.perf_counter()
            handle = await start_rollout(client, request)
            result = await handle.result()
            if result.status != "succeeded":
                raise RuntimeError(f"B2 rollout of {service} ended {result.status}: {result.reason}")
            return time.perf_counter() - started

        started = time.perf_counter()
        per_rollout = await asyncio.gather(*(rollout(s) for s in services))
        total = time.perf_counter() - started
        peak_rss = _status_kib(pid, "VmHWM") / 1024
        await asyncio.sleep(1.5)  # let the exporter see the last completions
        finished = _finished_rollouts(metrics)
    first = f"rollout:{services[0]}"
    parent = await count_history(client, first)
    children = [await count_history(client, f"{first}/{r}") for r in base.region_names()]
    per_rollout_activities = parent.activities + sum(c.activities for c in children)
    return B2Run(total, list(per_rollout), per_rollout_activities * len(services), peak_rss, finished)


async def b2(client: Client, address: str, work: Path, runs: int, rollouts: int = 100) -> B2Result:
    home = work / "b2-home"
    home.mkdir(parents=True, exist_ok=True)
    services = [f"svc-{i:03d}" for i in range(rollouts)]
    topology = many_services(default_topology(QUEUE), services)
    topology_file = write_topology(topology, work / "b2-topology.yaml")
    SimCloud(home / "sim.db").seed_topology(topology)  # seeded before the clock starts
    out = B2Result(rollouts=rollouts, regions=len(topology.regions))
    for _ in range(runs):
        out.runs.append(await one_run(client, address, home, topology_file, services))
    return out


def summary(run: B2Run) -> dict[str, float]:
    return {
        "total_s": run.total_s,
        "p50_s": percentile(run.per_rollout_s, 50),
        "p99_s": percentile(run.per_rollout_s, 99),
        "activities_per_s": run.activities_per_s,
        "peak_rss_mib": run.peak_rss_mib,
    }

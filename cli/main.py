"""The `globalops` command: one sub-app per noun (rollout, sim, dev) plus the worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from typing import Annotated

import typer

from cli.backup import backup_app
from cli.codec_server import check_codec_environment, codec_server
from cli.deploy import deploy_app
from cli.dev import dev_app
from cli.dr import dr_app
from cli.drill import drill_app
from cli.errors import fail, fail_line
from cli.failover import failback_app, failover_app, health, monitor_app
from cli.rollout import rollout_app
from cli.sim import sim_app

app = typer.Typer(
    name="globalops",
    help=(
        "Run one service across many cloud regions without fear: rollouts in waves, "
        "with health gates, bake times, approvals and automatic rollback, as durable Temporal workflows.\n\n"
        "Quick start: `globalops dev up`, then\n"
        "`globalops rollout start --service checkout --release 2.0.0 --wait`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(rollout_app, name="rollout")
app.add_typer(deploy_app, name="deploy")
app.add_typer(monitor_app, name="monitor")
app.add_typer(failover_app, name="failover")
app.add_typer(failback_app, name="failback")
app.command("health")(health)
app.add_typer(backup_app, name="backup")
app.add_typer(dr_app, name="dr")
app.add_typer(drill_app, name="drill")
app.add_typer(sim_app, name="sim")
app.add_typer(dev_app, name="dev")
app.command("codec-server")(codec_server)
# A malformed GLOBALOPS_CODEC_KEY(_ID) is bad input for every command: one line, exit 2 (workers/codec.py).
app.callback()(check_codec_environment)


@app.command("worker")
def worker(
    task_queue: Annotated[
        list[str] | None,
        typer.Option(
            "--task-queue",
            "-q",
            envvar="GLOBALOPS_TASK_QUEUES",
            help="Task queue to poll; repeat for region queues (default: globalops).",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    sticky_timeout: Annotated[
        float,
        typer.Option(
            "--sticky-timeout",
            envvar="GLOBALOPS_STICKY_TIMEOUT",
            help=(
                "Seconds a workflow task waits for this worker's cached copy before any worker takes it: "
                "how long a crashed worker's workflows stall (1-300)."
            ),
        ),
    ] = 10.0,
) -> None:
    """Run a worker in the foreground: workflows and activities for the given task queues."""
    if not 1 <= sticky_timeout <= 300:
        fail(f"--sticky-timeout: {sticky_timeout:g} is out of range; allowed: 1-300 seconds")
    from workers.client import connect
    from workers.logging_setup import configure_logging
    from workers.main import run_worker

    configure_logging(log_level)

    async def main() -> None:
        client = await connect()
        run = asyncio.create_task(run_worker(client, task_queue or ["globalops"], sticky_timeout))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, run.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await run

    asyncio.run(main())


def run() -> None:
    """Console-script entry: run the app, then leave without interpreter teardown.

    The Temporal client's Rust threads can outlive the event loop and abort the process
    during CPython finalization ("PyGILState_Release ... finalizing", temporalio/sdk-python
    issue 300), which would turn a successful command into exit code -6. Exiting with
    `os._exit` after flushing keeps the command's real exit code.
    """
    code = 0
    try:
        returned = app(standalone_mode=False)
        code = returned if isinstance(returned, int) else 0
    except typer.Abort:
        code = 130
    except typer.TyperException as exc:
        # Usage errors (exit 2) become one line (DESIGN rule 8), not a boxed usage text.
        code = int(getattr(exc, "exit_code", 1))
        ctx = getattr(exc, "ctx", None)
        where = str(ctx.command_path) if ctx is not None else "globalops"
        format_message = getattr(exc, "format_message", None)
        message = str(format_message()) if callable(format_message) else str(exc)
        if message.strip():  # no_args_is_help has printed the help and has nothing to add
            fail_line(f"{where}: {message} (see `{where} --help`)" if code == 2 else message)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()

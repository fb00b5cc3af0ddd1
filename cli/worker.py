"""`globalops worker`: run a worker in the foreground (what `dev up` starts in the background)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer

from cli.errors import fail


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

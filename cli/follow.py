"""Start an operation and follow it: the one helper every starting command uses, and steering updates.

`start_and_follow` validates nothing (the command did that before building the launch), starts the
workflow, prints where to watch it, and with --wait redraws a live view from a query until the
result arrives, then reports it. Exit codes: 0 success, 1 the operation did not succeed, 2 refused
(already running) or bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rich.console import RenderableType
from rich.live import Live
from rich.text import Text
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from cli.console import err, out
from cli.errors import fail
from cli.render import web_ui_url
from workers.address import temporal_address
from workers.client import connect

if TYPE_CHECKING:  # cli.launch imports every workflow: only commands that start one pay for it
    from cli.launch import Launch

W = TypeVar("W")
R = TypeVar("R")


async def client_or_fail() -> Client:
    """A Temporal client, or one line saying where Temporal was expected and how to start one (exit 1)."""
    try:
        return await connect()
    except Exception as exc:  # noqa: BLE001 - any connection failure becomes one clear line
        fail(
            f"cannot reach Temporal at {temporal_address()}: {exc} (start one with `globalops dev up`)",
            code=1,
        )


@dataclass(frozen=True)
class Follow(Generic[W, R]):
    """How a command shows its operation: live view, final report, and what counts as success."""

    conflict: str
    """The refusal when the target is busy, e.g. "a rollout of 'checkout' is already running"."""
    report: Callable[[R, bool], None]
    """Print the final result (as JSON when the flag is true)."""
    succeeded: Callable[[R], bool]
    live: Callable[[Client, WorkflowHandle[W, R]], Awaitable[RenderableType | None]] | None = None
    """One frame of the live view, from a query (None: no frame yet)."""
    result: Callable[[WorkflowHandle[W, R]], Awaitable[R]] | None = None
    """How to get the outcome (default: the workflow's result)."""


async def start_and_follow(launch: Launch[W, R], follow: Follow[W, R], *, wait: bool, as_json: bool) -> int:
    """Start `launch`; without --wait print its id and Web UI link, with --wait follow it to the end."""
    client = await client_or_fail()
    from cli.launch import AlreadyRunning, start

    wid = launch.workflow_id
    try:
        handle = await start(client, launch)
    except AlreadyRunning:
        fail(f"{follow.conflict} ({wid})")
    if not wait:
        if as_json:
            print(json.dumps({"workflow_id": wid, "status": "running", "web_ui_url": web_ui_url(wid)}))
        else:
            out.print(f"started [bold]{wid}[/]  {web_ui_url(wid)}", soft_wrap=True)
        return 0
    if not as_json:
        err.print(f"started [bold]{wid}[/] — Web UI: {web_ui_url(wid)}", soft_wrap=True)
    outcome = follow.result(handle) if follow.result else handle.result()
    result = await watch(outcome, _frame(client, handle, follow.live) if follow.live else None, not as_json)
    follow.report(result, as_json)
    return 0 if follow.succeeded(result) else 1


def _frame(
    client: Client,
    handle: WorkflowHandle[W, R],
    live: Callable[[Client, WorkflowHandle[W, R]], Awaitable[RenderableType | None]],
) -> Callable[[], Awaitable[RenderableType | None]]:
    return lambda: live(client, handle)


async def watch(
    outcome: Awaitable[R], frame: Callable[[], Awaitable[RenderableType | None]] | None, show: bool
) -> R:
    """Wait for `outcome`, redrawing `frame()` on stderr twice a second meanwhile (if `show`)."""
    task: asyncio.Future[R] = asyncio.ensure_future(outcome)
    if not show or frame is None:
        return await task
    with Live(Text("starting…"), console=err, refresh_per_second=4, transient=True) as view:
        while not task.done():
            with contextlib.suppress(RPCError):  # a query can race the workflow's end
                rendered = await frame()
                if rendered is not None:
                    view.update(rendered)
            await asyncio.wait({task}, timeout=0.5)
    return task.result()


async def answer(what: str, call: Awaitable[R], *, not_found: str | None = None) -> R:
    """Send an update (by method reference) and return its answer; a refusal is one line, exit 2."""
    try:
        return await call
    except WorkflowUpdateFailedError as exc:
        fail(f"{what} refused: {exc.cause or exc}")
    except RPCError as exc:
        fail(f"{what} refused: {not_found + ' (' + exc.message + ')' if not_found else exc.message}")


async def steer(what: str, call: Awaitable[Any], *, not_found: str | None = None) -> str:
    """`answer`, as the text to print."""
    return str(await answer(what, call, not_found=not_found))

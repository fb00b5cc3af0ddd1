"""`globalops rollout ...`: start, watch and steer regional rollouts."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any, cast, get_args

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from cli.errors import fail
from cli.render import progress_table, rollout_json, web_ui_url
from config.loader import ConfigError, load_config
from config.strategies import Strategy
from contracts import search_attributes as sa
from contracts.ids import rollout_id, rollout_id_of
from contracts.rollout import (
    RolloutProgress,
    RolloutRequest,
)
from workers.client import connect, temporal_address
from workflows.region_deployment import RegionDeploymentWorkflow
from workflows.rollout import RegionalRolloutWorkflow

rollout_app = typer.Typer(
    help="Roll a release across every region in waves: validate → core (pilot first) → edge.",
    no_args_is_help=True,
)
_out = Console()
_err = Console(stderr=True)
RELEASE_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")

TopologyOpt = Annotated[
    Path | None,
    typer.Option(
        "--topology", envvar="GLOBALOPS_TOPOLOGY", help="Topology YAML (default: the shipped 16 regions)."
    ),
]
PoliciesOpt = Annotated[
    Path | None,
    typer.Option(
        "--policies", envvar="GLOBALOPS_POLICIES", help="Policies YAML (default: config/policies.yaml)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
IdArg = Annotated[str, typer.Argument(help="Workflow id (rollout:SERVICE) or just the service name.")]


STRATEGIES: tuple[str, ...] = get_args(Strategy)


async def client_or_fail() -> Client:
    try:
        return await connect()
    except Exception as exc:  # noqa: BLE001 - any connection failure becomes one clear line
        fail(
            f"cannot reach Temporal at {temporal_address()}: {exc} (start one with `globalops dev up`)",
            code=1,
        )


@rollout_app.command("start")
def start(
    service: Annotated[
        str, typer.Option("--service", "-s", help="Service to roll out, as named in the topology.")
    ],
    release: Annotated[str, typer.Option("--release", "-r", help="Release (version) to deploy, e.g. 2.0.0.")],
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            help="rolling, canary or blue-green in every region for this rollout "
            "(default: the region's own, then the policies').",
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow progress until the rollout ends; exit 0 only on success.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start a rollout. Validates the configuration first: bad input exits 2 and starts nothing.

    Exit codes with --wait: 0 succeeded, 1 rolled back / failed / aborted, 2 bad input or refused.
    """
    try:
        topo, pols = load_config(topology, policies)
    except ConfigError as exc:
        fail(str(exc))
    if topo.service(service) is None:
        known = ", ".join(s.name for s in topo.services)
        fail(f"--service: '{service}' is not a service of the topology (known: {known})")
    if not RELEASE_PATTERN.match(release):
        fail(f"--release: '{release}' is not a release name (letters, digits and . + _ -, e.g. 2.0.0)")
    if strategy is not None and strategy not in STRATEGIES:
        fail(f"--strategy: '{strategy}' is not a strategy (allowed: {', '.join(STRATEGIES)})")
    request = RolloutRequest(
        service=service,
        release=release,
        request_id=uuid.uuid4().hex[:12],
        topology=topo,
        policies=pols,
        requested_by=getpass.getuser(),
        strategy=cast(Strategy | None, strategy),
    )
    code = asyncio.run(_start(request, wait, as_json))
    raise typer.Exit(code)


async def start_rollout(
    client: Client, request: RolloutRequest, *, search_attributes: bool = True
) -> WorkflowHandle[RegionalRolloutWorkflow, RolloutProgress]:
    """Start the rollout workflow; WorkflowAlreadyStartedError while one runs for the service."""
    regions = [r.name for r in request.topology.regions]
    return await client.start_workflow(
        RegionalRolloutWorkflow.run,
        request,
        id=rollout_id(request.service),
        task_queue=request.topology.default_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=(
            sa.operation_attributes("rollout", request.service, request.release, regions)
            if search_attributes
            else None
        ),
        static_summary=f"rollout {request.service} {request.release} to {len(regions)} regions",
        static_details=(
            f"requested by {request.requested_by}; rollback policy {request.policies.rollback_policy}"
        ),
    )


async def _start(request: RolloutRequest, wait: bool, as_json: bool) -> int:
    client = await client_or_fail()
    wid = rollout_id(request.service)
    try:
        handle = await start_rollout(client, request)
    except WorkflowAlreadyStartedError:
        fail(
            f"a rollout of '{request.service}' is already running ({wid}); "
            f"watch it with `globalops rollout status {wid}` or stop it with `globalops rollout abort {wid}`"
        )
    if not wait:
        if as_json:
            print(json.dumps({"workflow_id": wid, "status": "running", "web_ui_url": web_ui_url(wid)}))
        else:
            _out.print(f"started [bold]{wid}[/]  {web_ui_url(wid)}")
        return 0
    if not as_json:
        _err.print(f"started [bold]{wid}[/] — Web UI: {web_ui_url(wid)}")
    result = await _follow(client, handle, show=not as_json)
    _report(result, as_json)
    return 0 if result.status == "succeeded" else 1


async def _follow(
    client: Client, handle: WorkflowHandle[Any, RolloutProgress], show: bool
) -> RolloutProgress:
    """Wait for the result, redrawing a live table from the `progress` query meanwhile."""
    result_task = asyncio.create_task(handle.result())
    if not show:
        return await result_task
    with Live(Table(), console=_err, refresh_per_second=4, transient=not sys.stderr.isatty()) as live:
        while not result_task.done():
            with contextlib.suppress(RPCError):  # a query can race the workflow's end
                progress = await handle.query(RegionalRolloutWorkflow.progress)
                await _overlay_children(client, progress)
                live.update(progress_table(progress))
            await asyncio.wait({result_task}, timeout=0.5)
        result = result_task.result()
        live.update(progress_table(result))
    return result


async def _overlay_children(client: Client, progress: RolloutProgress) -> None:
    """Show batch-level progress of regions in flight, read from their child workflows."""
    for index, outcome in enumerate(progress.regions):
        if outcome.status != "deploying":
            continue
        child = client.get_workflow_handle_for(
            RegionDeploymentWorkflow.run, f"{progress.workflow_id}/{outcome.region}"
        )
        with contextlib.suppress(RPCError):
            live = await child.query(RegionDeploymentWorkflow.progress)
            if live is not None and live.status in ("deploying", "baking", "waiting"):
                progress.regions[index] = live


def _report(result: RolloutProgress, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rollout_json(result)))
        return
    colour = "green" if result.status == "succeeded" else "red"
    _out.print(
        f"[{colour}]{result.workflow_id}: {result.status}[/]"
        + (f" — {result.reason}" if result.reason else "")
    )
    _out.print(f"Web UI: {web_ui_url(result.workflow_id)}")


@rollout_app.command("status")
def status(ident: IdArg, as_json: JsonOpt = False) -> None:
    """Show a rollout's state: every region's wave, state and release."""
    progress = asyncio.run(_status(rollout_id_of(ident)))
    if as_json:
        print(json.dumps(rollout_json(progress)))
    else:
        _out.print(progress_table(progress))
        _out.print(f"Web UI: {web_ui_url(progress.workflow_id)}")


async def _status(wid: str) -> RolloutProgress:
    client = await client_or_fail()
    handle = client.get_workflow_handle_for(RegionalRolloutWorkflow.run, wid)
    try:
        desc = await handle.describe()
    except RPCError:
        fail(f"no rollout with id '{wid}' (see `globalops rollout list`)")
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        return await handle.result()
    progress = await handle.query(RegionalRolloutWorkflow.progress)
    if progress is None:
        fail(f"rollout '{wid}' has not reported progress yet", code=1)
    if desc.status != WorkflowExecutionStatus.RUNNING and progress.status == "running":
        progress.status = "failed"
        progress.reason = f"workflow {desc.status.name.lower() if desc.status else 'ended'}"
    return progress


def _steer(ident: str, update: str, arg: str | None) -> None:
    async def go() -> str:
        client = await client_or_fail()
        handle = client.get_workflow_handle(rollout_id_of(ident))
        try:
            if arg is None:
                return str(await handle.execute_update(update))
            return str(await handle.execute_update(update, arg))
        except WorkflowUpdateFailedError as exc:
            fail(f"{update} refused: {exc.cause or exc}")
        except RPCError as exc:
            fail(f"{update} refused: {exc.message}")

    _out.print(asyncio.run(go()))


@rollout_app.command("approve")
def approve(
    ident: IdArg,
    by: Annotated[str, typer.Option("--by", envvar="GLOBALOPS_USER", help="Who approves (recorded).")] = "",
) -> None:
    """Approve the wave that waits for approval (policies: approvals.between_waves)."""
    _steer(ident, "approve", by or getpass.getuser())


@rollout_app.command("pause")
def pause(ident: IdArg) -> None:
    """Start no new region until resumed; regions in flight finish their current step."""
    _steer(ident, "pause", None)


@rollout_app.command("resume")
def resume(ident: IdArg) -> None:
    """Continue a paused rollout."""
    _steer(ident, "resume", None)


@rollout_app.command("abort")
def abort(
    ident: IdArg,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded in the result).")
    ] = "aborted by operator",
) -> None:
    """Stop the rollout and return every changed region to its previous release."""
    _steer(ident, "abort", reason)


@rollout_app.command("promote")
def promote(
    ident: IdArg,
    region: Annotated[
        str | None, typer.Option("--region", help="Only this region (default: every region waiting).")
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Skip the remaining steps and analysis (recorded as an operator override)."
        ),
    ] = False,
) -> None:
    """Promote canary / blue-green regions past a pause or an inconclusive analysis."""
    wid = rollout_id_of(ident)

    async def go() -> list[str]:
        client = await client_or_fail()
        targets = [region] if region else await _promotable(client, wid, full)
        if not targets:
            fail(f"no region of {wid} is waiting for promote (use --region R --full to skip ahead)")
        answers = []
        for name in targets:
            child = client.get_workflow_handle(f"{wid}/{name}")
            try:
                answers.append(str(await child.execute_update("promote", full)))
            except WorkflowUpdateFailedError as exc:
                fail(f"promote {name} refused: {exc.cause or exc}")
            except RPCError as exc:
                fail(f"promote {name} refused: {exc.message}")
        return answers

    for line in asyncio.run(go()):
        _out.print(line)


async def _promotable(client: Client, wid: str, full: bool) -> list[str]:
    """Regions of a rollout whose child waits for promote (any in flight, with --full)."""
    handle = client.get_workflow_handle_for(RegionalRolloutWorkflow.run, wid)
    try:
        progress = await handle.query(RegionalRolloutWorkflow.progress)
    except RPCError as exc:
        fail(f"no running rollout with id '{wid}': {exc.message}")
    await _overlay_children(client, progress)
    wanted = ("waiting", "deploying", "baking") if full else ("waiting",)
    return [o.region for o in progress.regions if o.status in wanted]


@rollout_app.command("list")
def list_rollouts(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many, newest first.")] = 20,
) -> None:
    """List recent rollouts from Temporal visibility."""

    async def go() -> Table:
        client = await client_or_fail()
        table = Table(title="rollouts")
        for column in ("workflow id", "status", "started", "closed"):
            table.add_column(column)
        count = 0
        async for wf in client.list_workflows('WorkflowType="RegionalRolloutWorkflow"'):
            table.add_row(
                wf.id,
                wf.status.name.lower() if wf.status else "",
                f"{wf.start_time:%Y-%m-%d %H:%M:%S}",
                f"{wf.close_time:%Y-%m-%d %H:%M:%S}" if wf.close_time else "",
            )
            count += 1
            if count >= limit:
                break
        return table

    _out.print(asyncio.run(go()))

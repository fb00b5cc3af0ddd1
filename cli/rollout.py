"""`globalops rollout ...`: start, watch and steer regional rollouts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from cli.errors import fail
from cli.keys import ByOpt, KeyOpt
from cli.options import (
    JsonOpt,
    PoliciesOpt,
    ReasonOpt,
    ServiceOpt,
    TopologyOpt,
    WaitOpt,
)

# Imported where used, not here: `rollout status` and every `--help` stay clear of the workflows, the
# codec's crypto and the worker's telemetry (tests/unit/test_cli_imports.py).
if TYPE_CHECKING:
    from rich.console import RenderableType
    from temporalio.client import Client, WorkflowHandle

    from contracts.rollout import RolloutProgress
    from workflows.rollout import RegionalRolloutWorkflow

rollout_app = typer.Typer(
    help="Roll a release across every region in waves: validate → core (pilot first) → edge.",
    no_args_is_help=True,
)
#: The rollout's progress query, by name (for `status`, which must not import the workflow module).
PROGRESS_QUERY = "progress"
IdArg = Annotated[str, typer.Argument(help="Workflow id (rollout:SERVICE) or just the service name.")]


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
    wait: WaitOpt = False,
    fail_if_frozen: Annotated[
        bool,
        typer.Option(
            "--fail-if-frozen",
            help="Exit 1 instead of starting when a freeze covers the service (default: start, wait frozen).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start a rollout. Validates the configuration first: bad input exits 2 and starts nothing.

    Exit codes with --wait: 0 succeeded, 1 partial (regions skipped) / rolled back / failed /
    aborted, 2 bad input or refused. On the simulated cloud, seed a topology of your own first
    (`globalops sim seed --topology FILE`): the sim runs only what it was seeded with.

    Example: globalops rollout start --service checkout --release 2.0.0 --wait
    """
    import asyncio
    import getpass
    from typing import cast, get_args

    from cli import follow, launch
    from cli.options import check_release, load
    from config.strategies import Strategy
    from contracts.ids import rollout_id
    from contracts.rollout import RolloutRequest

    strategies: tuple[str, ...] = get_args(Strategy)
    topo, pols = load(topology, policies, service)
    check_release(release)
    if strategy is not None and strategy not in strategies:
        fail(f"--strategy: '{strategy}' is not a strategy (allowed: {', '.join(strategies)})")
    request = RolloutRequest(
        service=service,
        release=release,
        request_id=launch.new_request_id(),
        topology=topo,
        policies=pols,
        requested_by=getpass.getuser(),
        strategy=cast(Strategy | None, strategy),
    )
    wid = rollout_id(service)
    if fail_if_frozen:
        asyncio.run(_refuse_if_frozen(service, topo.region_names()))
    how: follow.Follow[RegionalRolloutWorkflow, RolloutProgress] = follow.Follow(
        conflict=(
            f"a rollout of '{service}' is already running; watch it with `globalops rollout status {wid}`"
            f" or stop it with `globalops rollout abort {wid}`"
        ),
        report=lambda result, as_json: _report(result, as_json, str(topology) if topology else None),
        succeeded=lambda r: r.status == "succeeded",
        live=_live,
    )
    raise typer.Exit(
        asyncio.run(follow.start_and_follow(launch.rollout(request), how, wait=wait, as_json=as_json))
    )


async def _refuse_if_frozen(service: str, regions: list[str]) -> None:
    """--fail-if-frozen: one line and exit 1 when a freeze in force covers this rollout."""
    from datetime import UTC, datetime

    from cli.follow import client_or_fail
    from cli.freeze import listing
    from workflows.freeze_api import freeze_text
    from workflows.logic.change import holding

    freezes = await listing(await client_or_fail())
    held = holding(freezes, datetime.now(UTC), "rollout", service, regions)
    if held:
        fail(f"not started: {freeze_text(held)} (see `globalops freeze list`)", code=1)


async def _live(
    client: Client, handle: WorkflowHandle[RegionalRolloutWorkflow, RolloutProgress]
) -> RenderableType:
    from cli.render import progress_table
    from workflows.rollout import RegionalRolloutWorkflow

    progress = await handle.query(RegionalRolloutWorkflow.progress)
    await overlay_children(client, progress)
    return progress_table(progress)


async def overlay_children(client: Client, progress: RolloutProgress) -> None:
    """Show batch-level progress of regions in flight, read from their child workflows."""
    import contextlib

    from temporalio.service import RPCError

    from contracts.ids import region_deployment_id
    from workflows.region_deployment import RegionDeploymentWorkflow

    for index, outcome in enumerate(progress.regions):
        if outcome.status != "deploying":
            continue
        child = client.get_workflow_handle_for(
            RegionDeploymentWorkflow.run, region_deployment_id(progress.workflow_id, outcome.region)
        )
        with contextlib.suppress(RPCError):
            live = await child.query(RegionDeploymentWorkflow.progress)
            if live is not None and live.status in ("deploying", "baking", "waiting"):
                progress.regions[index] = live


def _report(result: RolloutProgress, as_json: bool, topology: str | None) -> None:
    from rich.markup import escape

    from cli.console import err, out
    from cli.render import progress_table, rollout_json, seed_hint, web_ui_url

    if as_json:
        print(json.dumps(rollout_json(result)))
        return
    if err.is_terminal:
        err.print(progress_table(result))
    colour = "green" if result.status == "succeeded" else "red"
    # A sim that never ran the service fails every preflight with the same words: one line says it.
    why = seed_hint(result, topology) or result.reason
    out.print(
        f"[{colour}]{result.workflow_id}: {result.status}[/]" + (f" — {escape(why)}" if why else ""),
        soft_wrap=True,
    )
    out.print(f"Web UI: {web_ui_url(result.workflow_id)}")


#: How long `rollout status` waits for a worker to answer the progress query by default (s).
QUERY_TIMEOUT_S = 10.0
QueryTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--query-timeout",
        envvar="GLOBALOPS_QUERY_TIMEOUT",
        min=0.1,
        max=3600,
        help="Seconds to wait for a worker to answer for a running rollout (none polling: exit 1).",
    ),
]


@rollout_app.command("status")
def status(ident: IdArg, as_json: JsonOpt = False, query_timeout: QueryTimeoutOpt = QUERY_TIMEOUT_S) -> None:
    """Show a rollout's state: every region's wave, state and release."""
    from rich.markup import escape

    from cli.console import out
    from cli.render import progress_table, rollout_json, seed_hint, web_ui_url
    from contracts.ids import rollout_id_of

    progress = _status(rollout_id_of(ident), query_timeout)
    if as_json:
        print(json.dumps(rollout_json(progress)))
    else:
        out.print(progress_table(progress))
        hint = seed_hint(progress, "FILE")
        if hint:
            out.print(escape(hint), soft_wrap=True)
        out.print(f"Web UI: {web_ui_url(progress.workflow_id)}")


def _status(wid: str, query_timeout: float) -> RolloutProgress:
    """Over Temporal's HTTP API when it can answer (no SDK import: docs/cli-conventions.md), else the SDK.

    A running rollout is asked through its workflow, so a worker must answer within `query_timeout`;
    when none does, the server's answer is final on either path (no second wait through the SDK).
    """
    from pydantic import ValidationError

    from cli import temporal_http
    from contracts.rollout import RolloutProgress

    try:
        api = temporal_http.api()
        try:
            run = api.describe(wid)
        except temporal_http.NotFound:
            fail(_no_rollout(wid))
        if run.status == "COMPLETED":
            return RolloutProgress.model_validate_json(api.result(wid, run.run_id))
        try:
            answer = api.query(wid, PROGRESS_QUERY, query_timeout)
        except temporal_http.NoAnswer:
            fail(_no_answer(wid, query_timeout), code=1)
        progress = None if answer.strip() == b"null" else RolloutProgress.model_validate_json(answer)
        return _judged(wid, run.status, progress)
    except (temporal_http.Unavailable, ValidationError):
        import asyncio

        return asyncio.run(_status_sdk(wid, query_timeout))


def _no_rollout(wid: str) -> str:
    """The one line both status paths print for an id that names no rollout."""
    return f"no rollout with id '{wid}' (see `globalops rollout list`)"


def _no_answer(wid: str, timeout: float) -> str:
    """The one line both status paths print when no worker answered for a running rollout in time."""
    return (
        f"no worker answered for rollout '{wid}' within {timeout:g}s: start one "
        "(`globalops dev up`, `globalops worker`) or wait longer (--query-timeout)"
    )


def _judged(wid: str, status: str, progress: RolloutProgress | None) -> RolloutProgress:
    """A running rollout's progress as it stands; one whose workflow ended without a result failed."""
    if progress is None:
        fail(f"rollout '{wid}' has not reported progress yet", code=1)
    if status != "RUNNING" and progress.status == "running":
        progress.status = "failed"
        progress.reason = f"workflow {status.lower() or 'ended'}"
    return progress


async def _status_sdk(wid: str, query_timeout: float) -> RolloutProgress:
    from datetime import timedelta

    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    from cli.follow import client_or_fail
    from contracts.rollout import RolloutProgress

    client = await client_or_fail()
    # By name, not by method: the workflow module would import every activity (test_cli_imports.py
    # checks the name against RegionalRolloutWorkflow.progress).
    handle = client.get_workflow_handle(wid, result_type=RolloutProgress)
    try:
        desc = await handle.describe()
    except RPCError:
        fail(_no_rollout(wid))
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        result: RolloutProgress = await handle.result()
        return result
    try:
        progress: RolloutProgress | None = await handle.query(
            PROGRESS_QUERY, result_type=RolloutProgress, rpc_timeout=timedelta(seconds=query_timeout)
        )
    except RPCError as exc:
        # The client's deadline ends it as CANCELLED ("Timeout expired"), the server's as DEADLINE_EXCEEDED.
        if exc.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
            raise
        fail(_no_answer(wid, query_timeout), code=1)
    return _judged(wid, desc.status.name if desc.status else "", progress)


async def _rollout(ident: str) -> WorkflowHandle[RegionalRolloutWorkflow, RolloutProgress]:
    from cli.follow import client_or_fail
    from contracts.ids import rollout_id_of
    from workflows.rollout import RegionalRolloutWorkflow

    client = await client_or_fail()
    return client.get_workflow_handle_for(RegionalRolloutWorkflow.run, rollout_id_of(ident))


@rollout_app.command("approve")
def approve(
    ident: IdArg,
    by: ByOpt = "",
    key: KeyOpt = None,
) -> None:
    """Approve the wave that waits for approval (policies: approvals.between_waves).

    With a key (--key, GLOBALOPS_APPROVER_KEY, or $GLOBALOPS_HOME/keys/NAME.key for --by NAME) the
    approval is signed: its name, this rollout, the wave, the time and a nonce; only the signature
    leaves this machine. Policies with approvals.require_signature accept signed approvals only.
    """
    import asyncio
    import getpass

    from cli.console import out
    from cli.follow import answer, steer
    from cli.keys import signed_approval, signing_key
    from workflows.rollout import RegionalRolloutWorkflow

    approver = by or getpass.getuser()
    private = signing_key(approver, key)

    async def go() -> str:
        handle = await _rollout(ident)
        if private is None:
            return await steer("approve", handle.execute_update(RegionalRolloutWorkflow.approve, approver))
        progress = await answer("approve", handle.query(RegionalRolloutWorkflow.progress))
        approval = signed_approval(private, approver, handle.id, progress.waiting_for_approval or "")
        return await steer("approve", handle.execute_update(RegionalRolloutWorkflow.approve_signed, approval))

    out.print(asyncio.run(go()))


@rollout_app.command("pause")
def pause(ident: IdArg) -> None:
    """Start no new region until resumed; regions in flight finish their current step."""
    import asyncio

    from cli.console import out
    from cli.follow import steer
    from workflows.rollout import RegionalRolloutWorkflow

    async def go() -> str:
        return await steer("pause", (await _rollout(ident)).execute_update(RegionalRolloutWorkflow.pause))

    out.print(asyncio.run(go()))


@rollout_app.command("resume")
def resume(ident: IdArg) -> None:
    """Continue a paused rollout."""
    import asyncio

    from cli.console import out
    from cli.follow import steer
    from workflows.rollout import RegionalRolloutWorkflow

    async def go() -> str:
        return await steer("resume", (await _rollout(ident)).execute_update(RegionalRolloutWorkflow.resume))

    out.print(asyncio.run(go()))


@rollout_app.command("abort")
def abort(ident: IdArg, reason: ReasonOpt = "aborted by operator") -> None:
    """Stop the rollout and return every changed region to its previous release."""
    import asyncio

    from cli.console import out
    from cli.follow import steer
    from workflows.rollout import RegionalRolloutWorkflow

    async def go() -> str:
        handle = await _rollout(ident)
        return await steer("abort", handle.execute_update(RegionalRolloutWorkflow.abort, reason))

    out.print(asyncio.run(go()))


@rollout_app.command("skip-region")
def skip_region(
    region: Annotated[str, typer.Argument(help="The region held as unreachable, e.g. ap-south-1.")],
    service: ServiceOpt,
) -> None:
    """Leave out a region held as unreachable: the rollout goes on without it and ends `partial`.

    A region found down just before it is changed is held (policy unavailable_region: wait);
    the next wave starts only when it recovers and is deployed, or is skipped here.

    Example: globalops rollout skip-region --service checkout ap-south-1
    """
    import asyncio

    from cli.console import out
    from cli.follow import steer
    from workflows.rollout import RegionalRolloutWorkflow

    async def go() -> str:
        handle = await _rollout(service)
        return await steer("skip-region", handle.execute_update(RegionalRolloutWorkflow.skip_region, region))

    out.print(asyncio.run(go()))


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
    by: ByOpt = "",
    key: KeyOpt = None,
) -> None:
    """Promote canary / blue-green regions past a pause or an inconclusive analysis.

    With a key (--key, GLOBALOPS_APPROVER_KEY, or $GLOBALOPS_HOME/keys/NAME.key for --by NAME) each
    region's promote is signed: your name, its deploy, what waits (or `full`), the time and a nonce.
    """
    import asyncio
    import getpass

    from cli.console import out
    from cli.deploy import promote_one
    from cli.follow import client_or_fail
    from cli.keys import signing_key
    from contracts.ids import region_deployment_id, rollout_id_of
    from workflows.region_deployment import RegionDeploymentWorkflow

    wid = rollout_id_of(ident)
    approver = by or getpass.getuser()
    private = signing_key(approver, key)

    async def go() -> list[str]:
        client = await client_or_fail()
        targets = [region] if region else await _promotable(client, wid, full)
        if not targets:
            fail(f"no region of {wid} is waiting for promote (use --region R --full to skip ahead)")
        answers = []
        for name in targets:
            child = client.get_workflow_handle_for(
                RegionDeploymentWorkflow.run, region_deployment_id(wid, name)
            )
            answers.append(await promote_one(child, full, approver, private, f"promote {name}"))
        return answers

    for line in asyncio.run(go()):
        out.print(line)


async def _promotable(client: Client, wid: str, full: bool) -> list[str]:
    """Regions of a rollout whose child waits for promote (any in flight, with --full)."""
    from temporalio.service import RPCError

    from workflows.rollout import RegionalRolloutWorkflow

    handle = client.get_workflow_handle_for(RegionalRolloutWorkflow.run, wid)
    try:
        progress = await handle.query(RegionalRolloutWorkflow.progress)
    except RPCError as exc:
        fail(f"no running rollout with id '{wid}': {exc.message}")
    await overlay_children(client, progress)
    wanted = ("waiting", "deploying", "baking") if full else ("waiting",)
    return [o.region for o in progress.regions if o.status in wanted]


@rollout_app.command("list")
def list_rollouts(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many, newest first.")] = 20,
) -> None:
    """List recent rollouts from Temporal visibility."""
    import asyncio

    from rich.table import Table

    from cli.console import out
    from cli.follow import client_or_fail

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

    out.print(asyncio.run(go()))

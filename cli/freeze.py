"""`globalops freeze start|list|end`: stop the line for every rollout, deploy and drill at once.

A freeze lives in the freeze registry workflow (durable: it survives worker and server
restarts); operations it covers stop at their next safe point within seconds, show `frozen`
with the reason, change nothing, and go on by themselves when it ends or its --until passes.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from cli.console import out
from cli.errors import fail
from cli.follow import answer, client_or_fail
from cli.keys import KeyOpt, signed_approval, signing_key
from cli.options import JsonOpt, PoliciesOpt, TopologyOpt
from config.durations import parse_duration
from config.loader import ConfigError, load_policies, load_topology
from contracts.change import Freeze, FreezeEnd, FreezeRequest, RegistryState
from contracts.ids import FREEZE_REGISTRY_ID

freeze_app = typer.Typer(
    help=(
        "Stop the line: every rollout, canary, blue-green deploy and drill a freeze covers stops at its "
        "next safe point (between batches, before the next canary step or wave), changes nothing and "
        "goes on by itself when the freeze ends. Failover, failback and `dr recover` are emergencies: "
        "held only by a freeze with --all.\n\n"
        'Example: globalops freeze start --reason "incident 4711" --service checkout --until 2h'
    ),
    no_args_is_help=True,
)
ByOpt = Annotated[
    str, typer.Option("--by", envvar="GLOBALOPS_USER", help="Who (recorded; default: your login).")
]


def until_of(value: str | None, now: datetime | None = None) -> datetime | None:
    """--until as a time: a duration from now ("2h") or an ISO 8601 time; one line, exit 2, if bad."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    try:
        return now + timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--until: '{value}' is neither a duration (e.g. 2h, 30m) nor an ISO 8601 time")
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        fail(f"--until: {when.isoformat()} is in the past: the freeze would end before it starts")
    return when


def freeze_json(f: Freeze) -> dict[str, Any]:
    return f.model_dump(mode="json") | {"active": f.ended_at is None}


@freeze_app.command("start")
def start(
    reason: Annotated[str, typer.Option("--reason", help="Why (shown by every operation it holds).")],
    services: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="Only this service; repeat (default: all).")
    ] = None,
    regions: Annotated[
        list[str] | None, typer.Option("--region", "-r", help="Only this region; repeat (default: all).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Ends by itself then: a duration (2h) or an ISO 8601 time.")
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Also hold failover, failback and dr recover (emergencies).")
    ] = False,
    by: ByOpt = "",
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a freeze; prints its id (end it with `globalops freeze end ID`).

    Who may end it is what the policies' approvals say (four_eyes, approvers, require_signature).

    Example: globalops freeze start --reason "payment incident" --service checkout --until 2h
    """
    from workflows.freezes import FreezeRegistryWorkflow

    if not reason.strip():
        fail("--reason: must not be empty: say why the line stops")
    try:
        topo = load_topology(topology)
        approvals = load_policies(policies).approvals
    except ConfigError as exc:
        fail(str(exc))
    for region in regions or []:
        if region not in topo.region_names():
            known = ", ".join(topo.region_names())
            fail(f"--region: '{region}' is not a region of the topology (known: {known})")
    request = FreezeRequest(
        reason=reason.strip(),
        services=list(dict.fromkeys(services or [])),
        regions=list(dict.fromkeys(regions or [])),
        all=everything,
        until=until_of(until),
        by=by or getpass.getuser(),
        approvals=approvals,
    )

    async def go() -> Freeze:
        client = await client_or_fail()
        start_op = WithStartWorkflowOperation(
            FreezeRegistryWorkflow.run,
            RegistryState(),
            id=FREEZE_REGISTRY_ID,
            task_queue=topo.default_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="freeze registry: every freeze, and the operations it holds",
        )
        return await answer(
            "freeze start",
            client.execute_update_with_start_workflow(
                FreezeRegistryWorkflow.start_freeze, request, start_workflow_operation=start_op
            ),
        )

    freeze = asyncio.run(go())
    if as_json:
        print(json.dumps(freeze_json(freeze)))
        return
    scope = ", ".join(freeze.services) or "every service"
    where = ", ".join(freeze.regions) or "every region"
    out.print(
        f"[bold]{freeze.id}[/] started by {freeze.started_by}: {freeze.reason} — {scope} in {where}"
        + (f", until {freeze.until.isoformat()}" if freeze.until else "")
        + (" (emergencies too)" if freeze.all else "")
    )


async def listing(client: Client) -> list[Freeze]:
    """Every freeze the registry keeps (none when it never ran)."""
    from workflows.freezes import FreezeRegistryWorkflow

    handle = client.get_workflow_handle_for(FreezeRegistryWorkflow.run, FREEZE_REGISTRY_ID)
    try:
        return await handle.query(FreezeRegistryWorkflow.listing)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return []
        raise


@freeze_app.command("list")
def list_freezes(as_json: JsonOpt = False) -> None:
    """Active freezes first, then the ended ones kept: who started and ended each, and why.

    Example: globalops freeze list --json
    """

    async def go() -> list[Freeze]:
        return await listing(await client_or_fail())

    freezes = asyncio.run(go())
    if as_json:
        print(json.dumps({"freezes": [freeze_json(f) for f in freezes]}))
        return
    if not freezes:
        out.print("no freezes")
        return
    table = Table(title="freezes")
    for column in ("id", "state", "reason", "services", "regions", "started", "until", "ended"):
        table.add_column(column)
    for f in freezes:
        table.add_row(
            f.id,
            "active" if f.ended_at is None else "ended",
            f.reason,
            ", ".join(f.services) or "all",
            ", ".join(f.regions) or "all",
            f"{f.started_at:%Y-%m-%d %H:%M} by {f.started_by}",
            f"{f.until:%Y-%m-%d %H:%M}" if f.until else "",
            f"{f.ended_at:%Y-%m-%d %H:%M} by {f.ended_by}" if f.ended_at else "",
        )
    out.print(table)


@freeze_app.command("end")
def end(
    freeze_id: Annotated[str, typer.Argument(help="The freeze id, e.g. frz-3 (see `freeze list`).")],
    by: ByOpt = "",
    key: KeyOpt = None,
) -> None:
    """End a freeze now: the operations it held go on by themselves at once.

    With a key (--key, GLOBALOPS_APPROVER_KEY, or $GLOBALOPS_HOME/keys/NAME.key for --by NAME) the
    end is signed: your name, the freeze, the time and a nonce. A freeze started under policies
    with approvals.require_signature ends only with a signature of one of their approvers.

    Example: globalops freeze end frz-3
    """
    ender = by or getpass.getuser()
    private = signing_key(ender, key)

    from workflows.freezes import FreezeRegistryWorkflow

    async def go() -> Freeze:
        client = await client_or_fail()
        handle = client.get_workflow_handle_for(FreezeRegistryWorkflow.run, FREEZE_REGISTRY_ID)
        if private is None:
            call = handle.execute_update(FreezeRegistryWorkflow.end_freeze, FreezeEnd(id=freeze_id, by=ender))
        else:
            approval = signed_approval(private, ender, FREEZE_REGISTRY_ID, freeze_id)
            call = handle.execute_update(FreezeRegistryWorkflow.end_freeze_signed, approval)
        return await answer("freeze end", call, not_found="no freeze has been started")

    ended = asyncio.run(go())
    out.print(f"{ended.id} ended by {ended.ended_by}: the operations it held go on")

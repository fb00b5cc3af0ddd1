"""`globalops drill ...`: rehearse recoveries in isolation, on demand or weekly, and keep the reports."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markdown import Markdown
from rich.table import Table
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.service import RPCError

from cli.console import err, out
from cli.errors import fail
from cli.follow import Follow, client_or_fail, start_and_follow, steer
from cli.options import (
    JsonOpt,
    NoteOpt,
    PoliciesOpt,
    ServiceOpt,
    TopologyOpt,
    WaitOpt,
    check_cron,
    duration,
    load,
)
from cli.schedules import (
    MIN_CATCHUP_S,
    TimeZoneOpt,
    check_time_zone,
    register_schedule_commands,
    skip_schedule,
    submit,
)
from config.durations import format_duration
from config.models import Policies, Topology
from config.paths import state_dir
from contracts import search_attributes as sa
from contracts.dr import DrillReport, DrillRequest
from contracts.ids import drill_schedule_id

# Imported by the commands that use them, so `--help` and the other commands do not load every
# workflow and activity module (tests/unit/test_cli_imports.py).
if TYPE_CHECKING:
    from workflows.drill import DrillWorkflow

drill_app = typer.Typer(
    help=(
        "DR drills: rehearse the recovery of regions into their backup regions in an isolated "
        "environment (production untouched, everything removed afterwards), measure RTO and RPO "
        "against the targets, and keep a report.\n\n"
        "Example: globalops drill run --service checkout --region eu-west-1 --wait"
    ),
    no_args_is_help=True,
)
schedule_app = typer.Typer(
    help=(
        "Run drills on a Temporal Schedule (default cron policies.dr.drill.cron: Monday 09:00 UTC).\n\n"
        "Example: globalops drill schedule create --service checkout"
    ),
    no_args_is_help=True,
)
drill_app.add_typer(schedule_app, name="schedule")

RegionsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--region",
        "-r",
        help="Region whose recovery to rehearse; repeat for more"
        " (default: policies.dr.drill.regions, else every primary region).",
    ),
]
IdArg = Annotated[str, typer.Argument(help="Drill workflow id, e.g. drill:checkout:20250602T090000.")]


def drill_json(r: DrillReport) -> dict[str, Any]:
    """The documented `drill run --json` object."""
    return {
        "workflow_id": r.workflow_id,
        "status": r.status,
        "verdict": r.verdict,
        "regions": [
            {
                "region": row.region,
                "target_region": row.target_region,
                "rto_s": row.rto_s,
                "rpo_s": row.rpo_s,
                "met_targets": row.met_targets,
            }
            for row in r.regions
        ],
        "leftover_resources": r.leftover_resources,
    }


def _markdown(r: DrillReport) -> RenderableType:
    return Markdown(r.markdown or f"drill {r.workflow_id}: {r.status}")


def _request(
    topo: Topology, pols: Policies, service: str, regions: list[str] | None, request_id: str
) -> tuple[DrillRequest, list[str]]:
    """The request and the regions it rehearses; a region asked for that has nowhere to go exits 2."""
    from workflows.logic.dr import copy_destination, drill_regions

    names = list(dict.fromkeys(regions or []))
    request = DrillRequest(
        service=service, topology=topo, policies=pols, regions=names, request_id=request_id
    )
    drilled = drill_regions(topo, names, pols.dr.drill.regions, service)
    for name in drilled:
        target, why = copy_destination(topo, service, name)
        if target is None and name in names:
            fail(f"--region: {name} cannot be drilled: {why}")
        if target is None:
            err.print(f"warning: {name} will fail its rehearsal: {why}", highlight=False, soft_wrap=True)
    return request, drilled


@drill_app.command("run")
def run(
    service: ServiceOpt,
    regions: RegionsOpt = None,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a drill now: each region is recovered into its backup region in isolation, then removed.

    Production is probed throughout; if it degrades the drill stops. The verdict is pass only if
    every region recovered within the RTO and RPO targets and nothing was left behind. In a
    freeze window (policies.dr.drill.freeze_windows) the drill records that it skipped.
    Exit codes with --wait: 0 pass or skipped, 1 fail, 2 bad input.

    Example: globalops drill run --service checkout --region eu-west-1 --region us-east-1 --wait
    """
    from cli import launch

    topo, pols = load(topology, policies, service, {"--region": list(regions or [])})
    request, names = _request(topo, pols, service, regions, uuid.uuid4().hex)

    def report(result: DrillReport, as_json: bool) -> None:
        if as_json:
            print(json.dumps(drill_json(result)))
            return
        out.print(_markdown(result))
        if result.verdict == "skipped":
            out.print(f"drill skipped: {result.reason}")

    follow: Follow[DrillWorkflow, DrillReport] = Follow(
        conflict="a drill with this id is already running; try again in a second",
        report=report,
        succeeded=lambda r: r.verdict in ("pass", "skipped"),
        live=_live,
        result=_outcome,
    )
    raise typer.Exit(
        asyncio.run(start_and_follow(launch.drill(request, names), follow, wait=wait, as_json=as_json))
    )


async def _live(_: Client, handle: WorkflowHandle[DrillWorkflow, DrillReport]) -> RenderableType:
    from workflows.drill import DrillWorkflow

    return _markdown(await handle.query(DrillWorkflow.report))


async def _outcome(handle: WorkflowHandle[DrillWorkflow, DrillReport]) -> DrillReport:
    """The drill's report: its result, or (a failed verdict fails the workflow) its last report."""
    from workflows.drill import DrillWorkflow

    try:
        return await handle.result()
    except WorkflowFailureError:
        return await handle.query(DrillWorkflow.report)


@drill_app.command("list")
def list_drills(
    service: ServiceOpt,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many, newest first.")] = 20,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a service's drills (by hand and scheduled) from Temporal visibility, with their verdicts.

    Example: globalops drill list --service checkout --json
    """
    load(topology, policies, service)

    async def go() -> list[dict[str, Any]]:
        client = await client_or_fail()
        query = f'{sa.OPERATION.name} = "drill" AND {sa.SERVICE.name} = "{service}"'
        rows: list[dict[str, Any]] = []
        async for wf in client.list_workflows(query):
            status = wf.typed_search_attributes.get(sa.STATUS)
            rows.append(
                {
                    "workflow_id": wf.id,
                    "status": wf.status.name.lower() if wf.status else None,
                    "verdict": status if status in ("pass", "fail", "skipped") else None,
                    "started_at": wf.start_time.isoformat(),
                    "closed_at": wf.close_time.isoformat() if wf.close_time else None,
                }
            )
            if len(rows) >= limit:
                break
        return rows

    rows = asyncio.run(go())
    if as_json:
        print(json.dumps({"service": service, "drills": rows}))
        return
    table = Table(title=f"drills of {service}", title_justify="left")
    for column in ("workflow id", "status", "verdict", "started (UTC)"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["workflow_id"], r["status"] or "", r["verdict"] or "—", r["started_at"][:19])
    out.print(table)


def sanitized(ident: str) -> str:
    """A file name for a workflow id (drill:checkout:2025… → drill_checkout_2025…)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ident).strip("._") or "drill"


@drill_app.command("report")
def report(
    ident: IdArg,
    as_json: JsonOpt = False,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown-out", help="Also write the Markdown report to this file.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json-out", help="Also write the JSON report to this file.")
    ] = None,
) -> None:
    """Print a drill's report (Markdown, or JSON with --json) and save it.

    A finished drill shows its result, a running one its report so far. The report is always
    saved to $GLOBALOPS_HOME/reports/<id>.md and .json (default home: ./.globalops).

    Example: globalops drill report drill:checkout:20250602T090000 --markdown-out drill.md
    """

    from workflows.drill import DrillWorkflow

    async def go() -> DrillReport:
        client = await client_or_fail()
        handle = client.get_workflow_handle_for(DrillWorkflow.run, ident)
        try:
            desc = await handle.describe()
            if desc.status == WorkflowExecutionStatus.COMPLETED:
                return await handle.result()
            return await handle.query(DrillWorkflow.report)  # running, or failed with a fail verdict
        except RPCError as exc:
            fail(f"no drill '{ident}': {exc.message} (see `globalops drill list`)")

    r = asyncio.run(go())
    text_json = json.dumps(r.model_dump(mode="json"), indent=2)
    folder = state_dir() / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    targets = [
        (folder / f"{sanitized(ident)}.md", r.markdown),
        (folder / f"{sanitized(ident)}.json", text_json),
    ]
    targets += [(markdown_out, r.markdown)] if markdown_out else []
    targets += [(json_out, text_json)] if json_out else []
    for path, text in targets:
        try:
            path.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {path}: {exc.strerror or exc}", code=1)
    print(text_json if as_json else r.markdown)
    err.print("saved: " + ", ".join(str(p) for p, _ in targets), highlight=False)


@drill_app.command("abort")
def abort(
    ident: IdArg,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded in the report).")
    ] = "aborted by operator",
) -> None:
    """Stop a running drill now; everything it created is removed and the verdict is fail.

    Example: globalops drill abort drill:checkout:20250602T090000 --reason "incident in eu-west-1"
    """

    from workflows.drill import DrillWorkflow

    async def go() -> str:
        client = await client_or_fail()
        handle = client.get_workflow_handle_for(DrillWorkflow.run, ident)
        return await steer("abort", handle.execute_update(DrillWorkflow.abort, reason))

    out.print(f"{ident}: {asyncio.run(go())}")


@schedule_app.command("create")
def schedule_create(
    service: ServiceOpt,
    cron: Annotated[
        str | None,
        typer.Option(
            "--cron", help="5-field cron, UTC, e.g. '0 9 * * MON' (default: policies.dr.drill.cron)."
        ),
    ] = None,
    regions: RegionsOpt = None,
    catchup_window: Annotated[
        str | None,
        typer.Option(
            "--catchup-window",
            help="A drill missed while the server was down still runs if at most this late"
            " (default: policies.dr.drill.catchup_window; at least 10s).",
        ),
    ] = None,
    pause_on_failure: Annotated[
        bool | None,
        typer.Option(
            "--pause-on-failure/--no-pause-on-failure",
            help="Pause the schedule when a drill workflow fails"
            " (default: policies.dr.drill.pause_on_failure).",
        ),
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused (unpause to start).")] = False,
    time_zone: TimeZoneOpt = None,
    note: NoteOpt = None,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
) -> None:
    """Create the drill schedule of a service (id drill:SERVICE): cron in --time-zone (UTC), SKIP overlap.

    A drill still running when the next is due makes that one skip; missed drills are caught up
    only within the catch-up window. Runs get ids drill:SERVICE-<scheduled time>.
    Exits 2 if the schedule already exists or the cron is not valid.

    Example: globalops drill schedule create --service checkout --cron "0 9 * * MON" --region eu-west-1
    """
    from cli import launch

    topo, pols = load(topology, policies, service, {"--region": list(regions or [])})
    policy = pols.dr.drill
    expr = check_cron("--cron", cron if cron is not None else policy.cron)
    tz = check_time_zone("--time-zone", time_zone)
    window = duration("--catchup-window", catchup_window, policy.catchup_window, minimum=MIN_CATCHUP_S)
    pause = policy.pause_on_failure if pause_on_failure is None else pause_on_failure
    request, names = _request(topo, pols, service, regions, "")
    sid = drill_schedule_id(service)
    schedule = skip_schedule(
        launch.drill(request, names).schedule_action(sid),
        cron=expr,
        time_zone=tz,
        catchup_s=window,
        pause_on_failure=pause,
        paused=paused,
        note=note,
    )
    submit(sid, schedule, "--cron", {"cron": expr})
    out.print(
        f"created schedule [bold]{sid}[/]: cron '{expr}' ({tz or 'UTC'}), regions {', '.join(names)},"
        f" catch-up {format_duration(window)}, overlap SKIP"
        + (", pauses on failure" if pause else "")
        + (" (paused)" if paused else "")
    )


register_schedule_commands(schedule_app, "drill", drill_schedule_id)

"""`globalops backup ...`: snapshot regions now or on a schedule, and list the snapshots kept."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.table import Table
from temporalio.client import (
    WorkflowHandle,
)

from cli.console import out
from cli.errors import fail
from cli.follow import Follow, client_or_fail, start_and_follow
from cli.options import (
    JsonOpt,
    NoteOpt,
    PoliciesOpt,
    RegionsOpt,
    ServiceOpt,
    TopologyOpt,
    WaitOpt,
    duration,
    load,
)
from cli.render import web_ui_url
from cli.schedules import (
    MIN_CATCHUP_S,
    TimeZoneOpt,
    check_time_zone,
    register_schedule_commands,
    skip_schedule,
    submit,
    utc,
)
from config.durations import format_duration
from config.models import Policies, Topology
from config.paths import default_topology_path
from contracts.dr import BackupReport, BackupRequest
from contracts.ids import backup_id, backup_schedule_id
from contracts.inspect import SnapshotInventory

# Imported by the commands that use them, so `--help` and the other commands do not load every
# workflow and activity module (tests/unit/test_cli_imports.py).
if TYPE_CHECKING:
    from workflows.backup import BackupWorkflow

backup_app = typer.Typer(
    help=(
        "Snapshot every region's data and copy each snapshot to a region its data may live in "
        "(its backup region, within its data-residency group); prune by the retention policy.\n\n"
        "Example: globalops backup run --service checkout --wait"
    ),
    no_args_is_help=True,
)
schedule_app = typer.Typer(
    help=(
        "Run backups on a Temporal Schedule (default every policies.dr.backup.interval, 6h).\n\n"
        "Example: globalops backup schedule create --service checkout --every 6h"
    ),
    no_args_is_help=True,
)
backup_app.add_typer(schedule_app, name="schedule")


def check_keys(topo: Topology, pols: Policies, service: str, names: list[str], path: Path | None) -> None:
    """Exit 2 naming the topology file and the first region that would store a backup without the
    key the policy requires (fail closed: nothing of it would be stored)."""
    from workflows.logic.dr import backup_key_problem

    required = pols.dr.backup.require_encryption
    problem = backup_key_problem(topo, service, names or topo.region_names(), required)
    if problem:
        fail(f"{path or default_topology_path()}: {problem}")


def backup_table(r: BackupReport) -> Table:
    """Per region: snapshot, where its copy went, what was pruned, and why (the note)."""
    table = Table(
        title=f"backup {r.service} \\[{r.status}] taken {utc(r.taken_at)} UTC", title_justify="left"
    )
    for column in ("region", "snapshot", "copy region", "copy id", "pruned", "note"):
        table.add_column(column)
    for row in r.regions:
        table.add_row(
            row.region,
            row.snapshot_id or "—",
            row.copy_region or "—",
            row.copy_id or "—",
            str(len(row.pruned)),
            row.note if row.ok else f"[red]{row.note}[/]",
        )
    return table


@backup_app.command("run")
def run(
    service: ServiceOpt,
    regions: RegionsOpt = None,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Back up a service now: snapshot each region, copy it within its jurisdiction group, prune.

    One backup of a service runs at a time (workflow id backup:SERVICE). A region whose data may
    not leave it (no other region in its data-residency group) keeps its snapshot locally; the
    note says so. Exit codes with --wait: 0 every region backed up, 1 otherwise, 2 bad input.

    Example: globalops backup run --service checkout --region eu-west-1 --wait
    """
    from cli import launch

    topo, pols = load(topology, policies, service, {"--region": list(regions or [])})
    names = list(dict.fromkeys(regions or []))
    check_keys(topo, pols, service, names, topology)
    request = BackupRequest(
        service=service, topology=topo, policies=pols, regions=names, request_id=uuid.uuid4().hex
    )

    def report(result: BackupReport, as_json: bool) -> None:
        if as_json:
            print(
                json.dumps({**result.model_dump(mode="json"), "web_ui_url": web_ui_url(result.workflow_id)})
            )
            return
        out.print(backup_table(result))
        if result.reason:
            out.print(f"[red]{result.reason}[/]")

    follow: Follow[BackupWorkflow, BackupReport] = Follow(
        conflict=f"a backup of {service} is already running",
        report=report,
        succeeded=lambda r: r.status == "succeeded",
        live=lambda _, handle: _backup_frame(handle),
    )
    raise typer.Exit(
        asyncio.run(start_and_follow(launch.backup(request), follow, wait=wait, as_json=as_json))
    )


async def _backup_frame(handle: WorkflowHandle[BackupWorkflow, BackupReport]) -> RenderableType:
    from workflows.backup import BackupWorkflow

    return backup_table(await handle.query(BackupWorkflow.report))


@backup_app.command("list")
def list_snapshots(
    service: ServiceOpt,
    regions: RegionsOpt = None,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the snapshots stored in each region (originals and copies), newest first.

    Read-only, through each region's cloud adapter, in topology order (by wave, then file order):
    a region whose provider cannot be reached shows its error instead. A copy names the region
    whose data it holds (source); `encrypted` is what the provider reports (--json: the key).

    Example: globalops backup list --service checkout --region eu-central-1 --json
    """
    from cli import launch

    topo, _ = load(topology, policies, service, {"--region": list(regions or [])})

    async def go() -> SnapshotInventory:
        return await launch.read_snapshots(
            await client_or_fail(), service, topo, list(dict.fromkeys(regions or []))
        )

    inventory = asyncio.run(go())
    rank = {name: i for i, name in enumerate(topo.ordered_region_names())}
    rows: list[dict[str, Any]] = []
    for region in sorted(inventory.regions, key=lambda r: rank.get(r.region, len(rank))):
        row: dict[str, Any] = {
            "region": region.region,
            "snapshots": [s.model_dump(mode="json") for s in region.snapshots],
        }
        if region.error is not None:
            row["error"] = region.error
        rows.append(row)
    if as_json:
        print(json.dumps({"service": service, "regions": rows}))
        return
    table = Table(title=f"snapshots of {service}", title_justify="left")
    for column in ("stored in", "snapshot", "source", "taken at (UTC)", "copy of", "encrypted"):
        table.add_column(column)
    for row in rows:
        if "error" in row:
            table.add_row(row["region"], f"[red]{row['error']}[/]", "", "", "", "")
        elif not row["snapshots"]:
            table.add_row(row["region"], "—", "", "", "", "")
        for s in row["snapshots"]:
            table.add_row(
                row["region"],
                s["id"],
                s["source_region"],
                s["taken_at"][:19],
                s["copy_of"] or "",
                "yes" if s["encrypted"] else "[red]no[/]",
            )
    out.print(table)


@schedule_app.command("create")
def schedule_create(
    service: ServiceOpt,
    every: Annotated[
        str | None,
        typer.Option("--every", help="Time between backups, e.g. 6h (default: policies.dr.backup.interval)."),
    ] = None,
    catchup_window: Annotated[
        str | None,
        typer.Option(
            "--catchup-window",
            help="A backup missed while the server was down still runs if at most this late"
            " (default: policies.dr.backup.catchup_window; at least 10s).",
        ),
    ] = None,
    regions: RegionsOpt = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused (unpause to start).")] = False,
    time_zone: TimeZoneOpt = None,
    note: NoteOpt = None,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
) -> None:
    """Create the backup schedule of a service (id backup:SERVICE): every interval, SKIP overlap.

    A backup still running when the next is due makes that one skip; missed backups are caught
    up only within the catch-up window. Exits 2 if the schedule already exists.

    Example: globalops backup schedule create --service checkout --every 6h --catchup-window 1h
    """
    from cli import launch

    topo, pols = load(topology, policies, service, {"--region": list(regions or [])})
    interval = duration("--every", every, pols.dr.backup.interval, minimum=1.0)
    tz = check_time_zone("--time-zone", time_zone)
    window = duration(
        "--catchup-window", catchup_window, pols.dr.backup.catchup_window, minimum=MIN_CATCHUP_S
    )
    names = list(dict.fromkeys(regions or []))
    check_keys(topo, pols, service, names, topology)
    sid = backup_schedule_id(service)
    request = BackupRequest(service=service, topology=topo, policies=pols, regions=names, request_id="")
    schedule = skip_schedule(
        launch.backup(request).schedule_action(backup_id(service)),
        every_s=interval,
        time_zone=tz,
        catchup_s=window,
        paused=paused,
        note=note,
    )
    submit(sid, schedule, "--every", {"every_s": interval})
    out.print(
        f"created schedule [bold]{sid}[/]: every {format_duration(interval)}, catch-up"
        f" {format_duration(window)}, overlap SKIP" + (" (paused)" if paused else "")
    )


register_schedule_commands(schedule_app, "backup", backup_schedule_id)

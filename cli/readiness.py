"""`globalops readiness`: can each region of a service fail over and be recovered today, and why not.

The workers read every region (the CLI never calls a cloud); the evaluation also runs hourly on a
Temporal Schedule (`readiness schedule create`), which publishes it and notifies on changes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table
from temporalio.client import (
    WorkflowFailureError,
)

from cli import launch
from cli.console import out
from cli.errors import fail
from cli.follow import client_or_fail
from cli.options import JsonOpt, NoteOpt, PoliciesOpt, TopologyOpt, duration, load
from cli.schedules import MIN_CATCHUP_S, register_schedule_commands, skip_schedule, submit
from config.durations import format_duration
from contracts.ids import readiness_schedule_id
from contracts.readiness import ReadinessReport, ReadinessRequest

readiness_app = typer.Typer(
    help=(
        "Standing readiness: for every region of a service, is there a failover target allowed by data"
        " residency, with capacity, quota and replica lag in bounds; how old is the newest snapshot"
        " against the RPO; is there an encrypted copy in an allowed region; when did the last failover"
        " practice and DR drill pass. Each region is ready or not_ready with every reason.\n\n"
        "Example: globalops readiness --service checkout --json"
    ),
    invoke_without_command=True,
)
schedule_app = typer.Typer(
    help=(
        "Re-evaluate readiness on a Temporal Schedule (default every policies.readiness.interval: 1h);"
        " each run publishes GlobalopsNotReady and notifies `standing_readiness_changed`.\n\n"
        "Example: globalops readiness schedule create --service checkout --every 1h"
    ),
    no_args_is_help=True,
)
readiness_app.add_typer(schedule_app, name="schedule")

OptionalServiceOpt = Annotated[
    str | None, typer.Option("--service", "-s", help="Service, as named in the topology.")
]


def readiness_json(r: ReadinessReport) -> dict[str, Any]:
    """The documented `readiness --json` object."""
    return {
        "service": r.service,
        "workflow_id": r.workflow_id,
        "evaluated_at": r.evaluated_at.isoformat() if r.evaluated_at else None,
        "state": r.state,
        "not_ready": r.not_ready,
        "regions": [
            {
                "region": x.region,
                "provider": x.provider,
                "jurisdiction": x.jurisdiction,
                "state": x.state,
                "reasons": x.reasons,
                "target": x.target,
                "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in x.checks},
                "newest_snapshot_age_s": x.newest_snapshot_age_s,
                "encrypted_copy_region": x.encrypted_copy_region,
                "target_replica_lag_s": x.target_replica_lag_s,
                "last_practice": x.last_practice.isoformat() if x.last_practice else None,
                "last_drill": x.last_drill.isoformat() if x.last_drill else None,
            }
            for x in r.regions
        ],
        "previous_workflow_id": r.previous_workflow_id,
        "changes": [c.model_dump(mode="json") for c in r.changes],
    }


def _print(r: ReadinessReport) -> None:
    table = Table(title=f"readiness of {r.service}", title_justify="left", show_lines=True)
    for column in ("region", "state", "target", "snapshot", "reasons"):
        table.add_column(column)
    for x in r.regions:
        age = "—" if x.newest_snapshot_age_s is None else format_duration(round(x.newest_snapshot_age_s))
        state = "[green]ready[/]" if x.state == "ready" else "[red]not ready[/]"
        table.add_row(x.region, state, x.target or "—", age, "\n".join(f"• {why}" for why in x.reasons))
    out.print(table)
    out.print(f"{len(r.not_ready)} of {len(r.regions)} regions not ready · {r.workflow_id}", highlight=False)


@readiness_app.callback()
def readiness(
    ctx: typer.Context,
    service: OptionalServiceOpt = None,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a service's readiness now, region by region (read-only; exit 0 once evaluated, 1 if the
    evaluation itself failed).

    Policy `readiness` (docs/readiness.md) says how recent a passed practice and drill must be.

    Example: globalops readiness --service checkout
    """
    if ctx.invoked_subcommand is not None:
        return
    if service is None:
        fail("--service: required, e.g. globalops readiness --service checkout")
    topo, pols = load(topology, policies, service)
    request = ReadinessRequest(
        service=service, topology=topo, policies=pols, request_id=launch.new_request_id()
    )

    async def go() -> ReadinessReport:
        client = await client_or_fail()
        handle = await launch.start(client, launch.readiness(request))
        try:
            return await handle.result()
        except WorkflowFailureError as exc:
            fail(f"the readiness evaluation {handle.id} failed: {exc.cause or exc}", code=1)

    report = asyncio.run(go())
    if as_json:
        print(json.dumps(readiness_json(report)))
        return
    _print(report)


@schedule_app.command("create")
def schedule_create(
    service: Annotated[str, typer.Option("--service", "-s", help="Service, as named in the topology.")],
    every: Annotated[
        str | None,
        typer.Option(
            "--every", help="Time between evaluations, e.g. 1h (default: policies.readiness.interval)."
        ),
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused (unpause to start).")] = False,
    note: NoteOpt = None,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
) -> None:
    """Create the readiness schedule of a service (id readiness:SERVICE): every interval, SKIP overlap.

    An evaluation missed while the server was down runs if at most one interval late. Each run
    compares itself with the previous one and notifies `standing_readiness_changed` for each region whose
    state changed. Exits 2 if the schedule already exists.

    Example: globalops readiness schedule create --service checkout --every 1h
    """
    topo, pols = load(topology, policies, service)
    interval = duration("--every", every, pols.readiness.interval, minimum=1.0)
    sid = readiness_schedule_id(service)
    request = ReadinessRequest(service=service, topology=topo, policies=pols, requested_by="schedule")
    schedule = skip_schedule(
        launch.readiness(request, sid).schedule_action(sid),
        every_s=interval,
        catchup_s=max(interval, MIN_CATCHUP_S),
        paused=paused,
        note=note,
    )
    submit(sid, schedule, "--every", {"every_s": interval})
    out.print(
        f"created schedule [bold]{sid}[/]: every {format_duration(interval)}, overlap SKIP"
        + (" (paused)" if paused else "")
    )


register_schedule_commands(schedule_app, "readiness", readiness_schedule_id)

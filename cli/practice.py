"""`globalops practice ...`: fail a healthy region over for real, hold, fail back; by hand or weekly."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
)

from cli import launch
from cli.console import out
from cli.errors import fail
from cli.follow import Follow, client_or_fail, start_and_follow, steer
from cli.options import (
    JsonOpt,
    NoteOpt,
    PoliciesOpt,
    ReasonOpt,
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
from contracts.ids import practice_schedule_id, practice_scheduled_id
from contracts.practice import PracticeReport, PracticeRequest
from workflows.practice import FailoverPracticeWorkflow

practice_app = typer.Typer(
    help=(
        "Failover practice: shift a healthy region's traffic to the region a failover would choose"
        " (the real failover path: pre-scale, lag check, shift, validate), hold it while watching the"
        " target's health, the outcome alarms and freezes, then fail back step by step. Verdict pass,"
        " fail or aborted; skipped in a freeze or a blocked change window.\n\n"
        "Example: globalops practice run --service checkout --region eu-west-1 --duration 10m --wait"
    ),
    no_args_is_help=True,
)
schedule_app = typer.Typer(
    help=(
        "Run practices on a Temporal Schedule (default cron policies.practice.cron: weekly, Tuesday"
        " 10:00), one region per week in turn.\n\n"
        "Example: globalops practice schedule create --service checkout"
    ),
    no_args_is_help=True,
)
practice_app.add_typer(schedule_app, name="schedule")

DurationOpt = Annotated[
    str | None,
    typer.Option(
        "--duration",
        help="How long traffic stays on the target, e.g. 10m (default: policies.practice.duration).",
    ),
]
IdArg = Annotated[
    str, typer.Argument(help="Practice workflow id, e.g. practice:checkout:eu-west-1:20260602T100000.")
]


def practice_json(r: PracticeReport) -> dict[str, Any]:
    """The documented `practice run --json` object."""
    return {
        "workflow_id": r.workflow_id,
        "service": r.service,
        "region": r.region,
        "target": r.target,
        "scheduled": r.scheduled,
        "verdict": r.verdict,
        "reason": r.reason,
        "timings": r.timings,
        "weights_before": r.weights_before,
        "weights_after": r.weights_after,
        "failover_status": r.failover_status,
        "failback_status": r.failback_status,
        "checks": r.checks,
    }


def _render(r: PracticeReport) -> RenderableType:
    table = Table(
        title=f"practice {r.service}: {r.region} → {r.target or '?'} · {r.verdict}", title_justify="left"
    )
    for column in ("region", "weight before", "weight after"):
        table.add_column(column)
    for region in sorted(set(r.weights_before) | set(r.weights_after)):
        before, after = r.weights_before.get(region), r.weights_after.get(region)
        table.add_row(
            region, "—" if before is None else f"{before:.2%}", "—" if after is None else f"{after:.2%}"
        )
    return table


def _request(
    topo: Topology,
    pols: Policies,
    service: str,
    region: str | None,
    regions: list[str],
    held: float,
    *,
    scheduled: bool,
) -> PracticeRequest:
    return PracticeRequest(
        service=service,
        region=region,
        regions=regions,
        duration_s=held,
        topology=topo,
        policies=pols,
        request_id=uuid.uuid4().hex[:12],
        scheduled=scheduled,
    )


@practice_app.command("run")
def run(
    service: ServiceOpt,
    region: Annotated[str, typer.Option("--region", "-r", help="The region whose traffic is shifted away.")],
    held: DurationOpt = None,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Practice one region's failover now: shift, hold for --duration while watching, fail back.

    It really moves production traffic (that is the point): the region's share goes to the target the
    failover logic chooses, which is pre-scaled first. It ends early, and traffic comes back at once,
    when the target degrades, an outcome alarm fires, a freeze starts or `practice abort` is sent.
    Exit codes with --wait: 0 pass or skipped, 1 fail or aborted, 2 bad input.

    Example: globalops practice run --service checkout --region eu-west-1 --duration 10m --wait --json
    """
    topo, pols = load(topology, policies, service, {"--region": [region]})
    seconds = duration("--duration", held, pols.practice.duration)
    request = _request(topo, pols, service, region, [], seconds, scheduled=False)

    def report(result: PracticeReport, as_json: bool) -> None:
        if as_json:
            print(json.dumps(practice_json(result)))
            return
        out.print(_render(result))
        timings = ", ".join(f"{k} {format_duration(v)}" for k, v in result.timings.items())
        out.print(f"verdict: {result.verdict}" + (f" ({result.reason})" if result.reason else ""))
        if timings:
            out.print(f"timings: {timings}")

    follow: Follow[FailoverPracticeWorkflow, PracticeReport] = Follow(
        conflict="a practice with this id is already running; try again in a second",
        report=report,
        succeeded=lambda r: r.verdict in ("pass", "skipped"),
        live=_live,
        result=_outcome,
    )
    raise typer.Exit(
        asyncio.run(start_and_follow(launch.practice(request), follow, wait=wait, as_json=as_json))
    )


async def _live(
    _: Client, handle: WorkflowHandle[FailoverPracticeWorkflow, PracticeReport]
) -> RenderableType:
    r = await handle.query(FailoverPracticeWorkflow.report)
    return Text(f"practice {r.service}: {r.region} → {r.target or '?'} · {r.phase}")


async def _outcome(handle: WorkflowHandle[FailoverPracticeWorkflow, PracticeReport]) -> PracticeReport:
    """The report: the result, or (a failed practice fails the workflow) its last report."""
    try:
        return await handle.result()
    except WorkflowFailureError:
        return await handle.query(FailoverPracticeWorkflow.report)


@practice_app.command("abort")
def abort(ident: IdArg, reason: ReasonOpt = "aborted by operator") -> None:
    """End a running practice now: traffic goes back to the region (verdict aborted).

    Example: globalops practice abort practice:checkout:eu-west-1:20260602T100000 --reason "incident"
    """

    async def go() -> str:
        client = await client_or_fail()
        handle = client.get_workflow_handle_for(FailoverPracticeWorkflow.run, ident)
        return await steer("abort", handle.execute_update(FailoverPracticeWorkflow.abort, reason))

    out.print(f"{ident}: {asyncio.run(go())}")


@schedule_app.command("create")
def schedule_create(
    service: ServiceOpt,
    cron: Annotated[
        str | None,
        typer.Option(
            "--cron",
            help="5-field cron in --time-zone, e.g. '0 10 * * TUE' (default: policies.practice.cron).",
        ),
    ] = None,
    time_zone: TimeZoneOpt = None,
    regions: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            "-r",
            help="Region to practice; repeat for a rotation, one per week"
            " (default: policies.practice.regions, else every region).",
        ),
    ] = None,
    held: DurationOpt = None,
    catchup_window: Annotated[
        str | None,
        typer.Option(
            "--catchup-window",
            help="A practice missed while the server was down still runs if at most this late"
            " (default: policies.practice.catchup_window; at least 10s).",
        ),
    ] = None,
    pause_on_failure: Annotated[
        bool | None,
        typer.Option(
            "--pause-on-failure/--no-pause-on-failure",
            help="Pause the schedule when a practice fails (default: policies.practice.pause_on_failure).",
        ),
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused (unpause to start).")] = False,
    note: NoteOpt = None,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
) -> None:
    """Create the practice schedule of a service (id practice:SERVICE): SKIP overlap, bounded catch-up.

    Each run practices the region whose turn it is this week. A run that falls in a freeze or a
    blocked change window of its region records verdict skipped and moves nothing. Runs get ids
    practice:SERVICE:REGION-<scheduled time> (REGION `rotation` for more than one region).
    Exits 2 if the schedule already exists or an option is not valid.

    Example: globalops practice schedule create --service checkout --time-zone Europe/Berlin
    """
    topo, pols = load(topology, policies, service, {"--region": list(regions or [])})
    policy = pols.practice
    for name in policy.regions:
        if name not in topo.region_names():
            fail(f"policies practice.regions: '{name}' is not a region of the topology")
    expr = check_cron("--cron", cron if cron is not None else policy.cron)
    tz = check_time_zone("--time-zone", time_zone) or policy.time_zone
    seconds = duration("--duration", held, policy.duration)
    window = duration("--catchup-window", catchup_window, policy.catchup_window, minimum=MIN_CATCHUP_S)
    pause = policy.pause_on_failure if pause_on_failure is None else pause_on_failure
    rotation = list(dict.fromkeys(regions or [])) or policy.regions or topo.region_names()
    region = rotation[0] if len(rotation) == 1 else None
    request = _request(topo, pols, service, region, rotation, seconds, scheduled=True)
    sid = practice_schedule_id(service)
    schedule = skip_schedule(
        launch.practice(request).schedule_action(practice_scheduled_id(service, region)),
        cron=expr,
        time_zone=tz,
        catchup_s=window,
        pause_on_failure=pause,
        paused=paused,
        note=note,
    )
    submit(sid, schedule, "--cron", {"cron": expr})
    out.print(
        f"created schedule [bold]{sid}[/]: cron '{expr}' ({tz}), regions {', '.join(rotation)},"
        f" hold {format_duration(seconds)}, catch-up {format_duration(window)}, overlap SKIP"
        + (", pauses on failure" if pause else "")
        + (" (paused)" if paused else "")
    )


register_schedule_commands(schedule_app, "practice", practice_schedule_id)

"""`globalops monitor|health|failover|failback`: watch regions, move traffic away, and bring it back."""

from __future__ import annotations

import asyncio
import getpass
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from cli.console import out
from cli.errors import fail
from cli.follow import Follow, client_or_fail, start_and_follow, steer
from cli.keys import ByOpt, KeyOpt, signed_approval, signing_key
from cli.options import JsonOpt, PoliciesOpt, ReasonOpt, ServiceOpt, TopologyOpt, WaitOpt, load
from cli.render import web_ui_url
from contracts.failover import (
    FailbackReport,
    FailbackRequest,
    FailoverReport,
    FailoverRequest,
    MonitorInput,
    MonitorStatus,
)
from contracts.ids import failover_id, monitor_id

# The workflows (and cli.launch, which imports them all) are imported by the commands that use them,
# so `--help` and the other commands do not pay for every workflow and activity module.
if TYPE_CHECKING:
    from workflows.failback import FailbackWorkflow
    from workflows.failover import RegionFailoverWorkflow

monitor_app = typer.Typer(
    help="Watch every region's health and fail over automatically.", no_args_is_help=True
)
failover_app = typer.Typer(
    help="Move a failed region's traffic to a safe backup region.", no_args_is_help=True
)
failback_app = typer.Typer(help="Return traffic to a recovered region, step by step.", no_args_is_help=True)
FailoverIdArg = Annotated[str, typer.Argument(help="failover:SERVICE:REGION")]


# ----- monitor ------------------------------------------------------------------------------------


@monitor_app.command("start")
def monitor_start(service: ServiceOpt, topology: TopologyOpt = None, policies: PoliciesOpt = None) -> None:
    """Start the long-running monitor: probes every region, fails over on its triggers."""
    from cli import launch
    from cli.launch import AlreadyRunning

    topo, pols = load(topology, policies, service)

    async def go() -> None:
        client = await client_or_fail()
        try:
            await launch.start(
                client,
                launch.monitor(
                    MonitorInput(
                        service=service, topology=topo, policies=pols, requested_by=getpass.getuser()
                    )
                ),
            )
        except AlreadyRunning:
            fail(f"the monitor of '{service}' is already running ({monitor_id(service)})")
        out.print(f"monitoring {service}: {web_ui_url(monitor_id(service))}")

    asyncio.run(go())


@monitor_app.command("stop")
def monitor_stop(service: ServiceOpt) -> None:
    """Stop the monitor after its current probe round."""
    from workflows.monitor import RegionHealthMonitorWorkflow

    async def go() -> str:
        client = await client_or_fail()
        handle = client.get_workflow_handle_for(RegionHealthMonitorWorkflow.run, monitor_id(service))
        return await steer(
            "stop",
            handle.execute_update(RegionHealthMonitorWorkflow.stop),
            not_found=f"no running monitor of '{service}'",
        )

    out.print(asyncio.run(go()))


async def _monitor_status(client: Client, service: str) -> MonitorStatus | None:
    from workflows.monitor import RegionHealthMonitorWorkflow

    handle = client.get_workflow_handle_for(RegionHealthMonitorWorkflow.run, monitor_id(service))
    try:
        desc = await handle.describe()
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return None
        status = await handle.query(RegionHealthMonitorWorkflow.status)
    except RPCError:
        return None
    return await with_watch_heartbeat(client, desc, status)


async def with_watch_heartbeat(
    client: Client, desc: WorkflowExecutionDescription, status: MonitorStatus
) -> MonitorStatus:
    """The monitor's status with its running watch's last heartbeat folded in (probes, last samples).

    In watch mode the workflow hears of probe rounds only when a watch returns (a trigger, a change, the
    end of its window); the watch's heartbeat, at most one heartbeat interval old, is fresher.
    """
    from contracts.watch import WatchState

    for pending in desc.raw_description.pending_activities:
        if pending.activity_type.name != "watch_regions" or not pending.heartbeat_details.payloads:
            continue
        decoded = await client.data_converter.decode(pending.heartbeat_details.payloads, [WatchState])
        beat = decoded[0]
        if not isinstance(beat, WatchState):
            continue
        status.probes = max(status.probes, beat.probes)
        for region, sample in beat.last.items():
            known = status.last.get(region)
            if known is None or sample.at > known.at:
                status.last[region] = sample
    return status


@monitor_app.command("status")
def monitor_status(service: ServiceOpt, as_json: JsonOpt = False) -> None:
    """The monitor's last probes, triggers and failovers."""

    async def go() -> MonitorStatus | None:
        return await _monitor_status(await client_or_fail(), service)

    status = asyncio.run(go())
    if status is None:
        fail(f"the monitor of '{service}' is not running (start it with `globalops monitor start`)", code=1)
    if as_json:
        print(status.model_dump_json())
        return
    out.print(
        f"monitor {service}: run {status.runs}, {status.probes} probe rounds, history {status.history_length}"
    )
    running = {r: w for r, w in status.active.items() if r not in status.done}
    out.print(f"running failovers: {running or 'none'}; finished: {status.done or 'none'}")
    out.print(f"triggered, waiting (manual approval or a free slot): {list(status.pending) or 'none'}")


def health(
    service: ServiceOpt, topology: TopologyOpt = None, policies: PoliciesOpt = None, as_json: JsonOpt = False
) -> None:
    """Per region: status, traffic share, error rate, p99 and the monitor's last probe.

    Read by the workers through each region's own provider (the same probe the monitor runs), in
    topology order (by wave, then file order). A region that cannot be read is unhealthy, and one
    whose metrics did not arrive is `blind`: never healthy, its numbers unknown (null in --json,
    never 0).
    """
    from cli import launch

    topo, _ = load(topology, policies, service)

    async def go() -> list[dict[str, Any]]:
        client = await client_or_fail()
        report, status = await asyncio.gather(
            launch.read_health(client, service, topo), _monitor_status(client, service)
        )
        rank = {name: i for i, name in enumerate(topo.ordered_region_names())}
        rows = []
        for r in sorted(report.regions, key=lambda r: rank.get(r.region, len(rank))):
            probe = status.last.get(r.region) if status else None
            rows.append(
                {
                    "region": r.region,
                    "provider": r.provider,
                    "status": "blind" if r.blind else ("healthy" if r.ok else "unhealthy"),
                    "source": r.source or None,
                    "traffic": r.traffic,
                    "error_rate": r.error_rate,
                    "latency_ms": r.latency_p99_ms,
                    "healthy_instances": r.healthy_instances,
                    "last_probe": probe.at.isoformat() if probe else None,
                    "detail": r.detail,
                }
            )
        return rows

    regions = asyncio.run(go())
    if as_json:
        print(json.dumps({"service": service, "regions": regions}))
        return
    table = Table(title=f"health of {service}")
    for column in (
        "region",
        "provider",
        "source",
        "status",
        "traffic",
        "error rate",
        "p99 ms",
        "last probe",
        "detail",
    ):
        table.add_column(column)
    for r in regions:
        table.add_row(
            r["region"],
            r["provider"],
            r["source"] or "—",
            r["status"],
            _or_dash(r["traffic"], "{:.1%}"),
            _or_dash(r["error_rate"], "{:.2%}"),
            _or_dash(r["latency_ms"], "{:.0f}"),
            r["last_probe"] or "(monitor not running)",
            r["detail"],
        )
    out.print(table)


def _or_dash(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


# ----- failover -----------------------------------------------------------------------------------


def failover_json(r: FailoverReport) -> dict[str, Any]:
    """The documented `--json` object of a failover."""
    return {
        "workflow_id": r.workflow_id,
        "status": r.status,
        "service": r.service,
        "from_region": r.from_region,
        "to_region": r.to_region,
        "timings": r.timings,
        "targets_met": r.targets_met,
        "traffic_layer": r.traffic_layer,
        "traffic_shift_visible_after": (
            r.traffic_shift_visible_after.isoformat() if r.traffic_shift_visible_after else None
        ),
        "rejected_candidates": [c.model_dump() for c in r.rejected_candidates],
        "reason": r.reason,
        "steps": r.steps,
        "web_ui_url": web_ui_url(r.workflow_id),
    }


def _print_failover(r: FailoverReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(failover_json(r)))
        return
    out.print(f"{r.workflow_id}: {r.status}" + (f" — {r.reason}" if r.reason else ""))
    if r.to_region:
        out.print(
            f"{r.from_region} → {r.to_region}; " + ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items())
        )
    for c in r.rejected_candidates:
        out.print(f"  rejected {c.region}: {c.reason}")


def _failover_frame(r: FailoverReport) -> RenderableType:
    return Text(f"failover {r.service}: {r.from_region} → {r.to_region or '?'} [{r.status}] {r.phase}")


async def _failover_live(
    _: Client, handle: WorkflowHandle[RegionFailoverWorkflow, FailoverReport]
) -> RenderableType:
    from workflows.failover import RegionFailoverWorkflow

    return _failover_frame(await handle.query(RegionFailoverWorkflow.report))


@failover_app.command("start")
def failover_start(
    service: ServiceOpt,
    from_region: Annotated[str, typer.Option("--from", help="The failed region to move traffic away from.")],
    to_region: Annotated[
        str | None, typer.Option("--to", help="Target region (default: the best safe one, chosen for you).")
    ] = None,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fail a region over by hand. Refuses, changing nothing, when no target is safe."""
    from cli import launch

    topo, pols = load(topology, policies, service, {"--from": [from_region], "--to": [to_region]})
    request = FailoverRequest(
        service=service,
        from_region=from_region,
        to_region=to_region,
        topology=topo,
        policies=pols,
        request_id=launch.new_request_id(),
    )
    follow: Follow[RegionFailoverWorkflow, FailoverReport] = Follow(
        conflict=f"a failover of '{service}' from {from_region} is already running",
        report=_print_failover,
        succeeded=lambda r: r.status == "succeeded",
        live=_failover_live,
    )
    raise typer.Exit(
        asyncio.run(start_and_follow(launch.failover(request), follow, wait=wait, as_json=as_json))
    )


@failover_app.command("status")
def failover_status(ident: FailoverIdArg, as_json: JsonOpt = False) -> None:
    """A failover's state, timings and rejected candidates."""
    from workflows.failover import RegionFailoverWorkflow

    async def go() -> FailoverReport:
        client = await client_or_fail()
        handle = client.get_workflow_handle_for(RegionFailoverWorkflow.run, ident)
        try:
            desc = await handle.describe()
            if desc.status == WorkflowExecutionStatus.COMPLETED:
                return await handle.result()
            return await handle.query(RegionFailoverWorkflow.report)
        except RPCError as exc:
            fail(f"no failover '{ident}': {exc.message}")

    _print_failover(asyncio.run(go()), as_json)


@failover_app.command("abort")
def failover_abort(ident: FailoverIdArg, reason: ReasonOpt = "aborted by operator") -> None:
    """Abort a failover: traffic and capacity go back to where they were."""
    from workflows.failover import RegionFailoverWorkflow

    async def go() -> str:
        client = await client_or_fail()
        handle = client.get_workflow_handle_for(RegionFailoverWorkflow.run, ident)
        return await steer("abort", handle.execute_update(RegionFailoverWorkflow.abort, reason))

    out.print(asyncio.run(go()))


@failover_app.command("approve")
def failover_approve(
    service: ServiceOpt,
    region: Annotated[str, typer.Option("--region", help="The region whose manual trigger fired.")],
    by: ByOpt = "",
    key: KeyOpt = None,
) -> None:
    """Let the monitor start a failover that a `mode: manual` trigger is holding for approval.

    With a key (--key, GLOBALOPS_APPROVER_KEY, or $GLOBALOPS_HOME/keys/NAME.key for --by NAME) the
    approval is signed: your name, the monitor, the region, the time and a nonce.

    Example: globalops failover approve --service checkout --region eu-west-1
    """
    approver = by or getpass.getuser()
    private = signing_key(approver, key)

    from workflows.monitor import RegionHealthMonitorWorkflow

    async def go() -> str:
        client = await client_or_fail()
        handle = client.get_workflow_handle_for(RegionHealthMonitorWorkflow.run, monitor_id(service))
        if private is None:
            call = handle.execute_update(RegionHealthMonitorWorkflow.approve_failover, region)
        else:
            approval = signed_approval(private, approver, handle.id, region)
            call = handle.execute_update(RegionHealthMonitorWorkflow.approve_failover_signed, approval)
        return await steer("approve", call, not_found=f"no running monitor of '{service}'")

    out.print(asyncio.run(go()))


# ----- failback -----------------------------------------------------------------------------------


def _print_failback(result: FailbackReport, as_json: bool) -> None:
    if as_json:
        print(result.model_dump_json())
    else:
        out.print(f"{result.workflow_id}: {result.status}" + (f" — {result.reason}" if result.reason else ""))


async def _failback_live(
    _: Client, handle: WorkflowHandle[FailbackWorkflow, FailbackReport]
) -> RenderableType:
    from workflows.failback import FailbackWorkflow

    r = await handle.query(FailbackWorkflow.report)
    return Text(f"failback {r.service}: {r.backup} → {r.region} [{r.status}] {r.phase}")


@failback_app.command("start")
def failback_start(
    service: ServiceOpt,
    region: Annotated[str, typer.Option("--region", help="The recovered region to bring traffic back to.")],
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Once REGION has been healthy long enough, return its traffic in steps (10 → 50 → 100 %)."""
    from cli import launch
    from workflows.failover import RegionFailoverWorkflow

    topo, pols = load(topology, policies, service, {"--region": [region]})

    async def last_failover() -> FailoverReport:
        client = await client_or_fail()
        try:
            return await client.get_workflow_handle_for(
                RegionFailoverWorkflow.run, failover_id(service, region)
            ).result()
        except Exception:  # noqa: BLE001 - any lookup failure means there is nothing to fail back
            fail(f"no completed failover of {region} for '{service}' to fail back from")

    last = asyncio.run(last_failover())
    if last.status != "succeeded" or last.to_region is None:
        fail(f"the last failover of {region} did not move traffic (status {last.status})")
    request = FailbackRequest(
        service=service,
        region=region,
        backup=last.to_region,
        original_share=last.weights_before.get(region) or 1 / len(topo.regions),
        backup_instances=last.target_instances_before,
        topology=topo,
        policies=pols,
        request_id=launch.new_request_id(),
    )
    follow: Follow[FailbackWorkflow, FailbackReport] = Follow(
        conflict=f"a failback of {region} is already running",
        report=_print_failback,
        succeeded=lambda r: r.status == "succeeded",
        live=_failback_live,
    )
    raise typer.Exit(
        asyncio.run(start_and_follow(launch.failback(request), follow, wait=wait, as_json=as_json))
    )

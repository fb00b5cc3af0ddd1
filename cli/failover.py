"""`globalops monitor|health|failover|failback`: watch regions, move traffic away, and bring it back."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from cli.errors import fail
from cli.render import web_ui_url
from cli.rollout import JsonOpt, PoliciesOpt, TopologyOpt, client_or_fail
from config.loader import ConfigError, load_config
from config.models import Policies, Topology
from contracts import search_attributes as sa
from contracts.failover import (
    FailbackRequest,
    FailoverReport,
    FailoverRequest,
    MonitorInput,
    MonitorStatus,
)
from contracts.ids import failback_id, failover_id, monitor_id
from workflows.failback import FailbackWorkflow
from workflows.failover import RegionFailoverWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow

monitor_app = typer.Typer(
    help="Watch every region's health and fail over automatically.", no_args_is_help=True
)
failover_app = typer.Typer(
    help="Move a failed region's traffic to a safe backup region.", no_args_is_help=True
)
failback_app = typer.Typer(help="Return traffic to a recovered region, step by step.", no_args_is_help=True)
_out = Console()
_err = Console(stderr=True)

ServiceOpt = Annotated[str, typer.Option("--service", "-s", help="Service, as named in the topology.")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Wait for the result; exit 0 only on success.")]


def _config(
    topology: Path | None, policies: Path | None, service: str, **regions: str | None
) -> tuple[Topology, Policies]:
    """Load and check the config; each region option is named (e.g. from_="...") for its error line."""
    try:
        topo, pols = load_config(topology, policies)
    except ConfigError as exc:
        fail(str(exc))
    if topo.service(service) is None:
        fail(f"--service: '{service}' is not a service of the topology")
    for option, region in regions.items():
        if region is not None and region not in topo.region_names():
            flag = "--" + option.rstrip("_").replace("_", "-")
            fail(
                f"{flag}: region '{region}' is not in the topology (known: {', '.join(topo.region_names())})"
            )
    return topo, pols


# ----- monitor ------------------------------------------------------------------------------------


@monitor_app.command("start")
def monitor_start(service: ServiceOpt, topology: TopologyOpt = None, policies: PoliciesOpt = None) -> None:
    """Start the long-running monitor: probes every region, fails over on its triggers."""
    topo, pols = _config(topology, policies, service)

    async def go() -> None:
        client = await client_or_fail()
        try:
            await client.start_workflow(
                RegionHealthMonitorWorkflow.run,
                MonitorInput(service=service, topology=topo, policies=pols),
                id=monitor_id(service),
                task_queue=topo.default_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=sa.operation_attributes("monitor", service, "-", topo.region_names()),
                static_summary=f"health monitor of {service} in {len(topo.regions)} regions",
            )
        except WorkflowAlreadyStartedError:
            fail(f"the monitor of '{service}' is already running ({monitor_id(service)})")
        _out.print(f"monitoring {service}: {web_ui_url(monitor_id(service))}")

    asyncio.run(go())


@monitor_app.command("stop")
def monitor_stop(service: ServiceOpt) -> None:
    """Stop the monitor after its current probe round."""

    async def go() -> str:
        client = await client_or_fail()
        try:
            return str(await client.get_workflow_handle(monitor_id(service)).execute_update("stop"))
        except (RPCError, WorkflowUpdateFailedError) as exc:
            fail(f"no running monitor of '{service}': {exc}")

    _out.print(asyncio.run(go()))


async def _monitor_status(service: str) -> MonitorStatus | None:
    client = await client_or_fail()
    handle = client.get_workflow_handle_for(RegionHealthMonitorWorkflow.run, monitor_id(service))
    try:
        desc = await handle.describe()
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return None
        return await handle.query(RegionHealthMonitorWorkflow.status)
    except RPCError:
        return None


@monitor_app.command("status")
def monitor_status(service: ServiceOpt, as_json: JsonOpt = False) -> None:
    """The monitor's last probes, triggers and failovers."""
    status = asyncio.run(_monitor_status(service))
    if status is None:
        fail(f"the monitor of '{service}' is not running (start it with `globalops monitor start`)", code=1)
    if as_json:
        print(status.model_dump_json())
        return
    _out.print(
        f"monitor {service}: run {status.runs}, {status.probes} probe rounds, history {status.history_length}"
    )
    running = {r: w for r, w in status.active.items() if r not in status.done}
    _out.print(f"running failovers: {running or 'none'}; finished: {status.done or 'none'}")
    _out.print(f"triggered, waiting (manual approval or a free slot): {list(status.pending) or 'none'}")


def health(service: ServiceOpt, as_json: JsonOpt = False) -> None:
    """Per region: status, traffic share, error rate, p99 and the monitor's last probe."""

    async def go() -> list[dict[str, Any]]:
        status = await _monitor_status(service)
        from activities.clouds.sim import SimCloud

        rows = {r["region"]: r for r in SimCloud().status(service)}
        out = []
        for name, row in sorted(rows.items()):
            probe = status.last.get(name) if status else None
            healthy = probe.ok if probe else row["healthy"] > 0
            out.append(
                {
                    "region": name,
                    "status": "healthy" if healthy else "unhealthy",
                    "traffic": row["traffic"],
                    "error_rate": probe.error_rate if probe else row["error_rate"],
                    "latency_ms": probe.latency_p99_ms if probe else row["latency_ms"],
                    "last_probe": probe.at.isoformat() if probe else None,
                }
            )
        return out

    regions = asyncio.run(go())
    if as_json:
        print(json.dumps({"regions": regions}))
        return
    table = Table(title=f"health of {service}")
    for column in ("region", "status", "traffic", "error rate", "p99 ms", "last probe"):
        table.add_column(column)
    for r in regions:
        table.add_row(
            r["region"],
            r["status"],
            f"{r['traffic']:.1%}",
            f"{r['error_rate']:.2%}",
            f"{r['latency_ms']:.0f}",
            r["last_probe"] or "(monitor not running)",
        )
    _out.print(table)


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
        "rejected_candidates": [c.model_dump() for c in r.rejected_candidates],
        "reason": r.reason,
        "steps": r.steps,
        "web_ui_url": web_ui_url(r.workflow_id),
    }


def _print_failover(r: FailoverReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(failover_json(r)))
        return
    _out.print(f"{r.workflow_id}: {r.status}" + (f" — {r.reason}" if r.reason else ""))
    if r.to_region:
        _out.print(
            f"{r.from_region} → {r.to_region}; " + ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items())
        )
    for c in r.rejected_candidates:
        _out.print(f"  rejected {c.region}: {c.reason}")


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
    topo, pols = _config(topology, policies, service, from_=from_region, to=to_region)
    wid = failover_id(service, from_region)
    request = FailoverRequest(
        service=service,
        from_region=from_region,
        to_region=to_region,
        topology=topo,
        policies=pols,
        request_id=uuid.uuid4().hex[:12],
    )

    async def go() -> int:
        client = await client_or_fail()
        try:
            handle = await client.start_workflow(
                RegionFailoverWorkflow.run,
                request,
                id=wid,
                task_queue=topo.default_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=sa.operation_attributes("failover", service, "-", [from_region]),
                static_summary=f"failover {service}: {from_region} → {to_region or 'best target'}",
            )
        except WorkflowAlreadyStartedError:
            fail(f"a failover of '{service}' from {from_region} is already running ({wid})")
        if not wait:
            _out.print(f"started {wid}  {web_ui_url(wid)}")
            return 0
        result = await handle.result()
        _print_failover(result, as_json)
        return 0 if result.status == "succeeded" else 1

    raise typer.Exit(asyncio.run(go()))


@failover_app.command("status")
def failover_status(
    ident: Annotated[str, typer.Argument(help="failover:SERVICE:REGION")], as_json: JsonOpt = False
) -> None:
    """A failover's state, timings and rejected candidates."""

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
def failover_abort(
    ident: Annotated[str, typer.Argument(help="failover:SERVICE:REGION")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "aborted by operator",
) -> None:
    """Abort a failover: traffic and capacity go back to where they were."""

    async def go() -> str:
        client = await client_or_fail()
        try:
            return str(await client.get_workflow_handle(ident).execute_update("abort", reason))
        except WorkflowUpdateFailedError as exc:
            fail(f"abort refused: {exc.cause or exc}")
        except RPCError as exc:
            fail(f"abort refused: {exc.message}")

    _out.print(asyncio.run(go()))


@failover_app.command("approve")
def failover_approve(
    service: ServiceOpt,
    region: Annotated[str, typer.Option("--region", help="The region whose manual trigger fired.")],
) -> None:
    """Let the monitor start a failover that a `mode: manual` trigger is holding for approval.

    Example: globalops failover approve --service checkout --region eu-west-1
    """

    async def go() -> str:
        client = await client_or_fail()
        handle = client.get_workflow_handle(monitor_id(service))
        try:
            return str(await handle.execute_update("approve_failover", region))
        except WorkflowUpdateFailedError as exc:
            fail(f"approve refused: {exc.cause or exc}")
        except RPCError as exc:
            fail(f"approve refused: no running monitor of '{service}' ({exc.message})")

    _out.print(asyncio.run(go()))


# ----- failback -----------------------------------------------------------------------------------


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
    topo, pols = _config(topology, policies, service, region=region)

    async def go() -> int:
        client = await client_or_fail()
        try:
            last: FailoverReport = await client.get_workflow_handle_for(
                RegionFailoverWorkflow.run, failover_id(service, region)
            ).result()
        except Exception:  # noqa: BLE001 - any lookup failure means there is nothing to fail back
            fail(f"no completed failover of {region} for '{service}' to fail back from")
        if last.status != "succeeded" or last.to_region is None:
            fail(f"the last failover of {region} did not move traffic (status {last.status})")
        wid = failback_id(service, region)
        request = FailbackRequest(
            service=service,
            region=region,
            backup=last.to_region,
            original_share=last.weights_before.get(region) or 1 / len(topo.regions),
            backup_instances=last.target_instances_before,
            topology=topo,
            policies=pols,
            request_id=uuid.uuid4().hex[:12],
        )
        try:
            handle = await client.start_workflow(
                FailbackWorkflow.run,
                request,
                id=wid,
                task_queue=topo.default_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=sa.operation_attributes("failback", service, "-", [region]),
                static_summary=f"failback {service}: {last.to_region} → {region}",
            )
        except WorkflowAlreadyStartedError:
            fail(f"a failback of {region} is already running ({wid})")
        if not wait:
            _out.print(f"started {wid}  {web_ui_url(wid)}")
            return 0
        result = await handle.result()
        if as_json:
            print(result.model_dump_json())
        else:
            _out.print(f"{wid}: {result.status}" + (f" — {result.reason}" if result.reason else ""))
        return 0 if result.status == "succeeded" else 1

    raise typer.Exit(asyncio.run(go()))

"""`globalops deploy canary|blue-green`: one region, one strategy, without the waves."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from cli.errors import fail
from cli.render import region_json, web_ui_url
from cli.rollout import RELEASE_PATTERN, JsonOpt, PoliciesOpt, TopologyOpt, client_or_fail
from config.loader import ConfigError, load_config
from config.strategies import Strategy
from contracts import search_attributes as sa
from contracts.ids import deploy_id
from contracts.rollout import (
    RegionDeployInput,
    RegionOutcome,
)
from workflows.region_deployment import RegionDeploymentWorkflow

deploy_app = typer.Typer(
    help="Deploy one region with a canary or blue-green strategy (no waves); see `rollout start --strategy`.",
    no_args_is_help=True,
)
_out = Console()
_err = Console(stderr=True)

ServiceOpt = Annotated[str, typer.Option("--service", "-s", help="Service, as named in the topology.")]
RegionOpt = Annotated[str, typer.Option("--region", help="The region to deploy.")]


def _start(
    strategy: Strategy,
    service: str,
    release: str,
    region: str,
    topology: Any,
    policies: Any,
    wait: bool,
    as_json: bool,
) -> None:
    try:
        topo, pols = load_config(topology, policies)
    except ConfigError as exc:
        fail(str(exc))
    if topo.service(service) is None:
        fail(f"--service: '{service}' is not a service of the topology")
    if region not in topo.region_names():
        fail(
            f"--region: '{region}' is not a region of the topology (known: {', '.join(topo.region_names())})"
        )
    if not RELEASE_PATTERN.match(release):
        fail(f"--release: '{release}' is not a release name (letters, digits and . + _ -, e.g. 2.0.0)")
    wid = deploy_id(service, region)
    inp = RegionDeployInput(
        service=service,
        release=release,
        region=topo.region(region),
        task_queue=topo.task_queue_for(region),
        wave=topo.wave_of(region),
        policies=pols,
        key_prefix=f"{wid}/{uuid.uuid4().hex[:12]}",
        strategy=strategy,
    )

    async def go() -> int:
        client = await client_or_fail()
        try:
            handle = await client.start_workflow(
                RegionDeploymentWorkflow.run,
                inp,
                id=wid,
                task_queue=topo.default_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=sa.operation_attributes(f"deploy-{strategy}", service, release, [region]),
                static_summary=f"{strategy} {service} {release} in {region}",
            )
        except WorkflowAlreadyStartedError:
            fail(f"a deploy of '{service}' in {region} is already running ({wid})")
        if not wait:
            message = {"workflow_id": wid, "status": "running", "web_ui_url": web_ui_url(wid)}
            print(json.dumps(message)) if as_json else _out.print(f"started {wid}  {web_ui_url(wid)}")
            return 0
        if not as_json:
            _err.print(f"started [bold]{wid}[/] — Web UI: {web_ui_url(wid)}")
        result = await _follow(handle, show=not as_json)
        if as_json:
            print(json.dumps({"workflow_id": wid, **region_json(result), "web_ui_url": web_ui_url(wid)}))
        else:
            _out.print(_table(result))
            _out.print(f"{wid}: {result.status}" + (f" — {result.detail}" if result.detail else ""))
        return 0 if result.status == "succeeded" else 1

    raise typer.Exit(asyncio.run(go()))


def _table(o: RegionOutcome) -> Table:
    table = Table(title=f"{o.region} · {o.strategy} · {o.status} · {o.detail}"[:120], title_justify="left")
    for column in ("step", "weight", "verdict", "score", "error rate (canary)", "p99 ms (canary)"):
        table.add_column(column)
    for a in o.analysis:
        err = a.metrics.get("error_rate", {}).get("canary_mean")
        lat = a.metrics.get("latency_p99", {}).get("canary_median")
        table.add_row(
            a.step,
            f"{a.weight:g}%",
            a.verdict,
            f"{a.score:.0f}" if a.score is not None else "",
            f"{err:.2%}" if isinstance(err, float) else "",
            f"{lat:.0f}" if isinstance(lat, float) else "",
        )
    return table


async def _follow(handle: WorkflowHandle[Any, RegionOutcome], show: bool) -> RegionOutcome:
    result_task = asyncio.create_task(handle.result())
    if not show:
        return await result_task
    with Live(Table(), console=_err, refresh_per_second=4, transient=True) as live:
        while not result_task.done():
            try:
                progress = await handle.query(RegionDeploymentWorkflow.progress)
                if progress is not None:
                    live.update(_table(progress))
            except RPCError:
                pass  # the query can race the workflow's end; the result follows
            await asyncio.wait({result_task}, timeout=0.5)
    return result_task.result()


@deploy_app.command("canary")
def canary(
    service: ServiceOpt,
    release: Annotated[str, typer.Option("--release", "-r", help="Release to deploy.")],
    region: RegionOpt,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow until done; exit 0 only on success.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Canary: raise the new release's share of the region's traffic step by step, analysing each step."""
    _start("canary", service, release, region, topology, policies, wait, as_json)


@deploy_app.command("blue-green")
def blue_green(
    service: ServiceOpt,
    release: Annotated[str, typer.Option("--release", "-r", help="Release to deploy.")],
    region: RegionOpt,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow until done; exit 0 only on success.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Blue-green: green beside blue, analysed, all traffic switched at once, blue removed after a delay."""
    _start("blue-green", service, release, region, topology, policies, wait, as_json)


async def _update(client: Client, wid: str, name: str, arg: object) -> str:
    try:
        return str(await client.get_workflow_handle(wid).execute_update(name, arg))
    except WorkflowUpdateFailedError as exc:
        fail(f"{name} refused: {exc.cause or exc}")
    except RPCError as exc:
        fail(f"{name} refused: {exc.message}")


@deploy_app.command("promote")
def promote(
    service: ServiceOpt,
    region: RegionOpt,
    full: Annotated[bool, typer.Option("--full", help="Skip the remaining steps and analysis.")] = False,
) -> None:
    """Promote a single-region deploy past a pause or an inconclusive analysis."""

    async def go() -> str:
        return await _update(await client_or_fail(), deploy_id(service, region), "promote", full)

    _out.print(asyncio.run(go()))


@deploy_app.command("abort")
def abort(
    service: ServiceOpt,
    region: RegionOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "aborted by operator",
) -> None:
    """Abort a single-region deploy: its previous release serves all traffic again."""

    async def go() -> str:
        return await _update(await client_or_fail(), deploy_id(service, region), "abort", reason)

    _out.print(asyncio.run(go()))

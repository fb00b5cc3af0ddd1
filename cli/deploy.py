"""`globalops deploy canary|blue-green`: one region, one strategy, without the waves."""

from __future__ import annotations

import asyncio
import getpass
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import RenderableType
from rich.table import Table
from temporalio.client import Client, WorkflowHandle

from cli.console import out
from cli.follow import Follow, answer, client_or_fail, start_and_follow, steer
from cli.keys import ByOpt, KeyOpt, signed_approval, signing_key
from cli.options import JsonOpt, PoliciesOpt, ReasonOpt, ServiceOpt, TopologyOpt, WaitOpt, check_release, load
from cli.render import region_json, web_ui_url
from config.strategies import Strategy
from contracts.ids import deploy_id
from contracts.rollout import RegionDeployInput, RegionOutcome

# Imported by the commands that use them, so `--help` and the other commands do not load every
# workflow and activity module (tests/unit/test_cli_imports.py).
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from workflows.region_deployment import RegionDeploymentWorkflow

deploy_app = typer.Typer(
    help="Deploy one region with a canary or blue-green strategy (no waves); see `rollout start --strategy`.",
    no_args_is_help=True,
)
RegionOpt = Annotated[str, typer.Option("--region", help="The region to deploy.")]
ReleaseOpt = Annotated[str, typer.Option("--release", "-r", help="Release to deploy.")]


def _start(
    strategy: Strategy,
    service: str,
    release: str,
    region: str,
    topology: TopologyOpt,
    policies: PoliciesOpt,
    wait: bool,
    as_json: bool,
) -> None:
    from cli import launch

    topo, pols = load(topology, policies, service, {"--region": [region]})
    check_release(release)
    wid = deploy_id(service, region)
    inp = RegionDeployInput(
        service=service,
        release=release,
        region=topo.region(region),
        task_queue=topo.task_queue_for(region),
        wave=topo.wave_of(region),
        policies=pols.for_deploy(),
        key_prefix=f"{wid}/{launch.new_request_id()}",
        strategy=strategy,
        requested_by=getpass.getuser(),
    )

    def report(result: RegionOutcome, as_json: bool) -> None:
        if as_json:
            print(json.dumps({"workflow_id": wid, **region_json(result), "web_ui_url": web_ui_url(wid)}))
            return
        out.print(_table(result))
        out.print(f"{wid}: {result.status}" + (f" — {result.detail}" if result.detail else ""))

    follow: Follow[RegionDeploymentWorkflow, RegionOutcome] = Follow(
        conflict=f"a deploy of '{service}' in {region} is already running",
        report=report,
        succeeded=lambda r: r.status == "succeeded",
        live=_live,
    )
    code = asyncio.run(start_and_follow(launch.deploy(topo, inp), follow, wait=wait, as_json=as_json))
    raise typer.Exit(code)


async def _live(
    _: Client, handle: WorkflowHandle[RegionDeploymentWorkflow, RegionOutcome]
) -> RenderableType | None:
    from workflows.region_deployment import RegionDeploymentWorkflow

    progress = await handle.query(RegionDeploymentWorkflow.progress)
    return _table(progress) if progress is not None else None


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


@deploy_app.command("canary")
def canary(
    service: ServiceOpt,
    release: ReleaseOpt,
    region: RegionOpt,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Canary: raise the new release's share of the region's traffic step by step, analysing each step."""
    _start("canary", service, release, region, topology, policies, wait, as_json)


@deploy_app.command("blue-green")
def blue_green(
    service: ServiceOpt,
    release: ReleaseOpt,
    region: RegionOpt,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Blue-green: green beside blue, analysed, all traffic switched at once, blue removed after a delay."""
    _start("blue-green", service, release, region, topology, policies, wait, as_json)


async def _deployment(service: str, region: str) -> WorkflowHandle[RegionDeploymentWorkflow, RegionOutcome]:
    from workflows.region_deployment import RegionDeploymentWorkflow

    client = await client_or_fail()
    return client.get_workflow_handle_for(RegionDeploymentWorkflow.run, deploy_id(service, region))


@deploy_app.command("promote")
def promote(
    service: ServiceOpt,
    region: RegionOpt,
    full: Annotated[bool, typer.Option("--full", help="Skip the remaining steps and analysis.")] = False,
    by: ByOpt = "",
    key: KeyOpt = None,
) -> None:
    """Promote a single-region deploy past a pause or an inconclusive analysis.

    With a key (--key, GLOBALOPS_APPROVER_KEY, or $GLOBALOPS_HOME/keys/NAME.key for --by NAME) the
    promote is signed: your name, this deploy, what waits (or `full`), the time and a nonce.
    """
    approver = by or getpass.getuser()
    private = signing_key(approver, key)

    async def go() -> str:
        handle = await _deployment(service, region)
        return await promote_one(handle, full, approver, private, "promote")

    out.print(asyncio.run(go()))


async def promote_one(
    handle: WorkflowHandle[RegionDeploymentWorkflow, RegionOutcome],
    full: bool,
    approver: str,
    key: Ed25519PrivateKey | None,
    what: str,
) -> str:
    """Promote one region's deploy: signed with `key` (what waits, or `full`), or plain without one."""
    from workflows.region_deployment import FULL, RegionDeploymentWorkflow

    if key is None:
        return await steer(what, handle.execute_update(RegionDeploymentWorkflow.promote, full))
    step = FULL
    if not full:
        progress = await answer(what, handle.query(RegionDeploymentWorkflow.progress))
        step = (progress.waiting_for if progress else None) or ""
    approval = signed_approval(key, approver, handle.id, step)
    return await steer(what, handle.execute_update(RegionDeploymentWorkflow.promote_signed, approval))


@deploy_app.command("abort")
def abort(service: ServiceOpt, region: RegionOpt, reason: ReasonOpt = "aborted by operator") -> None:
    """Abort a single-region deploy: its previous release serves all traffic again."""

    from workflows.region_deployment import RegionDeploymentWorkflow

    async def go() -> str:
        handle = await _deployment(service, region)
        return await steer("abort", handle.execute_update(RegionDeploymentWorkflow.abort, reason))

    out.print(asyncio.run(go()))

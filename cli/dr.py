"""`globalops dr ...`: recover a lost region from its cross-region snapshot, or validate that you could."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.text import Text
from temporalio.client import Client, WorkflowHandle

from cli.console import out
from cli.errors import fail
from cli.follow import Follow, client_or_fail, start_and_follow
from cli.options import JsonOpt, PoliciesOpt, ServiceOpt, TopologyOpt, WaitOpt, duration, load, moment
from cli.render import web_ui_url
from config.durations import format_duration
from config.models import Topology
from contracts.dr import RecoveryReport, RecoveryRequest
from contracts.storage import Snapshot

# Imported by the commands that use them, so `--help` and the other commands do not load every
# workflow and activity module (tests/unit/test_cli_imports.py).
if TYPE_CHECKING:
    from workflows.recovery import DisasterRecoveryWorkflow

dr_app = typer.Typer(
    help=(
        "Disaster recovery: restore a lost region's service from its latest cross-region snapshot "
        "into another region of its data-residency group, verify it, and move the traffic; or "
        "validate that a restore would work, without touching production.\n\n"
        "Example: globalops dr recover --service checkout --source-region eu-west-1 "
        "--target-region eu-central-1 --wait"
    ),
    no_args_is_help=True,
)

SnapshotOpt = Annotated[
    str,
    typer.Option("--snapshot", help="'latest' (default) or a snapshot id stored in the target region."),
]
AllowUnencryptedOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unencrypted",
        help="Use the snapshot even if it is not encrypted although policies.dr.backup.require_encryption"
        " is on (this run only). Risk: that data is not protected by your key: whoever can read its storage"
        " can read it, and disabling or revoking the key does not lock it away.",
    ),
]


def _check_encryption(snap: Snapshot, required: bool, allowed: bool) -> None:
    """Exit 2 with the reason if the snapshot is unencrypted and encryption is required, not allowed."""
    from workflows.logic.dr import unencrypted_refusal

    refusal = unencrypted_refusal(snap, required, allowed)
    if refusal:
        fail(f"--snapshot: {refusal}")


def recover_json(r: RecoveryReport) -> dict[str, Any]:
    """The documented `dr recover --json` object."""
    return {
        "workflow_id": r.workflow_id,
        "status": r.status,
        "service": r.service,
        "source_region": r.source_region,
        "target_region": r.target_region,
        "snapshot_id": r.snapshot_id,
        "rto_s": r.rto_s,
        "rpo_s": r.rpo_s,
        "rto_target_s": r.rto_target_s,
        "rpo_target_s": r.rpo_target_s,
        "met_targets": r.met_targets,
    }


def validate_json(r: RecoveryReport) -> dict[str, Any]:
    """The documented `dr validate --json` object."""
    return {
        "workflow_id": r.workflow_id,
        "status": r.status,
        "service": r.service,
        "source_region": r.source_region,
        "target_region": r.target_region,
        "env": r.env,
        "snapshot_id": r.snapshot_id,
        "snapshot_taken_at": r.snapshot_taken_at.isoformat() if r.snapshot_taken_at else None,
        "integrity_ok": r.integrity_ok,
        "consistency_ok": r.consistency_ok,
        "validation_ok": r.validation_ok,
        "validated_watermark": r.validated_watermark,
        "rpo_s": r.rpo_s,
        "rpo_target_s": r.rpo_target_s,
        "met_targets": r.met_targets,
        "reason": r.reason,
    }


def render(r: RecoveryReport) -> RenderableType:
    """Progress of a recovery: phase, measured RTO/RPO and the steps done."""
    from cli.schedules import seconds

    head = Text.assemble(
        (f"{r.mode} {r.service}: {r.source_region} → {r.target_region} ", "bold"),
        f"[{r.status}] {r.phase}",
    )
    lines = [head, Text(f"RTO {seconds(r.rto_s)} · RPO {seconds(r.rpo_s)}")]
    lines += [Text(f"  • {step}") for step in r.steps]
    return Group(*lines)


def _summary(r: RecoveryReport) -> None:
    from cli.schedules import seconds, utc

    colour = "green" if r.status == "succeeded" else "red"
    out.print(f"[{colour}]{r.workflow_id}: {r.status}[/]" + (f" — {r.reason}" if r.reason else ""))
    if r.snapshot_id:
        out.print(f"snapshot {r.snapshot_id} of {r.source_region} taken {utc(r.snapshot_taken_at)} UTC")
    if r.mode == "validate":
        out.print(
            f"integrity: {_ok(r.integrity_ok)} · consistency: {_ok(r.consistency_ok)}"
            f" · validation: {_ok(r.validation_ok)}"
        )
    else:
        out.print(f"RTO {seconds(r.rto_s)} (target {format_duration(r.rto_target_s)})")
    out.print(
        f"RPO {seconds(r.rpo_s)} (target {format_duration(r.rpo_target_s)}) · "
        + ("[green]targets met[/]" if r.met_targets else "[red]targets NOT met[/]")
    )
    for step in r.steps:
        out.print(f"  • {step}")
    out.print(f"Web UI: {web_ui_url(r.workflow_id)}", soft_wrap=True)


def _ok(value: bool | None) -> str:
    return "not checked" if value is None else ("ok" if value else "FAILED")


def _snapshot(topo: Topology, service: str, source: str, target: str, wanted: str) -> Snapshot:
    """The snapshot a recovery of `source` into `target` would use; exit 2 if there is none.

    The snapshots are listed by the workers (the CLI never calls a cloud itself).
    """

    from cli import launch
    from workflows.logic.dr import choose_snapshot

    async def go() -> list[Snapshot]:
        inventory = await launch.read_snapshots(await client_or_fail(), service, topo, [target])
        stored = inventory.regions[0]
        if stored.error is not None:
            fail(f"cannot list the snapshots in {target}: {stored.error}", code=1)
        return stored.snapshots

    chosen = choose_snapshot(asyncio.run(go()), source, wanted)
    if isinstance(chosen, str):
        fail(f"--snapshot: in {target}: {chosen}")
    return chosen


@dr_app.command("recover")
def recover(
    service: ServiceOpt,
    source_region: Annotated[
        str, typer.Option("--source-region", help="The lost region whose service and data to recover.")
    ],
    target_region: Annotated[
        str | None,
        typer.Option(
            "--target-region",
            help="Region to recover into; must be in the source's data-residency group"
            " (default: where the source's snapshots are copied, usually its backup region).",
        ),
    ] = None,
    snapshot: SnapshotOpt = "latest",
    rto: Annotated[
        str | None,
        typer.Option("--rto", help="Recovery time objective, e.g. 15m (default: policies.dr.rto_target)."),
    ] = None,
    rpo: Annotated[
        str | None,
        typer.Option("--rpo", help="Recovery point objective, e.g. 5m (default: policies.dr.rpo_target)."),
    ] = None,
    failed_at: Annotated[
        str | None,
        typer.Option(
            "--failed-at",
            help="When the region failed, ISO 8601 (no zone: UTC); the RPO is measured from the"
            " snapshot to this time (default: now).",
        ),
    ] = None,
    accept_rpo_breach: Annotated[
        bool,
        typer.Option(
            "--accept-rpo-breach", help="Recover even if the snapshot is older than the RPO target allows."
        ),
    ] = False,
    allow_unencrypted: AllowUnencryptedOpt = False,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Recover a lost region into another: restore the snapshot, verify it, launch, move traffic.

    Checked before anything starts (exit 2, one line): the regions, data residency (the target
    must be in the source's jurisdiction group), the durations, and the RPO: the snapshot that
    would be used must be younger than the RPO target at --failed-at, unless --accept-rpo-breach,
    and encrypted when policies.dr.backup.require_encryption is on, unless --allow-unencrypted.
    If a step fails, what was created is removed and the traffic stays where it was.
    Exit codes with --wait: 0 succeeded, 1 refused/failed, 2 bad input.

    Example: globalops dr recover --service checkout --source-region eu-west-1
    --target-region eu-central-1 --rto 15m --rpo 6h --wait
    """
    from cli.schedules import utc
    from workflows.logic.dr import copy_destination, rpo_s, target_problem

    regions: dict[str, list[str | None]] = {
        "--source-region": [source_region],
        "--target-region": [target_region],
    }
    topo, pols = load(topology, policies, service, regions)
    if target_region is None:
        target_region, why = copy_destination(topo, service, source_region)
        if target_region is None:
            fail(f"--target-region: {source_region} has no recovery target: {why}")
    problem = target_problem(topo, service, source_region, target_region)
    if problem:
        fail(f"--target-region: {problem}")
    rto_target = duration("--rto", rto, pols.dr.rto_target)
    rpo_target = duration("--rpo", rpo, pols.dr.rpo_target)
    failed = moment("--failed-at", failed_at)
    snap = _snapshot(topo, service, source_region, target_region, snapshot)
    _check_encryption(snap, pols.dr.backup.require_encryption, allow_unencrypted)
    lost = rpo_s(failed or datetime.now(UTC), snap)
    if lost > rpo_target and not accept_rpo_breach:
        fail(
            f"--rpo: snapshot {snap.id} of {source_region} (taken {utc(snap.taken_at)} UTC) is"
            f" {format_duration(round(lost))} old at the failure, over the RPO target"
            f" {format_duration(rpo_target)}; recover from it anyway with --accept-rpo-breach"
        )
    request = RecoveryRequest(
        service=service,
        source_region=source_region,
        target_region=target_region,
        topology=topo,
        policies=pols,
        mode="recover",
        snapshot=snapshot,
        rto_target_s=rto_target,
        rpo_target_s=rpo_target,
        failed_at=failed,
        accept_rpo_breach=accept_rpo_breach,
        allow_unencrypted=allow_unencrypted,
        request_id=uuid.uuid4().hex,
    )
    code = asyncio.run(_run(request, f"a recovery of {service} from {source_region}", wait, as_json))
    raise typer.Exit(code)


@dr_app.command("validate")
def validate(
    service: ServiceOpt,
    region: Annotated[
        str, typer.Option("--region", help="Region to validate a restore in (where snapshots are copied).")
    ],
    source_region: Annotated[
        str | None,
        typer.Option(
            "--source-region",
            help="Region whose snapshot to restore (default: the first region whose snapshots are"
            " copied into --region).",
        ),
    ] = None,
    snapshot: SnapshotOpt = "latest",
    check_integrity: Annotated[
        bool, typer.Option("--check-integrity", help="Compare the restored volume's checksum.")
    ] = False,
    check_consistency: Annotated[
        bool, typer.Option("--check-consistency", help="Compare the restored data watermark.")
    ] = False,
    allow_unencrypted: AllowUnencryptedOpt = False,
    topology: TopologyOpt = None,
    policies: PoliciesOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Prove a restore works: restore a snapshot in an isolated environment, check it, remove it.

    Production is never touched: the volume is tagged validate-<id> and always deleted. Without
    --check-integrity / --check-consistency both checks run; with one, only that one. An unencrypted
    snapshot is refused while policies.dr.backup.require_encryption is on (--allow-unencrypted). Reports the
    RPO the snapshot would give now. Exit codes with --wait: 0 checks passed and RPO within
    target, 1 otherwise, 2 bad input.

    Example: globalops dr validate --service checkout --region eu-central-1 --wait
    """
    from workflows.logic.dr import copy_destination, target_problem

    topo, pols = load(
        topology,
        policies,
        service,
        {"--region": [region], "--source-region": [source_region] if source_region else []},
    )
    if source_region is None:
        sources = [r for r in topo.region_names() if copy_destination(topo, service, r)[0] == region]
        if not sources:
            fail(f"--source-region: no region's snapshots are copied into {region}; name one")
        source_region = sources[0]
    problem = target_problem(topo, service, source_region, region)
    if problem:
        fail(f"--region: {problem}")
    snap = _snapshot(topo, service, source_region, region, snapshot)
    _check_encryption(snap, pols.dr.backup.require_encryption, allow_unencrypted)
    both = not (check_integrity or check_consistency)
    request = RecoveryRequest(
        service=service,
        source_region=source_region,
        target_region=region,
        topology=topo,
        policies=pols,
        mode="validate",
        env=f"validate-{uuid.uuid4().hex[:8]}",
        snapshot=snapshot,
        accept_rpo_breach=True,  # a validation reports the RPO; it does not refuse over it
        check_integrity=both or check_integrity,
        check_consistency=both or check_consistency,
        allow_unencrypted=allow_unencrypted,
        request_id=uuid.uuid4().hex,
    )
    code = asyncio.run(_run(request, f"a validation of {service} in {region}", wait, as_json))
    raise typer.Exit(code)


async def _run(request: RecoveryRequest, what: str, wait: bool, as_json: bool) -> int:
    from cli import launch

    validating = request.mode == "validate"

    def report(result: RecoveryReport, as_json: bool) -> None:
        if as_json:
            print(json.dumps(validate_json(result) if validating else recover_json(result)))
        else:
            _summary(result)

    follow: Follow[DisasterRecoveryWorkflow, RecoveryReport] = Follow(
        conflict=f"{what} is already running",
        report=report,
        # A recovery succeeds once serving; a validation also needs its checks and RPO within target.
        succeeded=lambda r: r.status == "succeeded" and (r.met_targets or not validating),
        live=_live,
    )
    return await start_and_follow(launch.recovery(request), follow, wait=wait, as_json=as_json)


async def _live(
    _: Client, handle: WorkflowHandle[DisasterRecoveryWorkflow, RecoveryReport]
) -> RenderableType:
    from workflows.recovery import DisasterRecoveryWorkflow

    return render(await handle.query(DisasterRecoveryWorkflow.report))

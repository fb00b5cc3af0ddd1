"""Terminal and JSON renderings of rollout progress, shared by `start --wait` and `status`."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from rich.table import Table

from config.models import wave_rank
from config.paths import state_dir
from contracts.errors import SIM_SEED_COMMAND
from contracts.rollout import (
    RegionOutcome,
    RolloutProgress,
)
from workers.address import namespace

_STYLE = {
    "succeeded": "green",
    "partial": "yellow",
    "skipped": "yellow",
    "rolled_back": "yellow",
    "failed": "red",
    "aborted": "red",
    "deploying": "cyan",
    "waiting": "magenta",
    "baking": "cyan",
    "ready": "blue",
}


DEFAULT_WEB_UI = "http://localhost:8233"
#: The file under $GLOBALOPS_HOME where `dev up` records the address of the Web UI it started.
WEB_UI_RECORD = "web-ui-url"


def web_ui_base() -> str:
    """The Web UI's base URL: $GLOBALOPS_WEB_UI, else the one `dev up` recorded (its --ui-port),
    else the dev server's default :8233."""
    base = os.environ.get("GLOBALOPS_WEB_UI")
    if not base:
        try:
            base = (state_dir() / WEB_UI_RECORD).read_text(encoding="utf-8").strip()
        except OSError:
            base = ""
    return (base or DEFAULT_WEB_UI).rstrip("/")


def web_ui_url(workflow_id: str) -> str:
    """The Temporal Web UI page of a workflow (under `web_ui_base()`)."""
    namespace_part = quote(namespace(), safe="")
    return f"{web_ui_base()}/namespaces/{namespace_part}/workflows/{quote(workflow_id, safe='')}"


def in_topology_order(regions: list[RegionOutcome]) -> list[RegionOutcome]:
    """A rollout's regions by wave (core, then edge); a stable sort keeps the topology's file order
    inside a wave, so the list reads like `sim status`, `health` and `backup list`."""
    return sorted(regions, key=lambda o: wave_rank(o.wave))


def seed_hint(p: RolloutProgress, topology: str | None) -> str | None:
    """For a rollout that failed because the simulated cloud never ran its service in some regions
    (their preflight's NotFound names SIM_SEED_COMMAND): one sentence naming them and the command
    that seeds the sim from `topology` (None: the shipped one). None for any other outcome."""
    regions = [o.region for o in in_topology_order(p.regions) if SIM_SEED_COMMAND in o.detail]
    if p.status != "failed" or not regions:
        return None
    command = SIM_SEED_COMMAND + (f" --topology {topology}" if topology else "")
    return (
        f"the simulated cloud has never run '{p.service}' in {', '.join(regions)}, so nothing was"
        f" changed: seed it with `{command}`, then start the rollout again"
    )


def progress_table(p: RolloutProgress) -> Table:
    """A table of every region's wave, state, release and batches."""
    title = f"{p.service} → {p.release}  [{p.status}]  {p.phase}"
    if p.paused:
        title += "  (paused)"
    if p.waiting_for_approval:
        title += f"  (waiting for approval of {p.waiting_for_approval})"
    if p.held:
        title += f"  (held, unreachable: {', '.join(p.held)})"
    table = Table(title=title, title_justify="left")
    for column in ("region", "wave", "strategy", "state", "release", "steps", "detail"):
        table.add_column(column)
    for o in in_topology_order(p.regions):
        style = _STYLE.get(o.status, "")
        batches = f"{o.batches_done}/{o.batches_total}" if o.batches_total else ""
        table.add_row(
            o.region,
            o.wave,
            o.strategy,
            f"[{style}]{o.status}[/]" if style else o.status,
            o.release or "",
            batches,
            o.detail[:80],
        )
    return table


def region_json(o: RegionOutcome) -> dict[str, Any]:
    """One region in `--json` output, with every analysis step's verdict and numbers."""
    return {
        "region": o.region,
        "wave": o.wave,
        "status": o.status,
        "release": o.release,
        "strategy": o.strategy,
        "analysis": [
            {"step": a.step, "weight": a.weight, "verdict": a.verdict, "score": a.score, "metrics": a.metrics}
            for a in o.analysis
        ],
        "overrides": o.overrides,
        "detail": o.detail,
    }


def rollout_json(p: RolloutProgress) -> dict[str, Any]:
    """The documented `--json` object of a rollout."""
    return {
        "workflow_id": p.workflow_id,
        "status": p.status,
        "service": p.service,
        "release": p.release,
        "previous_release": p.previous_release,
        "regions": [region_json(o) for o in in_topology_order(p.regions)],
        "reason": p.reason,
        "deploy_order": p.deploy_order,
        "compensation_order": p.compensation_order,
        "held": p.held,
        "skipped": p.skipped,
        "waiting_for_approval": p.waiting_for_approval,
        "started_at": p.started_at.isoformat() if p.started_at else None,
        "finished_at": p.finished_at.isoformat() if p.finished_at else None,
        "web_ui_url": web_ui_url(p.workflow_id),
    }

"""The drill report in Markdown: the same text in the Web UI, the CLI and the report file."""

from __future__ import annotations

from temporalio import workflow

from workflows.logic.markdown import table

with workflow.unsafe.imports_passed_through():
    from contracts.dr import DrillReport


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}s"


def drill_markdown(r: DrillReport) -> str:
    """A heading with the verdict, targets, one row per region, cleanup and the reason if any."""
    verdict = r.verdict or r.status  # no verdict yet: the status stands in
    lines = [
        f"## DR drill {r.service} · {verdict}",
        "",
        f"- workflow: `{r.workflow_id}` · environment `{r.env}`",
        f"- targets: RTO {_s(r.rto_target_s)} · RPO {_s(r.rpo_target_s)}",
    ]
    if r.started_at:
        lines.append(
            f"- started {r.started_at.isoformat()}"
            + (f", finished {r.finished_at.isoformat()}" if r.finished_at else "")
        )
    if r.reason:
        lines.append(f"- {r.reason}")
    if r.regions:
        header = ["Region", "Recovered into", "Status", "Snapshot", "RTO", "RPO", "Targets"]
        rows = [
            [
                row.region,
                row.target_region or "—",
                row.status,
                row.snapshot_id or "—",
                _s(row.rto_s),
                _s(row.rpo_s),
                "met" if row.met_targets else "missed",
            ]
            for row in r.regions
        ]
        lines += ["", *table(header, rows)]
        failed = [row for row in r.regions if row.reason]
        if failed:
            lines += ["", *[f"- {row.region}: {row.reason}" for row in failed]]
    if r.leftover_resources is not None:
        lines += [
            "",
            f"Cleanup: {len(r.cleaned_up)} swept after the rehearsals, {r.leftover_resources} left"
            f" ({'verified by listing the environment' if r.leftover_resources == 0 else 'NOT clean'}).",
        ]
    return "\n".join(lines)

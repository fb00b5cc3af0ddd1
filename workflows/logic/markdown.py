"""Markdown for the Web UI's current details: tables it shows with space between the columns, status in
words, regions in topology order. Pure functions that unit tests call directly.

The Web UI of the dev server renders a Markdown table with no padding in its cells, so adjacent cells
ran together (`ca-central-1edge`, `succeeded4.2.0`), and an emoji shows as an empty box where no emoji
font is installed. So every cell here ends in an em space, columns are left-aligned (headers over
their text), and states are words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.failover import MonitorStatus, ProbeSample

CELL_END = "\u2003"
"""An em space closes every cell: a gap the width of an "M" after a column's widest text, in any font
(a Web UI that pads cells shows a little more space). Plain spaces would be trimmed by Markdown."""


def cell(text: str) -> str:
    """One cell's text: a `|` would start another cell and a line break end the row, so neither stays."""
    return text.replace("|", "/").replace("\n", " ") + CELL_END


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table whose columns are left-aligned and kept apart by CELL_END."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell(c) for c in cells) + " |"

    return [line(header), "|" + ":---|" * len(header), *(line(r) for r in rows)]


def state(status: str) -> str:
    """A status in words, e.g. "rolled back" for rolled_back."""
    return status.replace("_", " ")


def _probe_status(sample: ProbeSample) -> str:
    """As `globalops health` says it: a blind region is never healthy, and never just unhealthy."""
    if sample.blind:
        return "blind"
    return "healthy" if sample.ok else "unhealthy"


def _number(value: float | None, spec: str) -> str:
    """A number, or "no data" where the probe had none (never 0)."""
    return "no data" if value is None else format(value, spec)


def monitor_details(status: MonitorStatus, order: Sequence[str]) -> str:
    """The monitor's current details: a header line, then the last probe of each region in `order`
    (topology order; a region not probed yet is left out) and the failover it runs or waits for."""
    rows = []
    for name in order:
        sample = status.last.get(name)
        if sample is None:
            continue
        failover = status.active.get(name) or ("pending approval" if name in status.pending else "")
        rows.append(
            [
                name,
                _probe_status(sample),
                _number(sample.error_rate, ".2%"),
                _number(sample.latency_p99_ms, ".0f"),
                failover,
            ]
        )
    head = f"**monitor {status.service}** · run {status.runs} · {status.probes} probe rounds"
    return "\n".join([head, "", *table(["Region", "Status", "Error rate", "p99 ms", "Failover"], rows)])

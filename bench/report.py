"""bench/RESULTS.md: machine, versions, and each figure as the median of its runs with its command."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from bench.common import median
from bench.server import temporal_version


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def machine() -> list[str]:
    load = os.getloadavg()
    return [
        f"- CPU: {os.cpu_count()} × {_cpu_model()}",
        f"- RAM: {_ram_gib():.1f} GiB",
        f"- OS: {platform.platform()}",
        f"- load average at start (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}",
        f"- Python {platform.python_version()}, temporalio {version('temporalio')}, {temporal_version()}",
    ]


@dataclass
class Figure:
    """One reported number: its runs, the median, the target and the command that reproduces it."""

    name: str
    runs: Sequence[float]
    unit: str
    command: str
    target: str = ""
    met: bool | None = None
    digits: int = 2

    def row(self) -> str:
        values = ", ".join(f"{v:.{self.digits}f}" for v in self.runs)
        verdict = "" if self.met is None else (" ✅" if self.met else " ❌")
        return (
            f"| {self.name} | **{median(self.runs):.{self.digits}f}** {self.unit} | {len(self.runs)} "
            f"| {values} | {self.target}{verdict} | `{self.command}` |"
        )


@dataclass
class Section:
    title: str
    intro: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def render(sections: Sequence[Section], header: Sequence[str], footer: Sequence[str]) -> str:
    lines = ["# globalops benchmarks", "", *header, ""]
    for s in sections:
        lines += [f"## {s.title}", "", s.intro, ""]
        if s.figures:
            lines += [
                "| figure | median | runs | every run | target | reproduce |",
                "|---|---|---|---|---|---|",
                *(f.row() for f in s.figures),
                "",
            ]
        lines += [*(f"- {n}" for n in s.notes), ""] if s.notes else []
    return "\n".join([*lines, *footer, ""])


def merge(existing: str, sections: Sequence[Section]) -> str:
    """`existing` RESULTS.md with the sections of a partial run replaced (same title) or appended before
    its footer (the caller notes in each section that it comes from a partial run)."""
    fresh = render(sections, [], []).split("\n", 2)[2].strip("\n")  # drop the "# globalops benchmarks" line
    blocks = {s.title: f"## {s.title}\n" + part for s in sections for part in [_block(fresh, s.title)]}
    head, *rest = existing.split("\n## ")
    parts = ["## " + p for p in rest]
    footer = ""
    if parts:  # the footer follows the last section's notes: the paragraph starting "Wall time"
        last, sep, tail = parts[-1].partition("\nWall time of this `make bench`")
        parts[-1], footer = last.rstrip("\n") + "\n", (sep + tail) if sep else ""
    out: list[str] = []
    for part in parts:
        title = part[3:].split("\n", 1)[0]
        out.append(blocks.pop(title, part).rstrip("\n") + "\n")
    out += [b.rstrip("\n") + "\n" for b in blocks.values()]
    return "\n".join([head.rstrip("\n") + "\n", *out, footer.lstrip("\n")]).rstrip("\n") + "\n"


def _block(rendered: str, title: str) -> str:
    start = rendered.index(f"## {title}\n") + len(f"## {title}\n")
    end = rendered.find("\n## ", start)
    return rendered[start:] if end < 0 else rendered[start : end + 1]

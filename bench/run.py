"""`make bench`: B1-B6 and the CLI latency on dev servers started here; writes bench/RESULTS.md.

Benchmarks, not tests. `--only` runs some parts and replaces only their sections of an existing
RESULTS.md (bench/report.py:merge), keeping the others as they were.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from activities.clouds.sim import SimCloud
from bench.common import in_process_worker, median
from bench.concurrency import b2, summary
from bench.floor_contracts import FloorShape
from bench.operations import b3_dr, b4
from bench.report import Figure, Section, machine, merge, render
from bench.rollouts import BUDGET, HISTORY_LIMIT, b1, b3_wide, b5
from bench.server import dev_server
from workers.logging_setup import configure_logging

QUEUE = "bench"
PARTS = ["b1", "b2", "b3", "b4", "b5", "b6", "cli"]
CMD = ".venv/bin/python -m bench.run"


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", action="append", choices=PARTS, help="repeatable; default all")
    p.add_argument("--b6-rounds", type=int, default=200, help="probe rounds per B6 run (>= 100)")
    p.add_argument("--b6-window", type=int, default=100, help="B6 watch window in probe rounds (prod: 360)")
    p.add_argument("--b6-probe", type=float, default=0.1, help="B6 probe interval in s (times scale with it)")
    p.add_argument("--cli-runs", type=int, default=9, help="timed runs of each CLI command (>= 7)")
    p.add_argument("--runs", type=int, default=5, help="runs per figure of B1, B3, B4 (>= 5 for RESULTS.md)")
    p.add_argument("--b2-runs", type=int, default=5, help="B2 runs (one takes minutes on 2 cores)")
    p.add_argument("--b2-rollouts", type=int, default=100)
    p.add_argument("--wide-regions", type=int, default=100)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "RESULTS.md")
    return p.parse_args()


async def main() -> None:
    args = _args()
    only = set(args.only or PARTS)
    configure_logging("WARNING")  # the in-process worker's activity logs would time the terminal
    header = [
        "Written by `make bench` (`python -m bench.run`). Each figure is the median of the runs listed",
        "beside it; every run is on a Temporal dev server (`temporal server start-dev`, in-memory SQLite,",
        "no Web UI, free ports) started by the benchmark; the simulated cloud is in a temporary SQLite file.",
        "",
        "Machine:",
        "",
        *machine(),
    ]
    sections: list[Section] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="globalops-bench-") as tmp:
        work = Path(tmp)
        if only & {"b1", "b3", "b4", "b5"}:
            async with dev_server(work / "temporal.log") as server:
                client = server.client
                sim = SimCloud(work / "sim.db")
                async with in_process_worker(client, QUEUE, sim):
                    r1 = await b1(client, sim, QUEUE, args.runs) if only & {"b1", "b3"} else None
                    r4 = await b4(client, sim, QUEUE, args.runs) if only & {"b3", "b4"} else None
                    wide = (
                        await b3_wide(client, sim, QUEUE, args.runs, args.wide_regions)
                        if "b3" in only
                        else None
                    )
                    dr = await b3_dr(client, sim, QUEUE, args.runs) if "b3" in only else None
                    r5 = await b5(client, sim, QUEUE, args.runs, args.wide_regions) if "b5" in only else None
            if r1 is not None and "b1" in only:
                sections.append(_b1(r1, args.runs))
            if "b3" in only and r1 and r4 and wide and dr:
                sections.append(_b3(r1, r4, wide, dr, args.runs))
            if r4 is not None and "b4" in only:
                sections.append(_b4(r4, args.runs))
            if r5 is not None:
                sections.append(_b5(r5, args.runs))
        if "b2" in only:
            async with dev_server(work / "temporal-b2.log") as server:
                r2 = await b2(server.client, server.address, work, args.b2_runs, args.b2_rollouts)
            sections.insert(1 if "b1" in only else 0, _b2(r2, args))
        if only & {"b6", "cli"}:
            sections += await _cost(work, only, args)
    load = os.getloadavg()
    footer = [
        f"Wall time of this `make bench`: {time.monotonic() - started:.0f} s. Load average at the end "
        f"(1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.",
        "",
        "The machine is shared: other sessions ran test suites (their own dev servers, test servers and",
        "workers) while these figures were taken, so the load average above is far over the 2 cores and",
        "times are pessimistic; ratios (B1) and counts (B3) are what to compare between machines.",
    ]
    text = render(sections, header, footer)
    if args.only and args.out.exists():
        command = f"`{CMD} " + " ".join(f"--only {o}" for o in args.only) + "`"
        when = (
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average at the end {load[0]:.1f} / {load[1]:.1f}"
        )
        for section in sections:
            section.notes.append(f"From a partial run, {command} ({when}), not from the full run below.")
        text = merge(args.out.read_text(), sections)
    args.out.write_text(text)
    print(f"wrote {args.out}")


async def _cost(work: Path, only: set[str], args: argparse.Namespace) -> list[Section]:
    """B6 and the CLI latency, on a dev server of their own (B6 reads its `action` counter)."""
    from bench.cli_latency import cli_latency
    from bench.cost_sections import b6_section, cli_section
    from bench.monitor_cost import b6
    from bench.server import free_port

    out: list[Section] = []
    metrics_port = free_port()
    async with dev_server(work / "temporal-cost.log", metrics_port) as server:
        client = server.client
        sim = SimCloud(work / "sim-cost.db")
        async with in_process_worker(client, QUEUE, sim):
            if "cli" in only:
                home = work / "cli-home"
                home.mkdir(exist_ok=True)
                r = await cli_latency(server, sim, QUEUE, args.cli_runs, home)
                out.append(cli_section(r, f"{CMD} --only cli --cli-runs {args.cli_runs}"))
            if "b6" in only:
                url = f"http://127.0.0.1:{metrics_port}/metrics"
                watch = [
                    await b6(client, url, sim, QUEUE, args.b6_rounds, args.b6_probe, "watch", args.b6_window)
                    for _ in range(3)
                ]
                old = [await b6(client, url, sim, QUEUE, 100, args.b6_probe, "per_probe", args.b6_window)]
                cmd = f"{CMD} --only b6 --b6-rounds {args.b6_rounds} --b6-probe {args.b6_probe:g}"
                cmd += f" --b6-window {args.b6_window}"
                out.insert(0, b6_section(watch, old, cmd, args.b6_probe, args.b6_window))
    return out


def _floor_part(r: object, part: str, runs: int) -> tuple[FloorShape, list[Figure]]:
    """B1 and B5: the real rollout, its engine floor and their ratio per run (target 1.25)."""
    from bench.rollouts import B1Result

    assert isinstance(r, B1Result) and r.shape is not None
    cmd = f"{CMD} --only {part} --runs {runs}"
    ratio = median(r.ratios)
    return r.shape, [
        Figure(f"real rollout ({len(r.shape.regions)} regions)", r.real_s, "s", cmd),
        Figure("engine floor (same shape)", r.floor_s, "s", cmd),
        Figure("ratio real / floor (per run)", r.ratios, "×", cmd, "<= 1.25", ratio <= 1.25, 3),
    ]


def _b1(r: object, runs: int) -> Section:
    shape, figures = _floor_part(r, "b1", runs)
    return Section(
        "B1 — orchestration overhead",
        "A rollout of checkout over the 16 default regions on the sim (no injected latency or faults), with "
        "the demo policies cut to zero waits (every bake 0, one health sample per gate), against the engine "
        "floor: the same shape of no-op activities (`bench/floor.py`) on the same dev server and in-process "
        f"worker, in the same run. Shape counted from the real run's histories: validate "
        f"{shape.validate_per_region} activities × {len(shape.regions)} regions at once, then "
        f"{len(shape.groups)} groups of child workflows in sequence ({[len(g) for g in shape.groups]}), "
        f"{sorted(set(shape.child_activities.values()))} activities per child one after another. "
        "One warm-up run of each is not counted; real and floor alternate.",
        figures,
    )


def _b2(r: object, args: argparse.Namespace) -> Section:
    from bench.concurrency import B2Result

    assert isinstance(r, B2Result)
    cmd = f"{CMD} --only b2 --b2-runs {args.b2_runs} --b2-rollouts {args.b2_rollouts}"
    rows = [summary(run) for run in r.runs]

    def col(key: str) -> list[float]:
        return [row[key] for row in rows]

    rss = col("peak_rss_mib")
    notes = [
        f"Activities per rollout are counted from the first rollout's histories ({r.runs[0].activities} in "
        f"all per run); every rollout must succeed. The worker's own Prometheus endpoint counted "
        f"{[run.finished_metric for run in r.runs]} finished rollouts (cross-check of the metrics).",
        "Peak RSS is the worker process's VmHWM from /proc (psutil is not installed).",
        "p50 is close to the total by design: all rollouts start at once and share the worker's 32 "
        "activity slots fairly, so they progress together and finish together.",
    ]
    first = r.runs[0]
    if first.payload_bytes:
        activities = first.activities // r.rollouts  # per rollout; one child per region
        each = {
            "activity inputs": activities,
            "activity results": activities,
            "child inputs": r.regions,
            "workflow inputs": r.regions + 1,
        }
        sizes = ", ".join(
            f"{kind} {size / 1024:.1f} KiB ({size / max(1, each.get(kind, 1)):.0f} B each)"
            for kind, size in sorted(first.payload_bytes.items())
        )
        notes.append(
            f"Payloads of one rollout, from its histories (parent and {r.regions} children, "
            f"{first.history_bytes / 1024:.0f} KiB of history in all): {sizes}. An activity carries its "
            "region's reference and its step's values, never the topology or the policies; the rollout's "
            "request carries its topology and policies (it plans from them) and each child its region and "
            "the deploy part of the policies it runs by (`DeployPolicies`: health, strategies, analysis, "
            "approvals, hooks, alarms, notifications, call timeouts; not the waves' bakes, failover, DR, "
            "practice or readiness: 379 KiB of history per rollout before this cut)."
        )
    if r.profile is not None and r.profile.busy:
        parts = "; ".join(f"{name} **{share:.0%}**" for name, share in r.profile.parts.items())
        notes.append(
            f"Where the worker's CPU goes (`bench/profile.py`: py-spy sampling the worker process at 50 Hz, "
            "non-blocking, through a warm-up real run that is not counted; "
            f"{r.profile.busy:,} busy samples of Python threads, "
            f"{r.profile.idle:,} idle or native ones left out): {parts}. The Rust core's own threads are "
            "not sampled."
        )
    if len(r.runs) < 5:
        notes.insert(
            0,
            f"**Only {len(r.runs)} run(s)**, not 5: one run of {r.rollouts} rollouts takes minutes on this "
            f"busy 2-core machine. Five runs (the default): "
            f"`{CMD} --only b2 --b2-runs 5`.",
        )
    return Section(
        "B2 — concurrency",
        f"{r.rollouts} rollouts of {r.regions} regions (each its own service, so its own `rollout:<service>` "
        "id) started together on one worker process: the real `globalops worker` command, its own process, "
        "production settings (32 activity slots) and INFO logging to a file, on a fresh dev server. Same "
        "zero-wait policies as B1. Its floor: the same 100 rollouts' shape (counted from the real run's "
        "histories, as B1's) doing no-op activities on a worker process of the same settings (32 slots in "
        "32 threads, same data converter; `bench/floor_worker.py`), on the same dev server, alternating "
        "with the real runs.",
        [
            Figure("total time", col("total_s"), "s", cmd, digits=1),
            Figure("floor: total time", r.floor_s, "s", cmd, digits=1),
            Figure(
                "ratio real / floor (per pair)", r.ratios, "×", cmd, "<= 1.25", median(r.ratios) <= 1.25, 3
            ),
            Figure("per rollout p50", col("p50_s"), "s", cmd, digits=1),
            Figure("per rollout p99", col("p99_s"), "s", cmd, digits=1),
            Figure("activities per second", col("activities_per_s"), "/s", cmd, digits=1),
            Figure("worker peak RSS", rss, "MiB", cmd, "<= 500 MiB", median(rss) <= 500, 0),
        ],
        notes,
    )


def _b3(r1: object, r4: object, wide: object, dr: object, runs: int) -> Section:
    from bench.operations import B4Result, DrResult
    from bench.rollouts import B1Result, WideResult

    assert isinstance(r1, B1Result) and isinstance(r4, B4Result)
    assert isinstance(wide, WideResult) and isinstance(dr, DrResult)
    n = len(r1.runs[0].children)
    cmd = f"{CMD} --only b3 --runs {runs}"
    parent = [float(run.parent.events) for run in r1.runs]
    child = [median([c.events for c in run.children.values()]) for run in r1.runs]
    largest = [float(x) for x in wide.largest]
    return Section(
        "B3 — history budget",
        "Events per region of each workflow type (history length ÷ regions it covers), and the largest "
        f"single history of a rollout over a generated {wide.regions}-region topology "
        "(`bench/configs.py:wide_topology`: 20 core regions, pilot first then 5 at a time, 80 edge regions "
        f"10 at a time) against 5 % of Temporal's {HISTORY_LIMIT:,}-event limit ({BUDGET:,} events).",
        [
            Figure(
                f"rollout parent ({n} regions): events / region", [p / n for p in parent], "", cmd, digits=1
            ),
            Figure("rollout parent: events", parent, "", cmd, digits=0),
            Figure("region deployment child: events (= per region)", child, "", cmd, digits=0),
            Figure(
                f"failover ({r4.regions} regions probed): events / region",
                [e / r4.regions for e in r4.failover_events],
                "",
                cmd,
                digits=1,
            ),
            Figure(
                "monitor: events / probe round / region",
                [e / r4.regions for e in r4.monitor_events_per_round],
                "",
                cmd,
                digits=2,
            ),
            Figure(
                f"backup ({dr.regions} regions): events / region",
                [e / dr.regions for e in dr.backup_events],
                "",
                cmd,
                digits=1,
            ),
            Figure(
                f"drill parent ({dr.drilled} regions): events / region",
                [e / dr.drilled for e in dr.drill_events],
                "",
                cmd,
                digits=1,
            ),
            Figure("drill recovery child: events (= per region)", dr.recovery_events, "", cmd, digits=0),
            Figure(
                f"largest history of a {wide.regions}-region rollout",
                largest,
                "events",
                cmd,
                f"<= {BUDGET:,}",
                median(largest) <= BUDGET,
                0,
            ),
        ],
        [
            f"The {wide.regions}-region rollout took {median(wide.seconds):.1f} s (median); its largest "
            f"history is the parent's; a child has {median(wide.child_events):.0f} events.",
            "The monitor continues as new at `policies.failover.history_bound` (2,000 events by default), "
            "so its history is bounded whatever the number of probe rounds.",
            f"Drill verdicts: {dr.drill_verdicts}; event counts are of the regions rehearsed (a region "
            "without a data-residency-compliant target has no recovery child).",
        ],
    )


def _b5(r: object, runs: int) -> Section:
    shape, figures = _floor_part(r, "b5", runs)
    return Section(
        "B5 — growth",
        f"B1 over the generated {len(shape.regions)}-region topology of B3 "
        "(`bench/configs.py:wide_topology`) "
        "against the floor of its own shape, counted from its histories "
        f"({len(shape.groups)} groups of child workflows in sequence, {[len(g) for g in shape.groups]}), "
        "on the same dev server and in-process worker, alternating after a warm-up of each: cost should "
        "grow with the work and nothing else.",
        figures,
    )


def _b4(r: object, runs: int) -> Section:
    from bench.operations import OUTAGE_REGION, B4Result

    assert isinstance(r, B4Result)
    target = 3 * r.probe_interval_s + 2
    return Section(
        "B4 — failover reaction",
        f"The health monitor of a fresh service over the 16 default regions, probing every "
        f"{r.probe_interval_s:g} s (demo policies: 3 failed probes in a row trigger an automatic "
        "failover), on "
        f"the dev server's real clock. After two probe rounds and a random 0–{r.probe_interval_s:g} s delay, "
        f"an outage of {OUTAGE_REGION} is injected into the sim; the figure is the time until the sim shows "
        f"{OUTAGE_REGION}'s traffic weight at 0 (polled every 20 ms).",
        [
            Figure(
                "outage → traffic shifted",
                r.reaction_s,
                "s",
                f"{CMD} --only b4 --runs {runs}",
                f"<= 3 probes + 2 s = {target:g} s",
                median(r.reaction_s) <= target,
            )
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())

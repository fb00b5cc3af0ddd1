"""The B6 (monitor cost) and CLI-latency sections of bench/RESULTS.md (issue 19)."""

from __future__ import annotations

from bench.cli_latency import CliResult
from bench.common import median
from bench.monitor_cost import HEARTBEAT, PROD_PROBE_S, B6Run
from bench.report import Figure, Section

#: Temporal Cloud list price per million actions; Route 53 health check per month: $0.50 per AWS
#: endpoint + $1.00 for the fast (10 s) interval (the list prices in the shared ANCHORS.md, issue 19).
TEMPORAL_PER_MILLION = 50.0
ROUTE53_FAST_CHECK = 1.50
HOURS_PER_MONTH = 730
REGIONS = 16


def b6_section(
    watch: list[B6Run], per_probe: list[B6Run], command: str, probe_s: float, window_rounds: int
) -> Section:
    hist = [r.per_region_hour_history for r in watch]
    metric = [r.per_region_hour_metric for r in watch]
    monthly = [m * REGIONS * HOURS_PER_MONTH for m in metric]
    cost = [m / 1e6 * TEMPORAL_PER_MILLION for m in monthly]
    figures = [
        Figure(
            "watch: actions / monitored region-hour (histories + heartbeats)",
            hist,
            "",
            command,
            "<= 10",
            median(hist) <= 10,
            2,
        ),
        Figure(
            "watch: actions / monitored region-hour (server `action` metric)",
            metric,
            "",
            command,
            "<= 10",
            median(metric) <= 10,
            2,
        ),
        Figure(f"watch: actions / month, {REGIONS}-region service at 10 s", monthly, "", command, digits=0),
        Figure(
            f"watch: Temporal Cloud at ${TEMPORAL_PER_MILLION:g}/M actions, per month",
            cost,
            "$",
            command,
            digits=2,
        ),
    ]
    if per_probe:
        old = [r.per_region_hour_metric for r in per_probe]
        figures += [
            Figure(
                "per_probe (before): actions / monitored region-hour (metric)", old, "", command, digits=1
            ),
            Figure(
                f"per_probe: Temporal Cloud per month, {REGIONS} regions",
                [o * REGIONS * HOURS_PER_MONTH / 1e6 * TEMPORAL_PER_MILLION for o in old],
                "$",
                command,
                digits=2,
            ),
        ]
    scale = PROD_PROBE_S / probe_s
    first = watch[0]
    notes = [
        f"{REGIONS} fast Route 53 health checks cost {REGIONS} × ${ROUTE53_FAST_CHECK:.2f} = "
        f"**${REGIONS * ROUTE53_FAST_CHECK:.2f} a month**; the watch monitor of a {REGIONS}-region service "
        f"**${median(cost):.2f} a month** ({median(monthly):,.0f} actions).",
        f"The monitor's times are divided by {scale:g} (probe interval {probe_s:g} s, watch heartbeat "
        f"timeout {60 / scale:g} s), so one hour of 10 s probes plays in {3600 / scale:g} s and counts per "
        f"probe round are those at 10 s. Per region-hour = actions ÷ rounds × 360 ÷ {REGIONS} regions. The "
        f"watch window is {window_rounds} rounds ({window_rounds * PROD_PROBE_S:g} s at 10 s), shorter than "
        "production's hour: the figure counts more watch restarts than production has (pessimistic).",
        f"One watch run, by kind (histories): {dict(first.history)}; heartbeats that reached the server "
        f"(`{HEARTBEAT}` in the server's `action` metric): {first.metric.get(HEARTBEAT, 0)}; the metric by "
        f"kind: {dict(first.metric)}. Rounds per run: {[r.rounds for r in watch]}.",
        "Heartbeats are throttled by the SDK to 80 % of the heartbeat timeout (60 s: one per 48 s); a "
        "crashed worker's watch resumes elsewhere after the timeout, from its last heartbeat "
        "(tests/workflows/test_monitor_watch.py). A shorter timeout notices a crash sooner and costs more.",
    ]
    return Section(
        "B6 — monitor cost",
        "Temporal actions per monitored region-hour of the health monitor, counted from its histories "
        "(activities scheduled, timers, workflow starts incl. continue-as-new, signals, updates) plus the "
        "heartbeats that reached the server, and cross-checked with the dev server's own `action` "
        "counter (what Temporal Cloud bills) over the same run, on a fresh 16-region service with no "
        "faults. `per_probe` is the monitor before issue 19 (`failover.probe_mode: per_probe`).",
        figures,
        notes,
    )


def cli_section(r: CliResult, command: str) -> Section:
    ratios = [c / t for c, t in zip(r.cli_s, r.temporal_s, strict=True)]
    return Section(
        "CLI latency",
        f"Wall time of `globalops rollout status {r.workflow_id} --json` (a new process, as a user runs "
        "it after `globalops dev up`: over Temporal's HTTP API, describe, then the progress query answered "
        f"by the worker) against `temporal workflow describe --workflow-id {r.workflow_id} -o json` on the "
        "same running rollout and dev server, alternating, after one warm-up run of each; and `--help` of "
        "the top command and of `rollout status`.",
        [
            Figure("globalops rollout status --json", r.cli_s, "s", command, digits=3),
            Figure("temporal workflow describe", r.temporal_s, "s", command, digits=3),
            Figure("ratio of the medians", [r.ratio], "×", command, "<= 5", r.ratio <= 5, 2),
            Figure("ratio per pair of runs", ratios, "×", command, digits=2),
            Figure("globalops --help", r.help_s, "s", command, digits=3),
            Figure("globalops rollout status --help", r.status_help_s, "s", command, digits=3),
            Figure("floor: python -c 'import temporalio.client'", r.sdk_import_s, "s", command, digits=3),
            Figure(
                "floor ÷ temporal workflow describe",
                [median(r.sdk_import_s) / median(r.temporal_s)],
                "×",
                command,
                digits=2,
            ),
        ],
        [
            "Commands import only what they use (cli/main.py loads a noun's module when it runs; "
            "tests/unit/test_cli_imports.py fails when `--help` or `rollout status` imports the workflows, "
            "activities, telemetry, OpenTelemetry, cloud SDKs or the codec's crypto).",
            "The status command reads over Temporal's HTTP API (`cli/temporal_http.py`) and imports none of "
            "the SDK (tests/e2e/test_status_http.py checks both, and that it prints what the SDK path "
            "prints). What is left is the interpreter, typer and rich, and the pydantic models of the "
            "rollout (contracts.rollout, config.models). With TLS, an API key, a profile file or a payload "
            "codec it takes the SDK path, which the floor rows bound from below: importing the SDK's client "
            "alone is more than 5× `temporal workflow describe` (a Go binary).",
        ],
    )

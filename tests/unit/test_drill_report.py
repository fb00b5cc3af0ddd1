"""The drill report's Markdown: heading and verdict, targets, times, the region table, reasons, cleanup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.dr import DrillRegion, DrillReport
from workflows.logic.drill_report import drill_markdown
from workflows.logic.markdown import CELL_END

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
E = CELL_END
HEADER = f"| Region{E} | Recovered into{E} | Status{E} | Snapshot{E} | RTO{E} | RPO{E} | Targets{E} |"
ALIGN = "|:---|:---|:---|:---|:---|:---|:---|"


def report(**changes: Any) -> DrillReport:
    values: dict[str, Any] = {
        "workflow_id": "drill:checkout:1",
        "service": "checkout",
        "env": "sim",
        "status": "succeeded",
        "verdict": "pass",
        "rto_target_s": 900.0,
        "rpo_target_s": 3600.0,
    }
    values.update(changes)
    return DrillReport(**values)


def test_a_bare_report_is_the_heading_and_the_targets() -> None:
    assert drill_markdown(report()).splitlines() == [
        "## DR drill checkout · pass",
        "",
        "- workflow: `drill:checkout:1` · environment `sim`",
        "- targets: RTO 900s · RPO 3600s",
    ]


@pytest.mark.parametrize(
    ("verdict", "status", "shown"),
    [
        ("pass", "succeeded", "pass"),
        ("fail", "failed", "fail"),
        ("skipped", "skipped", "skipped"),
        (None, "running", "running"),  # no verdict yet: the status stands in
        (None, "aborted", "aborted"),
    ],
)
def test_the_heading_shows_the_verdict_else_the_status(verdict: str | None, status: str, shown: str) -> None:
    heading = drill_markdown(report(verdict=verdict, status=status)).splitlines()[0]
    assert heading == f"## DR drill checkout · {shown}"


def test_seconds_are_whole_and_a_missing_value_is_a_dash() -> None:
    text = drill_markdown(report(rto_target_s=89.6, rpo_target_s=0.4))
    assert "- targets: RTO 90s · RPO 0s" in text.splitlines()
    row = DrillRegion(region="eu-west-1", status="failed")  # nothing measured, nowhere recovered
    lines = drill_markdown(report(regions=[row])).splitlines()
    assert f"| eu-west-1{E} | —{E} | failed{E} | —{E} | —{E} | —{E} | missed{E} |" in lines


def test_started_and_finished_times() -> None:
    started = drill_markdown(report(started_at=T0)).splitlines()
    assert started[4] == "- started 2026-11-02T09:00:00+00:00"
    both = drill_markdown(report(started_at=T0, finished_at=T0 + timedelta(minutes=5))).splitlines()
    assert both[4] == "- started 2026-11-02T09:00:00+00:00, finished 2026-11-02T09:05:00+00:00"
    # a finish without a start is not shown on its own
    assert "finished" not in drill_markdown(report(finished_at=T0))


def test_the_region_table_and_the_reasons_of_failed_rows() -> None:
    regions = [
        DrillRegion(
            region="eu-west-1",
            target_region="eu-central-1",
            status="succeeded",
            snapshot_id="snap-1",
            rto_s=412.4,
            rpo_s=1800.0,
            met_targets=True,
        ),
        DrillRegion(
            region="us-east-1",
            target_region="us-west-2",
            status="failed",
            snapshot_id="snap-2",
            rto_s=1200.0,
            rpo_s=60.0,
            reason="RTO 1200s > target 900s",
        ),
        DrillRegion(region="ap-northeast-1", status="refused", reason="no other region in group JP"),
    ]
    text = drill_markdown(report(verdict="fail", status="failed", reason="1 region missed", regions=regions))
    assert text.splitlines() == [
        "## DR drill checkout · fail",
        "",
        "- workflow: `drill:checkout:1` · environment `sim`",
        "- targets: RTO 900s · RPO 3600s",
        "- 1 region missed",
        "",
        HEADER,
        ALIGN,
        f"| eu-west-1{E} | eu-central-1{E} | succeeded{E} | snap-1{E} | 412s{E} | 1800s{E} | met{E} |",
        f"| us-east-1{E} | us-west-2{E} | failed{E} | snap-2{E} | 1200s{E} | 60s{E} | missed{E} |",
        f"| ap-northeast-1{E} | —{E} | refused{E} | —{E} | —{E} | —{E} | missed{E} |",
        "",
        "- us-east-1: RTO 1200s > target 900s",
        "- ap-northeast-1: no other region in group JP",
    ]


def test_no_reason_lines_when_every_region_went_well() -> None:
    row = DrillRegion(region="eu-west-1", target_region="eu-central-1", status="succeeded", met_targets=True)
    lines = drill_markdown(report(regions=[row])).splitlines()
    assert lines[-1] == f"| eu-west-1{E} | eu-central-1{E} | succeeded{E} | —{E} | —{E} | —{E} | met{E} |"


@pytest.mark.parametrize(
    ("leftover", "cleanup"),
    [
        (0, "Cleanup: 2 swept after the rehearsals, 0 left (verified by listing the environment)."),
        (3, "Cleanup: 2 swept after the rehearsals, 3 left (NOT clean)."),
    ],
)
def test_the_cleanup_line_comes_last(leftover: int, cleanup: str) -> None:
    row = DrillRegion(region="eu-west-1", target_region="eu-central-1", status="succeeded", met_targets=True)
    text = drill_markdown(report(regions=[row], leftover_resources=leftover, cleaned_up=["vol-1", "vm-1"]))
    assert text.splitlines() == [
        "## DR drill checkout · pass",
        "",
        "- workflow: `drill:checkout:1` · environment `sim`",
        "- targets: RTO 900s · RPO 3600s",
        "",
        HEADER,
        ALIGN,
        f"| eu-west-1{E} | eu-central-1{E} | succeeded{E} | —{E} | —{E} | —{E} | met{E} |",
        "",
        cleanup,
    ]


def test_no_cleanup_line_before_the_environment_was_listed() -> None:
    assert "Cleanup" not in drill_markdown(report(cleaned_up=["vol-1"]))

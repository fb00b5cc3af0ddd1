"""Pure failover-practice decisions: whose turn it is, whether it may start, when it ends early, the verdict.

No I/O and no clock: the workflow passes `workflow.now()`, so replays give the same answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from config.change import ChangeWindow
    from contracts.change import Freeze
    from contracts.failover import ProbeResult
    from contracts.practice import PracticeVerdict

from workflows.logic.change import describe_opening, holding, window_closed
from workflows.logic.failover import healthy_probe

__all__ = [
    "KIND",
    "TOLERANCE",
    "differing",
    "frozen_reason",
    "needs_settling",
    "phase_timings",
    "region_for_week",
    "skip_reason",
    "target_problem",
    "verdict",
    "weights_equal",
]

#: The operation kind a freeze holds (a routine change: any freeze covering it holds a practice).
KIND = "practice"
#: Weights that differ by at most this much are equal (weights are rounded to 9 decimals).
TOLERANCE = 1e-6
#: Week 0 of the rotation: a Monday, so every week starts on a Monday 00:00 UTC.
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def region_for_week(regions: Sequence[str], now: datetime) -> str:
    """The region whose turn it is in the week of `now`: each region once every len(regions) weeks."""
    if not regions:
        raise ValueError("no region to practice")
    week = (now - _EPOCH) // timedelta(days=7)
    return regions[week % len(regions)]


def skip_reason(
    now: datetime,
    *,
    service: str,
    region: str,
    time_zone: str,
    share: float,
    freezes: Sequence[Freeze],
    windows: Sequence[ChangeWindow],
) -> str | None:
    """Why a practice of `region` must not start now (nothing is moved), or None.

    A freeze covering the service and region, a closed change window in the region's own time zone,
    or a region that serves no traffic (there is nothing to shift).
    """
    held = holding(freezes, now, KIND, service, [region])
    if held:
        return "frozen by " + "; ".join(f"{f.id} ({f.reason})" for f in held)
    opened = window_closed(now, time_zone, region, windows)
    if opened is not None:
        return f"{region}: change window closed until {describe_opening(opened, time_zone)}"
    if share <= 0:
        return f"{region} serves no traffic: there is nothing to shift"
    return None


def frozen_reason(held: Sequence[Freeze]) -> str | None:
    """Why a freeze ends the hold ("a freeze started: frz-3 (sale)"), or None when none holds it."""
    if not held:
        return None
    return "a freeze started: " + "; ".join(f"{f.id} ({f.reason})" for f in held)


def target_problem(target: str, probe: ProbeResult, max_error_rate: float) -> str | None:
    """Why the target is degraded (the hold ends), or None while it is healthy.

    Fail closed: a blind or unreachable target, or an unknown error rate, is not healthy.
    """
    if healthy_probe(probe, max_error_rate):
        return None
    if probe.detail:
        shown = probe.detail
    elif probe.error_rate is None:
        shown = "error rate unknown"
    else:
        shown = f"error rate {probe.error_rate:.2%}"
    return f"target {target} degraded: {shown}"


def differing(
    before: Mapping[str, float], after: Mapping[str, float], tolerance: float = TOLERANCE
) -> list[str]:
    """Regions whose weight differs by more than `tolerance` (a region missing on one side counts 0)."""
    regions = set(before) | set(after)
    return sorted(r for r in regions if abs(before.get(r, 0.0) - after.get(r, 0.0)) > tolerance)


def weights_equal(
    before: Mapping[str, float], after: Mapping[str, float], tolerance: float = TOLERANCE
) -> bool:
    """Every region's weight the same before and after, within `tolerance`."""
    return not differing(before, after, tolerance)


def needs_settling(before: Mapping[str, float], after: Mapping[str, float]) -> bool:
    """True when the weights are back but for rounding noise: then the exact weights of before are set.

    Weights that differ by more than the tolerance are not overwritten: something else (another
    region's failover) may have moved traffic meanwhile, and the verdict reports the difference.
    """
    return weights_equal(before, after) and bool(differing(before, after, tolerance=0.0))


def verdict(
    failover_status: str,
    failover_reason: str | None,
    failback_status: str | None,
    failback_reason: str | None,
    abort: str | None,
    before: Mapping[str, float],
    after: Mapping[str, float],
) -> tuple[PracticeVerdict, str | None]:
    """pass, fail or aborted, and why.

    fail: the failover path did not work (refused, failed), traffic did not come back, or the weights
    differ at the end. aborted: ended early (and everything came back). pass: shifted, held, back.
    """
    if failover_status != "succeeded" and not (abort and failover_status == "aborted"):
        return "fail", f"failover {failover_status}: {failover_reason or 'no reason given'}"
    if failover_status == "succeeded" and failback_status != "succeeded":
        return "fail", f"failback {failback_status or 'not run'}: {failback_reason or 'no reason given'}"
    changed = differing(before, after)
    if changed:
        return "fail", "traffic weights differ after the practice: " + ", ".join(changed)
    if abort:
        return "aborted", abort
    return "pass", None


def phase_timings(marks: Sequence[tuple[str, datetime]]) -> dict[str, float]:
    """Seconds of each phase from consecutive marks (the first is the start), plus `total`."""
    out: dict[str, float] = {}
    for (_, earlier), (name, later) in itertools.pairwise(marks):
        out[name] = (later - earlier).total_seconds()
    if len(marks) > 1:
        out["total"] = (marks[-1][1] - marks[0][1]).total_seconds()
    return out

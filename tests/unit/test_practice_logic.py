"""Failover practice decisions: the weekly rotation, when a practice skips, what ends a hold, the verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config.change import ChangeWindow
from contracts.change import Freeze
from contracts.failover import ProbeResult
from workflows.logic.practice import (
    KIND,
    TOLERANCE,
    differing,
    frozen_reason,
    needs_settling,
    phase_timings,
    region_for_week,
    skip_reason,
    target_problem,
    verdict,
    weights_equal,
)

T0 = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)  # a Tuesday
MONDAY = datetime(2024, 1, 1, tzinfo=UTC)  # the rotation's week 0


def freeze(**fields: Any) -> Freeze:
    values: dict[str, Any] = {"id": "frz-1", "reason": "sale", "started_by": "alice", "started_at": T0}
    values.update(fields)
    return Freeze(**values)


def window(**fields: Any) -> ChangeWindow:
    return ChangeWindow.model_validate({"days": ["tue"], "from": "10:00", "to": "16:00", **fields})


def probe(**fields: Any) -> ProbeResult:
    values: dict[str, Any] = {
        "region": "eu-central-1",
        "ok": True,
        "error_rate": 0.01,
        "latency_p99_ms": 80.0,
    }
    values.update(fields)
    return ProbeResult(**values)


def skip(**fields: Any) -> str | None:
    values: dict[str, Any] = {
        "service": "checkout",
        "region": "eu-west-1",
        "time_zone": "UTC",
        "share": 0.25,
        "freezes": [],
        "windows": [],
    }
    values.update(fields)
    return skip_reason(T0, **values)


# --------------------------------------------------------------------------- rotation


def test_each_region_gets_its_turn_once_every_len_weeks_starting_on_mondays() -> None:
    regions = ["a", "b", "c"]
    assert region_for_week(regions, MONDAY) == "a"
    assert region_for_week(regions, MONDAY + timedelta(days=6, hours=23)) == "a"
    assert region_for_week(regions, MONDAY + timedelta(days=7)) == "b"
    assert region_for_week(regions, MONDAY + timedelta(days=14)) == "c"
    assert region_for_week(regions, MONDAY + timedelta(days=21)) == "a"
    assert region_for_week(regions, MONDAY - timedelta(seconds=1)) == "c"  # the week before week 0
    assert region_for_week(["only"], T0) == "only"


def test_no_region_to_rotate_through_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^no region to practice$"):
        region_for_week([], T0)


# --------------------------------------------------------------------------- may it start


def test_a_practice_starts_when_nothing_blocks_it() -> None:
    assert skip() is None
    assert skip(windows=[window(days=["wed"])]) is None
    assert skip(windows=[window(regions=["us-east-1"])]) is None
    assert skip(freezes=[freeze(services=["search"])]) is None
    assert skip(freezes=[freeze(regions=["us-east-1"])]) is None
    assert skip(freezes=[freeze(ended_at=T0, ended_by="bob")]) is None
    assert skip(freezes=[freeze(until=T0 - timedelta(minutes=1))]) is None  # expired by its --until


def test_any_freeze_covering_the_practice_skips_it_not_only_one_that_says_all() -> None:
    assert KIND == "practice"
    assert skip(freezes=[freeze()]) == "frozen by frz-1 (sale)"
    assert skip(freezes=[freeze(regions=["eu-west-1"])]) == "frozen by frz-1 (sale)"
    two = [freeze(), freeze(id="frz-2", reason="audit", services=["checkout"])]
    assert skip(freezes=two) == "frozen by frz-1 (sale); frz-2 (audit)"
    # A freeze comes first: it is named even when a window is closed too.
    assert skip(freezes=[freeze()], windows=[window()]) == "frozen by frz-1 (sale)"


def test_a_closed_change_window_skips_it_read_in_the_regions_time_zone() -> None:
    assert skip(windows=[window()]) == "eu-west-1: change window closed until Tue 2026-10-20 16:00 UTC (UTC)"
    # 12:00 UTC is 21:00 in Tokyo: a 10:00-16:00 window there is open.
    assert skip(windows=[window()], time_zone="Asia/Tokyo") is None
    assert skip(windows=[window(regions=["eu-west-1"])]) is not None


def test_a_region_that_serves_no_traffic_has_nothing_to_practice() -> None:
    assert skip(share=0.0) == "eu-west-1 serves no traffic: there is nothing to shift"
    assert skip(share=1e-9) is None


# --------------------------------------------------------------------------- what ends the hold


def test_a_freeze_ends_the_hold_and_names_itself() -> None:
    assert frozen_reason([]) is None
    assert frozen_reason([freeze()]) == "a freeze started: frz-1 (sale)"
    assert (
        frozen_reason([freeze(), freeze(id="frz-2", reason="x")])
        == "a freeze started: frz-1 (sale); frz-2 (x)"
    )


def test_a_healthy_target_keeps_the_hold() -> None:
    assert target_problem("eu-central-1", probe(), 0.05) is None
    assert target_problem("eu-central-1", probe(error_rate=0.05), 0.05) is None


def test_a_degraded_or_unknown_target_ends_the_hold_fail_closed() -> None:
    t = "eu-central-1"
    assert target_problem(t, probe(error_rate=0.3), 0.05) == f"target {t} degraded: error rate 30.00%"
    assert target_problem(t, probe(error_rate=None), 0.05) == f"target {t} degraded: error rate unknown"
    assert (
        target_problem(t, probe(ok=False, detail="unreachable"), 0.05) == f"target {t} degraded: unreachable"
    )
    assert (
        target_problem(t, probe(blind=True, error_rate=None), 0.05)
        == f"target {t} degraded: error rate unknown"
    )
    assert target_problem(t, probe(ok=False), 0.05) == f"target {t} degraded: error rate 1.00%"


# --------------------------------------------------------------------------- verdict


BEFORE = {"eu-west-1": 0.25, "eu-central-1": 0.25, "us-east-1": 0.5}


def judge(**fields: Any) -> tuple[str, str | None]:
    values: dict[str, Any] = {
        "failover_status": "succeeded",
        "failover_reason": None,
        "failback_status": "succeeded",
        "failback_reason": None,
        "abort": None,
        "before": BEFORE,
        "after": dict(BEFORE),
    }
    values.update(fields)
    return verdict(**values)


def test_shifted_held_and_back_to_the_same_weights_passes() -> None:
    assert judge() == ("pass", None)
    assert judge(after={**BEFORE, "eu-west-1": 0.25 + TOLERANCE / 2}) == ("pass", None)


def test_a_failover_path_that_does_not_work_fails() -> None:
    assert judge(failover_status="refused", failover_reason="no region qualifies", failback_status=None) == (
        "fail",
        "failover refused: no region qualifies",
    )
    assert judge(failover_status="failed", failback_status=None) == (
        "fail",
        "failover failed: no reason given",
    )
    # An aborted failover without an abort of the practice (the child was stopped by someone) fails too.
    assert judge(failover_status="aborted", failback_status=None)[0] == "fail"


def test_a_failover_stopped_by_the_practices_own_abort_is_aborted() -> None:
    assert judge(failover_status="aborted", failback_status=None, abort="a freeze started: frz-1 (sale)") == (
        "aborted",
        "a freeze started: frz-1 (sale)",
    )


def test_traffic_that_does_not_come_back_fails() -> None:
    assert judge(failback_status="failed", failback_reason="health gate failed at 10%") == (
        "fail",
        "failback failed: health gate failed at 10%",
    )
    assert judge(failback_status=None) == ("fail", "failback not run: no reason given")
    # Even an aborted practice fails when its failback did.
    assert judge(failback_status="failed", abort="alarm")[0] == "fail"


def test_weights_that_differ_at_the_end_fail_and_name_the_regions() -> None:
    after = {"eu-west-1": 0.0, "eu-central-1": 0.5, "us-east-1": 0.5}
    assert judge(after=after) == (
        "fail",
        "traffic weights differ after the practice: eu-central-1, eu-west-1",
    )
    assert judge(after=after, abort="alarm")[0] == "fail"
    assert judge(after={**BEFORE, "new": 0.1}) == ("fail", "traffic weights differ after the practice: new")
    missing = {"eu-central-1": 0.25, "us-east-1": 0.5}
    assert judge(after=missing) == ("fail", "traffic weights differ after the practice: eu-west-1")
    assert judge(after={**BEFORE, "eu-west-1": 0.25 + 2 * TOLERANCE})[0] == "fail"


def test_ended_early_with_everything_back_is_aborted() -> None:
    assert judge(abort="target eu-central-1 degraded: error rate 30.00%") == (
        "aborted",
        "target eu-central-1 degraded: error rate 30.00%",
    )


def test_weights_are_equal_within_the_tolerance_and_a_missing_region_counts_zero() -> None:
    assert weights_equal({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5})
    assert weights_equal({"a": 0.5, "b": 0.0}, {"a": 0.5})
    assert weights_equal({"a": 0.5}, {"a": 0.5, "b": 0.0})
    assert not weights_equal({"a": 0.5}, {"a": 0.5, "b": 0.1})
    assert not weights_equal({"a": 0.5, "b": 0.1}, {"a": 0.5})
    assert weights_equal({"a": 0.5}, {"a": 0.5 + TOLERANCE * 0.99})
    assert not weights_equal({"a": 0.5}, {"a": 0.5 + 2 * TOLERANCE})
    assert not weights_equal({"a": 0.5 + 2 * TOLERANCE}, {"a": 0.5})
    assert weights_equal({"a": 0.5}, {"a": 0.6}, tolerance=0.2)
    assert weights_equal({"a": 0.5}, {"a": 0.75}, tolerance=0.25)  # exactly the tolerance apart: equal
    assert differing({"a": 0.5, "b": 0.5}, {"a": 0.75, "c": 0.5}, tolerance=0.25) == ["b", "c"]
    assert differing({"a": 1.0, "b": 0.0}, {"b": 1.0}) == ["a", "b"]
    assert TOLERANCE == 1e-6


def test_weights_back_but_for_rounding_noise_are_settled_to_the_exact_weights_of_before() -> None:
    third = 1 / 3
    before = {"a": third, "b": third, "c": third}
    assert needs_settling(before, {"a": 0.333333333, "b": 0.333333334, "c": 0.333333333})
    assert not needs_settling(before, dict(before))
    assert not needs_settling(before, {"a": 0.0, "b": 2 * third, "c": third})  # moved by something else
    assert not needs_settling({"a": 0.5}, {"a": 0.5, "b": 0.0})  # a region listed at 0 is the same


# --------------------------------------------------------------------------- timings


def test_each_phase_is_timed_from_the_mark_before_and_the_total_spans_them() -> None:
    marks = [
        ("start", T0),
        ("failover", T0 + timedelta(seconds=40)),
        ("hold", T0 + timedelta(seconds=640)),
        ("failback", T0 + timedelta(seconds=820)),
    ]
    assert phase_timings(marks) == {"failover": 40.0, "hold": 600.0, "failback": 180.0, "total": 820.0}
    assert phase_timings(marks[:2]) == {"failover": 40.0, "total": 40.0}
    assert phase_timings(marks[:1]) == {}
    assert phase_timings([]) == {}

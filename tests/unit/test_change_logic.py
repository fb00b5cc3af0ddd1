"""Change control decisions: which freeze holds what, and when a closed change window opens (local time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config.change import ChangeWindow
from contracts.change import Freeze
from workflows.logic.change import describe_opening, holding, in_force, next_change, window_closed

T0 = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)  # a Tuesday


def window(**fields: Any) -> ChangeWindow:
    return ChangeWindow.model_validate({"days": ["fri"], "from": "16:00", "to": "24:00", **fields})


def freeze(**fields: Any) -> Freeze:
    values: dict[str, Any] = {"id": "frz-1", "reason": "incident", "started_by": "alice", "started_at": T0}
    values.update(fields)
    return Freeze(**values)


# --------------------------------------------------------------------------- freezes


def test_a_freeze_without_scope_holds_every_routine_operation_but_no_emergency() -> None:
    f = freeze()
    for kind in ("rollout", "deploy", "drill"):
        assert holding([f], T0, kind, "checkout", ["eu-west-1"]) == [f]
    for kind in ("failover", "failback", "recover"):
        assert holding([f], T0, kind, "checkout", ["eu-west-1"]) == []
    assert holding([freeze(all=True)], T0, "failover", "checkout", ["eu-west-1"]) == [freeze(all=True)]


def test_a_freeze_covers_only_its_services_and_regions() -> None:
    f = freeze(services=["checkout"], regions=["eu-west-1", "eu-central-1"])
    assert holding([f], T0, "rollout", "checkout", ["us-east-1", "eu-central-1"]) == [f]  # any region
    assert holding([f], T0, "rollout", "checkout", ["us-east-1"]) == []
    assert holding([f], T0, "rollout", "payments", ["eu-west-1"]) == []
    assert holding([freeze(regions=["eu-west-1"])], T0, "rollout", "any", ["eu-west-1"]) != []


def test_a_freeze_is_in_force_until_it_ends_or_its_until_passes() -> None:
    until = T0 + timedelta(hours=2)
    f = freeze(until=until)
    assert in_force(f, T0) and in_force(f, until - timedelta(microseconds=1))
    assert not in_force(f, until)  # exactly at --until it is over
    ended = freeze(ended_at=T0, ended_by="bob")
    assert not in_force(ended, T0 - timedelta(hours=1))
    assert holding([f, ended], until, "rollout", "checkout", ["eu-west-1"]) == []


def test_next_change_is_the_earliest_until_ahead() -> None:
    soon, later = T0 + timedelta(hours=1), T0 + timedelta(hours=5)
    freezes = [
        freeze(until=later),
        freeze(id="frz-2", until=soon),
        freeze(id="frz-3"),
        freeze(id="frz-4", until=T0),
    ]
    assert next_change(freezes, T0) == soon
    assert next_change([freeze()], T0) is None
    assert next_change([freeze(until=soon, ended_at=T0)], T0) is None


# --------------------------------------------------------------------------- change windows


def test_a_window_blocks_only_its_days_and_hours_in_local_time() -> None:
    friday_berlin_17 = datetime(2026, 10, 23, 15, 0, tzinfo=UTC)  # 17:00 CEST
    opened = window_closed(friday_berlin_17, "Europe/Berlin", "eu-central-1", [window()])
    assert opened is not None and opened.isoformat() == "2026-10-24T00:00:00+02:00"
    assert window_closed(friday_berlin_17, "UTC", "eu-central-1", [window()]) is None  # 15:00 in UTC
    before = datetime(2026, 10, 23, 13, 59, tzinfo=UTC)  # 15:59 CEST: not yet
    assert window_closed(before, "Europe/Berlin", "eu-central-1", [window()]) is None
    at_start = datetime(2026, 10, 23, 14, 0, tzinfo=UTC)  # 16:00 CEST: closed (from is inclusive)
    assert window_closed(at_start, "Europe/Berlin", "eu-central-1", [window()]) is not None
    thursday = datetime(2026, 10, 22, 15, 0, tzinfo=UTC)
    assert window_closed(thursday, "Europe/Berlin", "eu-central-1", [window()]) is None


def test_a_window_ends_exclusive_and_covers_only_its_regions() -> None:
    w = window(days=["tue"], **{"from": "09:00", "to": "12:00"}, regions=["us-east-1"])
    assert window_closed(T0 - timedelta(minutes=1), "UTC", "us-east-1", [w]) is not None  # 11:59
    assert window_closed(T0, "UTC", "us-east-1", [w]) is None  # 12:00: open again
    assert window_closed(T0 - timedelta(minutes=1), "UTC", "eu-west-1", [w]) is None  # not its region


def test_adjoining_windows_across_the_end_of_daylight_saving_time() -> None:
    """Berlin leaves summer time on Sunday 2026-10-25: Sunday has 25 hours."""
    weekend = [
        window(days=["sat"], **{"from": "22:00", "to": "24:00"}),
        window(days=["sun"], **{"from": "00:00", "to": "24:00"}),
    ]
    now = datetime(2026, 10, 24, 20, 30, tzinfo=UTC)  # Saturday 22:30 CEST
    opened = window_closed(now, "Europe/Berlin", "eu-central-1", weekend)
    assert opened is not None
    assert opened.isoformat() == "2026-10-26T00:00:00+01:00"  # Monday midnight, now in CET
    assert opened - now == timedelta(hours=26, minutes=30)  # 1.5 h of Saturday + a 25-hour Sunday
    assert describe_opening(opened, "Europe/Berlin") == "Mon 2026-10-26 00:00 CET (Europe/Berlin)"


def test_a_window_ending_in_the_repeated_hour_of_the_clock_change() -> None:
    """On 2026-10-25 Berlin's 02:00-03:00 happens twice; a window to 03:00 ends at the wall-clock 03:00."""
    w = window(days=["sun"], **{"from": "01:00", "to": "03:00"})
    now = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)  # Sunday 01:30 CEST
    opened = window_closed(now, "Europe/Berlin", "eu-central-1", [w])
    assert opened is not None and opened.isoformat() == "2026-10-25T03:00:00+01:00"  # 02:00 UTC, CET


def test_no_windows_never_closes_and_a_chain_is_followed_at_most_so_far() -> None:
    assert window_closed(T0, "UTC", "r", []) is None
    always = [
        window(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], **{"from": "00:00", "to": "24:00"})
    ]
    opened = window_closed(T0, "UTC", "r", always)
    assert opened is not None and opened == datetime(
        2026, 11, 5, 0, 0, tzinfo=UTC
    )  # 16 days on: looked again


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"from": "18:00", "to": "16:00"}, "must be after from"),
        ({"from": "16:00", "to": "16:00"}, "must be after from"),
        ({"from": "25:00", "to": "26:00"}, "is not a time of day"),
        ({"from": "9:00", "to": "12:00"}, "is not a time of day"),
        ({"days": ["fri", "fri"]}, "a day is listed twice"),
        ({"days": []}, "at least 1"),
        ({"days": ["funday"]}, "Input should be"),
    ],
)
def test_a_bad_window_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        window(**fields)

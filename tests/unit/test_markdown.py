"""Markdown of the Web UI's current details: tables with space between columns, words for states,
the monitor's table in topology order, with a blind region's missing numbers said, never 0."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.failover import Firing, MonitorStatus, ProbeSample
from workflows.logic.markdown import CELL_END, cell, monitor_details, state, table

E = CELL_END
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_the_cell_end_is_an_em_space() -> None:
    assert CELL_END == "\u2003"


def test_a_cell_ends_in_the_gap_and_cannot_break_the_table() -> None:
    assert cell("ca-central-1") == f"ca-central-1{E}"
    assert cell("") == E
    assert cell("a | b\nc") == f"a / b c{E}"


def test_a_table_is_left_aligned_with_a_gap_after_every_cell() -> None:
    assert table(["Region", "Wave"], [["ca-central-1", "edge"], ["us-east-1", ""]]) == [
        f"| Region{E} | Wave{E} |",
        "|:---|:---|",
        f"| ca-central-1{E} | edge{E} |",
        f"| us-east-1{E} | {E} |",
    ]
    assert table(["A", "B", "C"], []) == [f"| A{E} | B{E} | C{E} |", "|:---|:---|:---|"]


def test_states_are_words() -> None:
    assert state("rolled_back") == "rolled back"
    assert state("succeeded") == "succeeded"


def probe(region: str, ok: bool = True, blind: bool = False, **numbers: float | None) -> ProbeSample:
    values: dict[str, float | None] = {"error_rate": 0.0021, "latency_p99_ms": 80.4}
    values.update(numbers)
    return ProbeSample(region=region, at=T0, ok=ok, blind=blind, **values)


def test_monitor_details_in_topology_order_with_status_words_and_missing_numbers() -> None:
    firing = Firing(
        region="ap-south-1", trigger="probe_failures", mode="manual", first_bad_at=T0, fired_at=T0, detail="x"
    )
    status = MonitorStatus(
        service="checkout",
        runs=2,
        probes=17,
        last={
            "ap-south-1": probe("ap-south-1", ok=False, error_rate=0.31),
            "eu-west-1": probe("eu-west-1", ok=False, error_rate=1.0, latency_p99_ms=30000.0),
            "us-east-1": probe("us-east-1"),
            "sa-east-1": probe("sa-east-1", ok=False, blind=True, error_rate=None, latency_p99_ms=None),
        },
        active={"eu-west-1": "failover:checkout:eu-west-1"},
        pending={"ap-south-1": firing},
    )
    order = [
        "us-east-1",
        "eu-west-1",
        "ca-central-1",
        "ap-south-1",
        "sa-east-1",
    ]  # ca-central-1: no probe yet
    assert monitor_details(status, order).splitlines() == [
        "**monitor checkout** · run 2 · 17 probe rounds",
        "",
        f"| Region{E} | Status{E} | Error rate{E} | p99 ms{E} | Failover{E} |",
        "|:---|:---|:---|:---|:---|",
        f"| us-east-1{E} | healthy{E} | 0.21%{E} | 80{E} | {E} |",
        f"| eu-west-1{E} | unhealthy{E} | 100.00%{E} | 30000{E} | failover:checkout:eu-west-1{E} |",
        f"| ap-south-1{E} | unhealthy{E} | 31.00%{E} | 80{E} | pending approval{E} |",
        f"| sa-east-1{E} | blind{E} | no data{E} | no data{E} | {E} |",
    ]


def test_a_running_failover_wins_over_a_pending_approval() -> None:
    firing = Firing(
        region="r", trigger="probe_failures", mode="manual", first_bad_at=T0, fired_at=T0, detail=""
    )
    status = MonitorStatus(
        service="s",
        runs=1,
        probes=1,
        last={"r": probe("r", ok=False)},
        active={"r": "f"},
        pending={"r": firing},
    )
    assert (
        monitor_details(status, ["r"]).splitlines()[-1]
        == f"| r{E} | unhealthy{E} | 0.21%{E} | 80{E} | f{E} |"
    )


def test_numbers_are_formatted_as_given_even_out_of_range() -> None:
    """A probe that timed out may carry an infinite p99: it reads "inf", like any other number."""
    status = MonitorStatus(service="s", runs=1, probes=1, last={"r": probe("r", latency_p99_ms=float("inf"))})
    assert (
        monitor_details(status, ["r"]).splitlines()[-1] == f"| r{E} | healthy{E} | 0.21%{E} | inf{E} | {E} |"
    )

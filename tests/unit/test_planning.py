"""Pure rollout decisions: wave plan, batches, health verdicts, undo order and the details Markdown."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from config.models import HealthPolicy, Policies, RollbackPolicy, Topology
from contracts.cloud import HealthSample
from contracts.rollout import (
    RegionOutcome,
    RolloutProgress,
    WavePlan,
)
from workflows.logic.markdown import CELL_END
from workflows.logic.planning import (
    batch_targets,
    judge_health,
    most_common_release,
    plan_waves,
    regions_to_compensate,
    render_details,
    surge_instances,
)

CORE = [
    "us-east-1",
    "us-west-2",
    "us-central1",
    "eu-west-1",
    "eu-central-1",
    "europe-west1",
    "ap-southeast-1",
    "ap-northeast-1",
]
EDGE = [
    "ca-central-1",
    "eu-west-2",
    "me-south-1",
    "af-south-1",
    "ap-southeast-2",
    "ap-south-1",
    "asia-southeast1",
    "sa-east-1",
]


def _variant(topology: Topology, **wave_changes: dict[str, Any]) -> Topology:
    """The topology with some waves' fields replaced (None value = drop the field); revalidated."""
    data = topology.model_dump()
    for wave in data["waves"]:
        for field, value in wave_changes.get(wave["name"], {}).items():
            if value is None:
                wave.pop(field, None)
            else:
                wave[field] = value
    return Topology.model_validate(data)


# --------------------------------------------------------------------------- plan_waves


def test_plan_waves_default_topology(topology: Topology) -> None:
    plans = plan_waves(topology)
    assert [p.name for p in plans] == ["validate", "core", "edge"]

    validate, core, edge = plans
    assert len(validate.regions) == 16
    assert validate.regions == topology.region_names()
    assert validate.groups == [topology.region_names()]
    assert validate.pilot is None

    assert core.pilot == "us-east-1"
    assert core.regions == CORE
    assert core.groups == [
        ["us-east-1"],
        ["us-west-2", "us-central1"],
        ["eu-west-1", "eu-central-1"],
        ["europe-west1", "ap-southeast-1"],
        ["ap-northeast-1"],
    ]

    assert edge.pilot is None
    assert edge.regions == EDGE
    assert edge.groups == [EDGE[:4], EDGE[4:]]
    assert all(len(group) <= 4 for group in edge.groups)


def test_every_region_deployed_exactly_once(topology: Topology) -> None:
    deployed = [r for plan in plan_waves(topology)[1:] for group in plan.groups for r in group]
    assert sorted(deployed) == sorted(topology.region_names())
    assert len(deployed) == len(set(deployed))


def test_plan_waves_without_pilot(topology: Topology) -> None:
    core = next(p for p in plan_waves(_variant(topology, core={"pilot": None})) if p.name == "core")
    assert core.pilot is None
    assert core.groups == [CORE[0:2], CORE[2:4], CORE[4:6], CORE[6:8]]
    assert "us-east-1" in core.groups[0]


def test_plan_waves_concurrency_larger_than_wave(topology: Topology) -> None:
    edge = plan_waves(_variant(topology, edge={"concurrency": 50}))[2]
    assert edge.groups == [EDGE]


def test_plan_waves_inserts_validate_when_omitted(topology: Topology) -> None:
    data = topology.model_dump()
    data["waves"] = [w for w in data["waves"] if w["name"] != "validate"]
    plans = plan_waves(Topology.model_validate(data))
    assert [p.name for p in plans] == ["validate", "core", "edge"]
    assert plans[0] == WavePlan(
        name="validate", regions=topology.region_names(), groups=[topology.region_names()]
    )


# --------------------------------------------------------------------------- batch_targets


@pytest.mark.parametrize(
    ("instances", "share", "expected"),
    [
        (4, 0.25, [1, 2, 3, 4]),
        (10, 0.3, [3, 6, 9, 10]),
        (1, 0.25, [1]),
        (0, 0.25, []),
        (-3, 0.25, []),
        (7, 1.0, [7]),
        (1, 1.0, [1]),
        (8, 0.5, [4, 8]),
        (3, 0.1, [1, 2, 3]),
        (100, 0.29, [29, 58, 87, 100]),  # 100 * 0.29 == 28.999... in floating point
    ],
)
def test_batch_targets(instances: int, share: float, expected: list[int]) -> None:
    assert batch_targets(instances, share) == expected


@pytest.mark.parametrize("instances", [1, 2, 5, 13, 100])
@pytest.mark.parametrize("share", [0.01, 0.25, 0.3, 0.5, 0.99, 1.0])
def test_batch_targets_invariants(instances: int, share: float) -> None:
    targets = batch_targets(instances, share)
    assert targets[-1] == instances
    assert all(b > a for a, b in itertools.pairwise(targets))
    assert targets[0] >= 1


# --------------------------------------------------------------------------- judge_health


def _sample(**changes: Any) -> HealthSample:
    values: dict[str, Any] = {
        "region": "us-east-1",
        "healthy_instances": 4,
        "instances": 4,
        "error_rate": 0.002,
        "latency_p99_ms": 80.0,
        "cpu": 0.4,
        "requests": 2000,
    }
    values.update(changes)
    return HealthSample(**values)


def test_healthy_sample_has_no_reasons(policies: Policies) -> None:
    assert judge_health(_sample(), policies.health) == []


def test_values_at_the_thresholds_pass() -> None:
    policy = HealthPolicy()
    sample = _sample(
        error_rate=policy.max_error_rate,
        latency_p99_ms=policy.max_p99_latency_ms,
        cpu=policy.max_cpu,
        healthy_instances=3,  # 3/4 == min_healthy_share 0.75
    )
    assert judge_health(sample, policy) == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"error_rate": 0.05}, "error rate 5.00% > 1.00%"),
        ({"latency_p99_ms": 250.0}, "p99 250 ms > 200 ms"),
        ({"cpu": 0.9}, "cpu 90% > 85%"),
        ({"healthy_instances": 2}, "healthy 50% < 75%"),
    ],
)
def test_each_breach_is_named(policies: Policies, changes: dict[str, Any], reason: str) -> None:
    assert judge_health(_sample(**changes), policies.health) == [reason]


def test_all_breaches_reported_together(policies: Policies) -> None:
    sample = _sample(error_rate=0.5, latency_p99_ms=30_000.0, cpu=0.99, healthy_instances=0)
    reasons = judge_health(sample, policies.health)
    assert len(reasons) == 4
    assert [r.split()[0] for r in reasons] == ["error", "p99", "cpu", "healthy"]


def test_no_instances_is_unhealthy(policies: Policies) -> None:
    reasons = judge_health(_sample(instances=0, healthy_instances=0), policies.health)
    assert reasons == ["healthy 0% < 75%"]


def test_healthy_share_follows_policy() -> None:
    sample = _sample(healthy_instances=3)  # 75 %
    assert judge_health(sample, HealthPolicy(min_healthy_share=0.75)) == []
    assert judge_health(sample, HealthPolicy(min_healthy_share=0.8)) == ["healthy 75% < 80%"]
    assert judge_health(_sample(healthy_instances=4), HealthPolicy(min_healthy_share=1.0)) == []


# --------------------------------------------------------------------------- compensation


TOUCHED = ["us-east-1", "us-west-2", "us-central1", "ca-central-1", "eu-west-2"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("halt", []),
        ("rollback_all", ["eu-west-2", "ca-central-1", "us-central1", "us-west-2", "us-east-1"]),
        ("rollback_wave", ["eu-west-2", "ca-central-1"]),
    ],
)
def test_regions_to_compensate(policy: RollbackPolicy, expected: list[str]) -> None:
    assert regions_to_compensate(TOUCHED, policy, EDGE) == expected


def test_rollback_wave_keeps_only_touched_regions_of_the_current_wave() -> None:
    # untouched regions of the wave are not restored; touched ones of other waves neither
    assert regions_to_compensate(TOUCHED, "rollback_wave", CORE) == [
        "us-central1",
        "us-west-2",
        "us-east-1",
    ]
    assert regions_to_compensate(["us-east-1"], "rollback_wave", EDGE) == []


def test_nothing_touched_nothing_to_compensate() -> None:
    for policy in ("halt", "rollback_all", "rollback_wave"):
        assert regions_to_compensate([], policy, CORE) == []


def test_compensation_does_not_mutate_input() -> None:
    touched = list(TOUCHED)
    regions_to_compensate(touched, "rollback_all", CORE)
    assert touched == TOUCHED


# --------------------------------------------------------------------------- most_common_release


@pytest.mark.parametrize(
    ("releases", "expected"),
    [
        (["1.0.0", "1.0.0", "0.9.0"], "1.0.0"),
        (["0.9.0", "1.0.0", "1.0.0", None, None, None], "1.0.0"),
        (["0.9.0", "", "", ""], "0.9.0"),
        ([None, None], None),
        ([], None),
        (["2.0.0"], "2.0.0"),
        (["1.0.0", "0.9.0", "0.9.0", "1.0.0"], "1.0.0"),  # a tie goes to the release seen first
        (["0.9.0", "1.0.0", "1.0.0", "0.9.0"], "0.9.0"),
    ],
)
def test_most_common_release(releases: list[str | None], expected: str | None) -> None:
    assert most_common_release(releases) == expected


# --------------------------------------------------------------------------- render_details


def _progress(**changes: Any) -> RolloutProgress:
    values: dict[str, Any] = {
        "workflow_id": "rollout:checkout",
        "service": "checkout",
        "release": "2.0.0",
        "rollback_policy": "rollback_all",
        "status": "running",
        "phase": "core",
        "regions": [
            RegionOutcome(region="ca-central-1", wave="edge"),
            RegionOutcome(
                region="us-east-1",
                wave="core",
                status="succeeded",
                release="2.0.0",
                batches_done=4,
                batches_total=4,
                detail="healthy",
            ),
            RegionOutcome(
                region="us-west-2",
                wave="core",
                status="deploying",
                release="1.0.0",
                batches_done=1,
                batches_total=4,
                detail="batch 2 | of 4",
            ),
        ],
    }
    values.update(changes)
    return RolloutProgress(**values)


E = CELL_END
HEADER = f"| Region{E} | Wave{E} | State{E} | Release{E} | Batches{E} | Detail{E} |"


def test_render_details_table_has_a_row_per_region_in_topology_order() -> None:
    text = render_details(_progress())
    lines = text.splitlines()
    assert lines[0] == "**checkout** → `2.0.0` · status **running** · phase core"
    header = lines.index(HEADER)
    assert lines[header + 1] == "|:---|:---|:---|:---|:---|:---|"
    rows = lines[header + 2 :]
    # the edge region listed first in the file comes after the core wave; file order inside a wave
    assert rows == [
        f"| us-east-1{E} | core{E} | succeeded{E} | 2.0.0{E} | 4/4{E} | healthy{E} |",
        f"| us-west-2{E} | core{E} | deploying{E} | 1.0.0{E} | 1/4{E} | batch 2 / of 4{E} |",
        f"| ca-central-1{E} | edge{E} | pending{E} | {E} | {E} | {E} |",
    ]
    # every row has the header's 6 columns (a "|" in the detail must not add one)
    assert all(row.count("|") == 7 for row in rows)


def test_every_state_is_a_word_with_no_icon() -> None:
    outcomes = [
        RegionOutcome(region=f"r{i}", wave="core", status=status)
        for i, status in enumerate(("rolled_back", "waiting", "failed", "skipped"))
    ]
    rows = render_details(_progress(regions=outcomes)).splitlines()[-4:]
    assert [row.split(" | ")[2] for row in rows] == [
        f"rolled back{E}",
        f"waiting{E}",
        f"failed{E}",
        f"skipped{E}",
    ]
    assert all(ch.isascii() or ch in "→·\u2003" for ch in render_details(_progress(paused=True)))


def test_render_details_without_pause_or_approval() -> None:
    text = render_details(_progress())
    assert "paused" not in text
    assert "waiting for approval" not in text
    assert "reason:" not in text


def test_render_details_pause_approval_and_reason_lines() -> None:
    text = render_details(
        _progress(paused=True, waiting_for_approval="edge", reason="health gate failed in us-west-2")
    )
    lines = text.splitlines()
    assert "paused: `globalops rollout resume` to continue" in lines
    assert "waiting for approval of wave **edge**" in lines
    assert "reason: health gate failed in us-west-2" in lines
    # head lines come before the table
    assert lines.index("reason: health gate failed in us-west-2") < lines.index(HEADER)


def test_render_details_with_no_regions_is_just_the_header() -> None:
    lines = render_details(_progress(regions=[])).splitlines()
    assert lines[-2:] == [HEADER, "|:---|:---|:---|:---|:---|:---|"]


# --------------------------------------------------------------------------- missing data, surge, held


def test_a_missing_number_breaches_nothing_and_is_named_as_missing() -> None:
    policy = HealthPolicy()
    blind = _sample(error_rate=None, latency_p99_ms=None, cpu=None, requests=None)
    assert judge_health(blind, policy) == []  # no evidence of harm...
    assert blind.missing() == ["error rate", "p99 latency", "cpu", "request count"]  # ...and none of health
    # A present number is still judged while another is missing.
    assert judge_health(_sample(error_rate=None, cpu=0.99), policy) == ["cpu 99% > 85%"]
    assert judge_health(_sample(latency_p99_ms=None, error_rate=0.5), policy) == ["error rate 50.00% > 1.00%"]
    assert judge_health(_sample(cpu=None, latency_p99_ms=900.0), policy) == ["p99 900 ms > 200 ms"]


def test_no_requests_is_missing_data_and_one_request_is_enough() -> None:
    assert _sample(requests=0).missing() == ["requests (none in the window)"]
    assert _sample(requests=1).missing() == []
    assert _sample().missing() == []


@pytest.mark.parametrize(
    ("instances", "strategy", "share", "surge"),
    [
        (8, "rolling", 0.25, 2),  # one batch launched before the one it replaces goes
        (4, "rolling", 0.25, 1),
        (3, "rolling", 0.25, 1),  # at least one instance per batch
        (10, "rolling", 0.33, 3),
        (8, "canary", 0.25, 8),  # the canary grows to the full size before promotion
        (8, "blue-green", 0.25, 8),  # a full green beside blue
        (0, "rolling", 0.25, 0),
        (0, "canary", 0.25, 0),
    ],
)
def test_surge_instances(instances: int, strategy: str, share: float, surge: int) -> None:
    assert surge_instances(instances, strategy, share) == surge  # type: ignore[arg-type]


def test_render_details_names_held_regions_and_how_to_go_on() -> None:
    lines = render_details(_progress(held=["ap-south-1", "sa-east-1"], reason="x")).split("\n\n")
    assert "held, unreachable: ap-south-1, sa-east-1 (`globalops rollout skip-region` to go on)" in lines
    assert lines.index("reason: x") > lines.index(
        "held, unreachable: ap-south-1, sa-east-1 (`globalops rollout skip-region` to go on)"
    )
    assert "held" not in render_details(_progress())

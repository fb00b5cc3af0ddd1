"""Failover config: the shipped files load, and bad values are one line naming the file and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.failover import FailbackPolicy, FailoverPolicy
from config.loader import ConfigError, load_policies, load_topology
from config.models import Policies, RegionConfig
from config.paths import DEFAULTS_DIR, default_policies_path, default_topology_path

DEMO_POLICIES = DEFAULTS_DIR / "policies.demo.yaml"


def test_production_defaults_load() -> None:
    failover = load_policies(default_policies_path()).failover
    assert failover == FailoverPolicy() == Policies().failover  # the file documents the defaults
    assert failover.probe_interval == 10
    assert failover.probe_failures.consecutive == 3 and failover.probe_failures.mode == "auto"
    assert (failover.latency.threshold, failover.latency.sustained_for) == (500, 120)
    assert (failover.error_rate.threshold, failover.error_rate.sustained_for) == (0.05, 60)
    assert failover.dns_ttl == 60 and failover.rpo_target == 300
    # Route 53's DNS failover: interval x threshold + TTL = 90 s
    assert failover.probe_interval * failover.probe_failures.consecutive + failover.dns_ttl == 90
    assert failover.failback == FailbackPolicy()
    assert failover.failback.steps == [10, 50, 100]
    assert failover.history_bound == 2000


def test_demo_values_load() -> None:
    failover = load_policies(DEMO_POLICIES).failover
    assert failover.probe_interval == 0.5
    assert failover.probe_failures.consecutive == 3
    assert failover.latency.sustained_for == 3 and failover.error_rate.sustained_for == 2
    assert failover.dns_ttl == 1
    assert (failover.detect_target, failover.decide_target, failover.total_target) == (30, 10, 60)
    assert failover.failback.healthy_for == 2 and failover.failback.step_bake == 0.5
    assert failover.failback.samples == 2 and failover.validate_samples == 2


def test_topology_defaults() -> None:
    topology = load_topology()
    assert topology.jurisdiction_groups == {}
    assert topology.group_of("EU") == "EU" and topology.group_of("UK") == "UK"
    assert all(region.capacity_limit == 3 * region.instances for region in topology.regions)
    region = RegionConfig(
        name="x-1", cloud="aws", tier="edge", jurisdiction="US", instances=4, max_instances=6
    )
    assert region.capacity_limit == 6


def test_jurisdiction_group(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    _write_mutated(default_topology_path(), _set("jurisdiction_groups", {"EUROPE": ["EU", "UK"]}), path)
    topology = load_topology(path)
    assert topology.group_of("EU") == topology.group_of("UK") == "EUROPE"
    assert topology.group_of("US") == "US"


# --------------------------------------------------------------------------- bad values

Mutator = Callable[[dict[str, Any]], object]


def _set(path: str, value: Any) -> Mutator:
    """Set a dotted path ("failover.failback.steps", "regions.3.max_instances"), creating dicts."""
    *parents, key = path.split(".")

    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        target[int(key) if isinstance(target, list) else key] = value

    return mutate


def _write_mutated(default: Path, mutate: Mutator, path: Path) -> None:
    data = yaml.safe_load(default.read_text())
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


POLICY_CASES = [
    pytest.param(
        _set("failover.probe_failures.consecutive", 11),
        "failover.probe_failures.consecutive",
        "less than or equal to 10, got 11",
        id="consecutive-11",
    ),
    pytest.param(
        _set("failover.failback.steps", [10, 50, 50, 100]),
        "failover.failback.steps[2]",
        "50 must be greater than the previous step 50",
        id="failback-steps-not-increasing",
    ),
    pytest.param(
        _set("failover.failback.steps", [10, 50, 90]),
        "failover.failback.steps[2]",
        "the last step must be 100",
        id="failback-steps-not-ending-at-100",
    ),
    pytest.param(
        _set("failover.failback.steps", [-10, 100]),
        "failover.failback.steps[0]",
        "greater than 0, got -10",
        id="failback-step-negative",
    ),
    pytest.param(
        _set("failover.error_rate.threshold", 1.5),
        "failover.error_rate.threshold",
        "1.5 must be <= 1",
        id="error-rate-above-1",
    ),
    pytest.param(
        _set("failover.history_bound", 50),
        "failover.history_bound",
        "greater than or equal to 100, got 50",
        id="history-bound-50",
    ),
    pytest.param(
        _set("failover.probe_interval", 0),
        "failover.probe_interval",
        "greater than 0, got 0",
        id="zero-probe-interval",
    ),
    pytest.param(
        _set("failover.latency.mode", "sometimes"),
        "failover.latency.mode",
        "Input should be 'auto' or 'manual', got 'sometimes'",
        id="bad-mode",
    ),
    pytest.param(
        _set("failover.failback.step_bak", "1m"),
        "failover.failback.step_bak",
        "did you mean 'step_bake'?",
        id="unknown-field",
    ),
]

TOPOLOGY_CASES = [
    pytest.param(
        _set("regions.3.max_instances", 3),
        "regions[3].max_instances",
        "3 is below instances 4",
        id="max-instances-below-instances",
    ),
    pytest.param(
        _set("jurisdiction_groups", {"EUROPE": ["EU", "UK"], "ISLANDS": ["IE", "UK"]}),
        "jurisdiction_groups.ISLANDS[1]",
        "jurisdiction 'UK' is already in group 'EUROPE'",
        id="jurisdiction-in-two-groups",
    ),
    pytest.param(
        _set("jurisdiction_groups", {"US": ["EU"]}),
        "jurisdiction_groups.US",
        "must list it",
        id="group-named-like-another-jurisdiction",
    ),
    pytest.param(
        _set("jurisdiction_groups", {"EUROPE": ["eu"]}),
        "jurisdiction_groups.EUROPE[0]",
        "String should match pattern",
        id="bad-jurisdiction-code",
    ),
]


def _assert_one_line(err: ConfigError, path: Path, field: str, fragment: str) -> None:
    text = str(err)
    assert "\n" not in text and "\r" not in text
    assert text.startswith(f"{path}: {field}: "), text
    assert err.field == field, text
    assert fragment in err.problem, text


@pytest.mark.parametrize(("mutate", "field", "fragment"), POLICY_CASES)
def test_bad_failover_policies(tmp_path: Path, mutate: Mutator, field: str, fragment: str) -> None:
    path = tmp_path / "policies.yaml"
    _write_mutated(default_policies_path(), mutate, path)
    with pytest.raises(ConfigError) as info:
        load_policies(path)
    _assert_one_line(info.value, path, field, fragment)


@pytest.mark.parametrize(("mutate", "field", "fragment"), TOPOLOGY_CASES)
def test_bad_failover_topology(tmp_path: Path, mutate: Mutator, field: str, fragment: str) -> None:
    path = tmp_path / "topology.yaml"
    _write_mutated(default_topology_path(), mutate, path)
    with pytest.raises(ConfigError) as info:
        load_topology(path)
    _assert_one_line(info.value, path, field, fragment)

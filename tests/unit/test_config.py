"""Config tests: the shipped files load, and every bad input is one precise, actionable line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from config.durations import Duration, format_duration, parse_duration
from config.loader import ConfigError, load_config, load_policies, load_topology
from config.models import Policies, RegionConfig, Topology, backup_key_problem
from config.paths import DEFAULTS_DIR, default_policies_path, default_topology_path

DEMO_POLICIES = DEFAULTS_DIR / "policies.demo.yaml"

# --------------------------------------------------------------------------- defaults


def test_default_topology_loads() -> None:
    topology = load_topology()
    assert len(topology.regions) == 16
    assert [wave.name for wave in topology.waves] == ["validate", "core", "edge"]
    core = topology.waves[1]
    assert core.pilot == "us-east-1"
    assert core.concurrency == 2
    assert topology.waves[2].concurrency == 4
    assert topology.service("checkout") is not None
    assert topology.service("nope") is None


def test_every_region_in_exactly_one_wave() -> None:
    topology = load_topology()
    listed = [name for wave in topology.waves for name in wave.regions]
    assert sorted(listed) == sorted(topology.region_names())
    assert len(listed) == len(set(listed))
    for region in topology.regions:
        wave = topology.wave_of(region.name)
        assert wave == ("core" if region.tier == "primary" else "edge")


def test_topology_helpers() -> None:
    topology = load_topology(default_topology_path())
    assert topology.region("eu-west-2").jurisdiction == "UK"
    assert topology.region("asia-southeast1").cloud == "gcp"
    assert topology.task_queue_for("us-east-1") == "globalops"
    with pytest.raises(KeyError):
        topology.region("mars-1")
    with pytest.raises(KeyError):
        topology.wave_of("mars-1")


def test_default_policies_load() -> None:
    policies = load_policies(default_policies_path())
    assert policies == Policies()
    assert policies.bake_for("core") == 7200
    assert policies.bake_for("edge") == 3600
    assert policies.health.probe_interval == 10
    assert policies.approvals.timeout == 86400


def test_demo_policies_load() -> None:
    policies = load_policies(DEMO_POLICIES)
    assert policies.health.probe_interval == pytest.approx(0.2)
    assert policies.health.samples == 2
    assert policies.pilot_bake == 1
    assert policies.region_bake == 0.5
    assert policies.bake == {"validate": 0, "core": 1, "edge": 1}
    assert policies.approvals.timeout == 600


def test_load_config_and_frozen() -> None:
    topology, policies = load_config(None, None)
    assert isinstance(topology, Topology)
    with pytest.raises(ValidationError):
        policies.pilot_bake = 5


def test_bake_for_missing_wave_is_zero(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text("bake:\n  core: 10m\n")
    policies = load_policies(path)
    assert policies.bake_for("core") == 600
    assert policies.bake_for("edge") == 0
    assert policies.bake_for("validate") == 0


# --------------------------------------------------------------------------- bad input

Mutator = Callable[[dict[str, Any]], object]


def _at(data: Any, path: str) -> Any:
    """Follow "waves.2.regions" through dicts and lists."""
    for part in path.split(".") if path else []:
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _set(path: str, value: Any) -> Mutator:
    parent, _, key = path.rpartition(".")

    def mutate(data: dict[str, Any]) -> None:
        target = _at(data, parent)
        target[int(key) if isinstance(target, list) else key] = value

    return mutate


def _rename(path: str, new_key: str) -> Mutator:
    parent, _, key = path.rpartition(".")
    return lambda data: _at(data, parent).__setitem__(new_key, _at(data, parent).pop(key))


def _del(path: str) -> Mutator:
    parent, _, key = path.rpartition(".")
    return lambda data: _at(data, parent).pop(int(key) if key.isdigit() else key)


def _append(path: str, value: Any) -> Mutator:
    return lambda data: _at(data, path).append(value)


# Default topology: regions[0] us-east-1, [2] ca-central-1, [6] eu-west-2, [15] sa-east-1;
# waves[0] validate, [1] core (8 regions), [2] edge (8 regions).
TOPOLOGY_CASES = [
    pytest.param(
        _set("waves.2.name", "canary"),
        "waves[2].name",
        "Input should be 'validate', 'core' or 'edge', got 'canary'",
        id="unknown-wave-name",
    ),
    pytest.param(
        _append("waves.2.regions", "us-west-2"),
        "waves[2].regions[8]",
        "'us-west-2' is already in wave 'core'",
        id="region-in-two-waves",
    ),
    pytest.param(
        _set("regions.6.backup_region", "xx-1"),
        "regions[6].backup_region",
        "'xx-1' is not a region of this topology (known: us-east-1, us-west-2,",
        id="backup-not-in-topology",
    ),
    pytest.param(
        _set("regions.0.backup_region", "us-east-1"),
        "regions[0].backup_region",
        "'us-east-1' is the region itself",
        id="backup-is-itself",
    ),
    pytest.param(
        _set("waves.1.pilot", "ap-south-1"),
        "waves[1].pilot",
        "'ap-south-1' is not a region of wave 'core'",
        id="pilot-not-in-wave",
    ),
    pytest.param(_del("waves.1"), "waves", "a 'core' wave is required", id="missing-core-wave"),
    pytest.param(
        _set("regions.2.tier", "secondary"),
        "regions[2].tier",
        "Input should be 'primary' or 'edge', got 'secondary'",
        id="wrong-tier",
    ),
    pytest.param(
        _rename("regions.1.backup_region", "backup_regoin"),
        "regions[1].backup_regoin",
        "unknown field 'backup_regoin' (allowed: name, cloud,",
        id="unknown-field",
    ),
    pytest.param(
        lambda data: data["waves"].reverse(),
        "waves[1].name",
        "wave 'core' must come before 'edge'",
        id="waves-out-of-order",
    ),
    pytest.param(
        _set("waves.0.regions", ["us-east-1"]),
        "waves[0].regions",
        "must not list regions",
        id="validate-with-regions",
    ),
    pytest.param(
        lambda data: data["waves"][2]["regions"].remove("sa-east-1"),
        "regions[15]",
        "'sa-east-1' is in no wave",
        id="region-in-no-wave",
    ),
    pytest.param(
        _set("waves.2.regions.1", "xx-1"),
        "waves[2].regions[1]",
        "'xx-1' is not a region of this topology",
        id="unknown-wave-region",
    ),
    pytest.param(
        lambda data: data["regions"].append(dict(data["regions"][0])),
        "regions[16].name",
        "duplicate region 'us-east-1' (also regions[0])",
        id="duplicate-region",
    ),
    pytest.param(
        _set("regions.3.instances", 0),
        "regions[3].instances",
        "greater than or equal to 1, got 0",
        id="instances-out-of-range",
    ),
]

POLICY_CASES = [
    pytest.param(
        _set("health.max_error_rate", 1.5),
        "health.max_error_rate",
        "Input should be less than or equal to 1, got 1.5",
        id="threshold-out-of-range",
    ),
    pytest.param(
        _set("bake.canary", "1h"),
        "bake",
        "unknown wave 'canary'; allowed waves: validate, core, edge",
        id="unknown-bake-key",
    ),
    pytest.param(_set("bake.core", -5), "bake.core", "must be >= 0, got -5", id="negative-bake"),
    pytest.param(
        _set("pilot_bake", "fast"),
        "pilot_bake",
        "'fast' is not a duration; use a number of seconds or e.g. 30s, 10m, 1h, 2d, 6h15m",
        id="bad-duration",
    ),
    pytest.param(
        _set("health.probe_interval", 0),
        "health.probe_interval",
        "greater than 0, got 0",
        id="zero-probe-interval",
    ),
    pytest.param(
        _set("rollback_policy", "panic"),
        "rollback_policy",
        "'rollback_wave' or 'halt', got 'panic'",
        id="bad-rollback-policy",
    ),
    pytest.param(
        _rename("health.samples", "sample"),
        "health.sample",
        "did you mean 'samples'?",
        id="policies-unknown-field",
    ),
]


def _assert_one_line(err: ConfigError, path: Path, field: str, fragment: str) -> None:
    text = str(err)
    assert err.file == str(path)
    assert err.field == field, text
    assert "\n" not in text and "\r" not in text
    assert text.startswith(f"{path}: {field}: "), text
    assert text == f"{err.file}: {err.field}: {err.problem}"
    assert fragment in err.problem, text


def _write_mutated(default: Path, mutate: Mutator, path: Path) -> None:
    data = yaml.safe_load(default.read_text())
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(("mutate", "field", "fragment"), TOPOLOGY_CASES)
def test_bad_topology(tmp_path: Path, mutate: Mutator, field: str, fragment: str) -> None:
    path = tmp_path / "topology.yaml"
    _write_mutated(default_topology_path(), mutate, path)
    with pytest.raises(ConfigError) as info:
        load_topology(path)
    _assert_one_line(info.value, path, field, fragment)


@pytest.mark.parametrize(("mutate", "field", "fragment"), POLICY_CASES)
def test_bad_policies(tmp_path: Path, mutate: Mutator, field: str, fragment: str) -> None:
    path = tmp_path / "policies.yaml"
    _write_mutated(default_policies_path(), mutate, path)
    with pytest.raises(ConfigError) as info:
        load_policies(path)
    _assert_one_line(info.value, path, field, fragment)


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        pytest.param(
            "services:\n  - name: checkout\n regions: [\n",
            "line 3, column 2",
            "YAML syntax error: ",
            id="yaml-syntax",
        ),
        pytest.param("- name: checkout\n", "(top level)", "got a list", id="top-level-list"),
        pytest.param("", "(top level)", "got an empty file", id="empty-file"),
    ],
)
def test_bad_file_contents(tmp_path: Path, text: str, field: str, fragment: str) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_topology(path)
    _assert_one_line(info.value, path, field, fragment)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_policies(path)
    _assert_one_line(info.value, path, "(file)", "cannot read: No such file or directory")


def test_config_error_is_one_line() -> None:
    err = ConfigError("f.yaml", "a.b", "first\nsecond\r\nthird")
    assert str(err) == "f.yaml: a.b: first second third"
    assert (err.file, err.field, err.problem) == ("f.yaml", "a.b", "first second third")


# --------------------------------------------------------------------------- durations

_DURATION = TypeAdapter(Duration)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (0, 0.0),
        (30, 30.0),
        (2.5, 2.5),
        ("45", 45.0),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("0.2s", 0.2),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        ("2d", 172800.0),
        (" 5 m ", 300.0),
    ],
)
def test_duration_parses(raw: object, seconds: float) -> None:
    assert _DURATION.validate_python(raw) == pytest.approx(seconds)
    assert parse_duration(raw) == pytest.approx(seconds)


@pytest.mark.parametrize("raw", ["fast", "10 minutes", "", "s", True, None, [1], "nan"])
def test_duration_rejects_garbage(raw: object) -> None:
    with pytest.raises(ValidationError, match="is not a duration; use a number of seconds"):
        _DURATION.validate_python(raw)


@pytest.mark.parametrize("raw", [-1, -0.5, "-5s", "-1h"])
def test_duration_rejects_negative(raw: object) -> None:
    with pytest.raises(ValidationError, match="must be >= 0"):
        _DURATION.validate_python(raw)


def test_duration_rejects_infinity() -> None:
    with pytest.raises(ValidationError, match="not a finite duration"):
        _DURATION.validate_python(float("inf"))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (2.5, "2.5s"),
        (30, "30s"),
        (90, "90s"),
        (1800, "30m"),
        (3600, "1h"),
        (5400, "90m"),
        (7200, "2h"),
        (86400, "1d"),
        (3700, "1.03h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.5, 2.5, 30, 600, 3600, 5400, 86400])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


# --------------------------------------------------------------------------- backup keys

EAST_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CMEK = "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"


@pytest.mark.parametrize(
    ("provider", "key", "problem"),
    [
        ("aws", EAST_ARN, None),
        ("aws", EAST_ARN.replace("us-east-1", "us-west-2"), "the KMS key is in us-west-2"),
        ("aws", "alias/backups", "'alias/backups' is not a KMS key ARN (arn:aws:kms:us-east-1:"),
        ("aws", "1234abcd-12ab-34cd-56ef-1234567890ab", "is not a KMS key ARN"),
        ("gcp", CMEK, None),
        ("gcp", f"{CMEK}/cryptoKeyVersions/1", "is not a Cloud KMS key name"),
        ("gcp", "k", "'k' is not a Cloud KMS key name"),
        ("sim", "anything", None),
        ("aws", None, None),
    ],
)
def test_a_backup_key_must_be_one_its_provider_can_use_in_the_region(
    provider: str, key: str | None, problem: str | None
) -> None:
    data = {
        "name": "us-east-1",
        "cloud": "aws",
        "provider": provider,
        "tier": "primary",
        "jurisdiction": "US",
    }
    found = backup_key_problem(provider, "us-east-1", key)
    if problem is None:
        assert found is None
        assert RegionConfig.model_validate({**data, "backup_key": key}).backup_key == key
    else:
        assert found is not None and problem in found
        with pytest.raises(ValueError, match="backup_key: "):
            RegionConfig.model_validate({**data, "backup_key": key})


def test_sim_regions_have_a_default_key_and_encryption_is_required_by_default() -> None:
    topo, pols = load_config()
    assert pols.dr.backup.require_encryption is True
    assert all(r.snapshot_key == f"sim-kms/{r.name}" for r in topo.regions)
    aws = topo.regions[0].model_copy(update={"provider": "aws"})
    assert aws.snapshot_key is None  # no default outside the sim: a backup fails closed
    assert aws.model_copy(update={"backup_key": EAST_ARN}).snapshot_key == EAST_ARN

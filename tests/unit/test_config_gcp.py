"""A region's `gcp:` block: the Cloud Monitoring keys are checked, and the old fixed `replica_lag_s` is
refused like any unknown key, with the file and the field named on one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import ConfigError, load_topology
from config.paths import default_topology_path


def topology_with_gcp(tmp_path: Path, block: dict[str, Any]) -> Path:
    data = yaml.safe_load(default_topology_path().read_text())
    for region in data["regions"]:
        if region["name"] == "europe-west1":
            region["provider"] = "gcp"
            region["gcp"] = {"project": "p", **block}
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_monitoring_keys_load_with_their_defaults(tmp_path: Path) -> None:
    topo = load_topology(topology_with_gcp(tmp_path, {"replica_database": "p:checkout-replica"}))
    cfg = topo.region("europe-west1").gcp
    assert cfg is not None
    assert (cfg.monitoring_period_s, cfg.monitoring_window_s, cfg.monitoring_endpoint) == (60.0, 300.0, None)
    assert cfg.replica_database == "p:checkout-replica" and cfg.metrics_url is None


@pytest.mark.parametrize(
    ("block", "field", "fragment"),
    [
        ({"replica_lag_s": 0.0}, "regions[7].gcp.replica_lag_s", "unknown field 'replica_lag_s'"),
        ({"monitoring_period_s": 30}, "regions[7].gcp.monitoring_period_s", "greater than or equal to 60"),
        (
            {"monitoring_period_s": 600, "monitoring_window_s": 300},
            "regions[7].gcp.monitoring_window_s",
            "300 is shorter than monitoring_period_s 600",
        ),
        ({"replica_database": ""}, "regions[7].gcp.replica_database", "at least 1 character"),
    ],
    ids=["replica-lag-s-gone", "period-under-60", "window-under-period", "empty-database"],
)
def test_bad_gcp_monitoring_keys_are_refused(
    tmp_path: Path, block: dict[str, Any], field: str, fragment: str
) -> None:
    path = topology_with_gcp(tmp_path, block)
    with pytest.raises(ConfigError) as info:
        load_topology(path)
    assert info.value.field == field, str(info.value)
    assert fragment in info.value.problem, str(info.value)
    assert "\n" not in str(info.value)

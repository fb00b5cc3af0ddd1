"""Alarms: the policy, the sim's alarms (store, SimCloud, `sim fault alarm`, `sim status`), the alarm
check on the real sim, and the Prometheus alert matching."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from activities.alarm_activities import AlarmActivities, firing_prometheus
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from cli.sim import sim_app
from config.models import Policies
from contracts.alarms import AlarmQuery, describe, entry
from tests.helpers.ports import free_port

# ----- the policy ------------------------------------------------------------------------------


def test_alarms_are_empty_by_default_and_interval_is_30s() -> None:
    alarms = Policies().alarms
    assert not alarms.any()
    assert (alarms.cloudwatch, alarms.prometheus, alarms.sim, alarms.prometheus_url) == ([], [], [], None)
    assert alarms.interval == 30.0


def test_each_provider_reads_its_own_alarms_and_prometheus_alerts_apply_everywhere() -> None:
    alarms = Policies.model_validate(
        {
            "alarms": {"cloudwatch": ["cw"], "sim": ["s"], "prometheus": ["p"], "interval": "1m"},
            "analysis": {"prometheus_url": "http://prom:9090"},
        }
    ).alarms
    assert alarms.names("aws") == ["cw", "p"]
    assert alarms.names("sim") == ["s", "p"]
    assert alarms.names("gcp") == ["p"]
    assert alarms.interval == 60.0


def test_prometheus_alerts_fall_back_to_the_analysis_url_and_need_one() -> None:
    own = Policies.model_validate(
        {
            "alarms": {"prometheus": ["p"], "prometheus_url": "http://a:1"},
            "analysis": {"prometheus_url": "http://b:2"},
        }
    )
    assert own.alarms_prometheus_url() == "http://a:1"
    fallback = Policies.model_validate(
        {"alarms": {"prometheus": ["p"]}, "analysis": {"prometheus_url": "http://b:2"}}
    )
    assert fallback.alarms_prometheus_url() == "http://b:2"
    with pytest.raises(ValidationError, match=r"alarms.prometheus_url: required when alarms.prometheus"):
        Policies.model_validate({"alarms": {"prometheus": ["p"]}})


@pytest.mark.parametrize(
    ("alarms", "needle"),
    [
        ({"sim": ["a", "a"]}, "alarm 'a' is listed twice"),
        ({"cloudwatch": [""]}, "at least 1 character"),
        ({"prometheus_url": "ftp://prom"}, "not an http(s)://host[:port] URL"),
        ({"interval": 0}, "greater than 0"),
    ],
)
def test_bad_alarm_settings_are_refused(alarms: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(needle)):
        Policies.model_validate({"alarms": alarms})


def test_a_firing_entry_reads_as_a_reason() -> None:
    assert describe(entry("checkout-5xx", "cloudwatch"), "us-east-1") == (
        "alarm checkout-5xx is ALARM in us-east-1 (cloudwatch)"
    )
    assert describe(entry("Errors (5xx)", "prometheus"), "eu-west-1") == (
        "alarm Errors (5xx) is firing in eu-west-1 (prometheus)"
    )


# ----- the sim's alarms ------------------------------------------------------------------------


def test_a_sim_alarm_fires_in_its_regions_or_everywhere_until_cleared(sim: SimCloud) -> None:
    assert sim.firing_alarms("us-east-1") == []
    sim.set_alarm("checkout-5xx", "us-east-1")
    sim.set_alarm("checkout-5xx", "us-east-1")  # setting twice is one alarm
    sim.set_alarm("global-errors")
    assert sim.firing_alarms("us-east-1") == ["checkout-5xx", "global-errors"]
    assert sim.firing_alarms("eu-west-1") == ["global-errors"]
    assert sim.alarms() == [
        {"name": "checkout-5xx", "region": "us-east-1"},
        {"name": "global-errors", "region": None},
    ]
    assert sim.clear_alarm("checkout-5xx", "eu-west-1") is False
    assert sim.clear_alarm("checkout-5xx", "us-east-1") is True
    assert sim.firing_alarms("us-east-1") == ["global-errors"]
    sim.clear_faults()
    assert sim.alarms() == []


def test_sim_alarms_are_shared_through_the_database_file(sim: SimCloud, tmp_path: Path) -> None:
    SimCloud(tmp_path / "sim.db").set_alarm("disk-full", "eu-west-1")
    assert sim.firing_alarms("eu-west-1") == ["disk-full"]
    sim.reset()
    assert sim.alarms() == []


# ----- the CLI ---------------------------------------------------------------------------------

app = typer.Typer()
app.add_typer(sim_app, name="sim")
runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    for var in ("GLOBALOPS_TOPOLOGY", "GLOBALOPS_SERVICE", "GLOBALOPS_JSON"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_sim_fault_alarm_sets_shows_and_clears_an_alarm(home: Path) -> None:
    result = runner.invoke(
        app, ["sim", "fault", "alarm", "checkout-5xx", "--region", "us-east-1", "--region", "eu-west-1"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "alarm checkout-5xx now fires in us-east-1, eu-west-1"
    assert runner.invoke(app, ["sim", "fault", "alarm", "everywhere"]).exit_code == 0
    shown = runner.invoke(app, ["sim", "status", "--json"])
    assert json.loads(shown.output)["alarms"] == [
        {"name": "checkout-5xx", "region": "eu-west-1"},
        {"name": "checkout-5xx", "region": "us-east-1"},
        {"name": "everywhere", "region": None},
    ]
    text = runner.invoke(app, ["sim", "status"], env={"COLUMNS": "120"}).output
    assert "alarm: checkout-5xx fires in us-east-1" in text
    assert "alarm: everywhere fires in every region" in text
    cleared = runner.invoke(app, ["sim", "fault", "alarm", "checkout-5xx", "--clear"])
    assert cleared.output.strip() == "alarm checkout-5xx no longer fires in every region"
    assert SimCloud(home / "sim.db").alarms() == [{"name": "everywhere", "region": None}]


def test_sim_fault_alarm_refuses_an_unknown_region(home: Path) -> None:
    result = runner.invoke(app, ["sim", "fault", "alarm", "x", "--region", "mars-central-1"])
    assert result.exit_code == 2
    assert "unknown region(s) mars-central-1" in result.output
    assert SimCloud(home / "sim.db").alarms() == []


# ----- the check on the real sim ---------------------------------------------------------------


def _query(**changes: Any) -> AlarmQuery:
    base: dict[str, Any] = {"service": "checkout", "region": "us-east-1", "provider": "sim"}
    return AlarmQuery.model_validate({**base, **changes})


def test_check_alarms_reports_the_listed_sim_alarms_firing_in_the_region(sim: SimCloud) -> None:
    acts = AlarmActivities(CloudRegistry({"sim": lambda: sim}))
    env = ActivityEnvironment()
    sim.set_alarm("checkout-5xx", "us-east-1")
    sim.set_alarm("not-listed")
    report = env.run(acts.check_alarms, _query(sim=["checkout-5xx", "latency"]))
    assert report.firing == ["checkout-5xx (sim)"]
    assert report.checked == ["checkout-5xx (sim)", "latency (sim)"]
    other = env.run(acts.check_alarms, _query(region="eu-west-1", sim=["checkout-5xx"]))
    assert other.firing == []
    # CloudWatch names are read only in AWS regions: a sim region's check does not touch AWS.
    assert env.run(acts.check_alarms, _query(cloudwatch=["cw"])).checked == []


def test_an_unreachable_prometheus_is_a_retryable_error_never_no_alarms(sim: SimCloud) -> None:
    acts = AlarmActivities(CloudRegistry({"sim": lambda: sim}))
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ApplicationError) as caught:
        ActivityEnvironment().run(acts.check_alarms, _query(prometheus=["p"], prometheus_url=url))
    assert caught.value.type == "Unavailable" and not caught.value.non_retryable
    assert "unreachable" in str(caught.value)


# ----- Prometheus alert matching ---------------------------------------------------------------


def _alert(name: str, state: str = "firing", **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, **labels}, "state": state}


def test_a_prometheus_alert_fires_for_its_region_and_service_or_when_it_has_none() -> None:
    alerts = [
        _alert("Errors", region="us-east-1", service="checkout"),
        _alert("Latency", region="eu-west-1"),
        _alert("Pending", state="pending", region="us-east-1"),
        _alert("Global"),
        _alert("OtherService", service="search"),
        _alert("NotListed", region="us-east-1"),
    ]
    names = ["Errors", "Latency", "Pending", "Global", "OtherService"]
    assert firing_prometheus(alerts, names, "checkout", "us-east-1") == ["Errors", "Global"]
    assert firing_prometheus(alerts, names, "checkout", "eu-west-1") == ["Latency", "Global"]
    assert firing_prometheus(alerts, names, "search", "ap-south-1") == ["Global", "OtherService"]
    assert firing_prometheus(alerts, [], "checkout", "us-east-1") == []

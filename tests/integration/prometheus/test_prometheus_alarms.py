"""Prometheus alerts as alarms, read by the alarm check from a real Prometheus evaluating alerting rules.

The rules fire at once (`vector(1)`, no `for`), evaluated every second; the test polls the alerts API
(bounded) until they have been evaluated, then asks the check. An alert fires for a region when its
`region` label is that region or it has none (and its `service` label, if any, is the service); a pending
alert and an alert the policies do not list never fire; an unreachable Prometheus is a retryable error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.alarm_activities import AlarmActivities
from activities.clouds.registry import CloudRegistry
from contracts.alarms import AlarmQuery
from tests.helpers.ports import free_port
from tests.helpers.prometheus import PROMETHEUS, alerts, prometheus_server, wait_for

pytestmark = pytest.mark.slow

RULES = [
    {"alert": "AlwaysFiring", "expr": "vector(1)", "labels": {"region": "us-east-1", "service": "checkout"}},
    {"alert": "Everywhere", "expr": "vector(1)"},
    {"alert": "OtherService", "expr": "vector(1)", "labels": {"service": "search"}},
    {"alert": "NotListed", "expr": "vector(1)", "labels": {"region": "us-east-1"}},
    {"alert": "StillPending", "expr": "vector(1)", "for": "1h", "labels": {"region": "us-east-1"}},
]
LISTED = ["AlwaysFiring", "Everywhere", "OtherService", "StillPending"]


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus of this module's own with the alerting RULES, once every rule has been evaluated."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is missing: `make test` installs it, or `apt-get install prometheus`")
    with prometheus_server([], tmp_path_factory.mktemp("alerting"), rules=RULES) as url:

        def evaluated() -> bool:
            states = {a["labels"]["alertname"]: a["state"] for a in alerts(url)}
            return states.get("StillPending") == "pending" and all(
                states.get(rule["alert"]) == "firing" for rule in RULES if "for" not in rule
            )

        wait_for(evaluated, f"prometheus at {url} to evaluate its alerting rules")
        yield url


def check(url: str, region: str, names: list[str], service: str = "checkout") -> list[str]:
    acts = AlarmActivities(CloudRegistry({}))  # Prometheus alerts need no cloud adapter
    query = AlarmQuery(service=service, region=region, provider="gcp", prometheus=names, prometheus_url=url)
    return ActivityEnvironment().run(acts.check_alarms, query).firing


def test_an_alert_fires_in_its_region_and_one_without_a_region_label_everywhere(alerting: str) -> None:
    assert check(alerting, "us-east-1", LISTED) == ["AlwaysFiring (prometheus)", "Everywhere (prometheus)"]
    assert check(alerting, "eu-west-1", LISTED) == ["Everywhere (prometheus)"]


def test_an_alert_of_another_service_or_not_listed_or_pending_does_not_fire(alerting: str) -> None:
    assert check(alerting, "us-east-1", ["OtherService", "StillPending"]) == []
    assert check(alerting, "us-east-1", ["OtherService"], service="search") == ["OtherService (prometheus)"]
    assert check(alerting, "us-east-1", ["NoSuchAlert"]) == []  # Prometheus has no alert that is not firing


def test_an_unreachable_prometheus_is_a_retryable_error(alerting: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        check(f"http://127.0.0.1:{free_port()}", "us-east-1", ["AlwaysFiring"])
    assert caught.value.type == "Unavailable" and not caught.value.non_retryable
    assert "unreachable" in str(caught.value)

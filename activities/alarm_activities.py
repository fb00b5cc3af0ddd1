"""The alarm check: which of the alarms a policy lists fire now in one region.

Per provider of the region:

* AWS regions: CloudWatch `DescribeAlarms` by name in the region (through the AWS adapter's own
  clients, so a moto endpoint_url applies); state `ALARM` fires. A listed name that does not exist
  there is a non-retryable NotFound: a check that cannot fail is not a check (DESIGN rule 9).
* Sim regions: the sim's alarms (`globalops sim fault alarm NAME`).
* Any region: Prometheus alerts (`/api/v1/alerts`) in state `firing` whose `alertname` is listed,
  whose `region` label is the region (or absent) and whose `service` label, if any, is the service.
  An unreachable Prometheus is a retryable Unavailable, never "no alarms".
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import structlog
from temporalio import activity

from activities.botocore_errors import translated
from activities.clouds.registry import CloudRegistry
from activities.errors import classified
from activities.heartbeat import long_call
from activities.metrics.prometheus import read_alerts
from contracts.alarms import AlarmQuery, AlarmReport, entry
from contracts.errors import InvalidRequest, NotFound

__all__ = ["AlarmActivities", "firing_prometheus"]

_log = structlog.get_logger("globalops.alarms")

#: DescribeAlarms takes at most 100 names per call.
_BATCH = 100


@runtime_checkable
class CloudWatchSource(Protocol):
    """The AWS adapter: a CloudWatch client of a region (its endpoint override applied)."""

    def cloudwatch_client(self, region: str) -> Any: ...


@runtime_checkable
class SimAlarmSource(Protocol):
    """The simulated cloud: the sim alarms firing in a region."""

    def firing_alarms(self, region: str) -> list[str]: ...


def firing_cloudwatch(client: Any, region: str, names: list[str]) -> list[str]:
    """The listed CloudWatch alarms in state ALARM; NotFound naming any that does not exist."""
    states: dict[str, str] = {}
    with translated():
        for start in range(0, len(names), _BATCH):
            batch = names[start : start + _BATCH]
            pages = client.get_paginator("describe_alarms").paginate(
                AlarmNames=batch, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            for page in pages:
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    states[str(alarm["AlarmName"])] = str(alarm.get("StateValue") or "")
    missing = [n for n in names if n not in states]
    if missing:
        raise NotFound(f"CloudWatch alarm(s) {', '.join(missing)} not found in {region}")
    return [n for n in names if states[n] == "ALARM"]


def firing_prometheus(alerts: list[dict[str, Any]], names: list[str], service: str, region: str) -> list[str]:
    """The listed alerts firing for this service in this region, in the order listed."""
    firing: set[str] = set()
    for alert in alerts:
        labels = alert.get("labels") or {}
        if not isinstance(labels, dict) or alert.get("state") != "firing":
            continue
        name = labels.get("alertname")
        if name not in names:
            continue
        if labels.get("region", region) != region or labels.get("service", service) != service:
            continue
        firing.add(str(name))
    return [n for n in names if n in firing]


class AlarmActivities:
    """The alarm check needs the region's adapter (CloudWatch clients, sim alarms): one object holds them."""

    def __init__(self, clouds: CloudRegistry) -> None:
        self._clouds = clouds

    @activity.defn(name="check_alarms")
    @classified
    @long_call
    def check_alarms(self, query: AlarmQuery) -> AlarmReport:
        """Read every listed alarm of the region's providers; report the firing ones."""
        firing: list[str] = []
        checked: list[str] = []
        if query.provider == "aws" and query.cloudwatch:
            cloud = self._clouds.get("aws")
            if not isinstance(cloud, CloudWatchSource):
                raise InvalidRequest("the aws adapter of this worker has no CloudWatch client")
            client = cloud.cloudwatch_client(query.region)
            names = list(dict.fromkeys(query.cloudwatch))
            firing += [entry(n, "cloudwatch") for n in firing_cloudwatch(client, query.region, names)]
            checked += [entry(n, "cloudwatch") for n in names]
        if query.provider == "sim" and query.sim:
            cloud = self._clouds.get("sim")
            if not isinstance(cloud, SimAlarmSource):
                raise InvalidRequest("the sim adapter of this worker has no alarms")
            live = set(cloud.firing_alarms(query.region))
            firing += [entry(n, "sim") for n in query.sim if n in live]
            checked += [entry(n, "sim") for n in query.sim]
        if query.prometheus:
            if not query.prometheus_url:
                raise InvalidRequest("Prometheus alerts are listed but no prometheus_url is set")
            alerts = read_alerts(query.prometheus_url)
            names = list(dict.fromkeys(query.prometheus))
            firing += [
                entry(n, "prometheus") for n in firing_prometheus(alerts, names, query.service, query.region)
            ]
            checked += [entry(n, "prometheus") for n in names]
        _log.info("alarms checked", region=query.region, firing=firing, checked=len(checked))
        return AlarmReport(firing=firing, checked=checked)

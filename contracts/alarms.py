"""What the alarm check asks and answers (activities/alarm_activities.py, workflows/alarms.py)."""

from __future__ import annotations

from pydantic import Field

from contracts.rollout import RegionRef
from contracts.wire import FrozenWireModel

__all__ = ["AlarmQuery", "AlarmReport"]


class AlarmQuery(RegionRef):
    """Which alarms to read for one service in one region; each list only where its provider applies."""

    cloudwatch: list[str] = Field(default_factory=list, description="CloudWatch alarm names (AWS regions).")
    prometheus: list[str] = Field(default_factory=list, description="Prometheus alert names (any region).")
    prometheus_url: str | None = Field(default=None, description="Base URL of Prometheus.")
    sim: list[str] = Field(default_factory=list, description="Sim alarm names (sim regions).")


class AlarmReport(FrozenWireModel):
    """The alarms that fire now, each as "NAME (provider)", and every alarm that was read."""

    firing: list[str] = Field(
        default_factory=list, description='Firing alarms, e.g. "checkout-5xx (cloudwatch)".'
    )
    checked: list[str] = Field(default_factory=list, description="Every alarm read, same form.")


def entry(name: str, provider: str) -> str:
    """An alarm as AlarmReport lists it: "NAME (provider)"."""
    return f"{name} ({provider})"


def describe(firing: str, region: str) -> str:
    """A firing entry as a reason: "alarm checkout-5xx is ALARM in us-east-1 (cloudwatch)"."""
    name, _, provider = firing.rpartition(" (")
    provider = provider.removesuffix(")")
    if not name:
        return f"alarm {firing} is firing in {region}"
    state = "ALARM" if provider == "cloudwatch" else "firing"
    return f"alarm {name} is {state} in {region} ({provider})"

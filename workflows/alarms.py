"""Alarms people already have, asked from workflow code: a firing one is evidence against the release.

`alarm_reason` issues no command at all when the policies list no alarm for the region's provider,
so histories recorded before alarms existed replay unchanged.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.alarm_activities import AlarmActivities
    from config.models import DeployPolicies, Provider
    from contracts.alarms import AlarmQuery, AlarmReport, describe

from workflows.retries import CLOUD_RETRY, call_timeout, heartbeat_timeout


def watches(policies: DeployPolicies, provider: Provider) -> bool:
    """True when the policies list an alarm a region of `provider` is checked for."""
    return bool(policies.alarms.names(provider))


async def alarm_reason(
    policies: DeployPolicies, service: str, region_name: str, provider: Provider, task_queue: str
) -> str | None:
    """Why the region must roll back because of an alarm ("alarm X is ALARM in R (cloudwatch)"), or None.

    A check that cannot read its alarms raises (the activity's error after its retries): fail closed.
    """
    if not watches(policies, provider):
        return None
    alarms = policies.alarms
    report: AlarmReport = await workflow.execute_activity_method(
        AlarmActivities.check_alarms,
        AlarmQuery(
            service=service,
            region=region_name,
            provider=provider,
            cloudwatch=alarms.cloudwatch if provider == "aws" else [],
            prometheus=alarms.prometheus,
            prometheus_url=policies.alarms_prometheus_url() if alarms.prometheus else None,
            sim=alarms.sim if provider == "sim" else [],
        ),
        task_queue=task_queue,
        start_to_close_timeout=call_timeout(policies),
        heartbeat_timeout=heartbeat_timeout(policies),
        retry_policy=CLOUD_RETRY,
        summary=f"{region_name}: check alarms",
    )
    if not report.firing:
        return None
    return "; ".join(describe(firing, region_name) for firing in report.firing)

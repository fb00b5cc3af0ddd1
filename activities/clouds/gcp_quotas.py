"""Region quotas for preflight: will the instances a rollout adds at its peak fit?

`RegionsClient.get(project, region).quotas` lists each quota metric with its `limit` and `usage`.
A rollout needs `surge` more instances (INSTANCES) and surge × the vCPUs of the release's machine
type (CPUS, and the family's own quota such as E2_CPUS when the region lists one). A quota the
region does not report is unknown, and unknown fails the check (fail closed).
"""

from __future__ import annotations

from google.cloud import compute_v1

from activities.clouds import gcp_labels as labels
from activities.clouds.gcp_api import Place
from contracts.errors import NotFound


def _short(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def machine_type(p: Place, release: str) -> str:
    """The machine type of the release's instance template, or of the config when it is not made yet."""
    name = labels.template_name(p.service, release)
    try:
        found = p.call("read template", p.clients.templates.get, project=p.project, instance_template=name)
    except NotFound:
        return p.cfg.machine_type
    return _short(found.properties.machine_type) or p.cfg.machine_type


def vcpus(p: Place, machine: str) -> int:
    """Guest CPUs of a machine type in the region's first zone."""
    found: compute_v1.MachineType = p.call(
        f"read machine type {machine}",
        p.clients.machine_types.get,
        project=p.project,
        zone=p.zone,
        machine_type=machine,
    )
    return int(found.guest_cpus)


def check(p: Place, release: str, surge: int) -> tuple[dict[str, bool], list[str]]:
    """One check per quota (`quota_instances`, `quota_cpus`, ...) and a problem per short one."""
    region: compute_v1.Region = p.call(
        f"read quotas of {p.region}", p.clients.regions.get, project=p.project, region=p.region
    )
    quotas = {q.metric: q for q in region.quotas}
    machine = machine_type(p, release)
    cpus = vcpus(p, machine) if surge > 0 else 0
    needs = {"INSTANCES": surge, "CPUS": surge * cpus}
    family = f"{machine.split('-', 1)[0].upper()}_CPUS"
    if family in quotas:
        needs[family] = surge * cpus
    checks: dict[str, bool] = {}
    problems: list[str] = []
    for metric, need in needs.items():
        quota = quotas.get(metric)
        name = f"quota_{metric.lower()}"
        if quota is None:
            checks[name] = False
            problems.append(f"quota '{metric}' in {p.region}: not reported, so unknown")
            continue
        free = quota.limit - quota.usage
        checks[name] = need <= max(0.0, free)
        if not checks[name]:
            problems.append(
                f"quota '{metric}' in {p.region}: needs {need:g}, {max(0.0, free):g} free of"
                f" {quota.limit:g} ({quota.usage:g} in use)"
            )
    return checks, problems

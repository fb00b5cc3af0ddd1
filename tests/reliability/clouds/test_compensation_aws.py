"""A failure at every step of every workflow is compensated on AWS too: moto's inventory ends as it began.

The AWS twin of tests/reliability/test_compensation.py, on the four-region moto topology (us-east-1
and us-west-2 on AWS, two sim regions). Each case runs a real workflow on the time-skipping server
with the real activities and breaks one AWS-side activity, under its real name, at its Nth call in
an AWS region (tests/helpers/breaks.py): before its work (the step failed) or, marked `after`,
after it (the change happened, the workflow never heard of it). Then the inventory read back from
moto through boto3 (tests/helpers/aws/inventory.py) must equal the one from before, nothing may
be orphaned, and the sim regions must be as they were.

Three records the adapter keeps on purpose are not compared (see `comparable`): the launch-template
version of the rolled-out release, the promote plan tag on the stable group, and the Route 53
`_shares` TXT records; what they may be is asserted instead.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.aws import AwsCloud
from activities.clouds.aws_clients import TAG_PROMOTE
from activities.clouds.aws_groups import release_description
from activities.clouds.aws_traffic import route53_weight
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.models import Topology
from contracts.dr import (
    BackupReport,
    DrillReport,
    DrillRequest,
)
from tests.helpers.aws.inventory import Inventory, diff, moto_inventory
from tests.helpers.aws.provision import AWS_REGIONS, SERVICE
from tests.helpers.aws.workflow_runs import backup, failover, fast_policies, recover, rollout
from tests.helpers.breaks import Break, broken_activities
from workers.client import register_search_attributes
from workers.main import WORKFLOWS
from workflows.drill import DrillWorkflow

pytestmark = pytest.mark.slow

EAST, WEST = AWS_REGIONS
RELEASE = "3.0.0"
SHARES_PREFIX = "_shares."


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


@dataclass(frozen=True)
class Case:
    """Break `activity` at its `nth` call in `region` (every AWS region if None) while `flow` runs."""

    id: str
    flow: str  # rolling | canary | blue-green | failover | recover | drill
    activity: str
    nth: int = 1
    region: str | None = EAST
    after: bool = False

    def brk(self) -> Break:
        """Unarmed: a backup that prepares a recovery or a drill runs first, unbroken."""
        return Break(self.activity, self.nth, "aws", self.region, self.after, armed=False)


# Call numbers count only the AWS calls of the activity in the region (happy runs, fast_policies):
#   rolling      per region: ensure_release ×2 (batches of 1 and 2), health_sample ×3 after each
#                batch and ×3 to verify; us-east-1 is the pilot, then us-west-2 beside us-central1.
#   canary       per region: steps 50 % and 100 % (scale_group, set_canary_weight, analyse each),
#                full scale (scale_group 3), full weight (set_canary_weight 3), promote, verify.
#   blue-green   per region: scale_group (green up), analyse (pre), set_canary_weight (switch),
#                analyse (post), promote_canary (remove blue), health_sample ×3 (verify).
#   failover     us-east-1 → us-west-2: get_traffic, probes (us-west-2 #1), capacity and lag of
#                us-west-2 (region_state #1, replica_lag #1), prescale (region_state #2,
#                scale_group), lag check (replica_lag #2), set_traffic, validate (probes #2-#4).
#   recover      us-east-1 into us-west-2: list_snapshots, restore_volume, check_volume,
#                region_state, launch_instances, boot probes ×3, get_traffic, set_traffic.
#   drill        us-east-1 into us-west-2 (isolated): production probes of both regions meanwhile,
#                the recovery's list_snapshots … launch_instances, its undo (delete_resource ×3),
#                the sweep (list_resources ×2).
CASES = [
    # ----- rolling
    Case("rolling-preflight", "rolling", "preflight", region=WEST),
    Case("rolling-pilot-batch-2", "rolling", "ensure_release", 2),
    Case("rolling-after-pilot-verify", "rolling", "health_sample", 7, WEST),
    # ----- canary
    Case("canary-step-1-scale", "canary", "scale_group", 1),
    Case("canary-step-1-analysis", "canary", "analyse", 1),
    Case("canary-step-2-weight", "canary", "set_canary_weight", 2),
    Case("canary-promote", "canary", "promote_canary", 1),
    # ----- blue-green
    Case("bg-green-up", "blue-green", "scale_group", 1),
    Case("bg-switch", "blue-green", "set_canary_weight", 1),
    Case("bg-post-switch-analysis", "blue-green", "analyse", 2),
    Case("bg-blue-removal", "blue-green", "promote_canary", 1),
    Case("bg-final-verify", "blue-green", "health_sample", 1),
    # ----- failover
    Case("failover-prescale", "failover", "scale_group", 1, WEST),
    Case("failover-lag-check", "failover", "replica_lag", 2, WEST),
    Case("failover-shift", "failover", "set_traffic", region=None),
    Case("failover-validate-last", "failover", "probe_region", 4, WEST),
    # ----- recovery (production)
    Case("recover-restore", "recover", "restore_volume", 1, WEST),
    Case("recover-verify", "recover", "check_volume", 1, WEST),
    Case("recover-launch", "recover", "launch_instances", 1, WEST),
    Case("recover-boot-probe", "recover", "probe_region", 3, WEST),
    Case("recover-serve", "recover", "set_traffic", region=None),
    # ----- drill (isolated)
    Case("drill-production-probe", "drill", "probe_region", 1, WEST),
    Case("drill-restore", "drill", "restore_volume", 1, WEST),
    Case("drill-launch", "drill", "launch_instances", 1, WEST),
    Case("drill-undo-fails-sweep-cleans", "drill", "delete_resource", 1, WEST),
    # ----- the change happened, the answer was lost. The failover and recovery cases found undos registered
    # only once their step had returned; patch undo-before-step fixed it (docs/reliability.md, "Compensation
    # on AWS").
    Case("failover-prescale-after", "failover", "scale_group", 1, WEST, after=True),
    Case("failover-shift-after", "failover", "set_traffic", region=None, after=True),
    Case("recover-restore-after", "recover", "restore_volume", 1, WEST, after=True),
    Case("recover-launch-after", "recover", "launch_instances", 1, WEST, after=True),
    Case("drill-launch-after", "drill", "launch_instances", 1, WEST, after=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_failure_at_every_step_leaves_moto_as_it_was(
    case: Case,
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
) -> None:
    brk = case.brk()
    activities = broken_activities(CloudRegistry({"sim": lambda: sim, "aws": lambda: aws}), [brk])
    queue = topology.default_task_queue
    async with Worker(
        ts_env.client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=activities,
        activity_executor=executor,
    ):
        made = await backup(ts_env, topology, [EAST]) if case.flow in ("recover", "drill") else None
        before, sim_before = moto_inventory(topology, SERVICE), sim_inventory(sim)
        brk.armed = True
        outcome = await RUNS[case.flow](ts_env, topology, made)
    after = moto_inventory(topology, SERVICE)
    assert brk.fired, f"{case.activity} was called {brk.calls} times in {case.region}: never broken"
    assert outcome in FAILED, outcome
    changed = diff(comparable(before), comparable(after))
    assert changed == [], "moto's inventory changed:\n" + "\n".join(changed)
    left = orphans(after)
    assert left == [], "orphans:\n" + "\n".join(left)
    assert_bookkeeping(before, after)
    assert sim_inventory(sim) == sim_before


# ----- the workflows ---------------------------------------------------------------------------------

#: What a compensated run ends as: a rollout rolled back, a failover or recovery failed, a drill failed.
FAILED = ("rolled_back", "failed", "fail")
Run = Callable[[WorkflowEnvironment, Topology, BackupReport | None], Awaitable[str]]


def _rollout(strategy: str) -> Run:
    async def run(env: WorkflowEnvironment, topology: Topology, _: BackupReport | None) -> str:
        return (await rollout(env, topology, RELEASE, strategy)).status

    return run


async def _failover(env: WorkflowEnvironment, topology: Topology, _: BackupReport | None) -> str:
    return (await failover(env, topology, EAST, WEST)).status


async def _recover(env: WorkflowEnvironment, topology: Topology, made: BackupReport | None) -> str:
    assert made is not None and made.status == "succeeded", made
    return (await recover(env, topology, EAST, WEST, made)).status


async def _drill(env: WorkflowEnvironment, topology: Topology, made: BackupReport | None) -> str:
    """The drill's verdict (a failed drill fails its workflow; its report stays in the query)."""
    assert made is not None and made.status == "succeeded", made
    req = DrillRequest(
        service=SERVICE,
        topology=topology,
        policies=fast_policies(),
        regions=[EAST],
        request_id=uuid.uuid4().hex,
    )
    handle = await env.client.start_workflow(
        DrillWorkflow.run,
        req,
        id=f"drill:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=topology.default_task_queue,
    )
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    report: DrillReport = await handle.query(DrillWorkflow.report)
    assert report.leftover_resources == 0, report.markdown
    return report.verdict or report.status


RUNS: dict[str, Run] = {
    "rolling": _rollout("rolling"),
    "canary": _rollout("canary"),
    "blue-green": _rollout("blue-green"),
    "failover": _failover,
    "recover": _recover,
    "drill": _drill,
}


# ----- what is compared ------------------------------------------------------------------------------


def sim_inventory(sim: SimCloud) -> dict[str, Any]:
    """The sim regions' inventory without the ledger, which grows with every keyed call."""
    inv = sim.inventory()
    inv.pop("ledger")
    return inv


def comparable(inv: Inventory) -> Inventory:
    """The inventory without what the adapter records on purpose and never removes.

    - the launch-template version of the rolled-out release: the release's artifact, reused by
      the next rollout of it (created once per template and release, by ClientToken);
    - the stable group's `globalops:promote` tag: the plan of the last promotion, kept so that a
      retry finishes the same plan (aws.py, promote_canary);
    - Route 53's `_shares.` TXT records: the exact shares beside the integer weights, written by
      the first traffic change (aws_traffic.py).
    """
    out: Inventory = {"regions": {}, "route53": {}}
    for region, res in inv["regions"].items():
        res = {**res, "auto_scaling_groups": dict(res["auto_scaling_groups"])}
        for name, group in res["auto_scaling_groups"].items():
            tags = {k: v for k, v in group["tags"].items() if k != TAG_PROMOTE}
            res["auto_scaling_groups"][name] = {**group, "tags": tags}
        res["launch_templates"] = {
            name: {
                **lt,
                "versions": {d: n for d, n in lt["versions"].items() if d != release_description(RELEASE)},
            }
            for name, lt in res["launch_templates"].items()
        }
        out["regions"][region] = res
    out["route53"] = {k: v for k, v in inv["route53"].items() if not k.startswith(SHARES_PREFIX)}
    return out


def assert_bookkeeping(before: Inventory, after: Inventory) -> None:
    """What `comparable` leaves out is bounded: one version per release, shares that match the weights."""
    for region, res in after["regions"].items():
        for name, lt in res["launch_templates"].items():
            assert all(n == 1 for n in lt["versions"].values()), (region, name, lt)
            assert lt["default"] == before["regions"][region]["launch_templates"][name]["default"]
    weights = {
        k.rsplit(" ", 1)[1]: v["weight"]
        for k, v in after["route53"].items()
        if k.endswith(tuple(AWS_REGIONS)) and not k.startswith(SHARES_PREFIX)
    }
    for label, record in after["route53"].items():
        if label.startswith(SHARES_PREFIX):
            share = float(record["values"][0].strip('"').removeprefix("share="))
            assert route53_weight(share) == record["weight"] == weights[label.rsplit(" ", 1)[1]], label


def orphans(inv: Inventory) -> list[str]:
    """Anything a failed operation must not leave: canary instances or weight, recovery resources."""
    found = []
    for region, res in inv["regions"].items():
        for signature, n in res["instances"].items():
            group, _, kind, env = signature.split("|")
            if group.endswith("-canary") or kind == "recovery" or env != "-":
                found.append(f"{region}: {n} instance(s) {signature}")
        for signature, n in res["volumes"].items():
            if "env=" in signature or "kind=restore" in signature:
                found.append(f"{region}: {n} volume(s) {signature}")
        for listener, weights in res["listener_weights"].items():
            canary = {tg: w for tg, w in weights.items() if tg.endswith("-canary") and w}
            if canary:
                found.append(f"{region}: listener {listener} sends {canary} to the canary")
        for name, group in res["auto_scaling_groups"].items():
            if name.endswith("-canary") and group["desired"]:
                found.append(f"{region}: canary group {name} wants {group['desired']} instances")
    return found

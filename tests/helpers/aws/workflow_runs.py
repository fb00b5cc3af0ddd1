"""Drive the real workflows against moto: fast policies, the workflow runs, and a fault-injecting hook."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from botocore.awsrequest import AWSResponse
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from cli.launch import start_rollout
from config.loader import load_policies
from config.models import Policies, Topology
from config.strategies import CanaryStep
from contracts.dr import (
    BackupReport,
    BackupRequest,
    DrillReport,
    DrillRequest,
    RecoveryReport,
    RecoveryRequest,
)
from contracts.failover import (
    FailoverReport,
    FailoverRequest,
)
from contracts.ids import region_deployment_id, rollout_id
from contracts.rollout import (
    RegionOutcome,
    RolloutProgress,
    RolloutRequest,
)
from tests.helpers.aws.provision import SERVICE
from tests.helpers.temporal import progress_if_running
from workflows.backup import BackupWorkflow
from workflows.drill import DrillWorkflow
from workflows.failover import RegionFailoverWorkflow
from workflows.recovery import DisasterRecoveryWorkflow
from workflows.rollout import RegionalRolloutWorkflow


def fast_policies() -> Policies:
    """The shipped policies with one analysis run per step over 15 minutes of the ALB's 1-minute points
    (put_metrics puts 20) and two canary steps."""
    base = load_policies()
    return base.model_copy(
        update={
            "analysis": base.analysis.model_copy(
                update={"count": 1, "min_samples": 10, "window": 900.0, "interval": 10.0}
            ),
            "canary": base.canary.model_copy(
                update={"steps": [CanaryStep(set_weight=50), CanaryStep(set_weight=100)]}
            ),
            "blue_green": base.blue_green.model_copy(update={"scale_down_delay": 0.0}),
            # The test server may move its clock by years between workflows: drills check cleanup, not RPO.
            # Drills soak 0 s: every soak second is probed, and every probe is real API calls.
            "dr": base.dr.model_copy(
                update={
                    "rpo_target": 400 * 365 * 86400.0,
                    "drill": base.dr.drill.model_copy(update={"soak": 0.0}),
                }
            ),
        }
    )


async def rollout(
    env: WorkflowEnvironment, topology: Topology, release: str, strategy: str | None = None
) -> RolloutProgress:
    return await (await start(env, topology, release, strategy)).result()


async def start(
    env: WorkflowEnvironment,
    topology: Topology,
    release: str,
    strategy: str | None = None,
    policies: Policies | None = None,
) -> WorkflowHandle[RegionalRolloutWorkflow, RolloutProgress]:
    """Start a rollout (fast policies unless others are given) and return its handle."""
    req = RolloutRequest(
        service=SERVICE,
        release=release,
        request_id=uuid.uuid4().hex[:8],
        topology=topology,
        policies=policies or fast_policies(),
        strategy=strategy,
    )
    return await start_rollout(env.client, req)


async def wait_region(
    env: WorkflowEnvironment, region: str, predicate: Callable[[RegionOutcome], bool]
) -> RegionOutcome:
    """Query the region's deploy until `predicate` holds, moving the test server's clock meanwhile."""
    for _ in range(600):
        state = await progress_if_running(env, region_deployment_id(rollout_id(SERVICE), region))
        if state is not None and predicate(state):
            return state
        await env.sleep(30)
    raise AssertionError(f"{region}'s deploy never reached the expected state")


async def failover(env: WorkflowEnvironment, topology: Topology, source: str, target: str) -> FailoverReport:
    req = FailoverRequest(
        service=SERVICE,
        from_region=source,
        to_region=target,
        topology=topology,
        policies=fast_policies(),
        request_id=uuid.uuid4().hex[:8],
    )
    return await env.client.execute_workflow(
        RegionFailoverWorkflow.run,
        req,
        id=f"failover:{SERVICE}:{source}",
        task_queue=topology.default_task_queue,
    )


async def backup(
    env: WorkflowEnvironment, topology: Topology, regions: list[str], wid: str | None = None
) -> BackupReport:
    req = BackupRequest(
        service=SERVICE,
        topology=topology,
        policies=fast_policies(),
        regions=regions,
        request_id=uuid.uuid4().hex,
    )
    return await env.client.execute_workflow(
        BackupWorkflow.run,
        req,
        id=wid or f"backup:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=topology.default_task_queue,
    )


async def recover(
    env: WorkflowEnvironment, topology: Topology, source: str, target: str, report: BackupReport
) -> RecoveryReport:
    assert report.taken_at is not None
    req = RecoveryRequest(
        service=SERVICE,
        source_region=source,
        target_region=target,
        topology=topology,
        policies=load_policies(),
        request_id=uuid.uuid4().hex,
        failed_at=report.taken_at + timedelta(minutes=20),
    )
    return await env.client.execute_workflow(
        DisasterRecoveryWorkflow.run, req, id=f"dr:{SERVICE}:{source}", task_queue=topology.default_task_queue
    )


async def drill(
    env: WorkflowEnvironment,
    topology: Topology,
    regions: list[str],
    wid: str | None = None,
    policies: Policies | None = None,
) -> DrillReport:
    req = DrillRequest(
        service=SERVICE,
        topology=topology,
        policies=policies or fast_policies(),
        regions=regions,
        request_id=uuid.uuid4().hex,
    )
    return await env.client.execute_workflow(
        DrillWorkflow.run,
        req,
        id=wid or f"drill:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=topology.default_task_queue,
    )


class _Body:
    """The raw body botocore reads an injected response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


_EC2_THROTTLE = (
    b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>injected: Request limit exceeded."
    b"</Message></Error></Errors><RequestID>injected</RequestID></Response>"
)
_QUERY_THROTTLE = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>injected: Rate exceeded"
    b"</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
)


class Faults:
    """A `before-send` hook failing `rate` of the calls: throttling (protocol's own body) or a bare 503."""

    def __init__(self, rate: float, seed: int = 30) -> None:
        self.rate = rate
        self.injected = 0
        self.sent = 0
        self._rng = random.Random(seed)

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        self.sent += 1
        if self._rng.random() >= self.rate:
            return None
        self.injected += 1
        service = event_name.split(".")[1]
        # CloudWatch speaks CBOR (smithy-rpc-v2), Service Quotas JSON and EBS REST-JSON: they get the
        # protocol-neutral 503.
        if service in ("cloudwatch", "service-quotas", "ebs") or self._rng.random() < 0.5:
            return AWSResponse(request.url, 503, {}, _Body(b""))
        body = _EC2_THROTTLE if service == "ec2" else _QUERY_THROTTLE
        return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, _Body(body))

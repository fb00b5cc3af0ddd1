"""A worker with both adapters: the sim for the sim regions, AWS (moto) for the AWS regions."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.worker import Worker

from activities.clouds.aws import AwsCloud
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from workers.main import WORKFLOWS, activity_functions


def aws_worker(
    client: Client,
    queue: str,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
    extra_workflows: Sequence[type] = (),
) -> Worker:
    """The real workflows and activities with both adapters: sim regions and AWS (moto) regions."""
    registry = CloudRegistry({"sim": lambda: sim, "aws": lambda: aws})
    return Worker(
        client,
        task_queue=queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=activity_functions(registry),
        activity_executor=executor,
    )

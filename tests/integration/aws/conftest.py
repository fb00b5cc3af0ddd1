"""Fixtures for the AWS adapter: one moto server per session, fresh AWS resources per test."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.clouds.aws import AwsCloud
from activities.clouds.aws_clients import EventHook
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.models import Topology
from tests.integration.aws.provision import aws_topology, provision
from workers.main import WORKFLOWS, activity_functions

#: Fake credentials and a fast moto, for this test process only (restored after the session).
MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (all services) on a free port, reached over HTTP like real AWS."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in MOTO_ENV.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


def reset_moto(endpoint: str) -> None:
    """Forget every resource of the moto server (its own reset API)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 - local URL
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the same URL
        pass


@pytest.fixture
def topology(moto_endpoint: str) -> Topology:
    """The four-region test topology (two AWS regions), on a task queue of its own, provisioned fresh."""
    reset_moto(moto_endpoint)
    topo = aws_topology(moto_endpoint, queue=f"aws-{uuid.uuid4().hex[:8]}")
    provision(topo, moto_endpoint)
    return topo


@pytest.fixture
def sim(tmp_path: Path, topology: Topology) -> SimCloud:
    """The simulated cloud for the topology's non-AWS regions (seeded with all of them)."""
    cloud = SimCloud(tmp_path / "sim.db")
    cloud.seed_topology(topology)
    return cloud


@pytest.fixture
def aws(topology: Topology) -> AwsCloud:
    return AwsCloud(topology)


@pytest.fixture
def executor() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        yield pool


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


class Counter:
    """A `before-send` hook that counts the AWS operations sent (without changing them)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, event_name: str, **_: Any) -> None:
        op = event_name.split(".", 1)[-1]  # "<service>.<Operation>"
        self.calls[op] = self.calls.get(op, 0) + 1

    def hook(self) -> EventHook:
        return ("before-send", self)

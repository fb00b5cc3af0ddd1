"""`make demo-aws`: a rollout of checkout 2.0.0 through the real workflows, two regions on AWS (moto).

Starts a moto server (fake credentials, this process only; extended with percentiles and EC2
quotas, tests/helpers/aws/moto_extensions.py), provisions the AWS resources the adapter expects and
the metrics AWS would publish for them (tests/helpers/aws/provision.py), starts a Temporal dev
server with its Web UI and a worker whose registry has the sim and the AWS adapter, then runs the
rollout and prints what each AWS region runs afterwards, read back from moto.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
import os
import socket
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }
)
os.environ.pop("AWS_PROFILE", None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(strategy: str, release: str) -> int:
    from moto.server import ThreadedMotoServer
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from activities.clouds.aws import AwsCloud
    from activities.clouds.sim import SimCloud
    from cli.launch import start_rollout
    from config.loader import load_policies
    from contracts.rollout import RolloutRequest
    from tests.helpers.aws.moto_extensions import install
    from tests.helpers.aws.provision import AWS_REGIONS, SERVICE, aws_topology, provision
    from tests.helpers.aws.worker import aws_worker
    from workers.client import register_search_attributes

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs one line per request otherwise
    install()  # percentiles (TargetResponseTime p99) and EC2 quotas, which moto lacks
    port = _free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        topology = aws_topology(endpoint, queue="demo-aws")
        provision(topology, endpoint)
        print(f"moto on {endpoint}: provisioned {', '.join(AWS_REGIONS)} (ASGs, ALB, Route 53, EBS)")
        aws = AwsCloud(topology)
        state_dir = ROOT / ".globalops" / "demo-aws"
        state_dir.mkdir(parents=True, exist_ok=True)
        sim = SimCloud(state_dir / f"sim-{uuid.uuid4().hex[:6]}.db")
        sim.seed_topology(topology)
        ui_port = _free_port()
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
            data_converter=pydantic_data_converter,
            ui=True,
            ui_port=ui_port,
        )
        print(f"Temporal Web UI: http://127.0.0.1:{ui_port}")
        try:
            await register_search_attributes(env.client)
            request = RolloutRequest(
                service=SERVICE,
                release=release,
                request_id=uuid.uuid4().hex[:8],
                topology=topology,
                policies=load_policies(ROOT / "config" / "policies.demo.yaml"),
                strategy=strategy,
            )
            with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
                async with aws_worker(env.client, topology.default_task_queue, sim, aws, pool):
                    result = await (await start_rollout(env.client, request)).result()
        finally:
            await env.shutdown()
        print(f"rollout {result.status}: {result.reason or 'every region on ' + release}")
        for region in AWS_REGIONS:
            state = aws.region_state(SERVICE, region)
            print(
                f"  {region:<12} releases={state.releases} healthy={state.healthy}"
                f" traffic={state.traffic:.2f}"
            )
        return 0 if result.status == "succeeded" else 1
    finally:
        moto.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--strategy", default="rolling", choices=["rolling", "canary", "blue-green"])
    parser.add_argument("--release", default="2.0.0")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.strategy, args.release)))

"""B2's floor worker: the real worker's settings (own process, 32 slots in 32 threads), no-op activities."""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.floor import FloorChildWorkflow, FloorRolloutWorkflow
from workers.main import ACTIVITY_SLOTS, STICKY_TIMEOUT_S


@activity.defn(name="bench_noop")
def noop_sync(region: str) -> str:
    """Does nothing, in the thread pool as the real (synchronous) activities run."""
    return region


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    client = await Client.connect(args.address, data_converter=pydantic_data_converter)
    with concurrent.futures.ThreadPoolExecutor(max_workers=ACTIVITY_SLOTS) as executor:
        worker = Worker(
            client,
            task_queue=args.task_queue,
            workflows=[FloorRolloutWorkflow, FloorChildWorkflow],
            activities=[noop_sync],
            activity_executor=executor,
            max_concurrent_activities=ACTIVITY_SLOTS,
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=STICKY_TIMEOUT_S),
        )
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main())

"""The engine floor: a rollout's shape (waves, one child per region, same activity counts) doing nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from bench.floor_contracts import FloorChildInput, FloorShape

TIMEOUT = timedelta(seconds=30)


@activity.defn(name="bench_noop")
async def noop(region: str) -> str:
    """Does nothing: what is left is Temporal's own cost of an activity."""
    return region


@workflow.defn(name="BenchFloorChildWorkflow")
class FloorChildWorkflow:
    """A region's deploy reduced to its activity count, run one after another like the real steps."""

    @workflow.run
    async def run(self, inp: FloorChildInput) -> int:
        for _ in range(inp.activities):
            await workflow.execute_activity(noop, inp.region, start_to_close_timeout=TIMEOUT)
        return inp.activities


@workflow.defn(name="BenchFloorRolloutWorkflow")
class FloorRolloutWorkflow:
    """Validate every region at once, then each group's children at once, group after group."""

    @workflow.run
    async def run(self, shape: FloorShape) -> int:
        await asyncio.gather(*(self._validate(r, shape.validate_per_region) for r in shape.regions))
        wid = workflow.info().workflow_id
        done = 0
        for group in shape.groups:
            results = await asyncio.gather(
                *(
                    workflow.execute_child_workflow(
                        FloorChildWorkflow.run,
                        FloorChildInput(region=r, activities=shape.child_activities[r]),
                        id=f"{wid}/{r}",
                    )
                    for r in group
                )
            )
            done += sum(results)
        return done

    async def _validate(self, region: str, count: int) -> None:
        for _ in range(count):
            await workflow.execute_activity(noop, region, start_to_close_timeout=TIMEOUT)

"""One region's rolling deploy: batches, a health gate after each, bake, verify; undoes itself on failure."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cloud_activities import CloudActivities
    from activities.clouds.base import DeployResult, HealthSample
    from workflows.contracts import (
        EnsureReleaseInput,
        GateRecord,
        RegionDeployInput,
        RegionOutcome,
        RegionRef,
    )
    from workflows.planning import batch_targets, judge_health
    from workflows.retries import CALL_TIMEOUT, CLOUD_RETRY, UNDO_RETRY


@workflow.defn(name="RegionDeploymentWorkflow")
class RegionDeploymentWorkflow:
    """Deploys a release to one region in batches; the parent rollout decides what happens next."""

    def __init__(self) -> None:
        self._outcome: RegionOutcome | None = None

    @workflow.query
    def progress(self) -> RegionOutcome | None:
        """The region's state so far."""
        return self._outcome

    @workflow.run
    async def run(self, inp: RegionDeployInput) -> RegionOutcome:
        """Deploy, gate, bake and verify; on a failed gate, restore the previous release."""
        region = inp.region.name
        targets = batch_targets(inp.region.instances, inp.policies.rolling.batch_size)
        out = RegionOutcome(
            region=region,
            wave=inp.wave,
            status="deploying",
            release=inp.previous_release,
            previous_release=inp.previous_release,
            batches_total=len(targets),
        )
        self._outcome = out
        try:
            for index, target in enumerate(targets, start=1):
                step = f"batch {index}/{len(targets)}"
                await self._ensure(inp, inp.release, target, f"batch-{index}", step, CLOUD_RETRY)
                out.batches_done = index
                out.release = inp.release if target == targets[-1] else out.release
                out.detail = f"{step}: {target}/{inp.region.instances} on {inp.release}"
                self._show()
                if not await self._gate(inp, step, out):
                    return await self._roll_back(inp, out)
            out.status = "baking"
            bake = inp.policies.region_bake
            out.detail = f"baking {bake:g}s"
            self._show()
            if bake > 0:
                await workflow.sleep(timedelta(seconds=bake), summary=f"bake {region} {bake:g}s")
            if not await self._gate(inp, "verify", out):
                return await self._roll_back(inp, out)
            out.status, out.release, out.detail = "succeeded", inp.release, "verified"
            self._show()
            return out
        except asyncio.CancelledError:
            out.status, out.detail = "aborted", "cancelled: restoring previous release"
            await self._restore(inp)
            out.release = inp.previous_release
            raise
        except ActivityError as err:
            out.detail = f"{err.cause or err}"
            try:
                await self._restore(inp)
                out.status, out.release = "rolled_back", inp.previous_release
            except ActivityError as undo_err:
                out.status = "failed"
                out.detail += f"; restore failed: {undo_err.cause or undo_err}"
            self._show()
            return out

    async def _ensure(
        self,
        inp: RegionDeployInput,
        release: str,
        count: int,
        step_key: str,
        label: str,
        retry: RetryPolicy,
    ) -> DeployResult:
        region = inp.region.name
        request = EnsureReleaseInput(
            service=inp.service,
            region=region,
            provider=inp.region.provider,
            release=release,
            count=count,
            key=f"{inp.key_prefix}/{region}/{step_key}",
        )
        return await workflow.execute_activity_method(
            CloudActivities.ensure_release,
            request,
            task_queue=inp.task_queue,
            start_to_close_timeout=CALL_TIMEOUT,
            retry_policy=retry,
            summary=f"{region}: {label} → {release} ({count} instances)",
        )

    async def _gate(self, inp: RegionDeployInput, step: str, out: RegionOutcome) -> bool:
        """Take `samples` health samples `probe_interval` apart; any breach fails the gate."""
        policy = inp.policies.health
        region = inp.region.name
        ref = RegionRef(service=inp.service, region=region, provider=inp.region.provider)
        worst_err, worst_lat = 0.0, 0.0
        for n in range(1, policy.samples + 1):
            if n > 1:
                await workflow.sleep(
                    timedelta(seconds=policy.probe_interval),
                    summary=f"{region}: probe interval ({step})",
                )
            sample: HealthSample = await workflow.execute_activity_method(
                CloudActivities.health_sample,
                ref,
                task_queue=inp.task_queue,
                start_to_close_timeout=CALL_TIMEOUT,
                retry_policy=CLOUD_RETRY,
                summary=f"{region}: health {step} sample {n}/{policy.samples}",
            )
            worst_err = max(worst_err, sample.error_rate)
            worst_lat = max(worst_lat, sample.latency_p99_ms)
            reasons = judge_health(sample, policy)
            if reasons:
                out.gates.append(
                    GateRecord(
                        step=step,
                        passed=False,
                        samples=n,
                        worst_error_rate=worst_err,
                        worst_latency_p99_ms=worst_lat,
                        reasons=reasons,
                    )
                )
                out.detail = f"health gate failed at {step}: {'; '.join(reasons)}"
                return False
        out.gates.append(
            GateRecord(
                step=step,
                passed=True,
                samples=policy.samples,
                worst_error_rate=worst_err,
                worst_latency_p99_ms=worst_lat,
            )
        )
        return True

    async def _restore(self, inp: RegionDeployInput) -> None:
        await self._ensure(
            inp,
            inp.previous_release,
            inp.region.instances,
            "restore",
            "restore",
            UNDO_RETRY,
        )

    async def _roll_back(self, inp: RegionDeployInput, out: RegionOutcome) -> RegionOutcome:
        await self._restore(inp)
        out.status, out.release = "rolled_back", inp.previous_release
        self._show()
        return out

    def _show(self) -> None:
        out = self._outcome
        if out is not None:
            workflow.set_current_details(
                f"**{out.region}** ({out.wave}) · {out.status} · batches "
                f"{out.batches_done}/{out.batches_total}\n\n{out.detail}"
            )

"""The steps every in-region strategy is made of: cloud calls, health gates, analysis, waits for promote."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.analysis_activities import AnalysisActivities
    from activities.cloud_activities import CloudActivities
    from config.models import DeployPolicies, Provider
    from config.notify import HookStage
    from contracts.change import Freeze
    from contracts.cloud import (
        HealthSample,
        RegionState,
    )
    from contracts.notify import HookContext
    from contracts.rollout import (
        AnalyseInput,
        AnalysisRecord,
        CanaryWeightInput,
        EnsureReleaseInput,
        GateRecord,
        KeyedRegionInput,
        RegionDeployInput,
        RegionOutcome,
        RegionRef,
        RestoreInput,
        ScaleGroupInput,
    )

from workflows import patches
from workflows.alarms import alarm_reason
from workflows.freeze_api import FreezeWatch, freeze_text
from workflows.hooks import run_hooks
from workflows.logic.markdown import state, table
from workflows.logic.planning import judge_health
from workflows.notify import Announcer
from workflows.retries import ANALYSIS_RETRY, CLOUD_RETRY, UNDO_RETRY, call_timeout, heartbeat_timeout

StepVerdict = Literal["pass", "fail", "inconclusive", "no_data"]


class Aborted(Exception):
    """An operator aborted this region: the strategy stops and the region is restored."""


class RegionRun:
    """Shared state of one region's deploy (input, outcome, operator signals) and its primitive steps."""

    def __init__(self, inp: RegionDeployInput, previous: str, watch: FreezeWatch) -> None:
        self.inp = inp
        self.watch = watch
        self.previous = previous
        self.region = inp.region.name
        self.out = RegionOutcome(
            region=self.region,
            wave=inp.wave,
            status="deploying",
            release=previous,
            previous_release=previous,
            strategy=inp.strategy,
        )
        self.promotions = 0
        self.full_promote = False
        self.abort_reason: str | None = None
        self.waiting_for: str | None = None
        self.events = Announcer(
            inp.policies, operation="rollout", service=inp.service, key=inp.key_prefix, release=inp.release
        )
        self.decisions = 0

    # ----- keys, refs, presentation ------------------------------------------------------------

    def key(self, step: str) -> str:
        """Idempotency key: workflow id + request id (the prefix), region and step."""
        return f"{self.inp.key_prefix}/{self.region}/{step}"

    def alarm_args(self) -> tuple[DeployPolicies, str, str, Provider, str]:
        """alarm_reason's arguments for this region."""
        inp = self.inp
        return inp.policies, inp.service, self.region, inp.region.provider, inp.task_queue

    def ref(self) -> dict[str, Any]:
        return {"service": self.inp.service, "region": self.region, "provider": self.inp.region.provider}

    def show(self, detail: str | None = None) -> None:
        if detail is not None:
            self.out.detail = detail
        o = self.out
        lines = [f"**{o.region}** ({o.wave}, {o.strategy}) · {state(o.status)} · {o.detail}"]
        if o.analysis:
            header = ["Step", "Weight", "Verdict", "Error rate canary / base", "p99 canary / base", "Score"]
            lines += ["", *table(header, [_analysis_row(a) for a in o.analysis[-12:]])]
        workflow.set_current_details("\n".join(lines))

    def check_abort(self) -> None:
        if self.abort_reason is not None:
            raise Aborted(self.abort_reason)

    async def safe_point(self) -> None:
        """Between batches and before each step: while a freeze covers this region, change nothing."""

        def show(held: list[Freeze]) -> None:
            self.out.status = "frozen"
            self.show(freeze_text(held))

        if await self.watch.wait([self.region], show, lambda: self.abort_reason is not None):
            self.out.status = "deploying"
            self.show("freeze ended: going on")
        self.check_abort()

    # ----- cloud calls ---------------------------------------------------------------------------

    async def ensure_release(self, release: str, count: int, step: str, label: str) -> None:
        await workflow.execute_activity_method(
            CloudActivities.ensure_release,
            EnsureReleaseInput(**self.ref(), release=release, count=count, key=self.key(step)),
            task_queue=self.inp.task_queue,
            start_to_close_timeout=call_timeout(self.inp.policies),
            heartbeat_timeout=heartbeat_timeout(self.inp.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{self.region}: {label} → {release} ({count} instances)",
        )

    async def scale(self, group: Literal["stable", "canary"], release: str, count: int, step: str) -> None:
        await workflow.execute_activity_method(
            CloudActivities.scale_group,
            ScaleGroupInput(**self.ref(), group=group, release=release, count=count, key=self.key(step)),
            task_queue=self.inp.task_queue,
            start_to_close_timeout=call_timeout(self.inp.policies),
            heartbeat_timeout=heartbeat_timeout(self.inp.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{self.region}: {group} group → {count} × {release}",
        )

    async def weight(self, share: float, step: str, retry: RetryPolicy = CLOUD_RETRY) -> RegionState:
        return await workflow.execute_activity_method(
            CloudActivities.set_canary_weight,
            CanaryWeightInput(**self.ref(), weight=share, key=self.key(step)),
            task_queue=self.inp.task_queue,
            start_to_close_timeout=call_timeout(self.inp.policies),
            heartbeat_timeout=heartbeat_timeout(self.inp.policies),
            retry_policy=retry,
            summary=f"{self.region}: {share:.0%} of traffic to {self.inp.release}",
        )

    async def promote_canary(self, step: str) -> RegionState:
        return await workflow.execute_activity_method(
            CloudActivities.promote_canary,
            KeyedRegionInput(**self.ref(), key=self.key(step)),
            task_queue=self.inp.task_queue,
            start_to_close_timeout=call_timeout(self.inp.policies),
            heartbeat_timeout=heartbeat_timeout(self.inp.policies),
            retry_policy=CLOUD_RETRY,
            summary=f"{self.region}: {self.inp.release} becomes stable",
        )

    async def restore(self) -> None:
        """Back to the previous release with no canary traffic (the undo of every strategy)."""
        await workflow.execute_activity_method(
            CloudActivities.restore_region,
            RestoreInput(
                **self.ref(), release=self.previous, count=self.inp.region.instances, key=self.key("restore")
            ),
            task_queue=self.inp.task_queue,
            start_to_close_timeout=call_timeout(self.inp.policies),
            heartbeat_timeout=heartbeat_timeout(self.inp.policies),
            retry_policy=UNDO_RETRY,
            summary=f"{self.region}: restore {self.previous}, no canary traffic",
        )
        self.out.release = self.previous

    # ----- gates and analysis ----------------------------------------------------------------

    async def gate(self, step: str) -> bool:
        """`samples` health samples `probe_interval` apart; any breach fails the gate.

        A sample without data (metrics missing, or no requests) is never healthy: per the policy's
        `on_no_data` the gate fails, or the region waits for a decision (promote: go on; abort:
        roll back; nobody within `no_data_deadline`: the gate fails).
        """
        policy = self.inp.policies.health
        worst_err, worst_lat = 0.0, 0.0
        for n in range(1, policy.samples + 1):
            if n > 1:
                await workflow.sleep(
                    timedelta(seconds=policy.probe_interval), summary=f"{self.region}: probe interval"
                )
            sample: HealthSample = await workflow.execute_activity_method(
                CloudActivities.health_sample,
                RegionRef(**self.ref()),
                task_queue=self.inp.task_queue,
                start_to_close_timeout=call_timeout(self.inp.policies),
                heartbeat_timeout=heartbeat_timeout(self.inp.policies),
                retry_policy=CLOUD_RETRY,
                summary=f"{self.region}: health {step} sample {n}/{policy.samples}",
            )
            worst_err = max(worst_err, sample.error_rate or 0.0)
            worst_lat = max(worst_lat, sample.latency_p99_ms or 0.0)
            reasons = judge_health(sample, policy)
            alarm = await alarm_reason(*self.alarm_args())  # no alarms listed: no command at all
            reasons += [alarm] if alarm else []
            missing = [] if reasons else sample.missing()
            if missing and await self._decide_no_data(step, sample, missing):
                self.out.overrides.append(
                    f"{step}: no metrics ({', '.join(missing)}): promoted by an operator"
                )
                self.out.gates.append(
                    GateRecord(
                        step=step,
                        passed=True,
                        samples=n,
                        worst_error_rate=worst_err,
                        worst_latency_p99_ms=worst_lat,
                        reasons=[f"no data: {', '.join(missing)}; promoted by an operator"],
                    )
                )
                return True
            if missing:
                reasons = [
                    f"no metrics arrived from {self.region} ({sample.source or 'provider'}): "
                    + ", ".join(missing)
                ]
            if reasons:
                self.out.gates.append(
                    GateRecord(
                        step=step,
                        passed=False,
                        samples=n,
                        worst_error_rate=worst_err,
                        worst_latency_p99_ms=worst_lat,
                        reasons=reasons,
                    )
                )
                self.out.detail = f"health gate failed at {step}: {'; '.join(reasons)}"
                return False
        self.out.gates.append(
            GateRecord(
                step=step,
                passed=True,
                samples=policy.samples,
                worst_error_rate=worst_err,
                worst_latency_p99_ms=worst_lat,
            )
        )
        return True

    async def _decide_no_data(self, step: str, sample: HealthSample, missing: list[str]) -> bool:
        """No data is no verdict: wait for a human (policy `wait`) or fail (policy `fail`); True: go on."""
        policy = self.inp.policies.health
        if policy.on_no_data == "fail":
            return False
        source = sample.source or "provider"
        why = (
            f"{step}: no metrics arrived from {self.region} ({source}): {', '.join(missing)};"
            " promote to go on, abort to roll back"
        )
        return await self.wait_for_promote(why, policy.no_data_deadline)

    async def analyse_step(self, step: str, weight: float) -> StepVerdict:
        """`count` analysis runs `interval` apart, judged against the failure / inconclusive limits."""
        policy = self.inp.policies.analysis
        failures = inconclusive = errors = judged = 0
        for n in range(policy.count):
            if n > 0:
                await self.pause_for(policy.interval, f"analysis interval ({step})")
            try:
                record = await workflow.execute_activity_method(
                    AnalysisActivities.analyse,
                    AnalyseInput(
                        **self.ref(),
                        step=step,
                        weight=weight,
                        canary_release=self.inp.release,
                        baseline_release=self.previous,
                        analysis=policy,
                        thresholds=self.inp.policies.health,
                    ),
                    task_queue=self.inp.task_queue,
                    start_to_close_timeout=call_timeout(self.inp.policies),
                    heartbeat_timeout=heartbeat_timeout(self.inp.policies),
                    retry_policy=ANALYSIS_RETRY,
                    summary=f"{self.region}: analyse {step} ({n + 1}/{policy.count})",
                )
            except ActivityError as err:
                errors += 1
                self.out.analysis.append(
                    AnalysisRecord(step=step, weight=weight, verdict="error", reasons=[str(err.cause or err)])
                )
                self.show()
                if errors > policy.consecutive_error_limit:
                    return "fail"
                continue
            errors = 0
            judged += 1
            self.out.analysis.append(record)
            self.show(f"{step}: run {n + 1}/{policy.count} {record.verdict}")
            if record.no_data:
                # No data is no verdict: fail at once (on_no_data: fail), or wait for a decision.
                return "fail" if self.inp.policies.health.on_no_data == "fail" else "no_data"
            if record.verdict == "fail":
                failures += 1
                if failures > policy.failure_limit:
                    return "fail"
            elif record.verdict == "inconclusive":
                inconclusive += 1
                if inconclusive > policy.inconclusive_limit:
                    return "inconclusive"
        if judged == 0 and workflow.patched(patches.NO_MEASUREMENT_IS_INCONCLUSIVE.id):
            return "inconclusive"  # not one run could read metrics: nothing says the canary is good
        return "pass"

    # ----- webhook gates -------------------------------------------------------------------------

    async def hook_gate(self, stage: HookStage, step: str) -> bool:
        """The webhook gates of `stage` about `step`; False (the region rolls back) when one says no."""
        context = HookContext(
            operation="rollout",
            workflow_id=workflow.info().workflow_id,
            service=self.inp.service,
            release=self.inp.release,
            region=self.region,
            step=step,
            key=self.key(step),
        )
        reason = await run_hooks(self.inp.policies, stage, context, task_queue=self.inp.task_queue)
        if reason is None:
            return True
        self.show(f"webhook gate failed at {step}: {reason}")
        return False

    # ----- operator waits ----------------------------------------------------------------------

    async def wait_for_promote(self, why: str, timeout: float | None) -> bool:
        """Wait for `promote` (or abort); True if promoted, False when `timeout` passed first."""
        seen = self.promotions
        self.waiting_for = self.out.waiting_for = why
        self.out.status = "waiting"
        self.show(f"waiting for promote: {why}")
        self.decisions += 1
        self.events.emit(
            "awaiting_decision",
            f"{self.inp.service} {self.inp.release} in {self.region} waits for a decision: {why}"
            " (globalops rollout promote | abort)",
            step=f"{self.region}/decision-{self.decisions}",
            region=self.region,
            status="waiting",
        )
        try:
            await workflow.wait_condition(
                lambda: self.promotions > seen or self.full_promote or self.abort_reason is not None,
                timeout=timedelta(seconds=timeout) if timeout is not None else None,
                timeout_summary=f"{self.region}: {why}" if timeout is not None else None,
            )
        except TimeoutError:
            return False
        finally:
            self.waiting_for = self.out.waiting_for = None
            self.out.status = "deploying"
        self.check_abort()
        return True

    async def pause_for(self, seconds: float, what: str) -> None:
        """A bake or interval that a full promote or an abort cuts short."""
        if seconds <= 0:
            return
        try:
            await workflow.wait_condition(
                lambda: self.full_promote or self.abort_reason is not None,
                timeout=timedelta(seconds=seconds),
                timeout_summary=f"{self.region}: {what}",
            )
        except TimeoutError:
            return
        self.check_abort()


def _pct(value: float | str | None, digits: int = 2) -> str:
    return f"{value:.{digits}%}" if isinstance(value, float) else "–"


def _ms(value: float | str | None) -> str:
    return f"{value:.0f}" if isinstance(value, float) else "–"


def _analysis_row(a: AnalysisRecord) -> list[str]:
    err = a.metrics.get("error_rate", {})
    lat = a.metrics.get("latency_p99", {})
    score = f"{a.score:.0f}" if a.score is not None else "–"
    return [
        a.step,
        f"{a.weight:g}%",
        a.verdict,
        f"{_pct(err.get('canary_mean'))} / {_pct(err.get('baseline_mean'))}",
        f"{_ms(lat.get('canary_median'))} / {_ms(lat.get('baseline_median'))}",
        score,
    ]

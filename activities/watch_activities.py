"""The monitor's watch: one long activity probes its regions every interval and heartbeats its counters.

Why: an activity per region per probe round and a timer per round cost about 380 Temporal actions
per monitored region-hour (issue 19, B6). One watch per task queue costs one activity start per
window (or per trigger) plus its heartbeats, which the SDK throttles to one per 80 % of the
heartbeat timeout (at most one a minute): about 5 actions per region-hour with 16 regions.

Durability: the counters travel in the heartbeat details, so a retry after a worker crash resumes
from the last heartbeat that reached Temporal (at most one heartbeat interval old) instead of
starting over; a run of failed probes that had begun keeps its start. The watch returns as soon as
something needs the workflow (a trigger, a readiness change, a recovery): the workflow acts on it
exactly as on its own probe rounds, then starts the next watch.
"""

from __future__ import annotations

import concurrent.futures
import time
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from activities.clouds.registry import CloudRegistry
from activities.traffic_activities import probe
from contracts.failover import ProbeResult, ProbeSample
from contracts.rollout import RegionRef
from contracts.triggers import fold_round
from contracts.watch import WatchInput, WatchRegion, WatchResult, WatchState


class WatchActivities:
    """The watch, through the same cloud adapters as the single probe."""

    def __init__(self, clouds: CloudRegistry) -> None:
        self._clouds = clouds

    @activity.defn(name="watch_regions")
    def watch_regions(self, inp: WatchInput) -> WatchResult:
        """Probe every region each `probe_interval` until a trigger, a change or the window's end."""
        state = _resumed(inp.state)
        policy = inp.policy
        started = time.monotonic()
        rounds = 0
        # Not a `with` block: leaving one waits for every probe thread, and a hung probe must not
        # hold the watch (its round goes on without that region; see `_round`).
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(inp.regions) or 1))
        try:
            while True:
                tick = time.monotonic()
                samples = self._round(pool, inp, datetime.now(UTC))
                outcome = fold_round(state, samples, policy, inp.exclude, inp.recovering)
                state, rounds = outcome.state, rounds + 1
                reason = (
                    "firing"
                    if outcome.firings
                    else "readiness"
                    if outcome.changes
                    else "recovered"
                    if outcome.recovered
                    else "first_round"
                    if inp.first_round_returns
                    else "window"
                    if time.monotonic() - started >= policy.watch_window
                    else ""
                )
                if reason:
                    return WatchResult(
                        state=state,
                        rounds=rounds,
                        reason=reason,
                        firings=outcome.firings,
                        changes=outcome.changes,
                        recovered=outcome.recovered,
                    )
                # Every round; the SDK sends at most one per 80 % of the heartbeat timeout (B6 cost).
                activity.heartbeat(state)
                activity.wait_for_cancelled_sync(max(0.0, policy.probe_interval - (time.monotonic() - tick)))
                if activity.is_cancelled():
                    raise CancelledError("the monitor stopped")
                if activity.is_worker_shutdown():
                    # Retried on another worker at once, from the last heartbeat.
                    raise ApplicationError("worker shutting down: the watch moves to another worker")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _round(self, pool: concurrent.futures.Executor, inp: WatchInput, at: datetime) -> list[ProbeSample]:
        """One probe of every region at once; a probe that could not run (throttled, slow) is no sample."""
        futures = {pool.submit(self._probe, inp.service, r): r.name for r in inp.regions}
        done, _ = concurrent.futures.wait(futures, timeout=inp.call_timeout)
        samples: list[ProbeSample] = []
        for future in futures:
            if future not in done or future.exception() is not None:
                continue  # no evidence either way, as when the per-probe activity fails
            result = future.result()
            samples.append(
                ProbeSample(
                    region=result.region,
                    at=at,
                    ok=result.ok,
                    error_rate=result.error_rate,
                    latency_p99_ms=result.latency_p99_ms,
                    blind=result.blind,
                )
            )
        return samples

    def _probe(self, service: str, region: WatchRegion) -> ProbeResult:
        return probe(self._clouds, RegionRef(service=service, region=region.name, provider=region.provider))


def _resumed(given: WatchState) -> WatchState:
    """The last heartbeat's state when this is a retry (a worker died), else the one the monitor gave."""
    details = activity.info().heartbeat_details
    if details:
        return WatchState.model_validate(details[0])
    return given

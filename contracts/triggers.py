"""Pure trigger logic: fold probes into a region's trigger state, and a whole probe round into a watch.

Shared by the monitor workflow (its per-probe rounds) and the watch activity (which probes inside one
long activity, to keep the monitor cheap in Temporal actions): it lives in contracts, below both,
because activities may not import workflows nor workflows/logic activities. No I/O and no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from config.failover import FailoverPolicy, SustainedTrigger
from contracts.failover import Firing, ProbeSample, RegionTriggerState, TriggerName
from contracts.watch import ReadinessChange, WatchState

__all__ = ["RECOVERY_PROBES", "RoundOutcome", "evaluate", "fold_round", "readiness_of"]

#: Probes a region must pass in a row before an active failover entry is cleared.
RECOVERY_PROBES = 3


def _sustained(
    since: datetime | None,
    value: float,
    trigger: SustainedTrigger,
    sample: ProbeSample,
    name: TriggerName,
    show: Callable[[float], str],
) -> tuple[datetime | None, Firing | None]:
    """New breach start for one metric, and a firing when it has breached for the whole window."""
    if value <= trigger.threshold:
        return None, None
    since = since or sample.at
    held = (sample.at - since).total_seconds()
    if held < trigger.sustained_for:
        return since, None
    label = "error rate" if name == "error_rate" else "p99 latency"
    detail = f"{label} {show(value)} > {show(trigger.threshold)} for {held:g}s"
    return since, Firing(
        region=sample.region,
        trigger=name,
        mode=trigger.mode,
        first_bad_at=since,
        fired_at=sample.at,
        detail=detail,
    )


def evaluate(
    state: RegionTriggerState, sample: ProbeSample, policy: FailoverPolicy
) -> tuple[RegionTriggerState, list[Firing]]:
    """Fold one probe into a region's trigger state; return the new state and what fired.

    - A failed probe counts towards `probe_failures` (fires once, when the count reaches
      `consecutive`); an ok probe resets the count.
    - error rate and p99 latency fire on every sample once they have been above their threshold
      for `sustained_for` (measured from the first breaching sample); a sample at or below the
      threshold resets the window. A failed probe says nothing about them: it neither breaches
      nor resets them, and they do not fire on it.
    - A blind probe (reachable, no metrics) resets the failure count and says nothing about error
      rate or latency: missing data is no evidence of failure, and never evidence of health.
    """
    firings: list[Firing] = []
    failures, failing_since = state.consecutive_failures, state.failing_since
    error_since, latency_since = state.error_breach_since, state.latency_breach_since

    error, latency = sample.error_rate, sample.latency_p99_ms
    if sample.ok and not sample.blind and error is not None and latency is not None:
        failures, failing_since = 0, None
        error_since, error_firing = _sustained(
            error_since, error, policy.error_rate, sample, "error_rate", lambda v: f"{v:.2%}"
        )
        latency_since, latency_firing = _sustained(
            latency_since, latency, policy.latency, sample, "latency", lambda v: f"{v:g}ms"
        )
        # (Equivalent mutant, left counted: `firings` is still empty here, so `=` for `+=`.)
        firings += [f for f in (error_firing, latency_firing) if f is not None]
    elif sample.ok:
        # Reachable, but blind: no failed probe, and no evidence about error rate or latency either way.
        failures, failing_since = 0, None
    else:
        failures += 1
        failing_since = failing_since or sample.at
        trigger = policy.probe_failures
        if failures == trigger.consecutive:
            firings.append(
                Firing(
                    region=sample.region,
                    trigger="probe_failures",
                    mode=trigger.mode,
                    first_bad_at=failing_since,
                    fired_at=sample.at,
                    detail=f"{failures} consecutive failed probes",
                )
            )

    starts = [t for t in (failing_since, error_since, latency_since) if t is not None]
    new_state = RegionTriggerState(
        consecutive_failures=failures,
        first_bad_at=min(starts) if starts else None,
        error_breach_since=error_since,
        latency_breach_since=latency_since,
        failing_since=failing_since,
    )
    return new_state, firings


def readiness_of(sample: ProbeSample) -> str:
    """What the monitor announces about a region: blind (no metrics), ready or unhealthy."""
    return "blind" if sample.blind else "ready" if sample.ok else "unhealthy"


@dataclass
class RoundOutcome:
    """One probe round folded into a watch: the new state and whatever should end the watch."""

    state: WatchState
    firings: list[Firing] = field(default_factory=list)
    changes: list[ReadinessChange] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)

    @property
    def ends_watch(self) -> bool:
        return bool(self.firings or self.changes or self.recovered)


def fold_round(
    state: WatchState,
    samples: Sequence[ProbeSample],
    policy: FailoverPolicy,
    exclude: Sequence[str] = (),
    recovering: Sequence[str] = (),
) -> RoundOutcome:
    """Fold one round's samples (regions whose probe could not run are absent: no evidence either way).

    Firings of `exclude`d regions (failing over, or awaiting approval) are dropped; a region of
    `recovering` that has passed RECOVERY_PROBES probes in a row is reported once; a readiness
    change is reported when the region had a readiness before (the first probe is a baseline).
    """
    states: dict[str, RegionTriggerState] = dict(state.states)
    streaks: dict[str, int] = dict(state.streaks)
    readiness: dict[str, str] = dict(state.readiness)
    last: dict[str, ProbeSample] = dict(state.last)
    out = RoundOutcome(state=state)
    for sample in samples:
        name = sample.region
        last[name] = sample
        new, firings = evaluate(states.get(name, RegionTriggerState()), sample, policy)
        states[name] = new
        out.firings += [f for f in firings if f.region not in exclude]
        streaks[name] = streaks.get(name, 0) + 1 if sample.ok and not sample.blind else 0
        if streaks[name] >= RECOVERY_PROBES and name in recovering:
            out.recovered.append(name)
        now, before = readiness_of(sample), readiness.get(name)
        readiness[name] = now
        if before is not None and before != now:
            out.changes.append(ReadinessChange(region=name, before=before, now=now, probe=state.probes))
    out.state = WatchState(
        probes=state.probes + 1, states=states, streaks=streaks, readiness=readiness, last=last
    )
    return out

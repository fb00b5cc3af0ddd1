"""Trigger logic (contracts/triggers.py): a region's trigger state probe by probe, and a watch's round.

The monitor folds probes with it in its per-probe rounds, the watch activity inside its one long
activity: both must fire, reset and recover the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config.failover import FailoverPolicy, ProbeFailureTrigger, SustainedTrigger
from contracts.failover import ProbeSample, RegionTriggerState
from contracts.triggers import RECOVERY_PROBES, RoundOutcome, evaluate, fold_round, readiness_of
from contracts.watch import ReadinessChange, WatchState

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def sample(
    at: float, *, ok: bool = True, err: float = 0.0, p99: float = 50.0, region: str = "r1"
) -> ProbeSample:
    return ProbeSample(
        region=region, at=T0 + timedelta(seconds=at), ok=ok, error_rate=err, latency_p99_ms=p99
    )


POLICY = FailoverPolicy()  # 10 s probes, 3 failures, latency 500 ms / 120 s, errors 5 % / 60 s


def run(
    samples: list[ProbeSample], policy: FailoverPolicy = POLICY, state: RegionTriggerState | None = None
) -> tuple[RegionTriggerState, list[list[str]]]:
    state = state or RegionTriggerState()
    fired: list[list[str]] = []
    for s in samples:
        state, firings = evaluate(state, s, policy)
        fired.append([f.trigger for f in firings])
    return state, fired


def test_consecutive_failures_fire_once_and_reset_on_recovery() -> None:
    state, fired = run(
        [sample(0, ok=False), sample(10, ok=False), sample(20, ok=False), sample(30, ok=False)]
    )
    assert fired == [[], [], ["probe_failures"], []]
    assert state.consecutive_failures == 4
    assert state.first_bad_at == T0
    state, firings = evaluate(state, sample(40), POLICY)
    assert firings == [] and state.consecutive_failures == 0 and state.first_bad_at is None

    # an ok probe in between restarts the count
    _, fired = run(
        [
            sample(0, ok=False),
            sample(10, ok=False),
            sample(20),
            sample(30, ok=False),
            sample(40, ok=False),
            sample(50, ok=False),
        ]
    )
    assert fired == [[], [], [], [], [], ["probe_failures"]]


def test_probe_failure_firing_carries_the_run_start_and_mode() -> None:
    policy = POLICY.model_copy(update={"probe_failures": ProbeFailureTrigger(consecutive=2, mode="manual")})
    state = RegionTriggerState()
    state, _ = evaluate(state, sample(0), policy)
    state, _ = evaluate(state, sample(10, ok=False), policy)
    state, firings = evaluate(state, sample(20, ok=False), policy)
    [firing] = firings
    assert firing.trigger == "probe_failures" and firing.mode == "manual"
    assert firing.first_bad_at == T0 + timedelta(seconds=10)
    assert firing.fired_at == T0 + timedelta(seconds=20)
    assert firing.region == "r1" and "2 consecutive" in firing.detail


def test_error_rate_fires_only_after_the_full_window() -> None:
    samples = [sample(t, err=0.2) for t in range(0, 70, 10)]
    state, fired = run(samples)
    assert fired == [[], [], [], [], [], [], ["error_rate"]]  # at 60 s, not 50 s
    assert state.error_breach_since == T0 and state.first_bad_at == T0
    _, firings = evaluate(RegionTriggerState(), sample(0, err=0.2), POLICY)
    assert firings == []
    # level-triggered: it keeps firing while the breach lasts (the monitor dedups)
    _, firings = evaluate(state, sample(70, err=0.2), POLICY)
    assert [f.trigger for f in firings] == ["error_rate"]
    assert firings[0].first_bad_at == T0 and "error rate 20.00% > 5.00% for 70s" in firings[0].detail


def test_a_good_sample_resets_the_window() -> None:
    samples = [
        sample(0, err=0.2),
        sample(10, err=0.2),
        sample(20, err=0.05),  # at the threshold: ok
        *[sample(t, err=0.2) for t in range(30, 100, 10)],
    ]
    state, fired = run(samples)
    assert [i for i, f in enumerate(fired) if f] == [9]  # 30 s + 60 s = 90 s, the 10th sample
    assert state.error_breach_since == T0 + timedelta(seconds=30)


def test_latency_window_and_both_metrics() -> None:
    samples = [sample(t, p99=800, err=0.1) for t in range(0, 130, 10)]
    state, fired = run(samples)
    assert fired[6] == ["error_rate"]
    assert fired[12] == ["error_rate", "latency"]
    assert not any(fired[:6]) and all("latency" not in f for f in fired[:12])
    _, firings = evaluate(state, sample(130, p99=800, err=0.1), POLICY)
    assert [f.detail for f in firings] == [
        "error rate 10.00% > 5.00% for 130s",
        "p99 latency 800ms > 500ms for 130s",
    ]


def test_failed_probe_neither_breaches_nor_resets_metrics() -> None:
    state, fired = run(
        [
            sample(0, err=0.2),
            sample(10, ok=False, err=0.0),
            sample(20, ok=False, err=0.0),
            sample(60, err=0.2),
        ]
    )
    assert fired == [[], [], [], ["error_rate"]]
    assert state.error_breach_since == T0
    # a failed probe with bad numbers does not start a breach either
    state, _ = run([sample(0, ok=False, err=0.9, p99=9000)])
    assert state.error_breach_since is None and state.latency_breach_since is None
    assert state.first_bad_at == T0  # the failed probe itself is bad


def test_first_bad_at_is_the_earliest_active_breach() -> None:
    state, _ = run([sample(0, p99=900), sample(10, err=0.3, p99=900), sample(20, ok=False)])
    assert state.first_bad_at == T0
    state, _ = run([sample(30, err=0.3)], state=state)  # latency recovered, errors still high
    assert state.first_bad_at == T0 + timedelta(seconds=10)
    state, _ = run([sample(40)], state=state)
    assert state.first_bad_at is None


def test_window_survives_serialisation_mid_window() -> None:
    """The monitor carries the state across continue-as-new as JSON: the window must not restart."""
    policy = POLICY.model_copy(update={"latency": SustainedTrigger(threshold=500, sustained_for=120)})
    state, fired = run([sample(t, p99=900) for t in range(0, 70, 10)], policy)
    assert not any(fired)
    state = RegionTriggerState.model_validate_json(state.model_dump_json())
    assert state.latency_breach_since == T0
    state, fired = run([sample(t, p99=900) for t in range(70, 130, 10)], policy, state)
    assert fired == [[], [], [], [], [], ["latency"]]  # exactly at 120 s after the first bad sample

    # the probe-failure count too
    state, _ = run([sample(0, ok=False), sample(10, ok=False)])
    state = RegionTriggerState.model_validate_json(state.model_dump_json())
    _, firings = evaluate(state, sample(20, ok=False), POLICY)
    assert [f.first_bad_at for f in firings] == [T0]


# --------------------------------------------------------------------------- timings


def blind_sample(at: float) -> ProbeSample:
    return ProbeSample(
        region="r1", at=T0 + timedelta(seconds=at), ok=True, error_rate=None, latency_p99_ms=None, blind=True
    )


def test_a_blind_probe_resets_failures_and_says_nothing_about_error_or_latency() -> None:
    state, _ = run([sample(0, ok=False), sample(10, ok=False)])
    assert state.consecutive_failures == 2
    state, firings = evaluate(state, blind_sample(20), POLICY)
    assert firings == [] and state.consecutive_failures == 0 and state.failing_since is None
    # An error breach in progress is neither reset nor advanced by blind probes...
    state, _ = run([sample(0, err=0.2), sample(10, err=0.2)])
    assert state.error_breach_since == T0
    for t in (20, 30, 40, 50, 60, 70):
        state, firings = evaluate(state, blind_sample(t), POLICY)
        assert firings == []
        assert state.error_breach_since == T0 and state.first_bad_at == T0
    # ...and the next real sample still over the threshold fires, the window measured from T0.
    state, firings = evaluate(state, sample(80, err=0.2), POLICY)
    assert [f.trigger for f in firings] == ["error_rate"] and firings[0].first_bad_at == T0


def test_a_sample_with_only_the_blind_flag_or_only_a_missing_number_is_blind() -> None:
    for probe in (
        ProbeSample(region="r1", at=T0, ok=True, error_rate=0.9, latency_p99_ms=9000.0, blind=True),
        ProbeSample(region="r1", at=T0, ok=True, error_rate=None, latency_p99_ms=9000.0),
        ProbeSample(region="r1", at=T0, ok=True, error_rate=0.9, latency_p99_ms=None),
    ):
        state, _ = run([sample(t, err=0.9, p99=9000.0) for t in range(-200, 0, 10)])
        before = (state.error_breach_since, state.latency_breach_since)
        state, firings = evaluate(state, probe, POLICY)
        assert firings == [] and (state.error_breach_since, state.latency_breach_since) == before


# --------------------------------------------------------------------------- a watch's round


def fold(
    rounds: list[list[ProbeSample]], state: WatchState | None = None, **kw: list[str]
) -> list[RoundOutcome]:
    """Fold rounds in; return each round's outcome (state threaded through)."""
    outcomes: list[RoundOutcome] = []
    state = state or WatchState()
    for samples in rounds:
        out = fold_round(state, samples, POLICY, **kw)
        state = out.state
        outcomes.append(out)
    return outcomes


def test_a_round_counts_probes_keeps_last_samples_and_fires_on_the_third_failure() -> None:
    outs = fold(
        [[sample(0), sample(0, region="r2")]]
        + [[sample(t, ok=False), sample(t, region="r2")] for t in (10, 20, 30)]
    )
    first, second, third, fourth = outs
    assert first.state.probes == 1 and not first.ends_watch  # the first probe is a baseline
    assert second.changes == [ReadinessChange(region="r1", before="ready", now="unhealthy", probe=1)]
    assert second.firings == [] and not third.ends_watch
    assert [f.trigger for f in fourth.firings] == ["probe_failures"] and fourth.ends_watch
    assert fourth.firings[0].first_bad_at == T0 + timedelta(seconds=10)
    assert fourth.state.probes == 4 and fourth.state.states["r1"].consecutive_failures == 3
    assert fourth.state.last["r1"].at == T0 + timedelta(seconds=30) and fourth.state.last["r2"].ok
    assert fourth.state.streaks == {"r1": 0, "r2": 4}


def test_a_region_failing_over_or_awaiting_approval_does_not_end_the_watch_by_firing() -> None:
    outs = fold([[sample(t, ok=False)] for t in (0, 10, 20)], exclude=["r1"])
    assert all(o.firings == [] for o in outs)
    assert outs[-1].state.states["r1"].consecutive_failures == 3


def test_a_recovering_region_is_reported_after_enough_healthy_probes_others_never() -> None:
    rounds = [[sample(t), sample(t, region="r2")] for t in range(RECOVERY_PROBES)]
    outs = fold(rounds, recovering=["r1"])
    assert [o.recovered for o in outs] == [[]] * (RECOVERY_PROBES - 1) + [["r1"]]
    blind = ProbeSample(region="r1", at=T0, ok=True, error_rate=None, latency_p99_ms=None, blind=True)
    outs = fold([[blind]] * (RECOVERY_PROBES + 1), recovering=["r1"])
    assert all(o.recovered == [] for o in outs)  # blind is not healthy


def test_a_probe_that_could_not_run_is_no_evidence_but_the_round_counts() -> None:
    state = fold([[sample(0, ok=False)], [sample(10, ok=False)]])[-1].state
    out = fold_round(state, [], POLICY)
    assert out.state.probes == 3 and out.state.states == state.states and not out.ends_watch


def test_the_watch_state_survives_a_heartbeat_round_trip_and_resumes_the_run_of_failures() -> None:
    """What a retried watch does after its worker died: the run keeps its start and its count."""
    state = fold([[sample(0)], [sample(10, ok=False)], [sample(20, ok=False)]])[-1].state
    resumed = WatchState.model_validate(state.model_dump(mode="json"))
    out = fold_round(resumed, [sample(30, ok=False)], POLICY)
    assert [f.first_bad_at for f in out.firings] == [T0 + timedelta(seconds=10)]


def test_readiness_names() -> None:
    assert readiness_of(sample(0)) == "ready"
    assert readiness_of(sample(0, ok=False)) == "unhealthy"
    blind = ProbeSample(region="r1", at=T0, ok=True, error_rate=None, latency_p99_ms=None, blind=True)
    assert readiness_of(blind) == "blind"

"""Cloud activities on the real sim: idempotent per key, reads change nothing, errors classified."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cloud_activities import CloudActivities
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from contracts.rollout import (
    EnsureReleaseInput,
    PreflightInput,
    RegionRef,
)

SERVICE = "checkout"
REGION = "us-east-1"


@pytest.fixture
def env() -> ActivityEnvironment:
    return ActivityEnvironment()


@pytest.fixture
def acts(sim: SimCloud) -> CloudActivities:
    return CloudActivities(CloudRegistry({"sim": lambda: sim}))


def _ensure(release: str, count: int, key: str, region: str = REGION) -> EnsureReleaseInput:
    return EnsureReleaseInput(
        service=SERVICE, region=region, provider="sim", release=release, count=count, key=key
    )


def _ref(region: str = REGION, provider: Any = "sim") -> RegionRef:
    return RegionRef(service=SERVICE, region=region, provider=provider)


def _snapshot(sim: SimCloud) -> tuple[int, dict[str, Any], list[str]]:
    return sim.ledger_size(), sim.inventory(), sim.instance_ids(SERVICE, REGION)


# --------------------------------------------------------------------------- idempotency


def test_ensure_release_twice_with_same_key_changes_the_cloud_once(
    env: ActivityEnvironment, acts: CloudActivities, sim: SimCloud
) -> None:
    ledger0 = sim.ledger_size()
    ids0 = sim.instance_ids(SERVICE, REGION)
    assert len(ids0) == 4

    first = env.run(acts.ensure_release, _ensure("2.0.0", 1, "wf:req:us-east-1:batch-1"))
    assert first.changed == 1
    assert first.key == "wf:req:us-east-1:batch-1"
    assert first.state.releases == {"1.0.0": 3, "2.0.0": 1}
    ids1 = sim.instance_ids(SERVICE, REGION)
    assert ids1 != ids0
    assert ids0[0] not in ids1  # the oldest instance was replaced
    assert ids1[:3] == ids0[1:]
    assert sim.ledger_size() == ledger0 + 1

    second = env.run(acts.ensure_release, _ensure("2.0.0", 1, "wf:req:us-east-1:batch-1"))
    assert sim.instance_ids(SERVICE, REGION) == ids1
    assert sim.ledger_size() == ledger0 + 1
    assert second.changed == first.changed
    assert second.state == first.state


def test_repeated_key_changes_nothing_even_with_other_arguments(
    env: ActivityEnvironment, acts: CloudActivities, sim: SimCloud
) -> None:
    env.run(acts.ensure_release, _ensure("2.0.0", 1, "k1"))
    ledger, inventory, ids = _snapshot(sim)

    again = env.run(acts.ensure_release, _ensure("2.0.0", 4, "k1"))
    assert again.changed == 1
    assert again.state.releases == {"1.0.0": 3, "2.0.0": 1}
    assert _snapshot(sim) == (ledger, inventory, ids)


def test_new_key_continues_the_deploy(env: ActivityEnvironment, acts: CloudActivities, sim: SimCloud) -> None:
    ledger0 = sim.ledger_size()
    counts = []
    for batch, target in enumerate([1, 2, 3, 4], start=1):
        result = env.run(acts.ensure_release, _ensure("2.0.0", target, f"k-batch-{batch}"))
        counts.append(result.changed)
        assert result.state.releases.get("2.0.0") == target
    assert counts == [1, 1, 1, 1]
    assert sim.ledger_size() == ledger0 + 4

    state = env.run(acts.region_state, _ref())
    assert state.release == "2.0.0"
    assert state.releases == {"2.0.0": 4}
    # already there: a new key records the call but replaces nothing
    done = env.run(acts.ensure_release, _ensure("2.0.0", 4, "k-batch-5"))
    assert done.changed == 0
    assert sim.ledger_size() == ledger0 + 5


def test_other_regions_are_untouched(env: ActivityEnvironment, acts: CloudActivities, sim: SimCloud) -> None:
    before = sim.instance_ids(SERVICE, "us-west-2")
    env.run(acts.ensure_release, _ensure("2.0.0", 4, "k-all"))
    assert sim.instance_ids(SERVICE, "us-west-2") == before
    assert env.run(acts.region_state, _ref("us-west-2")).release == "1.0.0"


# --------------------------------------------------------------------------- reads


def test_reads_change_nothing(env: ActivityEnvironment, acts: CloudActivities, sim: SimCloud) -> None:
    before = _snapshot(sim)

    report = env.run(
        acts.preflight, PreflightInput(service=SERVICE, region=REGION, provider="sim", release="2.0.0")
    )
    assert report.ok is True
    assert report.region == REGION
    assert report.problems == []

    state = env.run(acts.region_state, _ref())
    assert state.release == "1.0.0"
    assert state.instances == 4
    assert state.healthy == 4

    sample = env.run(acts.health_sample, _ref())
    assert sample.region == REGION
    assert sample.instances == 4
    assert sample.error_rate < 0.01

    assert _snapshot(sim) == before


def test_preflight_reports_an_outage_without_raising(
    env: ActivityEnvironment, acts: CloudActivities, sim: SimCloud
) -> None:
    sim.inject_outage(REGION)
    report = env.run(
        acts.preflight, PreflightInput(service=SERVICE, region=REGION, provider="sim", release="2.0.0")
    )
    assert report.ok is False
    assert report.checks["region_reachable"] is False
    assert report.problems == ["region outage"]


# --------------------------------------------------------------------------- classified errors


def test_outage_makes_ensure_release_non_retryable(
    env: ActivityEnvironment, acts: CloudActivities, sim: SimCloud
) -> None:
    sim.inject_outage(REGION)
    before = _snapshot(sim)
    with pytest.raises(ApplicationError) as info:
        env.run(acts.ensure_release, _ensure("2.0.0", 1, "k-outage"))
    assert info.value.type == "RegionUnavailable"
    assert info.value.non_retryable is True
    assert REGION in info.value.message
    assert _snapshot(sim) == before


Call = Callable[[ActivityEnvironment, CloudActivities, Any], object]

ACTIVITY_CALLS: dict[str, Call] = {
    "preflight": lambda env, acts, provider: env.run(
        acts.preflight,
        PreflightInput(service=SERVICE, region=REGION, provider=provider, release="2.0.0"),
    ),
    "region_state": lambda env, acts, provider: env.run(acts.region_state, _ref(provider=provider)),
    "ensure_release": lambda env, acts, provider: env.run(
        acts.ensure_release,
        EnsureReleaseInput(
            service=SERVICE, region=REGION, provider=provider, release="2.0.0", count=1, key="k"
        ),
    ),
    "health_sample": lambda env, acts, provider: env.run(acts.health_sample, _ref(provider=provider)),
}


@pytest.mark.parametrize("name", sorted(ACTIVITY_CALLS))
def test_unknown_provider_is_invalid_request(
    name: str, env: ActivityEnvironment, acts: CloudActivities, sim: SimCloud
) -> None:
    before = _snapshot(sim)
    with pytest.raises(ApplicationError) as info:
        ACTIVITY_CALLS[name](env, acts, "aws")
    assert info.value.type == "InvalidRequest"
    assert info.value.non_retryable is True
    assert "aws" in info.value.message
    assert _snapshot(sim) == before


@pytest.mark.parametrize(("throttle", "kind"), [(True, "Throttled"), (False, "Unavailable")])
@pytest.mark.parametrize("name", sorted(ACTIVITY_CALLS))
def test_api_fault_is_retryable(
    name: str,
    throttle: bool,
    kind: str,
    env: ActivityEnvironment,
    acts: CloudActivities,
    sim: SimCloud,
) -> None:
    sim.inject_api_fault(1.0, throttle=throttle)
    before = _snapshot(sim)
    with pytest.raises(ApplicationError) as info:
        ACTIVITY_CALLS[name](env, acts, "sim")
    assert info.value.type == kind
    assert info.value.non_retryable is False
    assert _snapshot(sim) == before

    sim.clear_faults()
    ACTIVITY_CALLS[name](env, acts, "sim")  # the same call succeeds once the fault is gone


def test_unknown_region_is_not_found(env: ActivityEnvironment, acts: CloudActivities) -> None:
    with pytest.raises(ApplicationError) as info:
        env.run(acts.region_state, _ref("mars-1"))
    assert info.value.type == "NotFound"
    assert info.value.non_retryable is True


def test_empty_release_is_invalid_request(
    env: ActivityEnvironment, acts: CloudActivities, sim: SimCloud
) -> None:
    before = _snapshot(sim)
    with pytest.raises(ApplicationError) as info:
        env.run(acts.ensure_release, _ensure("", 1, "k-empty"))
    assert info.value.type == "InvalidRequest"
    assert info.value.non_retryable is True
    assert _snapshot(sim) == before

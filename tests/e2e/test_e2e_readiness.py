"""End to end on the dev server: the readiness schedule, its published search attributes, and the real
visibility read of the previous evaluation (the time-skipping server has no visibility listing)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from contracts import search_attributes as sa
from tests.helpers.cli_user import User
from tests.helpers.polling import apoll

pytestmark = pytest.mark.e2e
LONELY = {
    "ca-central-1",
    "eu-west-2",
    "ap-northeast-1",
    "me-south-1",
    "af-south-1",
    "ap-southeast-2",
    "ap-south-1",
    "sa-east-1",
}


@pytest.fixture
def fresh_sim(user: User) -> Iterator[None]:
    assert user.run("sim", "reset").returncode == 0
    yield
    assert user.run("sim", "reset").returncode == 0


def ok_json(user: User, *args: str) -> dict[str, Any]:
    code, data = user.json(*args)
    assert code == 0, data
    return data


async def test_the_schedule_evaluates_publishes_and_the_next_evaluation_compares_with_it(
    user: User, fresh_sim: None
) -> None:
    client = await Client.connect(f"127.0.0.1:{user.port}", data_converter=pydantic_data_converter)
    sched = ("--service", "checkout")
    try:
        created = user.run("readiness", "schedule", "create", *sched, "--every", "1h")
        assert created.returncode == 0, created.stderr
        again = user.run("readiness", "schedule", "create", *sched)
        assert again.returncode == 2 and "already exists" in again.stderr, again.stderr
        desc = ok_json(user, "readiness", "schedule", "describe", *sched, "--json")
        assert desc["intervals_s"] == [3600] and desc["overlap"] == "SKIP"

        assert user.run("readiness", "schedule", "trigger", *sched).returncode == 0
        query = 'TemporalScheduledById = "readiness:checkout" AND ExecutionStatus = "Completed"'

        async def completed() -> list[Any] | None:
            return [wf async for wf in client.list_workflows(query)] or None

        [run] = await apoll(completed, "the triggered evaluation to complete", limit_s=120)
        assert run.id.startswith("readiness:checkout-")
        published = run.typed_search_attributes
        assert published.get(sa.OPERATION) == "readiness"
        assert published.get(sa.STATUS) == "not_ready"
        not_ready = set(published.get(sa.NOT_READY) or [])
        # A fresh sim has no snapshots and no passed practice: every region is not ready, the lonely
        # ones also because they cannot fail over.
        assert not_ready >= LONELY and len(published.get(sa.REGIONS) or []) == 16

        # Practices passed earlier on this shared dev server (the failover tests run one) count; no other.
        passed = (
            'GlobalopsOperation = "practice" AND GlobalopsService = "checkout" AND GlobalopsStatus = "pass"'
        )
        practiced = {
            r
            async for wf in client.list_workflows(passed)
            for r in wf.typed_search_attributes.get(sa.REGIONS) or []
        }

        # By hand: the previous evaluation is found through visibility; nothing changed since.
        report = ok_json(user, "readiness", *sched, "--json")
        assert report["previous_workflow_id"] == run.id
        assert report["changes"] == []
        assert set(report["not_ready"]) == not_ready
        for region in report["regions"]:
            cannot = [r for r in region["reasons"] if r.startswith("cannot fail over: no other region")]
            assert bool(cannot) == (region["region"] in LONELY), region
            assert f"no snapshot of {region['region']} found" in region["reasons"]
            assert region["checks"]["practice"]["ok"] is (region["region"] in practiced), region

        table = user.run("readiness", *sched)
        assert table.returncode == 0 and "not ready" in table.stdout and "ca-central-1" in table.stdout
    finally:
        user.run("readiness", "schedule", "delete", *sched)
    gone = user.run("readiness", "schedule", "describe", *sched)
    assert gone.returncode == 2 and "no schedule 'readiness:checkout'" in gone.stderr

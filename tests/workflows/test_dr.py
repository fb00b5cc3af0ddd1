"""Backups, recovery and drills on the time-skipping server, with the real activities on a real sim."""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.dr import FreezeWindow
from config.models import Policies, Topology
from config.notify import Notification
from contracts import ids
from contracts.dr import (
    BackupReport,
    BackupRequest,
    DrillReport,
    DrillRequest,
    RecoveryReport,
    RecoveryRequest,
)
from contracts.failover import ProbeResult
from contracts.rollout import RegionRef
from contracts.storage import Snapshot
from tests.helpers.backup_driver import BackupDriverWorkflow
from tests.helpers.breaks import replaced_activities
from tests.helpers.polling import apoll
from tests.helpers.receiver import Receiver
from tests.helpers.temporal import make_worker, unique_queue
from workers.client import register_search_attributes
from workers.main import WORKFLOWS
from workflows.backup import BackupWorkflow
from workflows.drill import DrillWorkflow
from workflows.recovery import DisasterRecoveryWorkflow

SERVICE = "checkout"


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def on_queue(topology: Topology, queue: str, residency: bool = True) -> Topology:
    """The topology on a task queue of its own (tests share one server), residency on or off."""
    services = [s.model_copy(update={"data_residency": residency}) for s in topology.services]
    return topology.model_copy(update={"default_task_queue": queue, "services": services})


def with_dr(policies: Policies, drill: dict[str, Any] | None = None, **dr: Any) -> Policies:
    new = policies.dr.model_copy(update=dr)
    if drill:
        new = new.model_copy(update={"drill": new.drill.model_copy(update=drill)})
    return policies.model_copy(update={"dr": new})


async def backup(
    env: WorkflowEnvironment, topology: Topology, policies: Policies, **extra: Any
) -> BackupReport:
    return await env.client.execute_workflow(
        BackupWorkflow.run,
        BackupRequest(
            service=SERVICE, topology=topology, policies=policies, request_id=uuid.uuid4().hex, **extra
        ),
        id=f"backup:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=topology.default_task_queue,
    )


async def recover(env: WorkflowEnvironment, request: RecoveryRequest, wid: str) -> RecoveryReport:
    return await env.client.execute_workflow(
        DisasterRecoveryWorkflow.run, request, id=wid, task_queue=request.topology.default_task_queue
    )


def lenient(policies: Policies) -> Policies:
    """Drill tests check cleanup, not RPO: the test server may move its clock by years between two
    workflows when nothing is scheduled, which would age the snapshot (recover tests pin failed_at)."""
    return with_dr(policies, rpo_target=400 * 365 * 86400.0)


def recovery(
    topology: Topology, policies: Policies, source: str, target: str, **extra: Any
) -> RecoveryRequest:
    return RecoveryRequest(
        service=SERVICE,
        source_region=source,
        target_region=target,
        topology=topology,
        policies=policies,
        request_id=uuid.uuid4().hex,
        **extra,
    )


async def run_drill(env: WorkflowEnvironment, request: DrillRequest, wid: str | None = None) -> DrillReport:
    """The drill's report; a fail verdict fails the workflow (DrillFailed), so read it by query."""
    handle = await env.client.start_workflow(
        DrillWorkflow.run,
        request,
        id=wid or f"drill:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=request.topology.default_task_queue,
    )
    try:
        return await handle.result()
    except WorkflowFailureError as err:
        assert isinstance(err.cause, ApplicationError) and err.cause.type == "DrillFailed"
        return await handle.query(DrillWorkflow.report)


def drill_request(topology: Topology, policies: Policies, regions: list[str]) -> DrillRequest:
    return DrillRequest(
        service=SERVICE, topology=topology, policies=policies, regions=regions, request_id=uuid.uuid4().hex
    )


async def test_backup_copies_every_region_to_its_backup_region(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue(), residency=False)
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        report = await backup(ts_env, topo, policies)
    assert report.status == "succeeded", report.reason
    for region in topo.regions:
        row = next(r for r in report.regions if r.region == region.name)
        assert row.copy_region == region.backup_region
        copies = [s for s in sim.list_snapshots(SERVICE, region.backup_region or "") if s.copy_of]
        assert row.copy_id in {s.id for s in copies if s.source_region == region.name}
        # each copy is encrypted with its own region's key (the sim's default), as the sim records it
        copy = next(s for s in copies if s.id == row.copy_id)
        assert copy.encrypted and copy.kms_key == row.kms_key == f"sim-kms/{region.backup_region}"
        original = next(s for s in sim.list_snapshots(SERVICE, region.name) if s.id == row.snapshot_id)
        assert original.encrypted and original.kms_key == f"sim-kms/{region.name}"


async def test_backup_under_data_residency_keeps_copies_in_the_group(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue(), residency=True)
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        report = await backup(ts_env, topo, policies)
    rows = {r.region: r for r in report.regions}
    assert rows["eu-west-1"].copy_region == "eu-central-1"  # its backup region, also EU
    assert rows["eu-west-2"].copy_region is None  # UK: no other UK region, so no copy leaves the UK
    assert "jurisdiction group UK" in rows["eu-west-2"].note
    assert rows["ca-central-1"].copy_region is None and rows["ca-central-1"].snapshot_id
    for row in report.regions:
        if row.copy_region:
            assert topo.region(row.copy_region).jurisdiction == topo.region(row.region).jurisdiction


class PlainVolumes(SimCloud):
    """The sim with unencrypted volumes, as EBS without encryption: every snapshot comes out plain."""

    def snapshot_volume(
        self, service: str, region: str, taken_at: datetime, key: str, kms_key: str | None = None
    ) -> Snapshot:
        return super().snapshot_volume(service, region, taken_at, key, None)


async def test_an_unencrypted_snapshot_is_re_encrypted_on_copy_and_one_without_a_copy_fails(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    tmp_path: Path,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    plain = PlainVolumes(tmp_path / "sim.db")  # the `sim` fixture's cloud, plain volumes
    async with make_worker(ts_env.client, plain, executor, topo.default_task_queue):
        report = await backup(ts_env, topo, policies, regions=["eu-west-1", "eu-west-2"])
    rows = {r.region: r for r in report.regions}
    west = rows["eu-west-1"]
    assert west.ok and "unencrypted snapshot, re-encrypted on copy" in west.note
    assert not next(s for s in sim.list_snapshots(SERVICE, "eu-west-1") if s.id == west.snapshot_id).encrypted
    copy = next(s for s in sim.list_snapshots(SERVICE, "eu-central-1") if s.id == west.copy_id)
    assert copy.encrypted and copy.kms_key == west.kms_key == "sim-kms/eu-central-1"
    # UK data may not leave the UK: no copy to re-encrypt, so the plain snapshot fails the backup
    uk = rows["eu-west-2"]
    assert not uk.ok and uk.note == (
        f"snapshot {uk.snapshot_id} in eu-west-2 is stored unencrypted and has no copy to re-encrypt"
    )
    assert report.status == "failed" and report.reason == "no backup of eu-west-2"


async def test_a_region_without_a_key_is_not_backed_up_when_encryption_is_required(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    # Two EU regions on AWS without backup keys (the sim has a default key; AWS has none).
    keyless = [
        r.model_copy(update={"provider": "aws"}) if r.jurisdiction == "EU" else r for r in topology.regions
    ]
    topo = on_queue(topology.model_copy(update={"regions": keyless}), unique_queue())
    before = sim.inventory()
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        report = await backup(ts_env, topo, policies, regions=["eu-west-1"])
    row = report.regions[0]
    assert report.status == "failed" and not row.ok and row.snapshot_id is None
    assert row.note.startswith(f"regions[{topo.region_names().index('eu-west-1')}].backup_key: eu-west-1 has")
    assert "require_encryption" in row.note
    assert sim.inventory() == before


async def test_retention_over_5_days_of_six_hourly_backups_keeps_3_days_and_the_newest(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue(), residency=True)
    pairs = ["eu-west-1", "eu-central-1"]  # each the other's backup region: originals and copies in both
    backup_policy = policies.dr.backup.model_copy(update={"retention": 3 * 86400.0})
    policies = policies.model_copy(update={"dr": policies.dr.model_copy(update={"backup": backup_policy})})
    request = BackupRequest(service=SERVICE, topology=topo, policies=policies, regions=pairs)
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue, [BackupDriverWorkflow]):
        reports = await ts_env.client.execute_workflow(
            BackupDriverWorkflow.run,
            args=[request, 20, 6 * 3600.0],  # 5 days, every 6 hours
            id=f"backup-driver:{uuid.uuid4().hex[:6]}",
            task_queue=topo.default_task_queue,
            result_type=list[BackupReport],
        )
        assert all(r.status == "succeeded" for r in reports)
        assert reports[-1].taken_at and reports[0].taken_at
        stamps = [r.taken_at for r in reports if r.taken_at]
        assert timedelta(days=4, hours=18) <= stamps[-1] - stamps[0] < timedelta(days=4, hours=19)
        within = [t for t in stamps if stamps[-1] - t <= timedelta(days=3)]
        assert len(within) in (12, 13)  # 3 days x 4 a day (+1 if one is exactly 3 days old)
        for region in pairs:
            held = sim.list_snapshots(SERVICE, region)
            for source in pairs:
                kept = sorted(s.taken_at for s in held if s.source_region == source)
                assert kept == within, (region, source)  # everything younger than 3 days, nothing older
        # Much later, a backup that cannot snapshot eu-west-1 still keeps its newest copy.
        sim.inject_outage("eu-west-1")
        late = request.model_copy(update={"request_id": "late"})
        failed = await ts_env.client.execute_workflow(
            BackupDriverWorkflow.run,
            args=[late, 2, 60 * 86400.0],  # a first run, then one 60 days later
            id=f"backup-driver:{uuid.uuid4().hex[:6]}",
            task_queue=topo.default_task_queue,
            result_type=list[BackupReport],
        )
    assert [r.status for r in failed] == ["failed", "failed"]
    copies = [s for s in sim.list_snapshots(SERVICE, "eu-central-1") if s.source_region == "eu-west-1"]
    assert [s.id for s in copies] == [reports[-1].regions[0].copy_id]  # >= 60 days old, but the newest


async def test_recover_restores_into_the_backup_region_within_targets(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        taken = (await backup(ts_env, topo, policies, regions=["eu-west-1"])).taken_at
        assert taken is not None
        sim.inject_outage("eu-west-1")
        before = sim.region_state(SERVICE, "eu-central-1").instances
        report = await recover(
            ts_env,
            recovery(topo, policies, "eu-west-1", "eu-central-1", failed_at=taken + timedelta(minutes=20)),
            f"dr:{SERVICE}:eu-west-1",
        )
    assert report.status == "succeeded", report.reason
    assert report.met_targets and report.integrity_ok and report.consistency_ok
    assert report.rpo_s == 20 * 60  # the snapshot was 20 minutes old when the region failed
    assert report.rto_s is not None and report.rto_s <= report.rto_target_s
    weights = sim.traffic(SERVICE).weights
    assert weights["eu-west-1"] == 0 and weights["eu-central-1"] == pytest.approx(2 / 16)
    assert sim.region_state(SERVICE, "eu-central-1").instances == before + topo.region("eu-west-1").instances


async def test_recover_refuses_a_stale_snapshot_and_a_foreign_target_and_changes_nothing(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    pols = with_dr(policies, rpo_target=300.0)
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        taken = (await backup(ts_env, topo, pols, regions=["eu-west-1"])).taken_at
        assert taken is not None
        failed_at = taken + timedelta(hours=1)
        before = sim.inventory()
        stale = await recover(
            ts_env,
            recovery(topo, pols, "eu-west-1", "eu-central-1", failed_at=failed_at),
            f"dr:{SERVICE}:stale",
        )
        foreign = await recover(
            ts_env, recovery(topo, pols, "eu-west-1", "us-east-1"), f"dr:{SERVICE}:foreign"
        )
        assert sim.inventory() == before
        accepted = await recover(
            ts_env,
            recovery(topo, pols, "eu-west-1", "eu-central-1", failed_at=failed_at, accept_rpo_breach=True),
            f"dr:{SERVICE}:accepted",
        )
    assert stale.status == "refused" and "over the RPO target 300s" in (stale.reason or "")
    assert foreign.status == "refused" and "jurisdiction group US" in (foreign.reason or "")
    assert accepted.status == "succeeded" and not accepted.met_targets


async def test_recover_refuses_an_unencrypted_snapshot_unless_allowed_for_the_run(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    # An unencrypted copy in eu-central-1, as a backup from before encryption left it.
    taken = datetime(2026, 11, 30, 12, tzinfo=UTC)
    original = sim.snapshot_volume(SERVICE, "eu-west-1", taken, "old-backup/snapshot")
    copy = sim.copy_snapshot(SERVICE, original.id, "eu-west-1", "eu-central-1", "old-backup/copy")
    assert not copy.encrypted
    failed_at = taken + timedelta(minutes=20)
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        before = sim.inventory()
        refused = await recover(
            ts_env,
            recovery(topo, policies, "eu-west-1", "eu-central-1", failed_at=failed_at),
            f"dr:{SERVICE}:plain",
        )
        assert sim.inventory() == before
        allowed = await recover(
            ts_env,
            recovery(
                topo, policies, "eu-west-1", "eu-central-1", failed_at=failed_at, allow_unencrypted=True
            ),
            f"dr:{SERVICE}:plain-allowed",
        )
    assert refused.status == "refused" and refused.reason == (
        f"snapshot {copy.id} in eu-central-1 is not encrypted and dr.backup.require_encryption is on"
        " (to use it anyway, for one run: --allow-unencrypted)"
    )
    assert refused.resources == []
    assert allowed.status == "succeeded" and allowed.snapshot_id == copy.id, allowed.reason
    assert any(step.endswith("NOT encrypted") for step in allowed.steps)


async def test_a_drill_passes_and_leaves_nothing_behind(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    regions = ["eu-west-1", "us-east-1"]
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        await backup(ts_env, topo, policies, regions=regions)
        production = sim.inventory()["instances"]
        report: DrillReport = await run_drill(ts_env, drill_request(topo, lenient(policies), regions))
    assert report.verdict == "pass", report.markdown
    assert {r.region: r.target_region for r in report.regions} == {
        "eu-west-1": "eu-central-1",
        "us-east-1": "us-west-2",
    }
    assert all(r.rto_s is not None and r.rpo_s is not None and r.met_targets for r in report.regions)
    assert report.leftover_resources == 0 and sim.resources(SERVICE) == []
    assert sim.inventory()["instances"] == production  # production never touched
    assert report.markdown.startswith("## DR drill checkout · pass")
    assert "| eu-west-1\u2003 | eu-central-1\u2003 |" in report.markdown


async def test_a_drill_that_fails_midway_leaves_nothing_behind(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    with Receiver() as rx:
        sink = Notification.model_validate(
            {"url": rx.url("/events", scheme="json"), "events": ["drill_verdict"]}
        )
        pols = lenient(policies).model_copy(update={"notifications": [sink]})
        async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
            await backup(ts_env, topo, policies, regions=["eu-west-1", "us-east-1"])
            sim.inject_dr_fault("eu-central-1")  # volumes restored there fail their integrity check
            request, wid = drill_request(topo, pols, ["eu-west-1", "us-east-1"]), f"drill:{SERVICE}:verdict"
            report = await run_drill(ts_env, request, wid)
            event_id = f"{wid}/{request.request_id}/drill_verdict"
            await ts_env.client.get_workflow_handle(ids.notification_id(event_id)).result()
        [verdict] = rx.notifications("/events")  # announced once, before the drill failed
    assert verdict["id"] == event_id and verdict["status"] == "fail" and "drill fail" in verdict["message"]
    rows = {r.region: r for r in report.regions}
    assert report.verdict == "fail"
    assert rows["eu-west-1"].status == "failed" and "integrity" in (rows["eu-west-1"].reason or "")
    assert rows["us-east-1"].status == "succeeded"
    assert report.leftover_resources == 0 and sim.resources(SERVICE) == []


def held_probes(sim: SimCloud, release: threading.Event, held: list[str]) -> list[Callable[..., Any]]:
    """The real activities, with `probe_region` (under its real name) held until `release` is set."""

    def hold(probe: Callable[..., Any]) -> Callable[..., Any]:
        @activity.defn(name="probe_region")
        def probe_region(inp: RegionRef) -> ProbeResult:
            held.append(inp.region)
            release.wait(timeout=60)
            result: ProbeResult = probe(inp)
            return result

        return probe_region

    return replaced_activities(CloudRegistry({"sim": lambda: sim}), {"probe_region": hold})


async def test_a_drill_ending_during_a_production_probe_waits_for_it_and_cancels_nothing(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    """The watch stops itself between probes: no cancel request can race a probe's completion (the
    test server refused such a workflow task on every retry, and the drill hung), and no probe is
    left pending when the drill closes (that would stop the shared server's time skipping)."""
    topo = on_queue(topology, unique_queue())
    queue = topo.default_task_queue
    release, held = threading.Event(), list[str]()
    async with make_worker(ts_env.client, sim, executor, queue):
        await backup(ts_env, topo, policies, regions=["eu-west-1"])
    sim.inject_dr_fault("eu-central-1")  # the rehearsal fails at its integrity check, with no timer
    async with Worker(
        ts_env.client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=held_probes(sim, release, held),
        activity_executor=executor,
    ):
        wid = f"drill:{SERVICE}:{uuid.uuid4().hex[:6]}"
        request = drill_request(topo, lenient(policies), ["eu-west-1"])
        handle = await ts_env.client.start_workflow(DrillWorkflow.run, request, id=wid, task_queue=queue)
        try:
            rehearsed = await closed(ts_env.client.get_workflow_handle(f"{wid}/eu-west-1"))
            while_held = (await handle.describe()).status
        finally:
            release.set()  # the held probes return, whatever was asserted
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        report = await handle.query(DrillWorkflow.report)
        events = [e.WhichOneof("attributes") for e in (await handle.fetch_history()).events]
    assert rehearsed == WorkflowExecutionStatus.COMPLETED
    assert sorted(held) == ["eu-central-1", "eu-west-1"]  # the first probe round was in flight
    assert while_held == WorkflowExecutionStatus.RUNNING  # and the drill waited for it
    assert report.verdict == "fail" and report.regions[0].status == "failed"
    assert report.leftover_resources == 0 and sim.resources(SERVICE) == []
    assert "activity_task_cancel_requested_event_attributes" not in events
    scheduled = events.count("activity_task_scheduled_event_attributes")
    ended = events.count("activity_task_completed_event_attributes") + events.count(
        "activity_task_failed_event_attributes"
    )
    assert scheduled == ended >= 4  # two probes and the sweep's two lists, none left pending


async def closed(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus:
    """The status of a workflow once it has closed (20 real seconds at most: no timer involved)."""

    async def status() -> WorkflowExecutionStatus | None:
        try:
            now = (await handle.describe()).status
        except RPCError as err:  # not started yet
            assert err.status == RPCStatusCode.NOT_FOUND, err
            return None
        return None if now == WorkflowExecutionStatus.RUNNING else now

    return await apoll(status, f"{handle.id} to close", limit_s=20)


async def test_a_cancelled_drill_leaves_nothing_behind(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        await backup(ts_env, topo, policies, regions=["eu-west-1"])
        handle = await ts_env.client.start_workflow(
            DrillWorkflow.run,
            drill_request(topo, lenient(policies), ["eu-west-1"]),
            id=f"drill:{SERVICE}:{uuid.uuid4().hex[:6]}",
            task_queue=topo.default_task_queue,
        )
        for _ in range(200):  # until the recovered environment exists (it soaks for 5 minutes)
            if sim.resources(SERVICE):
                break
            await ts_env.sleep(1)
        assert sim.resources(SERVICE), "the drill never created its environment"
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        report = await handle.query(DrillWorkflow.report)
    assert report.status == "aborted" and report.leftover_resources == 0
    assert sim.resources(SERVICE) == []


async def test_production_degrading_stops_the_drill_and_cleans_up(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        await backup(ts_env, topo, policies, regions=["eu-west-1"])
        handle = await ts_env.client.start_workflow(
            DrillWorkflow.run,
            drill_request(topo, lenient(policies), ["eu-west-1"]),
            id=f"drill:{SERVICE}:{uuid.uuid4().hex[:6]}",
            task_queue=topo.default_task_queue,
        )
        for _ in range(200):
            if sim.resources(SERVICE):
                break
            await ts_env.sleep(1)
        sim.inject_release_fault("1.0.0", error_rate=0.3, regions=["eu-west-1"])
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        report = await handle.query(DrillWorkflow.report)
    assert report.status == "aborted" and report.verdict == "fail"
    assert "production degraded in eu-west-1" in (report.reason or "")
    assert report.leftover_resources == 0 and sim.resources(SERVICE) == []


async def test_a_drill_in_a_freeze_window_records_that_it_skipped(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    now = await ts_env.get_current_time()
    freeze = FreezeWindow(start=now - timedelta(days=1), end=now + timedelta(days=1), reason="peak season")
    pols = with_dr(policies, drill={"freeze_windows": [freeze]})
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        report = await run_drill(ts_env, drill_request(topo, pols, ["eu-west-1"]))
    assert report.status == "skipped" and report.verdict == "skipped"
    assert "peak season" in (report.reason or "") and sim.resources(SERVICE) == []


async def test_validate_restores_checks_and_removes(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
        await backup(ts_env, topo, policies, regions=["eu-west-1"])
        report = await recover(
            ts_env,
            recovery(
                topo, lenient(policies), "eu-west-1", "eu-central-1", mode="validate", env="validate-t1"
            ),
            f"dr-validate:{SERVICE}:eu-central-1",
        )
    assert report.status == "succeeded" and report.integrity_ok and report.consistency_ok
    assert sim.resources(SERVICE) == []

"""The in-flight holds crash tests kill the worker in: the sim's hook and the WSGI / GCP server hold."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest

from activities.clouds import sim_hold
from activities.clouds.sim import SimCloud
from config.models import Topology
from tests.helpers.inflight import Hold, action_of, gcp_action


def test_the_sim_holds_an_armed_change_after_making_it_and_nothing_else(
    tmp_path: Path, topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = SimCloud(tmp_path / "sim.db")
    sim.seed_topology(topology)
    sim.ensure_release("checkout", "us-east-1", "2.0.0", 1, "k1")  # not armed, no env: no hold
    monkeypatch.setenv(sim_hold.ENV, str(tmp_path))
    monkeypatch.setattr(sim_hold, "HOLD_LIMIT_S", 0.2)
    (tmp_path / "scale_group.arm").touch()  # armed for another op: not this one
    sim.ensure_release("checkout", "us-east-1", "2.0.0", 2, "k2")
    assert (tmp_path / "scale_group.arm").exists() and not (tmp_path / "ensure_release.held").exists()

    (tmp_path / "ensure_release.arm").touch()
    seen: dict[str, Any] = {}

    def call() -> None:
        seen["result"] = sim.ensure_release("checkout", "us-east-1", "2.0.0", 3, "k3")

    worker = threading.Thread(target=call)
    worker.start()
    while not (tmp_path / "ensure_release.held").exists():  # the change is made, its answer held
        assert worker.is_alive()
    assert sim.region_state("checkout", "us-east-1").releases.get("2.0.0") == 3
    worker.join()
    assert seen["result"].key == "k3" and not (tmp_path / "ensure_release.arm").exists()
    sim.ensure_release("checkout", "us-east-1", "2.0.0", 3, "k3")  # a replay is never held
    assert sim.ledger_size() == 3


def test_the_wsgi_hold_makes_the_armed_action_then_waits_for_release() -> None:
    made: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        made.append(action_of(environ, environ["wsgi.input"].read()))
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [b"<ok/>"]

    hold = Hold()
    wrapped = hold.wrap(app)

    def request(action: str) -> tuple[list[bytes], list[Any]]:
        body = f"Action={action}&Version=2016-01-01".encode()
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_LENGTH": str(len(body)),
                   "wsgi.input": io.BytesIO(body)}  # fmt: skip
        started: list[Any] = []
        return list(wrapped(environ, lambda *a: started.append(a))), started

    assert request("DescribeInstances")[0] == [b"<ok/>"]  # idle: passes through
    hold.arm("RunInstances")
    assert request("DescribeInstances")[0] == [b"<ok/>"] and not hold.held()
    answer: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: answer.update(r=request("RunInstances")))
    thread.start()
    while not hold.held():
        assert thread.is_alive()
    assert made[-1] == "RunInstances" and "r" not in answer  # made, answer not yet given
    hold.release()
    thread.join()
    assert answer["r"][0] == [b"<ok/>"] and answer["r"][1][0][0] == "200 OK"
    assert request("RunInstances")[0] == [b"<ok/>"]  # once: the next one is not held
    assert hold.seen == ["RunInstances"]


def test_actions_are_named_like_the_apis_name_them() -> None:
    r53 = {"REQUEST_METHOD": "POST", "PATH_INFO": "/2013-04-01/hostedzone/Z1/rrset/"}
    assert action_of(r53, b"<xml/>") == "ChangeResourceRecordSets"
    assert (
        action_of({"HTTP_X_AMZ_TARGET": "GraniteServiceVersion20100801.PutMetricData"}, b"")
        == "PutMetricData"
    )
    mig = "/compute/v1/projects/p/regions/r/instanceGroupManagers/checkout-stable/recreateInstances"
    assert gcp_action("POST", mig) == "POST recreateInstances"
    assert (
        gcp_action("PATCH", "/compute/v1/projects/p/global/backendServices/checkout")
        == "PATCH backendServices"
    )
    assert gcp_action("POST", "/compute/v1/projects/p/zones/z/disks") == "POST disks"

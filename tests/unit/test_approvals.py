"""Signed approvals: the bytes that are signed, the pure check, the policies' approvers and `keys create`."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from typer.testing import CliRunner

import cli.deploy
import cli.failover
import cli.freeze
import cli.rollout
from cli.main import app
from config.models import ApprovalPolicy
from contracts.approvals import SignedApproval, canonical_bytes, public_key_text, sign, verify
from contracts.change import Freeze
from contracts.rollout import RegionOutcome, RolloutProgress

runner = CliRunner()
AT = datetime(2026, 12, 2, 18, 0, 0, 123456, tzinfo=UTC)


def _approval(**changes: object) -> SignedApproval:
    fields: dict[str, object] = {
        "approver": "bob",
        "workflow_id": "rollout:checkout",
        "step": "core",
        "signed_at": AT,
        "nonce": "n1",
    }
    return SignedApproval.model_validate(fields | changes)


def test_canonical_bytes_are_sorted_json_of_everything_but_the_signature() -> None:
    assert canonical_bytes(_approval()) == (
        b'{"approver":"bob","nonce":"n1","signed_at":"2026-12-02T18:00:00.123456+00:00",'
        b'"step":"core","workflow_id":"rollout:checkout"}'
    )
    assert canonical_bytes(_approval(signature="x")) == canonical_bytes(_approval())
    # one instant, one text: another offset, or the wire's "Z", signs the same bytes
    later = AT.astimezone(timezone(timedelta(hours=2)))
    assert canonical_bytes(_approval(signed_at=later)) == canonical_bytes(_approval())
    wire = SignedApproval.model_validate_json(_approval().model_dump_json())
    assert canonical_bytes(wire) == canonical_bytes(_approval())


def test_verify_accepts_the_signers_key_only_and_refuses_any_change() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    good = sign(key, _approval())
    assert verify(public_key_text(key), good)
    assert verify(public_key_text(key), SignedApproval.model_validate_json(good.model_dump_json()))
    assert not verify(public_key_text(other), good)  # wrong key
    for tampered in (
        {"approver": "mallory"},
        {"workflow_id": "rollout:payments"},
        {"step": "edge"},
        {"nonce": "n2"},
        {"signed_at": AT + timedelta(seconds=1)},
    ):
        assert not verify(public_key_text(key), good.model_copy(update=tampered)), tampered
    assert not verify(public_key_text(key), _approval())  # unsigned
    assert not verify(public_key_text(key), good.model_copy(update={"signature": "not base64!"}))
    assert not verify("c2hvcnQ=", good)  # not a 32-byte key


def test_policies_refuse_a_bad_public_key_and_signing_without_approvers() -> None:
    key = public_key_text(Ed25519PrivateKey.generate())
    policy = ApprovalPolicy.model_validate(
        {"approvers": [{"name": "bob", "public_key": key}], "require_signature": True}
    )
    assert policy.approver("bob") is not None and policy.approver("eve") is None
    assert ApprovalPolicy().require_signature is False and ApprovalPolicy().approvers == []
    with pytest.raises(ValidationError, match="32 bytes, this is 5"):
        ApprovalPolicy.model_validate({"approvers": [{"name": "bob", "public_key": "c2hvcnQ="}]})
    with pytest.raises(ValidationError, match="not base64"):
        ApprovalPolicy.model_validate({"approvers": [{"name": "bob", "public_key": "no key!"}]})
    with pytest.raises(ValidationError, match=r"needs at least one entry in approvals\.approvers"):
        ApprovalPolicy.model_validate({"require_signature": True})
    with pytest.raises(ValidationError, match="bob listed twice"):
        ApprovalPolicy.model_validate({"approvers": [{"name": "bob", "public_key": key}] * 2})


def test_keys_create_writes_a_private_key_only_its_owner_reads_and_prints_the_public_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    result = runner.invoke(app, ["keys", "create", "--name", "bob"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "keys" / "bob.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    public = public_key_text(key)
    assert len(base64.b64decode(public)) == 32
    assert "  - name: bob\n    public_key: " + public in result.output
    assert "PRIVATE" not in result.output  # the private key is never printed
    # the printed lines are valid policies
    ApprovalPolicy.model_validate({"approvers": [{"name": "bob", "public_key": public}]})

    again = runner.invoke(app, ["keys", "create", "--name", "bob"])
    assert again.exit_code == 2 and "already exists" in again.output
    assert serialization.load_pem_private_key(path.read_bytes(), password=None)  # not overwritten

    chosen = tmp_path / "elsewhere" / "b.key"
    assert runner.invoke(app, ["keys", "create", "--name", "bob", "--out", str(chosen)]).exit_code == 0
    assert stat.S_IMODE(chosen.stat().st_mode) == 0o600


class _Handle:
    """Stands in for a rollout's handle: records the updates `rollout approve` sends."""

    id = "rollout:checkout"

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def query(self, _query: Any) -> RolloutProgress:
        fields = {"workflow_id": self.id, "service": "checkout", "release": "2.0.0"}
        return RolloutProgress.model_validate(
            fields | {"rollback_policy": "halt", "waiting_for_approval": "core"}
        )

    async def execute_update(self, update: Any, arg: Any) -> str:
        self.sent.append((update.__name__, arg))
        return "ok"


@pytest.fixture
def handle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> _Handle:
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    monkeypatch.delenv("GLOBALOPS_APPROVER_KEY", raising=False)
    fake = _Handle()

    async def rollout(_ident: str) -> _Handle:
        return fake

    monkeypatch.setattr(cli.rollout, "_rollout", rollout)
    return fake


def test_rollout_approve_signs_with_the_key_it_finds_and_sends_no_key(
    handle: _Handle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["keys", "create", "--name", "bob"]).exit_code == 0
    key = serialization.load_pem_private_key((tmp_path / "keys" / "bob.key").read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)

    # found under $GLOBALOPS_HOME/keys/NAME.key for --by NAME
    assert runner.invoke(app, ["rollout", "approve", "checkout", "--by", "bob"]).exit_code == 0
    ((update, approval),) = handle.sent
    assert update == "approve_signed" and isinstance(approval, SignedApproval)
    assert (approval.approver, approval.workflow_id, approval.step) == ("bob", "rollout:checkout", "core")
    assert verify(public_key_text(key), approval)
    assert "PRIVATE" not in approval.model_dump_json()

    # named by GLOBALOPS_APPROVER_KEY; each approval has its own nonce
    monkeypatch.setenv("GLOBALOPS_APPROVER_KEY", str(tmp_path / "keys" / "bob.key"))
    assert runner.invoke(app, ["rollout", "approve", "checkout", "--by", "bob"]).exit_code == 0
    assert handle.sent[1][0] == "approve_signed" and handle.sent[1][1].nonce != approval.nonce

    # without a key: the plain update, as before
    monkeypatch.delenv("GLOBALOPS_APPROVER_KEY")
    assert runner.invoke(app, ["rollout", "approve", "checkout", "--by", "carol"]).exit_code == 0
    assert handle.sent[2] == ("approve", "carol")


class _Client:
    """Stands in for the Temporal client: every handle it gives records the updates sent through it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []  # (workflow id, update, argument)

    def get_workflow_handle_for(self, _run: Any, workflow_id: str) -> _AnyHandle:
        return _AnyHandle(self, workflow_id)


class _AnyHandle:
    def __init__(self, client: _Client, workflow_id: str) -> None:
        self.client, self.id = client, workflow_id

    async def query(self, _query: Any) -> RegionOutcome:
        return RegionOutcome(region="us-east-1", wave="core", status="waiting", waiting_for="step 2 pause")

    async def execute_update(self, update: Any, arg: Any) -> Any:
        self.client.sent.append((self.id, update.__name__, arg))
        if update.__name__.startswith("end_freeze"):
            return Freeze(
                id="frz-3", reason="r", started_by="alice", started_at=AT, ended_by="x", ended_at=AT
            )
        return "ok"


def test_promote_failover_approve_and_freeze_end_sign_what_they_approve_with_the_key_they_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    monkeypatch.delenv("GLOBALOPS_APPROVER_KEY", raising=False)
    client = _Client()

    async def connected() -> _Client:
        return client

    for module in (cli.follow, cli.deploy, cli.failover, cli.freeze):
        monkeypatch.setattr(module, "client_or_fail", connected)
    assert runner.invoke(app, ["keys", "create", "--name", "bob"]).exit_code == 0
    key = serialization.load_pem_private_key((tmp_path / "keys" / "bob.key").read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)

    commands = [
        (["deploy", "promote", "--service", "checkout", "--region", "us-east-1"], "deploy:checkout:us-east-1",
         "promote_signed", "step 2 pause"),
        (["deploy", "promote", "--service", "checkout", "--region", "us-east-1", "--full"],
         "deploy:checkout:us-east-1", "promote_signed", "full"),
        (["rollout", "promote", "checkout", "--region", "eu-west-1"], "rollout:checkout/eu-west-1",
         "promote_signed", "step 2 pause"),
        (["failover", "approve", "--service", "checkout", "--region", "eu-west-1"], "monitor:checkout",
         "approve_failover_signed", "eu-west-1"),
        (["freeze", "end", "frz-3"], "freezes", "end_freeze_signed", "frz-3"),
    ]  # fmt: skip
    for args, wid, update, step in commands:
        client.sent.clear()
        result = runner.invoke(app, [*args, "--by", "bob"])
        assert result.exit_code == 0, result.output
        ((sent_to, sent, approval),) = client.sent
        assert (sent_to, sent) == (wid, update), args
        assert isinstance(approval, SignedApproval) and verify(public_key_text(key), approval)
        assert (approval.approver, approval.workflow_id, approval.step) == ("bob", wid, step)
        assert "PRIVATE" not in approval.model_dump_json()

    # without a key: the plain updates, as before (refused by policies that require signatures)
    plain = [(args, update.removesuffix("_signed")) for args, _wid, update, _step in commands]
    for args, update in plain:
        client.sent.clear()
        assert runner.invoke(app, [*args, "--by", "carol"]).exit_code == 0, args
        assert client.sent[0][1] == update

"""No plaintext secret in Temporal: a rollout's event history, with payload encryption on, holds none.

The scan walks every Payload message of every event of the rollout and of its child
workflows. Search attributes are excluded from the plaintext scan: the server indexes them,
so they are never codec-encoded (service, release and regions stay listable by design).
Credential values are looked for in the whole serialized history and in the structlog output.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from config.notify import Hook, Hooks, Notification
from contracts import ids
from contracts.notify import NotifyResult
from contracts.rollout import (
    RolloutProgress,
    RolloutRequest,
)
from tests.helpers.notify_driver import DriverInput, NotifyDriverWorkflow
from tests.helpers.ports import free_port
from tests.helpers.receiver import Receiver
from tests.helpers.temporal import make_worker, unique_queue
from workers.codec import ENCODING, AesGcmCodec, data_converter
from workers.logging_setup import configure_logging

SERVICE = "checkout"
RELEASE = "4.2.0-sekrit"
CODEC_KEY = bytes(range(100, 132))
# Secret-looking values present in the worker's environment during the run (fakes, never real).
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEGLOBALOPS0001",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKEGLOBALOPSKEY",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEFAKEsessionTOKENglobalops",
    "TEMPORAL_API_KEY": "tmprl-fake-api-key-globalops-0123456789",
    "GOOGLE_OAUTH_ACCESS_TOKEN": "ya29.fake-globalops-access-token",
    "GLOBALOPS_CODEC_KEY": base64.b64encode(CODEC_KEY).decode(),
}


@pytest.fixture(autouse=True)
def _credentials_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GLOBALOPS_CODEC_KEY_ID", "test-2026")


@pytest.fixture
def captured_logs(capfd: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """The worker's logging set-up (JSON lines on stderr), restored afterwards."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    configure_logging("DEBUG", json=True)
    try:
        yield capfd
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


@pytest.fixture
def worker_log() -> Iterator[io.StringIO]:
    """The worker's logging set-up (JSON lines, DEBUG: the HTTP libraries print URLs there), written to a
    buffer the test reads; restored afterwards."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    configure_logging("DEBUG", json=True)
    buffer = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


def payloads(message: Message, skip_search_attributes: bool = True) -> Iterator[Payload]:
    """Every Payload inside a proto message, however deeply nested (maps and repeated fields too)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if skip_search_attributes and field.name == "search_attributes":
            continue
        if isinstance(value, Message):
            values: list[object] = [value]
        elif hasattr(value, "values"):  # a map: its values may be messages
            values = list(value.values())
        elif isinstance(value, str | bytes | int | float | bool):
            continue
        else:  # a repeated field
            values = list(value)
        for item in values:
            if isinstance(item, Message):
                yield from payloads(item, skip_search_attributes)


async def histories(client: Client, result: RolloutProgress) -> list[bytes]:
    """The serialized events of the rollout and of every region child, one blob per workflow."""
    ids = [result.workflow_id, *(f"{result.workflow_id}/{r}" for r in result.deploy_order)]
    blobs = []
    for wid in ids:
        history = await client.get_workflow_handle(wid).fetch_history()
        blobs.append(b"".join(e.SerializeToString() for e in history.events))
    return blobs


async def all_payloads(client: Client, result: RolloutProgress) -> list[Payload]:
    found: list[Payload] = []
    for wid in [result.workflow_id, *(f"{result.workflow_id}/{r}" for r in result.deploy_order)]:
        history = await client.get_workflow_handle(wid).fetch_history()
        for event in history.events:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_patch":
                # The SDK's own patch marker: the patch id (workflows/patches.py), no user data, not encoded.
                assert set(marker.details) == {"patch-data"}, marker
                continue
            found.extend(payloads(event))
    return found


async def run(
    client: Client,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
    rid: str,
) -> RolloutProgress:
    req = RolloutRequest(
        service=SERVICE,
        release=RELEASE,
        request_id=rid,
        topology=topology.model_copy(update={"default_task_queue": "globalops"}),
        policies=policies,
        requested_by="alice",
    )
    async with make_worker(client, sim, executor, "globalops"):
        handle = await start_rollout(client, req)
        return await handle.result()


def encrypted_client(env: WorkflowEnvironment) -> Client:
    """The test server's client (time skipping included) with the AES-GCM codec in its converter."""
    config = env.client.config()
    config["data_converter"] = data_converter(AesGcmCodec("test-2026", CODEC_KEY))
    return Client(**config)


async def test_encrypted_history_has_no_plaintext_and_no_credentials(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
    captured_logs: pytest.CaptureFixture[str],
) -> None:
    client = encrypted_client(ts_env)
    from workers.client import register_search_attributes

    await register_search_attributes(client)
    result = await run(client, sim, executor, topology, policies, "secrets-on")
    assert result.status == "succeeded", result.reason  # decoded through the codec, by the client
    assert result.service == SERVICE and result.release == RELEASE

    found = await all_payloads(client, result)
    assert len(found) > 50  # inputs, results, summaries, query/update traffic of 1 + N workflows
    for payload in found:
        assert payload.metadata["encoding"] == ENCODING, payload.metadata
        raw = payload.SerializeToString()
        for marker in (SERVICE, RELEASE, *CREDENTIALS.values()):
            assert marker.encode() not in raw, f"plaintext {marker!r} in a payload"

    for blob in await histories(client, result):
        for name, value in CREDENTIALS.items():
            assert value.encode() not in blob, f"{name} appears in the event history"

    out, err = captured_logs.readouterr()
    logs = out + err
    assert "globalops.activity" in logs  # the worker's structlog output was captured
    for name, value in CREDENTIALS.items():
        assert value not in logs, f"{name} appears in the logs"


async def test_without_encryption_the_scan_finds_the_service_name(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    """Proves the scan above can see plaintext: the same run with the plain converter leaks it."""
    from workers.client import register_search_attributes

    await register_search_attributes(ts_env.client)
    result = await run(ts_env.client, sim, executor, topology, policies, "secrets-off")
    assert result.status == "succeeded", result.reason
    found = await all_payloads(ts_env.client, result)
    assert any(SERVICE.encode() in p.SerializeToString() for p in found)
    assert any(RELEASE.encode() in p.SerializeToString() for p in found)
    assert not any(p.metadata.get("encoding") == ENCODING for p in found)
    # Credentials never reach a history, encrypted or not: nothing puts them in a payload.
    for blob in await histories(ts_env.client, result):
        assert not any(v.encode() in blob for v in CREDENTIALS.values())


def test_the_worker_client_encrypts_when_the_variables_are_set() -> None:
    """workers.client.connect builds its converter from this environment (set by the autouse fixture)."""
    from workers.codec import data_converter_from_env

    converter = data_converter_from_env(dict(os.environ))
    assert isinstance(converter.payload_codec, AesGcmCodec)
    assert converter.payload_codec.key_id == "test-2026"


# ----- the connection to Temporal Cloud: TLS / API key through temporalio.envconfig ------------------


class _Connected(Exception):
    """Raised by the fake Client.connect to hand back what workers.client.connect passed it."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        super().__init__("captured")
        self.kwargs = kwargs


async def _connect_kwargs(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What workers.client.connect would give Client.connect (nothing leaves the process)."""
    from workers import client as client_module

    async def fake_connect(**kwargs: Any) -> Client:
        raise _Connected(kwargs)

    monkeypatch.setattr(Client, "connect", staticmethod(fake_connect))
    with pytest.raises(_Connected) as info:
        await client_module.connect()
    return info.value.kwargs


async def test_api_key_and_mtls_from_environment_reach_the_client(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "empty.toml").write_text("")
    (tmp_path / "client.pem").write_text("-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n")
    (tmp_path / "client.key").write_text("-----BEGIN PRIVATE KEY-----\nfake\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "empty.toml"))  # no user profile leaks in
    monkeypatch.setenv("TEMPORAL_ADDRESS", "globalops.a1b2c.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "globalops.a1b2c")
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(tmp_path / "client.pem"))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(tmp_path / "client.key"))
    kwargs = await _connect_kwargs(monkeypatch)
    assert kwargs["target_host"] == "globalops.a1b2c.tmprl.cloud:7233"
    assert kwargs["namespace"] == "globalops.a1b2c"
    assert kwargs["api_key"] == CREDENTIALS["TEMPORAL_API_KEY"]
    tls = kwargs["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == (tmp_path / "client.pem").read_bytes()
    assert tls.client_private_key == (tmp_path / "client.key").read_bytes()
    assert isinstance(kwargs["data_converter"].payload_codec, AesGcmCodec)  # encryption rides along


async def test_api_key_alone_turns_tls_on_and_a_toml_profile_is_honoured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TEMPORAL_API_KEY")
    (tmp_path / "temporal.toml").write_text(
        '[profile.cloud]\naddress = "eu-west-1.aws.api.temporal.io:7233"\n'
        'namespace = "globalops.a1b2c"\napi_key = "tmprl-profile-key"\n'
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "temporal.toml"))
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud")
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TLS"):
        monkeypatch.delenv(name, raising=False)
    kwargs = await _connect_kwargs(monkeypatch)
    assert kwargs["target_host"] == "eu-west-1.aws.api.temporal.io:7233"
    assert kwargs["namespace"] == "globalops.a1b2c"
    assert kwargs["api_key"] == "tmprl-profile-key"
    assert kwargs["tls"] is True  # an API key implies TLS with the system roots


async def test_without_configuration_the_client_uses_the_local_dev_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "empty.toml"))
    for name in ("TEMPORAL_API_KEY", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GLOBALOPS_CODEC_KEY")
    monkeypatch.delenv("GLOBALOPS_CODEC_KEY_ID")
    kwargs = await _connect_kwargs(monkeypatch)
    assert kwargs["target_host"] == "localhost:7233"
    assert "api_key" not in kwargs and not kwargs.get("tls")
    assert kwargs["data_converter"].payload_codec is None


# ----- notification and hook URLs: ${NAME} is filled in by the worker, never in a history ----------

NOTIFY_TOKEN = "gotok-5f1c9e-FAKE-notify-and-hook"  # noqa: S105 - a fake value the scan looks for


async def test_notification_and_hook_secrets_stay_in_the_worker(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    policies: Policies,
    worker_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sinks' and hooks' URLs carry `${GLOBALOPS_TEST_TOKEN}`; the worker's environment has the value.
    The receiver gets it; no history (inputs, results, failures, summaries) and no log line holds it,
    even where a hook echoes it back or a sink fails with it in its URL."""
    monkeypatch.setenv("GLOBALOPS_TEST_TOKEN", NOTIFY_TOKEN)
    var = "${GLOBALOPS_TEST_TOKEN}"
    with Receiver() as rx:
        rx.answer("/gate", 503, f"closed; token {NOTIFY_TOKEN} seen")
        live = f"json://127.0.0.1:{rx.port}/events/{var}?-token={var}"
        dead = f"json://127.0.0.1:{free_port()}/dead/{var}"
        pols = policies.model_copy(
            update={
                "notifications": [
                    Notification.model_validate({"url": live, "events": ["started", "failed"]}),
                    Notification.model_validate({"url": dead, "events": ["failed"], "give_up_after": "2s"}),
                ],
                "hooks": Hooks(pre_region=[Hook(url=rx.url(f"/gate?token={var}"))]),
            }
        )
        wid = f"drive:secrets-{uuid.uuid4().hex[:6]}"
        inp = DriverInput(policies=pols, operation_key=f"rollout:checkout/{wid}")
        queue = unique_queue()
        async with make_worker(ts_env.client, sim, executor, queue, [NotifyDriverWorkflow]):
            result = await ts_env.client.execute_workflow(
                NotifyDriverWorkflow.run, inp, id=wid, task_queue=queue
            )
            notifiers = [
                ts_env.client.get_workflow_handle(ids.notification_id(e), result_type=NotifyResult)
                for e in result.event_ids
            ]
            outcomes = [await h.result() for h in notifiers]

        gate = rx.url(f"/gate?token={var}")
        assert result.reason == f"hook pre_region[0] {gate}: HTTP 503: closed; token *** seen"
        assert outcomes[1].failed[0].url == dead  # the failing sink is named by its template
        # The receiver got the secret: in the notifications' path and query, and in the hook's query.
        sent = {r.path for r in rx.at(f"/events/{NOTIFY_TOKEN}")}
        assert sent == {f"/events/{NOTIFY_TOKEN}?token={NOTIFY_TOKEN}"}
        assert [r.path for r in rx.at("/gate")] == [f"/gate?token={NOTIFY_TOKEN}"]

    handles = [ts_env.client.get_workflow_handle(wid), *notifiers]
    for handle in handles:
        history = await handle.fetch_history()
        blob = b"".join(e.SerializeToString() for e in history.events)
        assert var.encode() in blob, handle.id  # the scan sees the URLs (as templates) ...
        assert NOTIFY_TOKEN.encode() not in blob, f"the token appears in the history of {handle.id}"

    logs = worker_log.getvalue()
    assert "JSON POST URL" in logs and "/events/***" in logs  # Apprise's DEBUG lines were captured, masked
    assert "Max retries exceeded with url: /dead/***" in logs  # and the failing sink's, masked too
    assert NOTIFY_TOKEN not in logs, "the token appears in the logs"

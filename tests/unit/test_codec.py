"""The AES-GCM payload codec, its environment parsing, and the codec server over real HTTP."""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError
from typer.testing import CliRunner

from cli.codec_server import ALLOWED_HEADERS, build_server, serve_in_thread
from cli.main import app
from contracts.rollout import RegionRef
from workers.codec import (
    ENCODING,
    KEY_ID_METADATA,
    AesGcmCodec,
    CodecConfigError,
    PayloadDecryptionError,
    codec_from_env,
    data_converter,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
UI = "http://localhost:8233"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


# ----- the codec ---------------------------------------------------------------------------------


async def test_round_trip_encrypts_every_payload_and_restores_it_exactly() -> None:
    codec = AesGcmCodec("k1", KEY)
    originals = [plain("checkout 2.0.0"), Payload(metadata={"encoding": b"binary/null"})]
    sealed = await codec.encode(originals)
    assert all(p.metadata["encoding"] == ENCODING for p in sealed)
    assert all(p.metadata[KEY_ID_METADATA] == b"k1" for p in sealed)
    assert all(b"checkout" not in p.SerializeToString() for p in sealed)
    assert sealed[0].data != (await codec.encode(originals[:1]))[0].data  # a fresh nonce each time
    assert await codec.decode(sealed) == originals


async def test_unencrypted_payloads_pass_through_decode() -> None:
    """Histories written before encryption was switched on stay readable."""
    assert await AesGcmCodec("k1", KEY).decode([plain("old")]) == [plain("old")]


async def test_unknown_key_id_is_a_clear_error() -> None:
    sealed = await AesGcmCodec("old-key", KEY).encode([plain("x")])
    with pytest.raises(PayloadDecryptionError, match=r"key id 'old-key'.*does not hold \(known: k2\)"):
        await AesGcmCodec("k2", KEY).decode(sealed)


async def test_wrong_key_for_the_id_is_a_clear_error() -> None:
    sealed = await AesGcmCodec("k1", KEY).encode([plain("x")])
    with pytest.raises(PayloadDecryptionError, match="wrong key for that id, or the bytes were altered"):
        await AesGcmCodec("k1", OTHER_KEY).decode(sealed)


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag", "key id"])
async def test_tampering_is_detected(where: str) -> None:
    codec = AesGcmCodec("k1", KEY, previous={"k0": KEY})
    sealed = (await codec.encode([plain("release 2.0.0")]))[0]
    data = bytearray(sealed.data)
    if where == "key id":  # the key id is authenticated too: relabelling is caught
        sealed.metadata[KEY_ID_METADATA] = b"k0"
    else:
        data[{"nonce": 0, "ciphertext": 14, "tag": -1}[where]] ^= 0x01
        sealed.data = bytes(data)
    with pytest.raises(PayloadDecryptionError, match="altered"):
        await codec.decode([sealed])


async def test_truncated_payload_is_a_clear_error() -> None:
    bad = Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k1"}, data=b"short")
    with pytest.raises(PayloadDecryptionError, match="truncated"):
        await AesGcmCodec("k1", KEY).decode([bad])


async def test_previous_keys_decrypt_while_the_current_key_encrypts() -> None:
    old = await AesGcmCodec("2025", OTHER_KEY).encode([plain("x")])
    rotated = AesGcmCodec("2026", KEY, previous={"2025": OTHER_KEY})
    assert await rotated.decode(old) == [plain("x")]
    assert (await rotated.encode([plain("x")]))[0].metadata[KEY_ID_METADATA] == b"2026"


# ----- the environment ---------------------------------------------------------------------------


def test_no_variables_means_no_encryption() -> None:
    assert codec_from_env({}) is None


def test_variables_give_a_codec() -> None:
    codec = codec_from_env(
        {
            "GLOBALOPS_CODEC_KEY_ID": "2026-01",
            "GLOBALOPS_CODEC_KEY": b64(KEY),
            "GLOBALOPS_CODEC_PREVIOUS_KEYS": f"2025-12={b64(OTHER_KEY)}",
        }
    )
    assert codec is not None and codec.key_id == "2026-01"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"GLOBALOPS_CODEC_KEY_ID": "k1", "GLOBALOPS_CODEC_KEY": "not base64!"},
            "GLOBALOPS_CODEC_KEY is not",
        ),
        ({"GLOBALOPS_CODEC_KEY_ID": "k1", "GLOBALOPS_CODEC_KEY": b64(b"x" * 16)}, "16 bytes, not 32"),
        ({"GLOBALOPS_CODEC_KEY": b64(KEY)}, "GLOBALOPS_CODEC_KEY_ID is not"),
        ({"GLOBALOPS_CODEC_KEY_ID": "k1"}, "GLOBALOPS_CODEC_KEY is not: set both"),
        (
            {"GLOBALOPS_CODEC_KEY_ID": "a key", "GLOBALOPS_CODEC_KEY": b64(KEY)},
            "GLOBALOPS_CODEC_KEY_ID: key id",
        ),
        (
            {
                "GLOBALOPS_CODEC_KEY_ID": "k1",
                "GLOBALOPS_CODEC_KEY": b64(KEY),
                "GLOBALOPS_CODEC_PREVIOUS_KEYS": "x",
            },
            "GLOBALOPS_CODEC_PREVIOUS_KEYS: entries are",
        ),
    ],
)
def test_malformed_variables_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(CodecConfigError, match=message) as info:
        codec_from_env(env)
    assert b64(KEY) not in str(info.value)  # a key is never echoed


def test_the_cli_refuses_a_malformed_key_with_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBALOPS_CODEC_KEY_ID", "k1")
    monkeypatch.setenv("GLOBALOPS_CODEC_KEY", "c2hvcnQ=")
    result = CliRunner().invoke(app, ["rollout", "status", "checkout"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "GLOBALOPS_CODEC_KEY decodes to 5 bytes" in lines[0]


def test_codec_server_without_a_key_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLOBALOPS_CODEC_KEY_ID", raising=False)
    monkeypatch.delenv("GLOBALOPS_CODEC_KEY", raising=False)
    result = CliRunner().invoke(app, ["codec-server", "--port", "0"])
    assert result.exit_code == 2
    assert "no key to decode with" in result.output


# ----- the data converter ------------------------------------------------------------------------


async def test_data_converter_encrypts_values_and_failure_messages() -> None:
    converter = data_converter(AesGcmCodec("k1", KEY))
    value = RegionRef(service="checkout", region="eu-west-1", provider="sim")
    sealed = await converter.encode([value])
    assert b"checkout" not in sealed[0].SerializeToString()
    assert await converter.decode(sealed, [RegionRef]) == [value]

    failure = Failure()
    await converter.encode_failure(ApplicationError("checkout is broken in eu-west-1"), failure)
    assert b"checkout" not in failure.SerializeToString()
    assert "checkout is broken" in str(await converter.decode_failure(failure))


# ----- the codec server --------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = build_server(AesGcmCodec("k1", KEY), "127.0.0.1", 0, [UI])
    serve_in_thread(srv)
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def call(
    srv: ThreadingHTTPServer, method: str, path: str, body: bytes | None = None, origin: str = UI
) -> tuple[int, dict[str, str], bytes]:
    url = f"http://127.0.0.1:{srv.server_address[1]}{path}"
    headers = {"Origin": origin, "Content-Type": "application/json", "X-Namespace": "default"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local http
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def as_json(payloads: list[Payload]) -> bytes:
    return json_format.MessageToJson(Payloads(payloads=payloads)).encode()


def from_json(body: bytes) -> list[Payload]:
    return list(json_format.Parse(body, Payloads()).payloads)


def test_server_encode_then_decode_round_trips(server: ThreadingHTTPServer) -> None:
    originals = [plain("checkout"), plain("2.0.0")]
    status, _, body = call(server, "POST", "/encode", as_json(originals))
    assert status == 200
    sealed = from_json(body)
    assert all(p.metadata["encoding"] == ENCODING for p in sealed)
    status, _, body = call(server, "POST", "/decode", as_json(sealed))
    assert status == 200
    assert from_json(body) == originals
    status, _, body = call(server, "POST", "/default/decode", as_json(sealed))  # tctl-style path
    assert status == 200 and from_json(body) == originals


def test_server_decodes_the_json_the_web_ui_sends(server: ThreadingHTTPServer) -> None:
    sealed = AesGcmCodec("k1", KEY).encode_sync([plain("checkout")])[0]
    ui_body: dict[str, Any] = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                "data": base64.b64encode(sealed.data).decode(),
            }
        ]
    }
    status, headers, body = call(server, "POST", "/decode", json.dumps(ui_body).encode())
    assert status == 200
    assert headers["access-control-allow-origin"] == UI
    decoded = json.loads(body)["payloads"][0]
    assert base64.b64decode(decoded["data"]) == b'"checkout"'
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"


def test_server_answers_the_cors_preflight_for_the_ui_origin(server: ThreadingHTTPServer) -> None:
    status, headers, body = call(server, "OPTIONS", "/decode")
    assert status == 204 and body == b""
    assert headers["access-control-allow-origin"] == UI
    assert "POST" in headers["access-control-allow-methods"]
    allowed = {h.strip() for h in headers["access-control-allow-headers"].split(",")}
    assert allowed == {h.strip() for h in ALLOWED_HEADERS.split(",")}
    assert {"content-type", "x-namespace", "authorization"} <= allowed
    assert headers["access-control-allow-credentials"] == "true"


def test_server_gives_no_cors_grant_to_other_origins(server: ThreadingHTTPServer) -> None:
    status, headers, _ = call(server, "OPTIONS", "/decode", origin="http://evil.example")
    assert status == 204
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/decode", b"{not json", 400, "not a Payloads JSON object"),
        ("/nowhere", b"{}", 404, "POST to /encode or /decode"),
    ],
)
def test_server_refuses_bad_requests_clearly(
    server: ThreadingHTTPServer, path: str, body: bytes, status: int, message: str
) -> None:
    got, _, reply = call(server, "POST", path, body)
    assert got == status
    assert message in json.loads(reply)["error"]


def test_server_reports_an_unknown_key_id(server: ThreadingHTTPServer) -> None:
    sealed = AesGcmCodec("other", os.urandom(32)).encode_sync([plain("x")])
    status, _, reply = call(server, "POST", "/decode", as_json(sealed))
    assert status == 400
    assert "key id 'other'" in json.loads(reply)["error"]

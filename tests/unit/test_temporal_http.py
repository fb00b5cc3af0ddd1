"""When `rollout status` may read over Temporal's HTTP API, and what it refuses to read there."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from cli import temporal_http
from cli.temporal_http import HttpApi, Unavailable, _single_json, _workflow_not_found, base_url


def payloads(*items: tuple[bytes, bytes]) -> dict[str, object]:
    return {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(enc).decode()},
                "data": base64.b64encode(data).decode(),
            }
            for enc, data in items
        ]
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    state = tmp_path / "state"
    state.mkdir()
    (state / temporal_http.RECORD).write_text("127.0.0.1:7233 http://127.0.0.1:7243\n", encoding="utf-8")
    return state


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), **extra}


def test_the_dev_servers_record_serves_its_own_address_whether_named_localhost_or_not(
    tmp_path: Path, home: Path
) -> None:
    assert base_url(env(tmp_path), home) == "http://127.0.0.1:7243"  # default address: localhost:7233
    assert base_url(env(tmp_path, TEMPORAL_ADDRESS="127.0.0.1:7233"), home) == "http://127.0.0.1:7243"
    assert base_url(env(tmp_path, TEMPORAL_ADDRESS="localhost:7233"), home) == "http://127.0.0.1:7243"


def test_the_record_of_another_server_is_not_used(tmp_path: Path, home: Path) -> None:
    assert base_url(env(tmp_path, TEMPORAL_ADDRESS="127.0.0.1:7301"), home) is None
    assert base_url(env(tmp_path, TEMPORAL_ADDRESS="temporal.example:7233"), home) is None


def test_without_a_record_or_an_address_the_sdk_answers(tmp_path: Path) -> None:
    assert base_url(env(tmp_path), tmp_path) is None
    (tmp_path / temporal_http.RECORD).write_text("garbage", encoding="utf-8")
    assert base_url(env(tmp_path), tmp_path) is None


def test_an_explicit_address_wins_with_or_without_a_scheme(tmp_path: Path) -> None:
    assert (
        base_url(env(tmp_path, GLOBALOPS_TEMPORAL_HTTP="10.0.0.5:7243"), tmp_path) == "http://10.0.0.5:7243"
    )
    https = env(tmp_path, GLOBALOPS_TEMPORAL_HTTP="https://temporal.example/")
    assert base_url(https, tmp_path) == "https://temporal.example"


@pytest.mark.parametrize(
    "name",
    [
        "TEMPORAL_TLS",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_API_KEY",
        "TEMPORAL_PROFILE",
        "TEMPORAL_CONFIG_FILE",
        "TEMPORAL_GRPC_META_AUTHORIZATION",
        "GLOBALOPS_CODEC_KEY",
    ],
)
def test_tls_keys_profiles_and_codecs_go_through_the_sdk(tmp_path: Path, home: Path, name: str) -> None:
    assert base_url(env(tmp_path, **{name: "x"}), home) is None
    assert base_url(env(tmp_path, GLOBALOPS_TEMPORAL_HTTP="127.0.0.1:7243", **{name: "x"}), home) is None
    assert base_url(env(tmp_path, **{name: ""}), home) is not None  # set but empty: not set


def test_a_profile_file_in_the_default_place_goes_through_the_sdk(tmp_path: Path, home: Path) -> None:
    config = tmp_path / "home" / ".config" / "temporalio"
    config.mkdir(parents=True)
    (config / "temporal.toml").write_text("[profile.default]\naddress = 'x:7233'\n", encoding="utf-8")
    assert base_url(env(tmp_path), home) is None
    xdg = tmp_path / "xdg"
    (xdg / "temporalio").mkdir(parents=True)
    (xdg / "temporalio" / "temporal.toml").write_text("", encoding="utf-8")
    (config / "temporal.toml").unlink()
    assert base_url(env(tmp_path, XDG_CONFIG_HOME=str(xdg)), home) is None


def test_json_payloads_are_read_and_anything_else_is_left_to_the_sdk() -> None:
    assert _single_json(payloads((b"json/plain", b'{"a": 1}')), "x") == b'{"a": 1}'
    assert _single_json(payloads((b"binary/null", b"")), "x") == b"null"
    for bad in (
        payloads((b"binary/encrypted", b"\x00\x01")),  # the codec's: only the SDK can read it
        payloads((b"json/protobuf", b"{}")),
        payloads((b"json/plain", b"1"), (b"json/plain", b"2")),
        payloads(),
        {"payloads": [{"metadata": {"encoding": "not base64!"}, "data": ""}]},
        None,
        [1],
    ):
        with pytest.raises(Unavailable):
            _single_json(bad, "x")


def test_not_found_is_a_missing_workflow_not_a_missing_route() -> None:
    missing = {
        "code": 5,
        "message": "workflow not found for ID: x",
        "details": [{"@type": "type.googleapis.com/temporal.api.errordetails.v1.NotFoundFailure"}],
    }
    assert _workflow_not_found(missing)
    assert not _workflow_not_found({"code": 5, "message": "Not Found"})  # a server without this route
    assert not _workflow_not_found({"code": 3, "details": missing["details"]})


def test_ids_the_routes_cannot_carry_and_bad_addresses_are_left_to_the_sdk() -> None:
    with pytest.raises(Unavailable):
        HttpApi("http://127.0.0.1:1", "default").describe("rollout:a/us-east-1")
    with pytest.raises(Unavailable):
        HttpApi("ftp://host", "default").describe("rollout:a")
    with pytest.raises(Unavailable):  # nothing listens
        HttpApi("http://127.0.0.1:1", "default").describe("rollout:a")


def test_an_api_needs_an_address(tmp_path: Path) -> None:
    with pytest.raises(Unavailable):
        temporal_http.api(env(tmp_path), tmp_path)
    api = temporal_http.api(env(tmp_path, GLOBALOPS_TEMPORAL_HTTP="h:1", TEMPORAL_NAMESPACE="prod"), tmp_path)
    assert api == HttpApi(base="http://h:1", namespace="prod")

"""Read a workflow over Temporal's HTTP API, so a status command can answer without importing the SDK.

Importing the Python SDK's client alone takes about six times a whole `temporal workflow describe`
(bench/RESULTS.md, CLI). This path serves plain connections only: no TLS, API key, profile file or
payload codec (those go through the SDK, which knows them), and only json/plain payloads. Whenever it
cannot answer for certain it raises `Unavailable` and the caller asks the SDK instead; it never guesses.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from cli.codec_env import PREFIX as CODEC_PREFIX
from workers.address import DEFAULT_ADDRESS

#: An explicit HTTP API address (`host:port` or a URL): use it for the server at TEMPORAL_ADDRESS.
HTTP_ENV = "GLOBALOPS_TEMPORAL_HTTP"
#: Under $GLOBALOPS_HOME, written by `dev up`: "<gRPC address> <HTTP API URL>" of the server it started.
RECORD = "temporal-http"
#: Connection settings the HTTP path does not carry out; any of them set means: use the SDK.
SDK_ONLY_ENV_PREFIXES = (
    "TEMPORAL_TLS",
    "TEMPORAL_API_KEY",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_GRPC_META",
    CODEC_PREFIX,
)
#: Canonical proto JSON: payloads keep their metadata (so an encrypted one is seen as such).
ACCEPT = "application/json+no-payload-shorthand"
TIMEOUT_S = 10.0
#: gRPC's DEADLINE_EXCEEDED, as the HTTP API's error body carries it (with HTTP 504).
DEADLINE_EXCEEDED = 4


class Unavailable(Exception):
    """This path cannot answer for certain; the SDK must."""


class NoAnswer(Exception):
    """The server's answer that no worker answered the query before its deadline (final: no SDK retry)."""


class NotFound(Exception):
    """The server says no workflow has that id."""


@dataclass(frozen=True)
class Execution:
    """A workflow execution as describe shows it."""

    status: str
    """RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, CONTINUED_AS_NEW or TIMED_OUT."""
    run_id: str


def _config_files(environ: Mapping[str, str]) -> list[Path]:
    """Where temporalio.envconfig looks for profiles by default (a profile may set TLS or an API key)."""
    home = Path(environ.get("HOME", "~")).expanduser()
    xdg = environ.get("XDG_CONFIG_HOME")
    dirs = [Path(xdg)] if xdg else []
    dirs += [home / ".config", home / "Library" / "Application Support"]
    return [d / "temporalio" / "temporal.toml" for d in dirs]


def _normal(address: str) -> str:
    host, _, port = address.rpartition(":")
    return f"{'127.0.0.1' if host in ('localhost', '') else host}:{port}"


def base_url(environ: Mapping[str, str], home: Path) -> str | None:
    """The HTTP API's base URL for the server the SDK would reach, or None: use the SDK."""
    if any(name.startswith(SDK_ONLY_ENV_PREFIXES) and value for name, value in environ.items()):
        return None
    if any(path.is_file() for path in _config_files(environ)):
        return None
    explicit = environ.get(HTTP_ENV, "").strip()
    if explicit:
        return explicit.rstrip("/") if "://" in explicit else f"http://{explicit}"
    try:
        grpc, url = (home / RECORD).read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return None
    wanted = environ.get("TEMPORAL_ADDRESS") or DEFAULT_ADDRESS
    return url if _normal(grpc) == _normal(wanted) else None


@dataclass(frozen=True)
class HttpApi:
    """Read-only calls of one namespace's HTTP API."""

    base: str
    namespace: str

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, deadline_s: float | None = None
    ) -> dict[str, Any]:
        """One call; with `deadline_s` the server gives up then (gRPC-gateway's `Grpc-Timeout`) and
        says so (NoAnswer), and the socket waits a little longer to hear it."""
        parts = urlsplit(self.base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unavailable(f"{HTTP_ENV}: not an http(s) address: {self.base}")
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        wait = TIMEOUT_S if deadline_s is None else deadline_s + TIMEOUT_S
        conn = kind(parts.hostname, parts.port, timeout=wait)
        data = None if body is None else json.dumps(body).encode()
        url = f"{parts.path.rstrip('/')}/api/v1/namespaces/{quote(self.namespace, safe='')}{path}"
        headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        if deadline_s is not None:
            headers["Grpc-Timeout"] = f"{max(1, round(deadline_s * 1000))}m"  # milliseconds
        try:
            conn.request(method, url, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(str(exc)) from exc
        finally:
            conn.close()
        try:
            answer = json.loads(raw)
        except ValueError as exc:
            raise Unavailable(f"not JSON from {self.base} (HTTP {resp.status})") from exc
        if not isinstance(answer, dict):
            raise Unavailable(f"unexpected answer from {self.base}")
        if resp.status == 404 and _workflow_not_found(answer):
            raise NotFound(str(answer.get("message", "not found")))
        if deadline_s is not None and resp.status == 504 and answer.get("code") == DEADLINE_EXCEEDED:
            raise NoAnswer(str(answer.get("message", "deadline exceeded")))
        if resp.status != 200:
            raise Unavailable(f"HTTP {resp.status}: {answer.get('message', '')}")
        return answer

    def _path(self, workflow_id: str) -> str:
        if "/" in workflow_id:  # the API's routes cannot carry it, escaped or not
            raise Unavailable(f"workflow id with '/': {workflow_id}")
        return f"/workflows/{quote(workflow_id, safe='')}"

    def describe(self, workflow_id: str) -> Execution:
        """The latest run's status and run id."""
        info = self._call("GET", self._path(workflow_id)).get("workflowExecutionInfo") or {}
        status, run_id = info.get("status", ""), (info.get("execution") or {}).get("runId", "")
        prefix = "WORKFLOW_EXECUTION_STATUS_"
        if not (isinstance(status, str) and status.startswith(prefix) and run_id):
            raise Unavailable(f"describe of {workflow_id} has no status or run id")
        return Execution(status=status.removeprefix(prefix), run_id=run_id)

    def query(self, workflow_id: str, name: str, timeout_s: float) -> bytes:
        """The JSON bytes of a query's answer; NoAnswer when no worker answered within `timeout_s`."""
        path = f"{self._path(workflow_id)}/query/{quote(name, safe='')}"
        answer = self._call("POST", path, {"query": {}}, deadline_s=timeout_s)
        if answer.get("queryRejected"):
            raise Unavailable(f"query {name} rejected: {answer['queryRejected']}")
        return _single_json(answer.get("queryResult"), f"query {name} of {workflow_id}")

    def result(self, workflow_id: str, run_id: str) -> bytes:
        """The JSON bytes of a completed run's result, from its close event."""
        path = f"{self._path(workflow_id)}/history?execution.runId={quote(run_id)}&historyEventFilterType=2"
        events = (self._call("GET", path).get("history") or {}).get("events") or []
        done = [
            e["workflowExecutionCompletedEventAttributes"]
            for e in events
            if "workflowExecutionCompletedEventAttributes" in e
        ]
        if len(done) != 1:
            raise Unavailable(f"{workflow_id}: no completed event in its close events")
        return _single_json(done[0].get("result"), f"result of {workflow_id}")


def _workflow_not_found(answer: Mapping[str, Any]) -> bool:
    """The server's NotFound for a workflow, not a route this server lacks (both are HTTP 404)."""
    details = answer.get("details") or []
    return answer.get("code") == 5 and any(
        isinstance(d, dict) and str(d.get("@type", "")).endswith("NotFoundFailure") for d in details
    )


def _single_json(payloads: Any, what: str) -> bytes:
    """The data of the one json/plain payload in `payloads` ({"payloads": [...]}); else Unavailable."""
    items = payloads.get("payloads") if isinstance(payloads, dict) else None
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise Unavailable(f"{what}: not one payload")
    payload = items[0]
    try:
        encoding = base64.b64decode((payload.get("metadata") or {}).get("encoding", ""), validate=True)
        data = base64.b64decode(payload.get("data", ""), validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise Unavailable(f"{what}: malformed payload") from exc
    if encoding == b"binary/null":
        return b"null"
    if encoding != b"json/plain":  # e.g. binary/encrypted: only the SDK's codec can read it
        raise Unavailable(f"{what}: payload encoded {encoding.decode(errors='replace')}")
    return data


def api(environ: Mapping[str, str] | None = None, home: Path | None = None) -> HttpApi:
    """The HTTP API for this environment, or Unavailable (no address known, or SDK-only settings)."""
    from config.paths import state_dir
    from workers.address import namespace

    env = os.environ if environ is None else environ
    base = base_url(env, state_dir() if home is None else home)
    if base is None:
        raise Unavailable("no HTTP API address for this connection")
    return HttpApi(base=base, namespace=namespace(env))

"""A threaded stdlib HTTP server speaking the Compute REST JSON of the calls the GCP adapter makes."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import grpc

from tests.helpers.gcp_server import dns, grpc_monitoring
from tests.helpers.gcp_server import monitoring as mon
from tests.helpers.gcp_server.handlers import ROUTES, Handler, metrics
from tests.helpers.gcp_server.ops import ApiError
from tests.helpers.gcp_server.state import ComputeState
from tests.helpers.gcp_server.traffic import modelled
from tests.helpers.inflight import GCP_HOLD, gcp_action

_COMPILED = [
    (method, re.compile(pattern + "$"), handler, mutating) for method, pattern, handler, mutating in ROUTES
]
_METRICS = re.compile(
    r"/globalops-metrics/v1/projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/services/(?P<service>[^/]+)$"
)
_PROJECT = re.compile(r"projects/([^/]+)/")
_TIME_SERIES = re.compile(r"/v3/projects/(?P<project>[^/]+)/timeSeries$")


class ComputeTestServer:
    """Start with `start()`; `url` is the Compute api_endpoint, `monitoring_endpoint` the Cloud
    Monitoring one (gRPC); `state` is the Python control API (`state.monitoring`: written series and
    the traffic model; `state.set_quota`: region quotas).

    Cloud DNS v1 answers under /dns/v1/ (managed zones, record sets with routingPolicy.wrr, changes;
    `state.dns` reads them back).

    Control over HTTP as well: POST /_control/reset, POST /_control/faults {"rate", "codes"},
    POST /_control/release-fault {"release", "error_rate", "latency_ms"}, GET /_control/counts,
    POST /_control/timeSeries {"timeSeries": [TimeSeries JSON]}, POST /_control/monitoring
    {"generate", "silent", "cpu"}, POST /_control/quota {"project", "region", "metric", "limit",
    "other_usage"}. Cloud Monitoring answers over REST too: GET /v3/projects/{p}/timeSeries.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = ComputeState()
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self.state))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self._grpc_port = 0
        self._host = host

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def monitoring_endpoint(self) -> str:
        """The gRPC endpoint of Cloud Monitoring (`gcp.monitoring_endpoint`; http: plaintext)."""
        return f"http://{self._host}:{self._grpc_port}"

    def start(self) -> ComputeTestServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="gcp-test-server", daemon=True)
        self._thread.start()
        self._grpc, self._grpc_port = grpc_monitoring.serve(
            lambda params: list_time_series(self.state, params), self._host
        )
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=None)
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        self.state.reset()

    def metrics_url(self) -> str:
        return self.url + "/globalops-metrics/v1/projects/{project}/regions/{region}/services/{service}"


def _make_handler(state: ComputeState) -> type[BaseHTTPRequestHandler]:
    class Handler_(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests read the counters instead

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: dict[str, Any] = json.loads(raw) if raw else {}
                series = _TIME_SERIES.match(parts.path)
                if series and method == "GET":  # repeated parameters (groupByFields): parse_qs
                    params = mon.rest_params(series["project"], parse_qs(parts.query, keep_blank_values=True))
                    status, reply = 200, list_time_series(state, params)
                else:
                    status, reply = self._dispatch(method, parts.path, query, body)
            except ApiError as err:
                status, reply = err.status, err.body()
            except (ValueError, KeyError, TypeError) as err:
                status, reply = 400, ApiError(400, f"bad request: {err}").body()
            data = json.dumps(reply).encode()
            action = gcp_action(method, parts.path)
            held = status == 200 and GCP_HOLD.claim(action)
            if held:  # tests/helpers/inflight.py: the change is made, its answer held
                GCP_HOLD.hold(action)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                if not held:
                    raise
                # a held answer's worker was killed: nobody reads it, as intended

        def _dispatch(
            self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
        ) -> tuple[int, dict[str, Any]]:
            if path.startswith("/_control/"):
                return 200, _control(state, method, path, body)
            if dns.handles(path):
                fault = state.roll_fault()
                if fault is not None:
                    raise ApiError(
                        fault, f"injected {fault}", "rateLimitExceeded" if fault == 429 else "backendError"
                    )
                return 200, dns.dispatch(state.dns, method, path, query, body)
            found = _METRICS.match(path)
            if found and method == "GET":
                with state.lock:
                    return 200, metrics(state, found.groupdict(), query, body)
            rest = path.split("/compute/v1/", 1)[-1] if "/compute/v1/" in path else None
            if rest is None:
                raise ApiError(404, f"no such path {path}", "notFound")
            for route_method, pattern, handler, mutating in _COMPILED:
                match = pattern.match(rest)
                if match and route_method == method:
                    return 200, _call(
                        state, f"{method} {pattern.pattern}", handler, mutating, match, query, body
                    )
            raise ApiError(404, f"no route for {method} {path}", "notFound")

    return Handler_


def _call(
    state: ComputeState,
    route: str,
    handler: Handler,
    mutating: bool,
    match: re.Match[str],
    query: dict[str, str],
    body: dict[str, Any],
) -> dict[str, Any]:
    """Fault before (nothing happens) or, for changes, after (it happened but the answer is lost)."""
    fault = state.roll_fault()
    after = mutating and fault is not None and state.rng.random() < 0.5
    if fault is not None and not after:
        raise ApiError(fault, f"injected {fault}", "rateLimitExceeded" if fault == 429 else "backendError")
    with state.lock:
        state.calls[route] += 1
        state.ops.settle()
        rid = query.get("requestId")
        project = _PROJECT.match(match.string + "/")
        seen = state.ops.by_request.get((project.group(1), rid)) if (mutating and rid and project) else None
        answer = seen.to_json() if seen is not None else handler(state, match.groupdict(), query, body)
    if after and fault is not None:
        raise ApiError(fault, f"injected {fault} after the change", "backendError")
    return answer


def _control(state: ComputeState, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    name = path.removeprefix("/_control/")
    if name == "reset" and method == "POST":
        state.reset()
    elif name == "faults" and method == "POST":
        state.inject_faults(float(body.get("rate", 0.0)), tuple(body.get("codes", (429, 503))))
    elif name == "release-fault" and method == "POST":
        with state.lock:
            state.release_faults[str(body["release"])] = (
                float(body.get("error_rate", 0.0)),
                float(body.get("latency_ms", 0.0)),
            )
    elif name == "timeSeries" and method == "POST":
        for item in body.get("timeSeries", []):
            state.monitoring.write(mon.series_from_json(item))
    elif name == "monitoring" and method == "POST":
        with state.monitoring.lock:
            state.monitoring.generate = bool(body.get("generate", state.monitoring.generate))
            state.monitoring.silent = set(body.get("silent", state.monitoring.silent))
            state.monitoring.cpu = float(body.get("cpu", state.monitoring.cpu))
    elif name == "quota" and method == "POST":
        state.set_quota(
            str(body["project"]),
            str(body["region"]),
            str(body["metric"]),
            float(body["limit"]),
            float(body.get("other_usage", 0.0)),
        )
    elif name == "counts" and method == "GET":
        with state.lock:
            return {
                "created": dict(state.created),
                "calls": dict(state.calls),
                "faults": state.faults_injected,
            }
    else:
        raise ApiError(404, f"no control {method} {name}", "notFound")
    return {}


def list_time_series(state: ComputeState, params: mon.ListParams) -> dict[str, Any]:
    """One `timeSeries.list` (REST or gRPC): written series plus the traffic model's, filtered."""
    fault = state.roll_fault()
    if fault is not None:
        raise ApiError(fault, f"injected {fault}", "rateLimitExceeded" if fault == 429 else "backendError")
    metric, _ = mon.parse_filter(params.filter)
    start = params.start or params.end - timedelta(minutes=1)
    step = timedelta(seconds=max(60.0, params.period_s or 60.0))
    with state.lock:
        state.calls["GET timeSeries"] += 1
        candidates = modelled(state, state.monitoring, params.project, metric, start, params.end, step)
    with state.monitoring.lock:
        state.monitoring.requests += 1
        candidates += [replace(s, points=list(s.points)) for s in state.monitoring.written.values()]
    return mon.answer(params, candidates)

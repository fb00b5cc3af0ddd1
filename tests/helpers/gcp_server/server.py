"""A threaded stdlib HTTP server speaking the Compute REST JSON of the calls the GCP adapter makes."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.helpers.gcp_server.handlers import ROUTES, Handler, metrics
from tests.helpers.gcp_server.ops import ApiError
from tests.helpers.gcp_server.state import ComputeState

_COMPILED = [
    (method, re.compile(pattern + "$"), handler, mutating) for method, pattern, handler, mutating in ROUTES
]
_METRICS = re.compile(
    r"/globalops-metrics/v1/projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/services/(?P<service>[^/]+)$"
)
_PROJECT = re.compile(r"projects/([^/]+)/")


class ComputeTestServer:
    """Start with `start()`; `url` is the api_endpoint; `state` is the Python control API.

    Control over HTTP as well: POST /_control/reset, POST /_control/faults {"rate", "codes"},
    POST /_control/release-fault {"release", "error_rate", "latency_ms"}, GET /_control/counts.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = ComputeState()
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self.state))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ComputeTestServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="gcp-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
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
                status, answer = self._dispatch(method, parts.path, query, body)
            except ApiError as err:
                status, answer = err.status, err.body()
            except (ValueError, KeyError, TypeError) as err:
                status, answer = 400, ApiError(400, f"bad request: {err}").body()
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _dispatch(
            self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
        ) -> tuple[int, dict[str, Any]]:
            if path.startswith("/_control/"):
                return 200, _control(state, method, path, body)
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

"""`globalops codec-server`: decrypts payloads for the Temporal Web UI and CLI (the codec server protocol).

Point the UI at it: `temporal server start-dev --ui-codec-endpoint http://localhost:8081`
(or, for a deployed UI, TEMPORAL_CODEC_ENDPOINT / Settings → Codec Server in the UI). The UI
POSTs `{"payloads": [...]}` (Payloads as proto JSON) to `<endpoint>/decode` with the headers
content-type, x-namespace and, if configured, authorization; the browser first sends an OPTIONS
preflight, answered here for the allowed UI origins only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated

import typer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from cli.errors import fail
from workers.codec import KEY_ID_VAR, KEY_VAR, AesGcmCodec, CodecConfigError, codec_from_env

DEFAULT_PORT = 8081
DEFAULT_UI_ORIGIN = "http://localhost:8233"
ALLOWED_HEADERS = "content-type, x-namespace, authorization"
MAX_BODY = 16 * 1024 * 1024  # a Temporal payload is at most 2 MiB by default; a page of them fits


def build_server(codec: AesGcmCodec, host: str, port: int, origins: Sequence[str]) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) answering /encode, /decode and their CORS preflights."""
    allowed = frozenset(o.rstrip("/") for o in origins)

    class Handler(BaseHTTPRequestHandler):
        server_version = "globalops-codec"

        def do_OPTIONS(self) -> None:  # the name http.server dispatches to
            self._reply(HTTPStatus.NO_CONTENT if self._action() else HTTPStatus.NOT_FOUND, b"")

        def do_POST(self) -> None:  # the name http.server dispatches to
            action = self._action()
            if action is None:
                self._error(HTTPStatus.NOT_FOUND, "POST to /encode or /decode")
                return
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY} bytes")
                return
            try:
                incoming = json_format.Parse(self.rfile.read(length) or b"{}", Payloads())
            except json_format.ParseError as exc:
                self._error(HTTPStatus.BAD_REQUEST, f"not a Payloads JSON object: {exc}")
                return
            try:
                result = action(list(incoming.payloads))
            except ValueError as exc:  # PayloadDecryptionError, or a payload that is not a Payload
                self._error(HTTPStatus.BAD_REQUEST, str(exc))
                return
            body = json_format.MessageToJson(Payloads(payloads=result)).encode()
            self._reply(HTTPStatus.OK, body, "application/json")

        def _action(self) -> Callable[[list[Payload]], list[Payload]] | None:
            # The UI calls <endpoint>/decode; tctl-style endpoints put the namespace first: /<ns>/decode.
            path = self.path.split("?", 1)[0].rstrip("/")
            if path.endswith("/decode"):
                return codec.decode_sync
            if path.endswith("/encode"):
                return codec.encode_sync
            return None

        def _error(self, status: HTTPStatus, message: str) -> None:
            self._reply(status, json.dumps({"error": message}).encode(), "application/json")

        def _reply(self, status: HTTPStatus, body: bytes, content_type: str | None = None) -> None:
            self.send_response(status)
            origin = (self.headers.get("origin") or "").rstrip("/")
            if origin in allowed:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Vary", "Origin")
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # the base class's signature
            pass  # request lines would only repeat the UI's polling; errors go back in the response

    return ThreadingHTTPServer((host, port), Handler)


def codec_server(
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on.")
    ] = DEFAULT_PORT,
    web_ui_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--web-ui-origin",
            envvar="GLOBALOPS_CODEC_UI_ORIGIN",
            help=f"Web UI origin allowed by CORS; repeat for several (default {DEFAULT_UI_ORIGIN}).",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; keep it local unless a proxy adds auth.")
    ] = "127.0.0.1",
) -> None:
    """Serve /encode and /decode for the Temporal Web UI with this environment's payload key.

    Example: globalops codec-server --port 8081, then
    temporal server start-dev --ui-codec-endpoint http://localhost:8081
    """
    try:
        codec = codec_from_env()
    except CodecConfigError as exc:
        fail(str(exc))
    if codec is None:
        fail(f"{KEY_ID_VAR} and {KEY_VAR} are not set: the codec server has no key to decode with")
    origins = web_ui_origin or [DEFAULT_UI_ORIGIN]
    try:
        server = build_server(codec, host, port, origins)
    except OSError as exc:
        fail(f"--port: cannot listen on {host}:{port}: {exc.strerror or exc}")
    bound = server.server_address[1]
    typer.echo(
        f"codec server on http://{host}:{bound} (key id {codec.key_id}; CORS for {', '.join(origins)}); "
        f"start the UI with: temporal server start-dev --ui-codec-endpoint http://localhost:{bound}"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Run `server` on a daemon thread (tests and embedding); stop it with server.shutdown()."""
    thread = threading.Thread(target=server.serve_forever, name="codec-server", daemon=True)
    thread.start()
    return thread

"""A local HTTP receiver for notifications (Apprise's json://) and webhook gates: stdlib, in a thread.

It records every request as it came (method, path with query, headers, body) and answers by path:
a path registered with `answer(path, status, body)` gets that answer, one registered with `hang(path)`
gets none until the receiver stops (a hook that times out), every other path 200 "ok". `events()`
does what a real receiver should: it drops notifications whose event id it has already seen.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    """One request as the receiver saw it."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    def json(self) -> Any:
        return json.loads(self.body)

    def event(self) -> dict[str, Any] | None:
        """The event an Apprise json:// notification carries in its `message`, or None."""
        try:
            message = self.json()["message"]
            event = json.loads(message)
        except (ValueError, KeyError, TypeError):
            return None
        return event if isinstance(event, dict) and "id" in event else None


@dataclass
class Receiver:
    """Start with `with Receiver() as rx:`; `rx.url("/path")` is where to send."""

    requests: list[Request] = field(default_factory=list)
    _answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    _hanging: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "the receiver is not running"
        return int(self._server.server_address[1])

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, status: int, body: str = "") -> None:
        """Requests to `path` get this status and body."""
        self._answers[path] = (status, body.encode())

    def hang(self, path: str) -> None:
        """Requests to `path` get no answer until the receiver stops."""
        self._hanging.add(path)

    def at(self, path: str) -> list[Request]:
        """The requests to `path` (query string ignored), in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.route == path]

    def notifications(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every event received (at `path`, if given), duplicates included."""
        with self._lock:
            found = [r.event() for r in self.requests if path is None or r.route == path]
        return [e for e in found if e is not None]

    def events(self, path: str | None = None) -> list[dict[str, Any]]:
        """The events a deduplicating receiver keeps: the first of each event id."""
        seen: dict[str, dict[str, Any]] = {}
        for event in self.notifications(path):
            seen.setdefault(event["id"], event)
        return list(seen.values())

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, dict(self.headers), self.rfile.read(length))
                with receiver._lock:
                    receiver.requests.append(request)
                if request.route in receiver._hanging:
                    receiver._stop.wait()
                    return
                status, body = receiver._answers.get(request.route, (200, b"ok"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests read `requests`, not a log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

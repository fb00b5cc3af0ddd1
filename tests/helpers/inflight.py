"""Hold a cloud call's answer after the server has made the change: the "call made, answer lost" window.

A WSGI middleware for the moto server, and a check the GCP Compute test server makes: once armed
with an action name, the next request of that action is handled in full (the change is made),
then its answer waits until the test releases it. Crash tests kill the worker in that wait
(tests/helpers/crash.py InCall), so the activity dies with its request made and its answer never
read; the retry on the new worker must find the change and not make it twice.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

#: Longest a held answer waits for its release (a missed kill only slows the test).
HOLD_LIMIT_S = 60.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def action_of(environ: dict[str, Any], body: bytes) -> str:
    """The AWS action of a request: the query protocol's Action, a JSON target's, or Route 53's REST."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return target.rsplit(".", 1)[-1]
    path, method = str(environ.get("PATH_INFO", "")), str(environ.get("REQUEST_METHOD", ""))
    if method == "POST" and path.rstrip("/").endswith("/rrset"):
        return "ChangeResourceRecordSets"
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    return (form.get("Action") or query.get("Action") or [""])[0]


class Hold:
    """Arm with an action; the next request of it is made, then its answer held until `release`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: str | None = None
        self._held = threading.Event()
        self._released = threading.Event()
        self.seen: list[str] = []  # actions held so far

    def arm(self, action: str) -> None:
        with self._lock:
            self._armed = action
            self._held.clear()
            self._released.clear()

    def held(self) -> bool:
        return self._held.is_set()

    def release(self) -> None:
        with self._lock:
            self._armed = None
        self._released.set()

    def claim(self, action: str) -> bool:
        """Whether this request (of `action`) is the one to hold: the first after `arm(action)`."""
        if self._armed is None:
            return False
        with self._lock:
            hit = self._armed == action and not self._held.is_set()
            if hit:
                self._armed = None
        return hit

    def hold(self, action: str) -> None:
        """The claimed request's change is made: say so, and wait for `release` before answering."""
        self.seen.append(action)
        self._held.set()
        self._released.wait(HOLD_LIMIT_S)

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if self._armed is None:
                return app(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            action = action_of(environ, body)
            if not self.claim(action):
                return app(environ, start_response)
            answer: list[Any] = []
            written: list[bytes] = []

            def capture(status: str, headers: list[Any], exc_info: Any = None) -> Callable[..., Any]:
                answer[:] = [status, headers]
                return written.append

            made = list(app(environ, capture))  # the server makes the change here
            self.hold(action)
            start_response(*answer)
            return written + made

        return middleware


def gcp_action(method: str, path: str) -> str:
    """A Compute REST call as `METHOD what`: a custom verb (POST resize), else the collection (POST disks,
    PATCH backendServices, DELETE instances)."""
    parts = [p for p in path.split("/") if p]
    if method in ("PATCH", "DELETE") and len(parts) >= 2:
        return f"{method} {parts[-2]}"
    return f"{method} {parts[-1] if parts else ''}"


#: The moto server's hold (tests/helpers/aws/moto_server.py installs it; idle unless armed).
MOTO_HOLD = Hold()
#: The GCP Compute test servers' hold (tests/helpers/gcp_server/server.py asks it; idle unless armed).
GCP_HOLD = Hold()

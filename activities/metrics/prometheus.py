"""Metrics from Prometheus' HTTP API (``/api/v1/query_range``), with the standard library only.

Each metric is one PromQL template. Placeholders ``{service}``, ``{region}``, ``{group}``,
``{release}`` and ``{window}`` (the window in whole seconds) are substituted; every other brace is
PromQL's own, so templates read like plain PromQL. Label values are escaped for PromQL strings.
The defaults (see DEFAULT_QUERIES) assume the usual RED metrics with labels
``service``, ``region`` and ``group`` (``stable`` | ``canary``):

* ``error_rate``: ``sum(rate(http_requests_total{...,code=~"5.."}[1m]) or
  rate(http_requests_total{...,code!=""}[1m]) * 0) / sum(rate(http_requests_total{...}[1m]))``: the
  5xx share; 0 while requests with a ``code`` label exist but no 5xx series does yet
* ``latency_p99_ms``: ``histogram_quantile(0.99, sum by (le)
  (rate(http_request_duration_seconds_bucket{...}[1m]))) * 1000``
* ``requests``: ``sum(increase(http_requests_total{...}[{window}s]))``; its last point is the
  number of requests in the whole window.

Every query must return at most one series (aggregate it). The range is [now - window, now] at a
step of window / 60 (at least 1 s), so a window gives up to 61 points. NaN and +/-Inf points
(e.g. 0/0 when there is no traffic) are dropped.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from activities.metrics.base import check_window
from contracts.cloud import (
    Group,
    MetricSeries,
)
from contracts.errors import (
    AccessDenied,
    CloudError,
    InvalidRequest,
    Throttled,
    Unavailable,
)

_SELECTOR = 'service="{service}",region="{region}",group="{group}"'

DEFAULT_QUERIES: dict[str, str] = {
    # A labelled counter has no 5xx series until a request fails, so the 5xx rate falls back to 0
    # where the group's requests carry a `code` label (a healthy new canary has no 5xx yet); without
    # any such series the ratio has no points: no data, never 0.
    "error_rate": (
        f'sum(rate(http_requests_total{{{_SELECTOR},code=~"5.."}}[1m])'
        f' or rate(http_requests_total{{{_SELECTOR},code!=""}}[1m]) * 0)'
        f" / sum(rate(http_requests_total{{{_SELECTOR}}}[1m]))"
    ),
    "latency_p99_ms": (
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(http_request_duration_seconds_bucket{{{_SELECTOR}}}[1m]))) * 1000"
    ),
    "requests": f"sum(increase(http_requests_total{{{_SELECTOR}}}[{{window}}s]))",
}

_PLACEHOLDER = re.compile(r"\{(service|region|group|release|window)\}")


def _escape(value: str) -> str:
    """A value safe inside a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(template: str, values: dict[str, str]) -> str:
    """The template with its placeholders replaced; other braces are left alone."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def step_seconds(window_s: float) -> float:
    """Resolution of a range query: window / 60, at least 1 s."""
    return max(1.0, window_s / 60)


def _number(value: float) -> str:
    """Seconds as Prometheus takes them: a plain decimal with at most millisecond precision."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


class PrometheusMetrics:
    """A MetricsProvider reading range queries from a Prometheus-compatible HTTP API."""

    def __init__(self, base_url: str, timeout_s: float = 10, queries: dict[str, str] | None = None) -> None:
        """`queries` overrides some or all of DEFAULT_QUERIES (keys: error_rate, latency_p99_ms, requests)."""
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in ("http", "https"):
            raise InvalidRequest(f"Prometheus URL must be http(s)://..., got {base_url!r}")
        unknown = set(queries or {}) - set(DEFAULT_QUERIES)
        if unknown:
            raise InvalidRequest(
                f"unknown Prometheus queries {sorted(unknown)}; allowed: {', '.join(DEFAULT_QUERIES)}"
            )
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._queries = {**DEFAULT_QUERIES, **(queries or {})}

    def series(
        self, service: str, region: str, group: Group, release: str | None, window_s: float
    ) -> MetricSeries:
        check_window(window_s)
        end = time.time()
        start = end - window_s
        step = step_seconds(window_s)
        values = {
            "service": _escape(service),
            "region": _escape(region),
            "group": _escape(group),
            "release": _escape(release or ""),
            "window": str(max(1, math.ceil(window_s))),
        }
        points = {
            name: self._query_range(render(template, values), start, end, step)
            for name, template in self._queries.items()
        }
        return MetricSeries(
            region=region,
            group=group,
            release=release,
            error_rate=points["error_rate"],
            latency_p99_ms=points["latency_p99_ms"],
            requests=round(points["requests"][-1]) if points["requests"] else 0,
        )

    def _query_range(self, query: str, start: float, end: float, step: float) -> list[float]:
        """The finite values of the query's one series, oldest first ([] when it has none)."""
        params = urllib.parse.urlencode(
            {"query": query, "start": _number(start), "end": _number(end), "step": _number(step)}
        )
        url = f"{self._base_url}/api/v1/query_range?{params}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            # The scheme was checked to be http(s) in __init__.
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise _http_error(exc) from exc
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, DNS, timeout
            reason = getattr(exc, "reason", exc)
            raise Unavailable(f"Prometheus at {self._base_url} unreachable: {reason}") from exc
        return _parse(body, query)


def _http_error(exc: urllib.error.HTTPError) -> CloudError:
    """The CloudError for an HTTP error status, with Prometheus' own `error` text when it sent one."""
    try:
        raw = exc.read()
    except OSError:
        raw = b""
    message = ""
    try:
        payload = json.loads(raw)
        if isinstance(payload, dict):
            message = str(payload.get("error") or "")
            if payload.get("errorType"):
                message = f"{payload['errorType']}: {message}"
    except ValueError:
        message = raw[:200].decode("utf-8", "replace").strip()
    text = f"Prometheus HTTP {exc.code}: {message or exc.reason}"
    if exc.code == 429:
        return Throttled(text)
    if exc.code >= 500:
        return Unavailable(text)
    if exc.code in (401, 403):
        return AccessDenied(text)
    if 400 <= exc.code < 500:
        return InvalidRequest(text)
    return CloudError(text)


def _parse(body: bytes, query: str) -> list[float]:
    """Values of a `matrix` response; InvalidRequest for anything that is not one."""
    try:
        payload: Any = json.loads(body)
    except ValueError as exc:
        raise InvalidRequest(f"Prometheus sent no JSON for {query!r}: {body[:200]!r}") from exc
    if not isinstance(payload, dict) or payload.get("status") != "success":
        error = payload.get("error") if isinstance(payload, dict) else None
        raise InvalidRequest(f"Prometheus query {query!r} failed: {error or payload!r}")
    data = payload.get("data") or {}
    if data.get("resultType") != "matrix":
        raise InvalidRequest(f"Prometheus query {query!r} gave {data.get('resultType')!r}, not a matrix")
    result = data.get("result") or []
    if len(result) > 1:
        raise InvalidRequest(f"Prometheus query {query!r} gave {len(result)} series; aggregate it to one")
    if not result:
        return []
    points: list[tuple[float, float]] = []
    for point in result[0].get("values") or []:
        try:
            ts, value = float(point[0]), float(point[1])  # "NaN", "+Inf" and "-Inf" parse too
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise InvalidRequest(f"Prometheus query {query!r} gave a bad point {point!r}") from exc
        if math.isfinite(value):
            points.append((ts, value))
    return [value for _, value in sorted(points)]


def read_alerts(base_url: str, timeout_s: float = 10) -> list[dict[str, Any]]:
    """Every alert Prometheus holds now (`/api/v1/alerts`): dicts with `labels` and `state`.

    Fail closed: an unreachable Prometheus or a 5xx is Unavailable (retryable), never "no alerts";
    an answer that is not the alerts API's is InvalidRequest.
    """
    scheme = urllib.parse.urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        raise InvalidRequest(f"Prometheus URL must be http(s)://..., got {base_url!r}")
    base = base_url.rstrip("/")
    request = urllib.request.Request(f"{base}/api/v1/alerts", headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - http(s) checked
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise _http_error(exc) from exc
    except (urllib.error.URLError, OSError) as exc:  # refused, reset, DNS, timeout
        reason = getattr(exc, "reason", exc)
        raise Unavailable(f"Prometheus at {base} unreachable: {reason}") from exc
    try:
        payload: Any = json.loads(body)
    except ValueError as exc:
        raise InvalidRequest(f"Prometheus sent no JSON for its alerts: {body[:200]!r}") from exc
    alerts = payload.get("data", {}).get("alerts") if isinstance(payload, dict) else None
    if not isinstance(payload, dict) or payload.get("status") != "success" or not isinstance(alerts, list):
        raise InvalidRequest(f"Prometheus' alerts API gave {str(payload)[:200]!r}")
    return [a for a in alerts if isinstance(a, dict)]

"""The simulated service's RED metrics for Prometheus: what canary analysis with `provider: prometheus` reads.

Every scrape advances the counters by the traffic the sim serves since the previous scrape, as
`sim_groups.loads` describes it now (instances per group, canary weight, release faults), so
`rate()` and `histogram_quantile()` over the scraped series see what a release does. Per
service, region, group (`stable` | `canary`) and release:

* ``http_requests_total{service,region,group,release,code}``: ``code="200"`` and ``code="500"``
  (the failed requests). A release that never fails (error rate 0) has no ``500`` series, like a
  real client library's labelled counter that was never incremented.
* ``http_request_duration_seconds_bucket|_sum|_count{service,region,group,release}``: a histogram
  of LATENCY_BUCKETS_S whose 99th percentile is the group's p99 latency (see `latency_share`).

The labels are those that `activities.metrics.prometheus.DEFAULT_QUERIES` select by. The sim's
request numbers are read as requests per second; each scrape draws the sim's usual noise
(`sim_groups.point`). A group's counters start at 0 on the first scrape that finds it, like a
new process's (so every series of a group starts together, and rate() extrapolates them alike),
and end when it goes. A region in a metrics gap (`globalops sim fault metrics-gap`) is exported
not at all, though its counters go on counting: numbers that do not arrive are no data, never 0.
A region in an outage serves nothing and is not exported either (its exporter is unreachable);
its groups start again at 0 when it comes back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric

from activities.clouds import sim_groups as groups
from activities.clouds import sim_store as store

#: Upper bounds (seconds) of the latency histogram: fine around the sim's baseline (80 ms) and the
#: default gate (200 ms), coarser above. histogram_quantile() can tell a p99 only to its bucket.
LATENCY_BUCKETS_S = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
SERIES_LABELS = ("service", "region", "group", "release")
DEFAULT_PORT = 9465  # the worker's own metrics use 9464 (workers/telemetry.py)
TAIL = 0.01  # share of requests slower than the p99

_Key = tuple[str, str, str, str]  # service, region, group, release


def latency_share(p99_s: float, le_s: float) -> float:
    """Share of requests that take at most `le_s` seconds when the p99 latency is `p99_s`.

    99 % of requests take between p99/2 and p99, evenly spread; the slowest 1 % between p99 and
    1.5 × p99. So the distribution's 99th percentile is exactly `p99_s`.
    """
    low, high = p99_s / 2, p99_s * 1.5
    if le_s <= low:
        return 0.0
    if le_s <= p99_s:
        return (1 - TAIL) * (le_s - low) / (p99_s - low)
    if le_s < high:
        return (1 - TAIL) + TAIL * (le_s - p99_s) / (high - p99_s)
    return 1.0


def mean_latency(p99_s: float) -> float:
    """Mean latency of the distribution of `latency_share` (for the histogram's _sum)."""
    return (1 - TAIL) * 0.75 * p99_s + TAIL * 1.25 * p99_s


@dataclass
class _Totals:
    """Counts of one series since the exporter started."""

    requests: float = 0.0
    errors: float = 0.0
    latency_sum_s: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(LATENCY_BUCKETS_S))

    def add(self, requests: float, error_rate: float, p99_s: float) -> None:
        self.requests += requests
        self.errors += requests * error_rate
        self.latency_sum_s += requests * mean_latency(p99_s)
        for i, le in enumerate(LATENCY_BUCKETS_S):
            self.buckets[i] += requests * latency_share(p99_s, le)


class SimExporter:
    """A prometheus_client collector of the sim in `db_path`; each `collect` (a scrape) advances it.

    Thread-safe: the HTTP server may scrape from several threads.
    """

    def __init__(self, db_path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store.SimStore(db_path)
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._totals: dict[_Key, _Totals] = {}

    def describe(self) -> list[Metric]:
        """Nothing to describe up front (so registering does not count as a scrape)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Advance every serving group by the time since the last scrape; yield the exported ones."""
        with self._lock:
            now = self._clock()
            elapsed = 0.0 if self._last is None else max(0.0, now - self._last)
            self._last = now
            exported = self._advance(elapsed)
            requests = CounterMetricFamily(
                "http_requests",
                "Requests the simulated service served, by code (500: failed).",
                labels=[*SERIES_LABELS, "code"],
            )
            latency = HistogramMetricFamily(
                "http_request_duration_seconds",
                "Latency of the simulated service's requests.",
                labels=list(SERIES_LABELS),
            )
            for key, can_fail in exported:
                totals = self._totals[key]
                requests.add_metric([*key, "200"], totals.requests - totals.errors)
                if can_fail or totals.errors > 0:
                    requests.add_metric([*key, "500"], totals.errors)
                bounds = zip(LATENCY_BUCKETS_S, totals.buckets, strict=True)
                buckets = [(str(le), n) for le, n in bounds]  # "0.01", "1.0": as client_python writes them
                latency.add_metric(list(key), [*buckets, ("+Inf", totals.requests)], totals.latency_sum_s)
        yield requests
        yield latency

    def _advance(self, elapsed: float) -> list[tuple[_Key, bool]]:
        """Count `elapsed` seconds of every serving group's traffic; the keys to export, in order, each
        with whether its release can fail."""
        exported: list[tuple[_Key, bool]] = []
        serving: dict[_Key, _Totals] = {}
        with self._store.read() as conn:
            for service in store.seeded_services(conn):
                for region in store.seeded_regions(conn, service):
                    gap = store.has_metrics_gap(conn, region)
                    for load in groups.loads(conn, service, region):
                        key = (service, region, load.group, load.release)
                        totals = self._totals.get(key)
                        if totals is None:  # new: it counts from this scrape on
                            totals = _Totals()
                        else:
                            error_rate, p99_ms = groups.point(load.error_rate, load.latency_p99_ms)
                            totals.add(load.requests * elapsed, error_rate, p99_ms / 1000)
                        serving[key] = totals
                        if not gap:
                            exported.append((key, load.error_rate > 0))
        self._totals = serving  # a group that went (or a region that went down) starts again at 0
        return exported


@dataclass
class ExporterServer:
    """A running exporter: its HTTP server and the thread serving it."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(db_path: Path, port: int = DEFAULT_PORT, address: str = "127.0.0.1") -> ExporterServer:
    """Serve the sim in `db_path` at http://address:port/metrics in a background thread (port 0: any free)."""
    registry = CollectorRegistry()
    registry.register(SimExporter(db_path))
    server, thread = start_http_server(port, addr=address, registry=registry)
    return ExporterServer(server, thread)

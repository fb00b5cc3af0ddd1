"""The sim's Prometheus exporter: counters that advance by the traffic between scrapes, shaped by the sim.

Scrapes go through prometheus_client's own registry and text format, read back with its parser; the
clock is the test's, so "10 s later" is exact. Noise is the sim's own (error rate x 0.8-1.2, p99 x
0.93-1.07 per scrape), so the checks use those bounds.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from activities.clouds import sim_exporter, sim_groups
from activities.clouds.sim import SimCloud
from activities.clouds.sim_exporter import LATENCY_BUCKETS_S, SimExporter, latency_share, mean_latency
from activities.clouds.sim_groups import BASELINE_ERROR_RATE, PREVIEW_REQUESTS

SVC = "checkout"
R = "r00"
# Two seeded regions with equal weights: each serves REQUESTS_PER_REGION (2000) requests per second.
REGION_RPS = 2000

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cloud(tmp_path: Path) -> SimCloud:
    sim = SimCloud(tmp_path / "sim.db")
    sim.seed(SVC, [(R, 4), ("r01", 4)], "1.0.0")
    return sim


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["random", "lowest", "highest"])
def noise(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The sim's noise as drawn, or pinned to the low or high end of every range: the bounds hold at both."""
    if request.param != "random":
        end = 0 if request.param == "lowest" else 1
        monkeypatch.setattr(sim_groups.random, "uniform", lambda a, b: (a, b)[end])
    return str(request.param)


@pytest.fixture
def scrape(cloud: SimCloud, clock: Clock) -> Scrape:
    return Scrape(cloud, clock)


class Scrape:
    """Scrapes one exporter `seconds` after the previous scrape; samples by (name, sorted labels)."""

    def __init__(self, cloud: SimCloud, clock: Clock) -> None:
        self.clock = clock
        self.registry = CollectorRegistry()
        self.registry.register(SimExporter(cloud.db_path, clock=clock))
        self.text = ""

    def __call__(self, seconds: float = 0.0) -> Samples:
        self.clock.now += seconds
        self.text = generate_latest(self.registry).decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(self.text)
            for s in family.samples
        }


Labels = tuple[tuple[str, str], ...]


def labels(region: str = R, group: str = "stable", release: str = "1.0.0", **more: str) -> Labels:
    found = {"service": SVC, "region": region, "group": group, "release": release, **more}
    return tuple(sorted(found.items()))


def requests(samples: Samples, code: str, **where: str) -> float | None:
    return samples.get(("http_requests_total", labels(code=code, **where)))


def bucket(samples: Samples, le: str, **where: str) -> float:
    return samples[("http_request_duration_seconds_bucket", labels(le=le, **where))]


# --------------------------------------------------------------------------- the latency model


def test_latency_share_puts_exactly_one_percent_above_the_p99() -> None:
    p99 = 0.48
    assert latency_share(p99, p99 / 2) == 0.0
    assert latency_share(p99, p99) == pytest.approx(0.99)
    assert latency_share(p99, p99 * 1.25) == pytest.approx(0.995)
    assert latency_share(p99, p99 * 1.5) == 1.0
    shares = [latency_share(p99, le) for le in LATENCY_BUCKETS_S]
    assert shares == sorted(shares)  # cumulative
    assert 0.5 * p99 < mean_latency(p99) < p99


# --------------------------------------------------------------------------- scrapes


def test_each_scrape_counts_the_traffic_since_the_previous_one(scrape: Scrape, noise: str) -> None:
    first = scrape()
    assert (requests(first, "200"), requests(first, "500")) == (0.0, 0.0)  # every series starts at 0

    later = scrape(10)
    ok, failed = requests(later, "200"), requests(later, "500")
    assert ok is not None and failed is not None
    assert ok + failed == pytest.approx(10 * REGION_RPS)
    assert 0.8 * BASELINE_ERROR_RATE <= failed / (ok + failed) <= 1.2 * BASELINE_ERROR_RATE
    count = later[("http_request_duration_seconds_count", labels())]
    assert count == pytest.approx(10 * REGION_RPS)
    assert bucket(later, "+Inf") == count
    # The baseline p99 is 80 ms x 0.93-1.07 = 74-86 ms: under half the requests take up to 50 ms, over
    # half up to 75 ms, at least 99 % up to 100 ms.
    assert bucket(later, "0.05") < 0.5 * count < bucket(later, "0.075")
    assert 0.99 * count <= bucket(later, "0.1")
    assert bucket(later, "0.025") == 0.0

    again = scrape(5)
    total = (requests(again, "200") or 0) + (requests(again, "500") or 0)
    assert total == pytest.approx(15 * REGION_RPS)  # counters only grow


def test_canary_weight_and_release_faults_shape_each_group(
    cloud: SimCloud, scrape: Scrape, noise: str
) -> None:
    cloud.scale_group(SVC, R, "canary", "3.0.0", 1, "c1")
    cloud.set_canary_weight(SVC, R, 0.25, "w1")
    cloud.inject_release_fault("3.0.0", error_rate=0.3, latency_ms=400)
    scrape()
    samples = scrape(10)
    canary = {"group": "canary", "release": "3.0.0"}
    ok, failed = requests(samples, "200", **canary), requests(samples, "500", **canary)
    assert ok is not None and failed is not None
    assert ok + failed == pytest.approx(10 * REGION_RPS * 0.25)
    assert 0.24 <= failed / (ok + failed) <= 0.36
    stable_total = (requests(samples, "200") or 0) + (requests(samples, "500") or 0)
    assert stable_total == pytest.approx(10 * REGION_RPS * 0.75)
    # p99 = (80 + 400 ms) x 0.93-1.07 = 446-514 ms: more than 1 % of requests above 400 ms, at least 99 %
    # up to 750 ms, all up to 1 s (1.5 x p99), none up to 200 ms (p99 / 2).
    count = bucket(samples, "+Inf", **canary)
    assert bucket(samples, "0.4", **canary) < 0.99 * count <= bucket(samples, "0.75", **canary)
    assert bucket(samples, "1.0", **canary) == pytest.approx(count)
    assert bucket(samples, "0.2", **canary) == 0.0


def test_a_release_without_errors_has_no_500_series(cloud: SimCloud, scrape: Scrape) -> None:
    cloud.inject_release_fault("1.0.0", error_rate=0.0)
    scrape()
    samples = scrape(10)
    assert requests(samples, "200") == pytest.approx(10 * REGION_RPS)
    assert requests(samples, "500") is None


def test_a_group_without_live_traffic_gets_preview_requests(cloud: SimCloud, scrape: Scrape) -> None:
    cloud.scale_group(SVC, R, "canary", "2.0.0", 4, "green")  # weight 0: blue-green before the switch
    scrape()
    samples = scrape(10)
    green = {"group": "canary", "release": "2.0.0"}
    total = (requests(samples, "200", **green) or 0) + (requests(samples, "500", **green) or 0)
    assert total == pytest.approx(10 * PREVIEW_REQUESTS)


def test_a_group_of_two_releases_splits_its_traffic_by_instances(cloud: SimCloud, scrape: Scrape) -> None:
    cloud.ensure_release(SVC, R, "2.0.0", 1, "batch-1")  # rolling: one of four instances replaced
    scrape()
    samples = scrape(10)
    old = (requests(samples, "200") or 0) + (requests(samples, "500") or 0)
    new = (requests(samples, "200", release="2.0.0") or 0) + (requests(samples, "500", release="2.0.0") or 0)
    assert (old, new) == (pytest.approx(7.5 * REGION_RPS), pytest.approx(2.5 * REGION_RPS))


def test_a_metrics_gap_exports_nothing_but_the_counters_go_on(cloud: SimCloud, scrape: Scrape) -> None:
    scrape()
    cloud.inject_metrics_gap(R)
    gap = scrape(10)
    assert not [key for key in gap if ("region", R) in key[1]]
    assert requests(gap, "200", region="r01") is not None  # the other region still reports
    cloud.clear_metrics_gap(R)
    back = scrape(10)
    total = (requests(back, "200") or 0) + (requests(back, "500") or 0)
    assert total == pytest.approx(20 * REGION_RPS)  # it served all along


def test_an_outage_serves_and_exports_nothing(cloud: SimCloud, scrape: Scrape) -> None:
    scrape()
    cloud.inject_outage(R)
    down = scrape(10)
    assert not [key for key in down if ("region", R) in key[1]]
    cloud.clear_outage(R)
    back = scrape(10)
    assert (requests(back, "200"), requests(back, "500")) == (0.0, 0.0)  # its groups start again at 0
    later = scrape(10)
    total = (requests(later, "200") or 0) + (requests(later, "500") or 0)
    assert total == pytest.approx(10 * REGION_RPS)


def test_a_new_group_counts_from_its_first_scrape_and_ends_when_it_goes(
    cloud: SimCloud, scrape: Scrape
) -> None:
    canary = {"group": "canary", "release": "2.0.0"}
    scrape()
    cloud.scale_group(SVC, R, "canary", "2.0.0", 1, "c1")
    cloud.set_canary_weight(SVC, R, 0.5, "w1")
    seen = scrape(10)
    # Every series of the group starts together at 0 (so rate() extrapolates them alike).
    assert (requests(seen, "200", **canary), requests(seen, "500", **canary)) == (0.0, 0.0)
    assert bucket(seen, "+Inf", **canary) == 0.0
    counted = scrape(10)
    ok, failed = requests(counted, "200", **canary), requests(counted, "500", **canary)
    assert ok is not None and failed is not None and ok + failed == pytest.approx(5 * REGION_RPS)

    cloud.scale_group(SVC, R, "canary", "2.0.0", 0, "gone")
    gone = scrape(10)
    assert requests(gone, "200", **canary) is None
    cloud.scale_group(SVC, R, "canary", "2.0.0", 1, "c2")
    cloud.set_canary_weight(SVC, R, 0.5, "w2")
    assert requests(scrape(10), "200", **canary) == 0.0  # a new canary: new counters


def test_every_service_of_the_sim_is_exported(cloud: SimCloud, scrape: Scrape) -> None:
    cloud.seed("search", [(R, 2)], "7.0.0")
    samples = scrape()
    assert any(("service", "search") in key[1] for key in samples)
    assert "# TYPE http_requests_total counter" in scrape.text
    assert "# TYPE http_request_duration_seconds histogram" in scrape.text


def test_serve_answers_scrapes_over_http(cloud: SimCloud) -> None:
    served = sim_exporter.serve(cloud.db_path, port=0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{served.port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        served.stop()
    assert (
        f'http_requests_total{{code="200",group="stable",region="{R}",release="1.0.0",service="{SVC}"}}'
        in text
    )

"""A real Prometheus in tests: Debian's server (`make test` installs it) scraping the sim's exporter.

Each server is the test's own process: a config with a 1 s scrape interval, storage in a temporary
directory, a free port on 127.0.0.1. (Debian's package may run a system service of its own; it is
never used.) Prometheus hands new targets to its scrape loop a few seconds after it starts, so
`scraped` waits for the first scrape before a test relies on data.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from config.loader import load_policies, load_topology
from config.models import Policies, Topology
from tests.helpers.ports import free_port

PROMETHEUS = Path("/usr/bin/prometheus")
SCRAPE_INTERVAL = "1s"
READY_LIMIT_S = 60
POLL_S = 0.1

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]

#: The Prometheus tests' sim: SERVICES on 1.0.0 in EXPORTED and GAPPED (which reports no metrics).
SERVICES = ("checkout", "search", "cart", "catalog", "billing")
EXPORTED = "us-east-1"
GAPPED = "ap-south-1"
NOT_SEEDED = "eu-west-1"  # a region of the default topology the tests' sim never runs
BAD = "3.0.0"  # fails 30 % of requests, +400 ms
GOOD = "2.0.0"  # no fault: the sim's baseline (0.2 % errors, p99 80 ms)
FLAWLESS = "4.0.0"  # never fails a request: no 5xx series at all


def wait_for(check: Callable[[], T | None], what: str, limit_s: float = READY_LIMIT_S) -> T:
    """Poll `check` until it returns something true, at most `limit_s` seconds (real servers, real clock)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(POLL_S)
    raise AssertionError(f"timed out after {limit_s:g}s waiting for {what}")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http URLs of the test's server)
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """The result of an instant query ([] for none)."""
    status, body = _get(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    assert status == 200, body
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


@contextlib.contextmanager
def prometheus_server(
    targets: Sequence[str], workdir: Path, rules: Sequence[dict[str, Any]] = ()
) -> Iterator[str]:
    """Prometheus scraping `targets` (host:port, path /metrics) every second, and evaluating `rules`
    (alerting rules, one group) every second; yields its base URL once /-/ready answers, and stops the
    process after."""
    config = workdir / "prometheus.yml"
    jobs = [{"job_name": "sim", "static_configs": [{"targets": list(targets)}]}]
    settings: dict[str, Any] = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
        "scrape_configs": jobs,
    }
    if rules:
        rule_file = workdir / "rules.yml"
        group = {"name": "globalops-tests", "interval": SCRAPE_INTERVAL, "rules": list(rules)}
        rule_file.write_text(yaml.safe_dump({"groups": [group]}))
        settings["global"]["evaluation_interval"] = SCRAPE_INTERVAL
        settings["rule_files"] = [str(rule_file)]
    config.write_text(yaml.safe_dump(settings))
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {proc.returncode}: {log.read_text()[-2000:]}")
            return _get(f"{url}/-/ready")[0] == 200

        wait_for(ready, f"prometheus at {url} to be ready")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def alerts(url: str) -> list[dict[str, Any]]:
    """The alerts the server holds now (`/api/v1/alerts`)."""
    status, body = _get(f"{url}/api/v1/alerts")
    assert status == 200, body
    found: list[dict[str, Any]] = json.loads(body)["data"]["alerts"]
    return found


def scraped(url: str) -> None:
    """Wait until every target of the server has been scraped successfully once."""
    wait_for(lambda: query(url, 'up{job="sim"} == 1'), f"prometheus at {url} to scrape its targets")


def prometheus_topology() -> Topology:
    """The default topology cut to SERVICES in EXPORTED (core) and GAPPED (edge), no backup regions."""
    base = load_topology()
    service = base.services[0]
    regions = [
        r.model_copy(update={"backup_region": None}).model_dump()
        for r in base.regions
        if r.name in (EXPORTED, GAPPED)
    ]
    return Topology.model_validate(
        {
            "services": [service.model_copy(update={"name": name}).model_dump() for name in SERVICES],
            "default_task_queue": base.default_task_queue,
            "regions": regions,
            "waves": [
                {"name": "validate"},
                {"name": "core", "pilot": EXPORTED, "regions": [EXPORTED]},
                {"name": "edge", "regions": [GAPPED]},
            ],
        }
    )


def only(topology: Topology, region: str) -> Topology:
    """`topology` cut to one region (the core wave's pilot): a rollout that touches nothing else."""
    return Topology.model_validate(
        {
            **topology.model_dump(),
            "regions": [topology.region(region).model_dump()],
            "waves": [{"name": "validate"}, {"name": "core", "pilot": region, "regions": [region]}],
        }
    )


#: Real-clock canary timings: the canary bakes STEP_BAKE_S before one analysis run reads the last
#: WINDOW_S from Prometheus at 1 s steps, and needs MIN_SAMPLES points of the canary (a series needs two
#: scrapes before rate() has a point, so a canary STEP_BAKE_S old has about STEP_BAKE_S - 2).
STEP_BAKE_S = 12.0
WINDOW_S = 12.0
MIN_SAMPLES = 6


def canary_policies(prometheus_url: str) -> Policies:
    """The demo policies (sub-second bakes and gates) with one canary step at 50 %, analysed once from
    Prometheus; a region without metrics waits 2 s for a decision, then fails."""
    data = load_policies(ROOT / "config" / "policies.demo.yaml").model_dump()
    data["canary"].update(steps=[{"set_weight": 50}], step_bake=STEP_BAKE_S)
    data["analysis"].update(
        provider="prometheus",
        prometheus_url=prometheus_url,
        window=WINDOW_S,
        interval=1.0,
        count=1,
        min_samples=MIN_SAMPLES,
    )
    data["health"].update(on_no_data="wait", no_data_deadline=2.0)
    return Policies.model_validate(data)

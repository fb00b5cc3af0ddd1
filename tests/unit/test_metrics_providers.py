"""Metrics providers against real servers: a tiny Prometheus-like HTTP server and moto over HTTP."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from moto.server import ThreadedMotoServer

from activities.clouds.port import CloudPort
from activities.metrics import SimMetrics, metrics_provider, samples
from activities.metrics.cloudwatch import CloudWatchMetrics
from activities.metrics.prometheus import DEFAULT_QUERIES, PrometheusMetrics
from contracts.cloud import (
    Group,
    MetricSeries,
)
from contracts.errors import (
    AccessDenied,
    InvalidRequest,
    Throttled,
    Unavailable,
)

# --------------------------------------------------------------------------- Prometheus

Reply = Callable[[dict[str, str]], tuple[int, Any]]


class PromServer(ThreadingHTTPServer):
    """Answers /api/v1/query_range with `reply(params)` and records every request's parameters."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), PromHandler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.reply: Reply = lambda params: (200, matrix([]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class PromHandler(BaseHTTPRequestHandler):
    server: PromServer

    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(parsed.query))
        self.server.requests.append((parsed.path, params))
        status, payload = self.server.reply(params)
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def matrix(*series: list[list[Any]]) -> dict[str, Any]:
    result = [{"metric": {}, "values": values} for values in series]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


@pytest.fixture
def prom() -> Iterator[PromServer]:
    server = PromServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def canned(params: dict[str, str]) -> tuple[int, Any]:
    """Error rate, latency and request count series, told apart by their PromQL."""
    t = float(params["start"])
    query = params["query"]
    if 'code=~"5.."' in query:
        return 200, matrix([[t, "0.01"], [t + 5, "NaN"], [t + 10, "0.02"], [t + 15, "0.03"]])
    if "histogram_quantile" in query:
        # Out of order on purpose, with an +Inf (quantile in the last bucket): sorted, dropped.
        return 200, matrix([[t + 5, "95.5"], [t, "120.25"], [t + 10, "+Inf"], [t + 15, "88"]])
    if "increase(" in query:
        return 200, matrix([[t, "100"], [t + 5, "180"], [t + 10, "250.4"]])
    return 400, {"status": "error", "errorType": "bad_data", "error": "unexpected query"}


def test_prometheus_parses_matrices_and_builds_the_queries(prom: PromServer) -> None:
    prom.reply = canned
    series = PrometheusMetrics(prom.url).series("checkout", "eu-west-1", "canary", "2.0.0", 300)

    assert series == MetricSeries(
        region="eu-west-1",
        group="canary",
        release="2.0.0",
        error_rate=[0.01, 0.02, 0.03],
        latency_p99_ms=[120.25, 95.5, 88.0],
        requests=250,
    )
    assert len(prom.requests) == 3
    for path, params in prom.requests:
        assert path == "/api/v1/query_range"
        for label in ('service="checkout"', 'region="eu-west-1"', 'group="canary"'):
            assert label in params["query"]
        assert params["step"] == "5"  # 300 s / 60
        assert float(params["end"]) - float(params["start"]) == pytest.approx(300, abs=0.002)
    queries = [params["query"] for _, params in prom.requests]
    assert any("[300s]" in q for q in queries)  # the requests query spans the window
    assert any(q.endswith("* 1000") for q in queries)  # latency in milliseconds


def test_prometheus_step_is_at_least_one_second(prom: PromServer) -> None:
    PrometheusMetrics(prom.url).series("checkout", "eu-west-1", "stable", None, 30)
    assert {params["step"] for _, params in prom.requests} == {"1"}
    prom.requests.clear()
    PrometheusMetrics(prom.url).series("checkout", "eu-west-1", "stable", None, 100)
    assert {params["step"] for _, params in prom.requests} == {"1.667"}


def test_prometheus_empty_result_is_an_empty_series(prom: PromServer) -> None:
    series = PrometheusMetrics(prom.url).series("checkout", "eu-west-1", "stable", None, 60)
    assert (series.error_rate, series.latency_p99_ms, series.requests) == ([], [], 0)


def test_prometheus_queries_can_be_overridden_and_values_are_escaped(prom: PromServer) -> None:
    prom.reply = canned
    custom = 'sum(rate(my_errors{app="{service}",zone="{region}",track="{group}"}[1m]))  # code=~"5.."'
    PrometheusMetrics(prom.url, queries={"error_rate": custom}).series('a"b', "eu-west-1", "canary", None, 60)
    sent = [params["query"] for _, params in prom.requests]
    assert 'sum(rate(my_errors{app="a\\"b",zone="eu-west-1",track="canary"}[1m]))  # code=~"5.."' in sent
    assert len(sent) == 3  # the other two are the defaults
    with pytest.raises(InvalidRequest, match="allowed: error_rate, latency_p99_ms, requests"):
        PrometheusMetrics(prom.url, queries={"cpu": "x"})
    assert set(DEFAULT_QUERIES) == {"error_rate", "latency_p99_ms", "requests"}


@pytest.mark.parametrize(
    ("status", "payload", "error", "text"),
    [
        (
            503,
            {"status": "error", "errorType": "timeout", "error": "query timed out"},
            Unavailable,
            "timed out",
        ),
        (500, b"internal", Unavailable, "500"),
        (429, b"slow down", Throttled, "429"),
        (
            400,
            {"status": "error", "errorType": "bad_data", "error": "1:5: parse error"},
            InvalidRequest,
            "parse",
        ),
        (422, {"status": "error", "errorType": "execution", "error": "many-to-many"}, InvalidRequest, "many"),
        (403, b"forbidden", AccessDenied, "403"),
    ],
)
def test_prometheus_http_errors_are_classified(
    prom: PromServer, status: int, payload: Any, error: type[Exception], text: str
) -> None:
    prom.reply = lambda params: (status, payload)
    with pytest.raises(error, match=text):
        PrometheusMetrics(prom.url).series("checkout", "eu-west-1", "canary", None, 60)


def test_prometheus_400_carries_prometheus_error_text(prom: PromServer) -> None:
    prom.reply = lambda params: (
        400,
        {"status": "error", "errorType": "bad_data", "error": "1:5: parse error"},
    )
    with pytest.raises(InvalidRequest) as info:
        PrometheusMetrics(prom.url).series("checkout", "eu-west-1", "canary", None, 60)
    assert "bad_data: 1:5: parse error" in str(info.value)
    assert not info.value.retryable


def test_prometheus_odd_answers_are_invalid(prom: PromServer) -> None:
    provider = PrometheusMetrics(prom.url)
    prom.reply = lambda params: (200, matrix([[1.0, "1"]], [[1.0, "2"]]))
    with pytest.raises(InvalidRequest, match="2 series"):
        provider.series("checkout", "eu-west-1", "canary", None, 60)
    prom.reply = lambda params: (200, {"status": "success", "data": {"resultType": "vector", "result": []}})
    with pytest.raises(InvalidRequest, match="not a matrix"):
        provider.series("checkout", "eu-west-1", "canary", None, 60)
    prom.reply = lambda params: (200, b"<html>not prometheus</html>")
    with pytest.raises(InvalidRequest, match="no JSON"):
        provider.series("checkout", "eu-west-1", "canary", None, 60)


def test_prometheus_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    with pytest.raises(Unavailable, match="unreachable") as info:
        PrometheusMetrics(f"http://127.0.0.1:{port}", timeout_s=2).series("c", "r", "canary", None, 60)
    assert info.value.retryable


def test_prometheus_rejects_bad_urls_and_windows(prom: PromServer) -> None:
    with pytest.raises(InvalidRequest, match="http"):
        PrometheusMetrics("file:///etc/passwd")
    with pytest.raises(InvalidRequest, match="window"):
        PrometheusMetrics(prom.url).series("checkout", "eu-west-1", "canary", None, 0)
    assert prom.requests == []


# --------------------------------------------------------------------------- CloudWatch (moto)

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Dummy credentials from the environment (boto3's own chain) and a reset moto."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    reset = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(reset).close()  # noqa: S310  (http to the local moto server)
    return moto_url


def cw_client(url: str) -> Any:
    return boto3.client(
        "cloudwatch", region_name=REGION, endpoint_url=url, config=Config(retries={"total_max_attempts": 1})
    )


def put(
    client: Any, name: str, group: Group, points: list[tuple[datetime, float]], service: str = "checkout"
) -> None:
    dims = [
        {"Name": "Service", "Value": service},
        {"Name": "Region", "Value": REGION},
        {"Name": "Group", "Value": group},
    ]
    client.put_metric_data(
        Namespace="globalops",
        MetricData=[
            {"MetricName": name, "Dimensions": dims, "Timestamp": t, "Value": v, "StorageResolution": 1}
            for t, v in points
        ],
    )


def test_cloudwatch_reads_what_was_put(aws: str) -> None:
    client = cw_client(aws)
    now = datetime.now(UTC).replace(microsecond=0)
    times = [now - timedelta(seconds=55 - 10 * i) for i in range(5)]  # one point per 10 s period
    put(client, "ErrorRate", "canary", list(zip(times, [0.01, 0.02, 0.0, 0.04, 0.05], strict=True)))
    put(client, "LatencyP99", "canary", list(zip(times, [120.0, 95.5, 101.0, 99.0, 130.25], strict=True)))
    put(client, "RequestCount", "canary", list(zip(times, [100.0, 120.0, 80.0, 95.0, 105.0], strict=True)))
    # Noise the query must not pick up: the other group, another service, and a point too old.
    put(client, "ErrorRate", "stable", [(times[0], 0.9)])
    put(client, "LatencyP99", "canary", [(times[1], 999.0)], service="search")
    put(client, "RequestCount", "canary", [(now - timedelta(seconds=600), 1e6)])

    series = CloudWatchMetrics(endpoint_url=aws).series("checkout", REGION, "canary", "2.0.0", 120)
    assert series == MetricSeries(
        region=REGION,
        group="canary",
        release="2.0.0",
        error_rate=[0.01, 0.02, 0.0, 0.04, 0.05],
        latency_p99_ms=[120.0, 95.5, 101.0, 99.0, 130.25],
        requests=500,
    )
    assert samples(series) == {"error_rate": series.error_rate, "latency_p99_ms": series.latency_p99_ms}
    stable = CloudWatchMetrics(endpoint_url=aws).series("checkout", REGION, "stable", None, 120)
    assert (stable.error_rate, stable.latency_p99_ms, stable.requests) == ([0.9], [], 0)


def test_cloudwatch_averages_points_within_a_period(aws: str) -> None:
    client = cw_client(aws)
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    put(client, "LatencyP99", "canary", [(t, 100.0), (t, 200.0)])
    put(client, "RequestCount", "canary", [(t, 40.0), (t, 2.0)])
    series = CloudWatchMetrics(endpoint_url=aws).series("checkout", REGION, "canary", None, 120)
    assert (series.latency_p99_ms, series.requests) == ([150.0], 42)


def test_cloudwatch_follows_next_token_and_sorts_chronologically(aws: str) -> None:
    """A first page (with a NextToken) is served by a before-send hook; the second comes from moto."""
    client = cw_client(aws)
    now = datetime.now(UTC).replace(microsecond=0)
    put(client, "ErrorRate", "canary", [(now - timedelta(seconds=45), 0.01)])
    later = (now - timedelta(seconds=5)).timestamp()
    bodies: list[dict[str, Any]] = []

    def first_page(request: Any, **_: Any) -> AWSResponse | None:
        body = json.loads(request.body)
        bodies.append(body)
        if "NextToken" in body:
            return None  # to moto
        page = {
            "MetricDataResults": [
                {"Id": "error_rate", "Label": "ErrorRate", "Timestamps": [later], "Values": [0.07]},
                {"Id": "requests", "Label": "RequestCount", "Timestamps": [later], "Values": [10.0]},
            ],
            "NextToken": "page-2",
        }
        return aws_response(request.url, 200, page)

    client.meta.events.register("before-send.cloudwatch.GetMetricData", first_page)
    series = CloudWatchMetrics(lambda region: client).series("checkout", REGION, "canary", None, 120)
    assert [b.get("NextToken") for b in bodies] == [None, "page-2"]
    assert bodies[0]["ScanBy"] == "TimestampAscending"
    assert {q["MetricStat"]["Period"] for q in bodies[0]["MetricDataQueries"]} == {10}
    assert series.error_rate == [0.01, 0.07]  # moto's older point first
    assert series.requests == 10


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def aws_response(
    url: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> AWSResponse:
    """A response in CloudWatch's awsJson1_0 protocol (what botocore resolves it to here)."""
    data = json.dumps(body).encode()
    base = {
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-RequestId": "req-1",
        "Content-Length": str(len(data)),
    }
    return AWSResponse(url, status, {**base, **(headers or {})}, _Raw(data))


def faulty_client(url: str, status: int, code: str, message: str) -> tuple[Any, list[int]]:
    """A client whose GetMetricData gets the error (query-compatible, like real CloudWatch)."""
    client = cw_client(url)
    assert client.meta.service_model.resolved_protocol == "json"
    calls: list[int] = []

    def inject(request: Any, **_: Any) -> AWSResponse:
        calls.append(1)
        body = {"__type": f"com.amazonaws.cloudwatch#{code}", "message": message}
        return aws_response(request.url, status, body, {"x-amzn-query-error": f"{code};Sender"})

    client.meta.events.register("before-send.cloudwatch.GetMetricData", inject)
    return client, calls


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "Throttling", Throttled),
        (429, "ThrottlingException", Throttled),
        (403, "AccessDenied", AccessDenied),
        (400, "AccessDeniedException", AccessDenied),
        (400, "InvalidParameterValue", InvalidRequest),
        (400, "InvalidParameterCombination", InvalidRequest),
        (500, "InternalServiceError", Unavailable),
        (503, "ServiceUnavailable", Unavailable),
    ],
)
def test_cloudwatch_errors_are_classified(aws: str, status: int, code: str, error: type[Exception]) -> None:
    client, calls = faulty_client(aws, status, code, f"injected {code}")
    with pytest.raises(error, match=f"AWS GetMetricData: {code}: injected {code}"):
        CloudWatchMetrics(lambda region: client).series("checkout", REGION, "canary", None, 60)
    assert calls == [1]


def test_cloudwatch_unreachable_endpoint_is_unavailable(aws: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = CloudWatchMetrics(lambda region: cw_client(f"http://127.0.0.1:{port}"))
    with pytest.raises(Unavailable, match="unreachable"):
        provider.series("checkout", REGION, "canary", None, 60)


def test_cloudwatch_client_per_region(aws: str) -> None:
    built: list[str] = []

    def factory(region: str) -> Any:
        built.append(region)
        return boto3.client("cloudwatch", region_name=region, endpoint_url=aws)

    provider = CloudWatchMetrics(factory)
    for region in ("us-east-1", "eu-west-1", "us-east-1"):
        provider.series("checkout", region, "canary", None, 60)
    assert built == ["us-east-1", "eu-west-1"]


# --------------------------------------------------------------------------- sim and the factory


class _MetricsOnlyCloud:
    """Just CloudPort.metrics, returning a fixed series (the sim's own method is tested with the sim)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, float]] = []

    def metrics(self, service: str, region: str, group: Group, window_s: float) -> MetricSeries:
        self.calls.append((service, region, group, window_s))
        return MetricSeries(region=region, group=group, release=None, error_rate=[0.0], latency_p99_ms=[50.0])


def test_sim_metrics_delegates_to_the_cloud() -> None:
    cloud = _MetricsOnlyCloud()
    series = SimMetrics(cast(CloudPort, cloud)).series("checkout", "eu-west-1", "canary", "2.0.0", 90)
    assert cloud.calls == [("checkout", "eu-west-1", "canary", 90)]
    assert (series.release, series.latency_p99_ms) == ("2.0.0", [50.0])


def test_sim_metrics_with_the_real_sim(sim: Any) -> None:
    series = SimMetrics(sim).series("checkout", "us-east-1", "stable", "1.0.0", 60)
    assert (series.region, series.group) == ("us-east-1", "stable")
    assert series.error_rate and len(series.error_rate) == len(series.latency_p99_ms)
    with pytest.raises(InvalidRequest, match="window"):
        SimMetrics(sim).series("checkout", "us-east-1", "stable", None, -1)


def test_metrics_provider_factory(prom: PromServer) -> None:
    cloud = cast(CloudPort, _MetricsOnlyCloud())
    assert isinstance(metrics_provider("sim", cloud), SimMetrics)
    assert isinstance(
        metrics_provider("cloudwatch", cloud, endpoint_url="http://127.0.0.1:1"), CloudWatchMetrics
    )
    assert isinstance(metrics_provider("prometheus", cloud, prometheus_url=prom.url), PrometheusMetrics)
    with pytest.raises(InvalidRequest, match="prometheus_url"):
        metrics_provider("prometheus", cloud)
    with pytest.raises(InvalidRequest, match="allowed: sim, cloudwatch, prometheus"):
        metrics_provider("datadog", cloud)

"""The local server's Cloud Monitoring, asked by the real google-cloud-monitoring client (gRPC) and over
REST: the filter, the interval, aggregation, views and paging behave as the API's do."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api import metric_pb2
from google.api_core import exceptions as gexc
from google.cloud import monitoring_v3

from activities import cloud_monitoring as cm
from tests.helpers.gcp import PROJECT
from tests.helpers.gcp_monitoring import lb_traffic, recent
from tests.helpers.gcp_server import ComputeTestServer

REGIONS = ("europe-west1", "us-central1")


@pytest.fixture
def written(gcp_server: ComputeTestServer) -> Iterator[ComputeTestServer]:
    """Three periods of stable traffic in two regions, and nothing modelled."""
    gcp_server.reset()
    gcp_server.state.monitoring.generate = False
    for region in REGIONS:
        for seconds_ago in (30, 90, 150):
            lb_traffic(gcp_server, region, "stable", recent(seconds_ago), ok=100, errors=seconds_ago // 30)
    yield gcp_server
    gcp_server.reset()


def request(flt: str, **aggregation: Any) -> monitoring_v3.ListTimeSeriesRequest:
    end = datetime.now(UTC)
    return monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{PROJECT}",
        filter=flt,
        interval=monitoring_v3.TimeInterval(start_time=end - timedelta(minutes=5), end_time=end),
        aggregation=monitoring_v3.Aggregation(**aggregation) if aggregation else None,
        view=aggregation.pop("view", monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL),
    )


def in_region(region: str) -> str:
    return f'metric.type = "{cm.REQUEST_COUNT}" AND resource.labels.backend_scope = "{region}"'


def test_raw_points_honour_the_filter_and_come_newest_first(written: ComputeTestServer) -> None:
    found = list(
        cm.client(written.monitoring_endpoint).list_time_series(request=request(in_region(REGIONS[0])))
    )
    assert {
        (ts.resource.labels["backend_scope"], ts.metric.labels["response_code_class"]) for ts in found
    } == {
        ("europe-west1", "200"),
        ("europe-west1", "500"),
    }
    ends = [p.interval.end_time for p in found[0].points]
    assert len(ends) == 3 and ends == sorted(ends, reverse=True)
    assert found[0].metric_kind == metric_pb2.MetricDescriptor.DELTA


def test_aggregation_sums_across_series_per_group_by_field(written: ComputeTestServer) -> None:
    req = request(
        f'metric.type = "{cm.REQUEST_COUNT}"'
        ' AND resource.labels.backend_scope = one_of("europe-west1", "us-central1")',
        alignment_period=timedelta(seconds=60),
        per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_SUM,
        cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_SUM,
        group_by_fields=["metric.label.response_code_class"],
    )
    found = list(cm.client(written.monitoring_endpoint).list_time_series(request=req))
    by_class = {
        ts.metric.labels["response_code_class"]: [p.value.int64_value for p in ts.points] for ts in found
    }
    assert by_class == {"200": [200, 200, 200], "500": [2, 6, 10]}  # both regions, newest period first
    assert all(dict(ts.resource.labels) == {} for ts in found)  # only grouped labels are kept


def test_pages_split_between_whole_series(written: ComputeTestServer) -> None:
    req = request(f'metric.type = "{cm.REQUEST_COUNT}"')
    req.page_size = 3  # points per page in the FULL view: one series of 3 points per page
    pager = cm.client(written.monitoring_endpoint).list_time_series(request=req)
    pages = list(pager.pages)
    assert len(pages) == 4 and all(len(page.time_series) == 1 for page in pages)
    headers = request(f'metric.type = "{cm.REQUEST_COUNT}"')
    headers.view = monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.HEADERS
    found = list(cm.client(written.monitoring_endpoint).list_time_series(request=headers))
    assert len(found) == 4 and all(not ts.points for ts in found)


@pytest.mark.parametrize(
    ("flt", "aggregation", "message"),
    [
        (
            in_region("europe-west1"),
            {"alignment_period": timedelta(seconds=30), "per_series_aligner": 14},
            "60 seconds",
        ),
        ('resource.type = "https_lb_rule"', {}, "exactly one metric.type"),
        (f'metric.type = "{cm.REQUEST_COUNT}" OR resource.type = "x"', {}, "parse"),
    ],
    ids=["short-period", "no-metric", "unsupported"],
)
def test_what_the_api_refuses_is_refused(
    written: ComputeTestServer, flt: str, aggregation: dict[str, Any], message: str
) -> None:
    with pytest.raises(gexc.InvalidArgument, match=message):
        list(cm.client(written.monitoring_endpoint).list_time_series(request=request(flt, **aggregation)))


def test_the_rest_face_answers_the_same_json(written: ComputeTestServer) -> None:
    end = datetime.now(UTC)
    query = urllib.parse.urlencode(
        [
            ("filter", in_region("us-central1")),
            ("interval.startTime", (end - timedelta(minutes=5)).isoformat()),
            ("interval.endTime", end.isoformat()),
            ("aggregation.alignmentPeriod", "60s"),
            ("aggregation.perSeriesAligner", "ALIGN_SUM"),
            ("aggregation.crossSeriesReducer", "REDUCE_SUM"),
            ("aggregation.groupByFields", "metric.label.response_code_class"),
            ("aggregation.groupByFields", "resource.label.backend_scope"),
        ]
    )
    with urllib.request.urlopen(f"{written.url}/v3/projects/{PROJECT}/timeSeries?{query}") as resp:  # noqa: S310
        body = json.loads(resp.read())
    series = {ts["metric"]["labels"]["response_code_class"]: ts for ts in body["timeSeries"]}
    assert series["500"]["resource"]["labels"] == {"backend_scope": "us-central1"}
    assert [p["value"]["int64Value"] for p in series["500"]["points"]] == ["1", "3", "5"]
    assert series["500"]["points"][0]["interval"]["endTime"].endswith("Z")
    short = query.replace("60s", "30s")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{written.url}/v3/projects/{PROJECT}/timeSeries?{short}")  # noqa: S310
    assert refused.value.code == 400

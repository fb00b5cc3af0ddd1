"""Cloud Monitoring's MetricService.ListTimeSeries over gRPC, for the real google-cloud-monitoring client.

The Python client has gRPC transports only (no REST), so the test server answers it on a plaintext
gRPC port of its own, from the same in-memory state and the same code as the REST path
(`GET /v3/projects/{project}/timeSeries`): the request becomes `ListParams`, the REST JSON answer
becomes the response message. Injected faults apply here too: 429 is RESOURCE_EXHAUSTED, 5xx
UNAVAILABLE, as the API's gRPC face says them.
"""

from __future__ import annotations

import json
from concurrent import futures
from typing import Any

import grpc
from google.cloud.monitoring_v3.types import metric_service

from tests.helpers.gcp_server.monitoring import ListParams
from tests.helpers.gcp_server.ops import ApiError

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def params(request: Any) -> ListParams:
    agg = request.aggregation
    period = agg.alignment_period
    return ListParams(
        project=request.name.removeprefix("projects/"),
        filter=request.filter,
        start=request.interval.start_time,
        end=request.interval.end_time,
        period_s=period.total_seconds() if period else None,
        aligner=agg.per_series_aligner.name,
        reducer=agg.cross_series_reducer.name,
        group_by=list(agg.group_by_fields),
        view=request.view.name,
        page_size=request.page_size,
        page_token=request.page_token,
    )


def serve(list_time_series: Any, host: str = "127.0.0.1") -> tuple[grpc.Server, int]:
    """Start a gRPC server whose ListTimeSeries calls `list_time_series(ListParams) -> REST JSON`."""

    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        if request.interval.end_time is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "interval.end_time is required")
        try:
            body = list_time_series(params(request))
        except ApiError as err:
            code = _CODES.get(err.status, grpc.StatusCode.UNAVAILABLE)
            context.abort(code, err.message)
        return metric_service.ListTimeSeriesResponse.from_json(json.dumps(body))

    handler = grpc.method_handlers_generic_handler(
        "google.monitoring.v3.MetricService",
        {
            "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                handle,
                request_deserializer=metric_service.ListTimeSeriesRequest.deserialize,
                response_serializer=metric_service.ListTimeSeriesResponse.serialize,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="monitoring-grpc"))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"{host}:0")
    server.start()
    return server, port

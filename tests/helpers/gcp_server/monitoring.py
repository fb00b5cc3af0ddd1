"""Cloud Monitoring's `projects.timeSeries.list` over in-memory time series (no emulator exists).

Series come from two places: the ones tests write (`MonitoringState.write`, or POST
/_control/timeSeries with TimeSeries JSON), and the traffic model (`traffic.py`), which derives the
load balancer's and the instances' metrics from the Compute state unless a test turns it off or
silences a region. A query is answered as the API does, in its REST JSON:

* the filter: `metric.type` (exactly one), `resource.type`, `resource.label(s).K`,
  `metric.label(s).K` and `project`, each `= "v"`, `= 123`, `= one_of(...)` or
  `= starts_with("v")`, joined by AND; anything else is 400 INVALID_ARGUMENT;
* the interval (points with start < end time <= end), `view` FULL or HEADERS, paging
  (`pageSize` counts points in FULL, series in HEADERS; whole series per page);
* aggregation: `alignmentPeriod` >= 60 s (as the API demands), aligners ALIGN_NONE, ALIGN_SUM,
  ALIGN_DELTA, ALIGN_MEAN, ALIGN_MIN, ALIGN_MAX, ALIGN_NEXT_OLDER; reducers REDUCE_NONE,
  REDUCE_SUM (numbers and distributions with the same buckets), REDUCE_MEAN, REDUCE_MIN,
  REDUCE_MAX, REDUCE_COUNT, with `groupByFields`; the output keeps only the grouped labels;
* points newest first, as the API returns them.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.helpers.gcp_server.ops import ApiError

Json = dict[str, Any]
MIN_PERIOD_S = 60.0


@dataclass
class Dist:
    """A distribution value: bucket options as the API's JSON, and its bucket counts."""

    options: Json
    counts: list[int]
    mean: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def merged(self, other: Dist) -> Dist:
        if other.options != self.options:
            raise ApiError(400, "cannot sum distributions with different bucket options", "invalid")
        n = max(len(self.counts), len(other.counts))
        mine = self.counts + [0] * (n - len(self.counts))
        theirs = other.counts + [0] * (n - len(other.counts))
        counts = [a + b for a, b in zip(mine, theirs, strict=True)]
        total = self.count + other.count
        mean = (self.mean * self.count + other.mean * other.count) / total if total else 0.0
        return Dist(self.options, counts, mean)

    def to_json(self) -> Json:
        counts = list(self.counts)
        while counts and counts[-1] == 0:  # the API omits trailing empty buckets
            counts.pop()
        return {
            "count": str(self.count),
            "mean": self.mean,
            "bucketOptions": self.options,
            "bucketCounts": [str(c) for c in counts],
        }


Value = int | float | Dist


@dataclass
class Series:
    """One time series: its identity, kind and points (end time, value)."""

    metric_type: str
    resource_type: str
    resource_labels: dict[str, str]
    metric_labels: dict[str, str] = field(default_factory=dict)
    kind: str = "GAUGE"  # GAUGE | DELTA
    value_type: str = "DOUBLE"  # INT64 | DOUBLE | DISTRIBUTION
    points: list[tuple[datetime, Value]] = field(default_factory=list)

    def key(self) -> tuple[Any, ...]:
        return (
            self.metric_type,
            self.resource_type,
            tuple(sorted(self.resource_labels.items())),
            tuple(sorted(self.metric_labels.items())),
        )

    def label(self, name: str) -> str | None:
        """A filter or group-by field's value: metric.type, resource.type, *.label(s).K, project."""
        if name == "metric.type":
            return self.metric_type
        if name == "resource.type":
            return self.resource_type
        if name == "project":
            return self.resource_labels.get("project_id")
        scope, _, key = name.partition(".label.") if ".label." in name else name.partition(".labels.")
        if scope == "metric":
            return self.metric_labels.get(key)
        if scope == "resource":
            return self.resource_labels.get(key)
        raise ApiError(400, f"unsupported field {name!r} in the filter or groupByFields", "invalid")


class MonitoringState:
    """Written series, the traffic model's switches, and a request counter."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.written: dict[tuple[Any, ...], Series] = {}
        self.generate = True  # the traffic model (traffic.py) adds series derived from Compute
        self.silent: set[str] = set()  # regions whose model metrics never arrive
        self.cpu = 0.35  # the model's CPU utilisation of a running instance
        self.requests = 0

    def reset(self) -> None:
        with self.lock:
            self.written.clear()
            self.generate, self.cpu, self.requests = True, 0.35, 0
            self.silent.clear()

    def write(self, series: Series) -> None:
        """Add points to a series (created on first write), as `timeSeries.create` would."""
        with self.lock:
            found = self.written.setdefault(series.key(), series)
            if found is not series:
                found.points.extend(series.points)


# --- the filter ------------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"\s*(?P<field>[a-z_]+(?:\.[a-z_]+)*(?:\.[A-Za-z0-9_\-/]+)?)\s*=\s*"
    r'(?P<value>"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|one_of\((?P<list>[^)]*)\)|starts_with\("(?P<prefix>(?:[^"\\]|\\.)*)"\))\s*'
)
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


Clause = tuple[str, Callable[[str | None], bool]]


def parse_filter(text: str) -> tuple[str, list[Clause]]:
    """(metric type, clauses) of a filter; 400 for anything outside the supported subset."""
    clauses: list[Clause] = []
    metric: list[str] = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        m = _CLAUSE.fullmatch(part)
        if m is None:
            raise ApiError(400, f"Could not parse filter clause {part!r}", "invalid")
        name, value = m["field"], m["value"]
        if m["list"] is not None:
            wanted = {_unquote(v) for v in _STRING.findall(m["list"])}
            clauses.append((name, lambda v, w=wanted: v in w))  # type: ignore[misc]
        elif m["prefix"] is not None:
            prefix = _unquote(m["prefix"])
            clauses.append((name, lambda v, p=prefix: v is not None and v.startswith(p)))  # type: ignore[misc]
        else:
            literal = _unquote(value[1:-1]) if value.startswith('"') else value
            clauses.append((name, lambda v, lit=literal: v == lit))  # type: ignore[misc]
            if name == "metric.type":
                metric.append(literal)
    if len(metric) != 1:
        raise ApiError(400, "The filter must name exactly one metric.type", "invalid")
    return metric[0], clauses


# --- a request -------------------------------------------------------------------------------------


@dataclass
class ListParams:
    """The parameters of one list call, from REST query parameters or a gRPC request."""

    project: str
    filter: str
    start: datetime | None
    end: datetime
    period_s: float | None = None
    aligner: str = "ALIGN_NONE"
    reducer: str = "REDUCE_NONE"
    group_by: list[str] = field(default_factory=list)
    view: str = "FULL"
    page_size: int = 0
    page_token: str = ""


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def rest_params(project: str, q: dict[str, list[str]]) -> ListParams:
    """ListParams from `timeSeries.list` query parameters (repeated ones as lists)."""

    def one(name: str, default: str = "") -> str:
        return q.get(name, [default])[-1]

    if not one("filter") or not one("interval.endTime"):
        raise ApiError(400, "filter and interval.endTime are required", "required")
    period = one("aggregation.alignmentPeriod")
    return ListParams(
        project=project,
        filter=one("filter"),
        start=parse_time(one("interval.startTime")) if one("interval.startTime") else None,
        end=parse_time(one("interval.endTime")),
        period_s=float(period.removesuffix("s")) if period else None,
        aligner=one("aggregation.perSeriesAligner", "ALIGN_NONE"),
        reducer=one("aggregation.crossSeriesReducer", "REDUCE_NONE"),
        group_by=q.get("aggregation.groupByFields", []),
        view=one("view", "FULL"),
        page_size=int(one("pageSize", "0")),
        page_token=one("pageToken"),
    )


# --- alignment and reduction -------------------------------------------------------------------------


def _total(values: list[Value]) -> Value:
    if isinstance(values[0], Dist):
        out = values[0]
        for v in values[1:]:
            out = out.merged(v)  # type: ignore[arg-type]
        return out
    return sum(values)  # type: ignore[arg-type]


def _numbers(values: list[Value], op: str) -> list[float]:
    if any(isinstance(v, Dist) for v in values):
        raise ApiError(400, f"{op} does not apply to distribution values", "invalid")
    return [float(v) for v in values]  # type: ignore[arg-type]


_ALIGNERS: dict[str, Callable[[list[Value]], Value]] = {
    "ALIGN_SUM": _total,
    "ALIGN_DELTA": _total,
    "ALIGN_MEAN": lambda vs: math.fsum(_numbers(vs, "ALIGN_MEAN")) / len(vs),
    "ALIGN_MIN": lambda vs: min(_numbers(vs, "ALIGN_MIN")),
    "ALIGN_MAX": lambda vs: max(_numbers(vs, "ALIGN_MAX")),
    "ALIGN_NEXT_OLDER": lambda vs: vs[-1],
}
_REDUCERS: dict[str, Callable[[list[Value]], Value]] = {
    "REDUCE_SUM": _total,
    "REDUCE_MEAN": lambda vs: math.fsum(_numbers(vs, "REDUCE_MEAN")) / len(vs),
    "REDUCE_MIN": lambda vs: min(_numbers(vs, "REDUCE_MIN")),
    "REDUCE_MAX": lambda vs: max(_numbers(vs, "REDUCE_MAX")),
    "REDUCE_COUNT": len,
}


def _value_type(value: Value, before: str) -> str:
    if isinstance(value, Dist):
        return "DISTRIBUTION"
    return "DOUBLE" if isinstance(value, float) and before != "INT64" else before


def align(series: Series, end: datetime, start: datetime, period: timedelta, aligner: str) -> Series:
    """One point per period ending at end, end - period, ...; periods without points are left out."""
    if aligner == "ALIGN_DELTA" and series.kind == "GAUGE":
        raise ApiError(400, "ALIGN_DELTA applies to DELTA and CUMULATIVE metrics only", "invalid")
    buckets: dict[int, list[Value]] = {}
    for at, value in sorted(series.points, key=lambda p: p[0]):
        k = math.floor((end - at) / period) if at < end else 0
        if start < at <= end:
            buckets.setdefault(k, []).append(value)
    fn = _ALIGNERS[aligner]
    points = [(end - k * period, fn(values)) for k, values in buckets.items()]
    out = Series(series.metric_type, series.resource_type, series.resource_labels, series.metric_labels)
    out.kind, out.points = series.kind, points
    out.value_type = _value_type(points[0][1], series.value_type) if points else series.value_type
    if aligner == "ALIGN_MEAN":
        out.value_type = "DOUBLE"
    return out


def reduce(aligned: list[Series], reducer: str, group_by: Iterable[str]) -> list[Series]:
    """Series grouped by the fields, their points combined per end time."""
    fields = list(group_by)
    groups: dict[tuple[str | None, ...], list[Series]] = {}
    for s in aligned:
        groups.setdefault(tuple(s.label(f) for f in fields), []).append(s)
    out: list[Series] = []
    for values, members in groups.items():
        first = members[0]
        labels: dict[str, dict[str, str]] = {"metric": {}, "resource": {}}
        for name, value in zip(fields, values, strict=True):
            scope, _, key = name.partition(".label.") if ".label." in name else name.partition(".labels.")
            if key and value is not None:
                labels[scope][key] = value
        by_time: dict[datetime, list[Value]] = {}
        for s in members:
            for at, v in s.points:
                by_time.setdefault(at, []).append(v)
        points = [(at, _REDUCERS[reducer](vs)) for at, vs in by_time.items()]
        series = Series(first.metric_type, first.resource_type, labels["resource"], labels["metric"])
        series.kind, series.points = first.kind, points
        series.value_type = "INT64" if reducer == "REDUCE_COUNT" else first.value_type
        if reducer == "REDUCE_MEAN":
            series.value_type = "DOUBLE"
        out.append(series)
    return out


# --- the answer ------------------------------------------------------------------------------------


def _point_json(series: Series, at: datetime, value: Value, period: timedelta | None) -> Json:
    start = at - period if (period and series.kind == "DELTA") else at
    if isinstance(value, Dist):
        typed: Json = {"distributionValue": value.to_json()}
    elif series.value_type == "INT64":
        typed = {"int64Value": str(round(value))}
    else:
        typed = {"doubleValue": float(value)}
    return {"interval": {"startTime": rfc3339(start), "endTime": rfc3339(at)}, "value": typed}


def answer(params: ListParams, candidates: list[Series]) -> Json:
    """The response body of one list call over `candidates` (written and modelled series)."""
    metric, clauses = parse_filter(params.filter)
    start = params.start or params.end - timedelta(minutes=1)
    if start >= params.end:
        raise ApiError(400, "The interval's end time must be later than its start time", "invalid")
    chosen = [
        s
        for s in candidates
        if s.metric_type == metric
        and s.resource_labels.get("project_id", params.project) == params.project
        and all(test(s.label(name)) for name, test in clauses)
    ]
    period: timedelta | None = None
    if params.aligner == "ALIGN_NONE":
        if params.reducer != "REDUCE_NONE":
            raise ApiError(400, "A crossSeriesReducer needs a perSeriesAligner (not ALIGN_NONE)", "invalid")
        shown = [_in_window(s, start, params.end) for s in chosen]
    else:
        if params.aligner not in _ALIGNERS or params.reducer not in {"REDUCE_NONE", *_REDUCERS}:
            raise ApiError(400, f"unsupported aggregation {params.aligner}/{params.reducer}", "invalid")
        if params.period_s is None or params.period_s < MIN_PERIOD_S:
            raise ApiError(400, "The alignment period must be at least 60 seconds", "invalid")
        period = timedelta(seconds=params.period_s)
        shown = [align(s, params.end, start, period, params.aligner) for s in chosen]
        if params.reducer != "REDUCE_NONE":
            shown = reduce(shown, params.reducer, params.group_by)
    shown = sorted((s for s in shown if s.points), key=Series.key)
    return _page(params, shown, period)


def _in_window(series: Series, start: datetime, end: datetime) -> Series:
    out = Series(series.metric_type, series.resource_type, series.resource_labels, series.metric_labels)
    out.kind, out.value_type = series.kind, series.value_type
    out.points = [(at, v) for at, v in series.points if start < at <= end]
    return out


def _page(params: ListParams, shown: list[Series], period: timedelta | None) -> Json:
    offset = int(params.page_token or 0)
    headers = params.view == "HEADERS"
    body: list[Json] = []
    used = 0
    index = offset
    while index < len(shown):
        s = shown[index]
        size = 1 if headers else len(s.points)
        if body and params.page_size and used + size > params.page_size:
            break
        item: Json = {
            "metric": {"type": s.metric_type, "labels": dict(s.metric_labels)},
            "resource": {"type": s.resource_type, "labels": dict(s.resource_labels)},
            "metricKind": s.kind,
            "valueType": s.value_type,
        }
        if not headers:
            newest_first = sorted(s.points, key=lambda p: p[0], reverse=True)
            item["points"] = [_point_json(s, at, v, period) for at, v in newest_first]
        body.append(item)
        used += size
        index += 1
    out: Json = {"timeSeries": body}
    if index < len(shown):
        out["nextPageToken"] = str(index)
    return out


def series_from_json(item: Json) -> Series:
    """A written TimeSeries in the API's JSON (as `timeSeries.create` takes it)."""
    value_type = item.get("valueType", "DOUBLE")
    points: list[tuple[datetime, Value]] = []
    for p in item.get("points", []):
        value = p["value"]
        parsed: Value
        if "distributionValue" in value:
            d = value["distributionValue"]
            counts = [int(c) for c in d.get("bucketCounts", [])]
            parsed = Dist(d.get("bucketOptions", {}), counts, float(d.get("mean", 0)))
        elif "int64Value" in value:
            parsed = int(value["int64Value"])
        else:
            parsed = float(value["doubleValue"])
        points.append((parse_time(p["interval"]["endTime"]), parsed))
    return Series(
        metric_type=item["metric"]["type"],
        metric_labels=dict(item["metric"].get("labels", {})),
        resource_type=item["resource"]["type"],
        resource_labels=dict(item["resource"].get("labels", {})),
        kind=item.get("metricKind", "GAUGE"),
        value_type=value_type,
        points=points,
    )

"""p99 from a Cloud Monitoring distribution, at its edges, on `google.api.Distribution` messages as the
API sends them (exponential, explicit and linear buckets; trailing empty buckets omitted)."""

from __future__ import annotations

import pytest
from google.api import distribution_pb2

from activities.cloud_monitoring import bucket_bounds, equals, p99, quantile, quote

Dist = distribution_pb2.Distribution


def exponential(counts: list[int], n: int = 66, growth: float = 1.4, scale: float = 1.0) -> Dist:
    """The load balancer's latency buckets: [scale·g^(i-1), scale·g^i) for i = 1..n."""
    return Dist(
        count=sum(counts),
        bucket_options=Dist.BucketOptions(
            exponential_buckets=Dist.BucketOptions.Exponential(
                num_finite_buckets=n, growth_factor=growth, scale=scale
            )
        ),
        bucket_counts=counts,
    )


def explicit(bounds: list[float], counts: list[int]) -> Dist:
    return Dist(
        count=sum(counts),
        bucket_options=Dist.BucketOptions(explicit_buckets=Dist.BucketOptions.Explicit(bounds=bounds)),
        bucket_counts=counts,
    )


def test_an_empty_distribution_has_no_p99() -> None:
    assert p99(Dist()) is None
    assert p99(exponential([])) is None
    assert p99(exponential([0, 0, 0])) is None
    assert p99(None) is None


def test_counts_without_buckets_have_no_p99() -> None:
    assert p99(Dist(count=10, bucket_counts=[10])) is None  # one bucket, no boundaries: unknown


def test_bucket_bounds_as_the_api_defines_them() -> None:
    exp = exponential([1], n=3, growth=2, scale=10).bucket_options
    assert bucket_bounds(exp) == [10, 20, 40, 80]
    lin = Dist.BucketOptions(
        linear_buckets=Dist.BucketOptions.Linear(num_finite_buckets=2, width=5, offset=1)
    )
    assert bucket_bounds(lin) == [1, 6, 11]
    assert bucket_bounds(explicit([1, 2.5], [1]).bucket_options) == [1, 2.5]
    assert bucket_bounds(Dist.BucketOptions()) == []


def test_p99_interpolates_inside_its_exponential_bucket() -> None:
    # 100 samples: 90 in [1.4^9, 1.4^10), 10 in [1.4^10, 1.4^11): rank 99 is 9/10 into the second.
    counts = [0] * 10 + [90, 10]
    lower, upper = 1.4**10, 1.4**11
    assert p99(exponential(counts)) == pytest.approx(lower + (upper - lower) * 0.9)


def test_trailing_empty_buckets_may_be_omitted() -> None:
    short = explicit([10, 20, 30, 40], [0, 50, 50])
    padded = explicit([10, 20, 30, 40], [0, 50, 50, 0, 0])
    assert p99(short) == p99(padded) == pytest.approx(20 + 10 * 0.98)


def test_p99_in_the_underflow_bucket_starts_at_zero() -> None:
    assert p99(explicit([10, 20], [100])) == pytest.approx(9.9)
    assert quantile([-5.0, 5.0], [10], 0.5) == -5.0  # a negative first bound: no interpolation to -inf


def test_p99_in_the_overflow_bucket_is_the_last_bound_or_the_range_max() -> None:
    over = explicit([10, 20], [0, 90, 10])
    assert p99(over) == 20  # the truth is at least that
    over.range.min, over.range.max = 12.0, 350.0
    assert p99(over) == 350.0


def test_the_range_bounds_the_answer() -> None:
    dist = explicit([10, 100], [0, 100])
    dist.range.min, dist.range.max = 11.0, 40.0
    assert p99(dist) == 40.0  # interpolation would say 99.1: the largest sample was 40


def test_exactly_at_a_bucket_edge() -> None:
    # rank 99 of 100 is the last sample of the first finite bucket: its upper bound.
    assert quantile([0.0, 10.0, 20.0], [0, 99, 1]) == pytest.approx(10.0)
    assert quantile([0.0, 10.0, 20.0], [0, 100]) == pytest.approx(9.9)
    assert quantile([0.0, 10.0], [0, 4], 1.0) == pytest.approx(10.0)


def test_malformed_histograms_are_unknown() -> None:
    assert quantile([1.0, 2.0], [1, 1, 1, 1]) is None  # more counts than buckets
    assert quantile([1.0, 2.0], [1, -1, 3]) is None
    assert quantile([], [3]) is None


@pytest.mark.parametrize("q", [0.0, -0.1, 1.01])
def test_q_outside_zero_one_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="within"):
        quantile([1.0], [1], q)


def test_filter_literals_are_quoted_and_one_of_lists_several() -> None:
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert equals("resource.labels.backend_name", ["x"]) == 'resource.labels.backend_name = "x"'
    assert (
        equals("metric.labels.instance_name", ["a", "b"]) == 'metric.labels.instance_name = one_of("a", "b")'
    )

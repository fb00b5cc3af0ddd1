"""Provider errors leave activities classified: Temporal retries exactly the transient ones."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities.errors import classified, to_application_error
from contracts import errors as contract_errors
from contracts.errors import (
    AccessDenied,
    CloudError,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    RegionUnavailable,
    Throttled,
    Unavailable,
)
from workflows import retries

CASES: list[tuple[type[CloudError], str, bool]] = [
    (Throttled, "Throttled", False),
    (Unavailable, "Unavailable", False),
    (InvalidRequest, "InvalidRequest", True),
    (NotFound, "NotFound", True),
    (AccessDenied, "AccessDenied", True),
    (QuotaExceeded, "QuotaExceeded", True),
    (RegionUnavailable, "RegionUnavailable", True),
    (CloudError, "CloudError", True),
]


def _all_cloud_errors() -> list[type[CloudError]]:
    """CloudError and every subclass defined in the cloud port module (recursively)."""
    found: list[type[CloudError]] = [CloudError]
    for cls in found:
        found.extend(sub for sub in cls.__subclasses__() if sub not in found)
    return [cls for cls in found if cls.__module__ == contract_errors.__name__]


@pytest.mark.parametrize(("cls", "kind", "non_retryable"), CASES)
def test_classified_maps_cloud_errors(cls: type[CloudError], kind: str, non_retryable: bool) -> None:
    original = cls("sim: something went wrong")

    @classified
    def activity_body() -> None:
        raise original

    with pytest.raises(ApplicationError) as info:
        activity_body()
    err = info.value
    assert err.type == kind
    assert err.non_retryable is non_retryable
    assert err.message == "sim: something went wrong"
    assert err.__cause__ is original


def test_cases_cover_every_cloud_error() -> None:
    assert {cls for cls, _, _ in CASES} == set(_all_cloud_errors())


def test_empty_message_falls_back_to_kind() -> None:
    err = to_application_error(QuotaExceeded())
    assert err.message == "QuotaExceeded"
    assert err.type == "QuotaExceeded"
    assert err.non_retryable is True


@pytest.mark.parametrize(
    "exc",
    [ValueError("bad value"), KeyError("k"), RuntimeError("boom"), ApplicationError("already", type="X")],
)
def test_other_exceptions_pass_through_unchanged(exc: Exception) -> None:
    @classified
    def activity_body() -> None:
        raise exc

    with pytest.raises(type(exc)) as info:
        activity_body()
    assert info.value is exc


def test_classified_keeps_result_arguments_and_name() -> None:
    @classified
    def add(a: int, b: int = 0) -> int:
        """Adds."""
        return a + b

    assert add(2, b=3) == 5
    assert add.__name__ == "add"
    assert add.__doc__ == "Adds."


def test_every_non_retryable_kind_is_listed_and_no_retryable_one() -> None:
    for cls in _all_cloud_errors():
        if cls.retryable:
            assert cls.kind not in contract_errors.NON_RETRYABLE_TYPES, cls
        else:
            assert cls.kind in contract_errors.NON_RETRYABLE_TYPES, cls


def test_retry_policies_carry_the_non_retryable_types() -> None:
    for policy in (retries.CLOUD_RETRY, retries.UNDO_RETRY):
        assert policy.non_retryable_error_types is not None
        assert set(policy.non_retryable_error_types) == set(contract_errors.NON_RETRYABLE_TYPES)
        assert "Throttled" not in policy.non_retryable_error_types
        assert "Unavailable" not in policy.non_retryable_error_types
    assert retries.CLOUD_RETRY.maximum_attempts == 10

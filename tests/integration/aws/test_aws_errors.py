"""botocore errors map once to retryable (Throttled, Unavailable) or non-retryable CloudErrors."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from activities.botocore_errors import (
    classify,
    classify_botocore,
    translated,
)
from contracts.errors import (
    AccessDenied,
    CloudError,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    Throttled,
    Unavailable,
)


def client_error(code: str, status: int, message: str = "AWS says no") -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "DescribeInstances")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("Throttling", 400, Throttled),
        ("ThrottlingException", 400, Throttled),
        ("RequestLimitExceeded", 503, Throttled),
        ("", 429, Throttled),
        ("503", 503, Unavailable),
        ("InternalError", 500, Unavailable),
        ("InvalidParameterValue", 400, InvalidRequest),
        ("InvalidParameterCombination", 400, InvalidRequest),
        ("ValidationError", 400, InvalidRequest),
        ("UnauthorizedOperation", 403, AccessDenied),
        ("AccessDenied", 403, AccessDenied),
        ("AccessDeniedException", 400, AccessDenied),
        ("InvalidInstanceID.NotFound", 400, NotFound),
        ("InvalidSnapshot.NotFound", 400, NotFound),
        ("NoSuchHostedZone", 404, NotFound),
        ("LoadBalancerNotFound", 400, NotFound),
        ("InstanceLimitExceeded", 400, QuotaExceeded),
    ],
)
def test_codes_map_to_one_class_with_aws_message(code: str, status: int, kind: type[CloudError]) -> None:
    mapped = classify(client_error(code, status))
    assert type(mapped) is kind
    assert mapped.retryable == (kind in (Throttled, Unavailable))
    assert "AWS says no" in str(mapped) and "DescribeInstances" in str(mapped)


def test_transport_errors_and_the_context_manager() -> None:
    assert isinstance(classify_botocore(EndpointConnectionError(endpoint_url="http://x")), Unavailable)
    assert isinstance(classify_botocore(NoCredentialsError()), AccessDenied)
    with pytest.raises(NotFound), translated():
        raise client_error("InvalidVolume.NotFound", 400)

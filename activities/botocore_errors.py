"""The one place that turns botocore errors into the CloudError classes (retryable or not).

Throttling codes, HTTP 429 and 5xx are retryable (Throttled / Unavailable); validation, auth,
not-found and quota errors are not. Every class carries AWS's own code and message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from contracts.errors import (
    AccessDenied,
    CloudError,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    Throttled,
    Unavailable,
)

P = ParamSpec("P")
R = TypeVar("R")

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "PriorRequestNotComplete",  # Route 53: a change is still being applied
        "SlowDown",
    }
)
UNAVAILABLE_CODES = frozenset(
    {"InternalError", "InternalFailure", "InternalServiceError", "ServiceUnavailable", "Unavailable"}
)
ACCESS_CODES = frozenset(
    {
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "OptInRequired",
    }
)
QUOTA_CODES = frozenset(
    {
        "LimitExceeded",
        "LimitExceededException",
        "InstanceLimitExceeded",
        "InsufficientInstanceCapacity",
        "VolumeLimitExceeded",
        "SnapshotLimitExceeded",
        "ResourceLimitExceeded",
        "TooManyTargetGroups",
        "TooManyTargets",
    }
)
NOT_FOUND_CODES = frozenset({"NoSuchHostedZone", "NoSuchChange", "ResourceNotFoundException"})


def classify(exc: ClientError) -> CloudError:
    """The CloudError for a ClientError, from its error code first and its HTTP status second."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "") or str(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    operation = getattr(exc, "operation_name", "") or "call"
    text = f"AWS {operation}: {code or status}: {message}"
    if code in THROTTLING_CODES or status == 429:
        return Throttled(text)
    if code in UNAVAILABLE_CODES or status >= 500:
        return Unavailable(text)
    if code.startswith("AccessDenied") or code in ACCESS_CODES or status in (401, 403):
        return AccessDenied(text)
    if code in NOT_FOUND_CODES or code.endswith(("NotFound", "NotFoundException")):
        return NotFound(text)
    if code in QUOTA_CODES:
        return QuotaExceeded(text)
    return InvalidRequest(text)  # InvalidParameter*, ValidationError, MissingParameter, other 4xx


def classify_botocore(exc: BotoCoreError) -> CloudError:
    """The CloudError for an error botocore raised without a service response."""
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return Unavailable(f"AWS unreachable: {exc}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AccessDenied(f"AWS credentials: {exc}")
    if isinstance(exc, ParamValidationError | NoRegionError):
        return InvalidRequest(f"AWS request: {exc}")
    return CloudError(f"AWS: {exc}")


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise botocore errors raised inside the block as classified CloudErrors."""
    try:
        yield
    except ClientError as exc:
        raise classify(exc) from exc
    except BotoCoreError as exc:
        raise classify_botocore(exc) from exc


def mapped(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate an adapter method so no botocore error leaves it unclassified."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translated():
            return fn(*args, **kwargs)

    return wrapper


def error_code(exc: ClientError) -> str:
    """AWS's error code of a ClientError ('' if none)."""
    return str(exc.response.get("Error", {}).get("Code") or "")

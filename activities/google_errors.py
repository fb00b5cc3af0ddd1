"""The one place that turns google-api-core / Compute operation errors into CloudErrors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.auth import exceptions as auth_exc
from requests import exceptions as http_exc

from contracts.errors import (
    AccessDenied,
    CloudError,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    Throttled,
    Unavailable,
)

T = TypeVar("T")

_QUOTA_REASONS = ("quotaExceeded", "QUOTA_EXCEEDED", "ZONE_RESOURCE_POOL_EXHAUSTED")


class AlreadyExists(InvalidRequest):
    """HTTP 409: a resource of that name exists (callers that look before acting catch it)."""


def _message(exc: BaseException, what: str) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return f"gcp: {what}: {text}"


def by_status(status: int, message: str, reason: str = "") -> CloudError:
    """The CloudError of an HTTP status (shared by synchronous errors and failed operations)."""
    if any(r in reason or r in message for r in _QUOTA_REASONS):
        return QuotaExceeded(message)
    if status == 429:
        return Throttled(message)
    if status == 412:  # a concurrent change moved the fingerprint: read again and retry
        return Unavailable(message)
    if status >= 500:
        return Unavailable(message)
    if status == 404:
        return NotFound(message)
    if status == 409:
        return AlreadyExists(message)
    if status in (401, 403):
        if "rateLimitExceeded" in reason:
            return Throttled(message)
        return AccessDenied(message)
    return InvalidRequest(message)


def classify(exc: BaseException, what: str) -> CloudError:
    """Map one exception from the client library, the HTTP stack or google-auth."""
    if isinstance(exc, CloudError):
        return exc
    message = _message(exc, what)
    if isinstance(exc, gexc.GoogleAPICallError):
        reasons = (
            " ".join(str(r) for r in getattr(exc, "reason", None) or ())
            + " "
            + " ".join(str(e.get("reason", "")) for e in (exc.errors or []) if isinstance(e, dict))
        )
        if exc.code is None:
            return Unavailable(message)
        return by_status(int(exc.code), message, reasons)
    if isinstance(exc, gexc.RetryError | gexc.DeadlineExceeded | http_exc.ConnectionError | http_exc.Timeout):
        return Unavailable(message)
    if isinstance(exc, auth_exc.DefaultCredentialsError | auth_exc.RefreshError):
        return AccessDenied(message)
    return CloudError(message)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run a block of Compute calls; anything they raise leaves as a classified CloudError."""
    try:
        yield
    except CloudError:
        raise
    except Exception as exc:
        raise classify(exc, what) from exc


def _transient(exc: BaseException) -> bool:
    """Worth another HTTP attempt: throttling, 5xx and connection failures (never 4xx)."""
    if isinstance(exc, gexc.TooManyRequests | gexc.ServerError):
        return True
    return isinstance(exc, http_exc.ConnectionError | http_exc.Timeout)


def call_retry(budget_s: float) -> gretry.Retry | None:
    """google-api-core's retry of ONE HTTP call within `budget_s` (requestId makes writes safe).

    This absorbs short throttling bursts inside an attempt; past the budget the error is
    classified and Temporal's retry policy takes over (DESIGN rule 3).
    """
    if budget_s <= 0:
        return None
    return gretry.Retry(predicate=_transient, initial=0.05, maximum=2.0, multiplier=2.0, timeout=budget_s)


def guarded(what: str, fn: Callable[[], T]) -> T:
    """`fn()` with its errors classified."""
    with translated(what):
        return fn()

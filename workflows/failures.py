"""Reading activity and child-workflow errors: the innermost message for humans, its type for decisions."""

from __future__ import annotations

import asyncio

from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

#: Error types that say a region is down rather than that the request or the release is wrong.
UNREACHABLE_TYPES = frozenset({"RegionUnavailable", "Unavailable", "Throttled", "TimeoutError"})


def innermost(err: BaseException) -> BaseException:
    """The error at the bottom of activity and child-workflow wrappers."""
    while isinstance(err, ActivityError | ChildWorkflowError) and err.cause is not None:
        err = err.cause
    return err


def cause_type(err: BaseException) -> str:
    """The ApplicationError type (or the error class) at the bottom of an activity error."""
    inner = innermost(err)
    if isinstance(inner, ApplicationError):
        return inner.type or "ApplicationError"
    return type(inner).__name__


def cause(err: BaseException) -> str:
    """The innermost message of an activity or child-workflow error, for humans."""
    inner = innermost(err)
    if isinstance(inner, asyncio.CancelledError):
        return "cancelled"
    return str(inner) or type(inner).__name__

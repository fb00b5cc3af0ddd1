"""The one place that turns provider errors into retryable or non-retryable Temporal errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from contracts.errors import CloudError

P = ParamSpec("P")
R = TypeVar("R")


def to_application_error(exc: CloudError) -> ApplicationError:
    """Map a provider error to an ApplicationError whose type names the class of failure."""
    return ApplicationError(str(exc) or exc.kind, type=exc.kind, non_retryable=not exc.retryable)


def classified(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate an activity so every CloudError leaves it classified (Temporal then retries or not)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CloudError as exc:
            raise to_application_error(exc) from exc

    return wrapper

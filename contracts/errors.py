"""Provider errors as one hierarchy, and the one list of error types a retry cannot fix.

Adapters raise these; `activities.errors.classified` turns them into ApplicationErrors whose type
is `kind`, and `workflows.retries` hands NON_RETRYABLE_TYPES to every retry policy.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base of every provider error; subclasses say whether a retry can help."""

    retryable: bool = False
    kind: str = "CloudError"


class Throttled(CloudError):
    """The provider asked us to slow down (HTTP 429, RequestLimitExceeded)."""

    retryable = True
    kind = "Throttled"


class Unavailable(CloudError):
    """A transient provider failure (5xx, timeout, connection reset)."""

    retryable = True
    kind = "Unavailable"


class InvalidRequest(CloudError):
    """The request itself is wrong; retrying it cannot help."""

    kind = "InvalidRequest"


class NotFound(CloudError):
    """A resource the request names does not exist."""

    kind = "NotFound"


class AccessDenied(CloudError):
    """Credentials are missing or lack a permission."""

    kind = "AccessDenied"


class QuotaExceeded(CloudError):
    """A provider quota or capacity limit blocks the request."""

    kind = "QuotaExceeded"


class RegionUnavailable(CloudError):
    """The whole region is down (an outage): retries will not help within an activity."""

    kind = "RegionUnavailable"


#: Error types a retry cannot fix: every non-retryable CloudError kind (a test checks the two agree).
NON_RETRYABLE_TYPES: tuple[str, ...] = (
    "InvalidRequest",
    "NotFound",
    "AccessDenied",
    "QuotaExceeded",
    "RegionUnavailable",
    "CloudError",
)


#: The command that seeds the simulated cloud from a topology. The sim names it in the NotFound of a
#: service it never seeded in a region, and the CLI recognises it in a failed preflight to print one
#: line with the user's topology file filled in.
SIM_SEED_COMMAND = "globalops sim seed"

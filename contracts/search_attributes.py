"""Custom search attributes, so operations can be found in the Web UI by kind, service, release, region."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

OPERATION = SearchAttributeKey.for_keyword("GlobalopsOperation")
SERVICE = SearchAttributeKey.for_keyword("GlobalopsService")
RELEASE = SearchAttributeKey.for_keyword("GlobalopsRelease")
REGIONS = SearchAttributeKey.for_keyword_list("GlobalopsRegions")
STATUS = SearchAttributeKey.for_keyword("GlobalopsStatus")
#: Readiness evaluations: the regions that cannot fail over or be recovered today.
NOT_READY = SearchAttributeKey.for_keyword_list("GlobalopsNotReady")

#: name → type, as `temporal server start-dev --search-attribute NAME=TYPE` wants them.
REGISTRATION: dict[str, str] = {
    OPERATION.name: "Keyword",
    SERVICE.name: "Keyword",
    RELEASE.name: "Keyword",
    REGIONS.name: "KeywordList",
    STATUS.name: "Keyword",
    NOT_READY.name: "KeywordList",
}


def operation_attributes(
    operation: str, service: str, release: str, regions: list[str]
) -> TypedSearchAttributes:
    """The attributes an operation starts with (status `running`)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(OPERATION, operation),
            SearchAttributePair(SERVICE, service),
            SearchAttributePair(RELEASE, release),
            SearchAttributePair(REGIONS, regions),
            SearchAttributePair(STATUS, "running"),
        ]
    )

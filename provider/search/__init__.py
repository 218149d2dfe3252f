"""The protocol-neutral search service that Z39.50, SRU and the dashboard stand on."""

from provider.search.errors import CODES, Condition, SearchError
from provider.search.result_sets import NamedSets, ResultSet, SharedSets
from provider.search.service import SearchService, SortKey
from provider.search.threads import SEARCH_CLIENT

__all__ = [
    "CODES",
    "SEARCH_CLIENT",
    "Condition",
    "NamedSets",
    "ResultSet",
    "SearchError",
    "SearchService",
    "SharedSets",
    "SortKey",
]

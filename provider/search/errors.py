"""Errors of the search service as data: one type, one neutral condition, one table of codes.

The service and the protocol translators raise :class:`SearchError` with a :class:`Condition`
saying what went wrong in the service's own words; each front end renders it its own way from
:data:`CODES`, the one place where a condition meets its Bib-1 diagnostic (Z39.50) and its SRU
diagnostic (``info:srw/diagnostic/1/N``). The dashboard shows :attr:`SearchError.message`.

>>> error = SearchError(Condition.UNSUPPORTED_INDEX, "dc.format")
>>> error.bib1, error.sru_uri
(114, 'info:srw/diagnostic/1/16')
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Condition(StrEnum):
    """What went wrong, independent of the protocol that asked."""

    SYSTEM_ERROR = "system error"
    DATABASE_UNAVAILABLE = "system temporarily unavailable"
    UNSUPPORTED_OPERATION = "unsupported operation"
    UNSUPPORTED_VERSION = "unsupported version"
    UNSUPPORTED_PARAMETER_VALUE = "unsupported parameter value"
    MISSING_PARAMETER = "mandatory parameter not supplied"
    UNSUPPORTED_PARAMETER = "unsupported parameter"
    MALFORMED_QUERY = "query syntax error"
    PARENTHESES_UNSUPPORTED = "invalid or unsupported use of parentheses"
    QUERY_TOO_LONG = "too many characters in query"
    UNSUPPORTED_CONTEXT_SET = "unsupported context set"
    UNSUPPORTED_INDEX = "unsupported index"
    UNSUPPORTED_RELATION = "unsupported relation"
    UNSUPPORTED_RELATION_MODIFIER = "unsupported relation modifier"
    UNSUPPORTED_COMBINATION = "unsupported combination of relation, index and term"
    UNSUPPORTED_ATTRIBUTE_TYPE = "unsupported attribute type"
    UNSUPPORTED_STRUCTURE = "unsupported structure"
    UNSUPPORTED_COMPLETENESS = "unsupported completeness"
    TERM_TOO_LONG = "too many characters in term"
    TERM_INVALID_FORMAT = "term in invalid format for index or relation"
    EMPTY_TERM = "empty term unsupported"
    NON_SPECIAL_CHARACTER_ESCAPED = "non special character escaped in term"
    MASKING_UNSUPPORTED = "masking character not supported"
    MASKING_POSITION_UNSUPPORTED = "masking character in unsupported position"
    MASKED_TERM_TOO_SHORT = "masked words too short"
    ANCHORING_UNSUPPORTED = "anchoring character not supported"
    UNSUPPORTED_BOOLEAN = "unsupported boolean operator"
    UNSUPPORTED_BOOLEAN_MODIFIER = "unsupported boolean modifier"
    QUERY_TOO_COMPLEX = "too many boolean operators in query"
    PROXIMITY_UNSUPPORTED = "proximity not supported"
    QUERY_TOO_BROAD = "too many matching index entries"
    RESOURCES_EXHAUSTED = "resources exhausted: no results available"
    RESULT_SET_MISSING = "result set does not exist"
    START_OUT_OF_RANGE = "first record position out of range"
    RECORD_DELETED = "record does not exist"
    UNKNOWN_SCHEMA = "unknown schema for retrieval"
    RECORD_NOT_IN_SCHEMA = "record not available in this schema"
    UNSUPPORTED_PACKING = "unsupported record packing"
    XPATH_UNSUPPORTED = "XPath retrieval unsupported"
    UNSUPPORTED_SORT_KEY = "unsupported sort key"
    TOO_MANY_SORT_KEYS = "too many sort keys"
    UNSUPPORTED_SORT_DIRECTION = "unsupported sort direction"
    UNSUPPORTED_SORT_MODIFIER = "unsupported sort modifier"
    UNSUPPORTED_SORT_MISSING = "unsupported missing value action"
    MALFORMED_SCAN = "malformed scan request"
    SCAN_POSITION_OUT_OF_RANGE = "response position out of range"
    TOO_MANY_SCAN_TERMS = "too many terms requested"


class Codes(NamedTuple):
    bib1: int
    sru: int


CODES: dict[Condition, Codes] = {
    Condition.SYSTEM_ERROR: Codes(1, 1),
    Condition.DATABASE_UNAVAILABLE: Codes(2, 2),  # Bib-1: temporary system error
    Condition.UNSUPPORTED_OPERATION: Codes(100, 4),
    Condition.UNSUPPORTED_VERSION: Codes(100, 5),
    Condition.UNSUPPORTED_PARAMETER_VALUE: Codes(100, 6),
    Condition.MISSING_PARAMETER: Codes(100, 7),
    Condition.UNSUPPORTED_PARAMETER: Codes(100, 8),
    Condition.MALFORMED_QUERY: Codes(108, 10),
    Condition.PARENTHESES_UNSUPPORTED: Codes(108, 13),  # CQL's alone: nested past the bound
    Condition.QUERY_TOO_LONG: Codes(11, 12),
    Condition.UNSUPPORTED_CONTEXT_SET: Codes(121, 15),
    Condition.UNSUPPORTED_INDEX: Codes(114, 16),
    Condition.UNSUPPORTED_RELATION: Codes(117, 19),
    Condition.UNSUPPORTED_RELATION_MODIFIER: Codes(123, 20),
    Condition.UNSUPPORTED_COMBINATION: Codes(123, 22),
    # Bib-1 attribute conditions CQL cannot meet; their SRU numbers are yaz's mapping.
    Condition.UNSUPPORTED_ATTRIBUTE_TYPE: Codes(113, 10),
    Condition.UNSUPPORTED_STRUCTURE: Codes(118, 22),
    Condition.UNSUPPORTED_COMPLETENESS: Codes(122, 32),
    Condition.TERM_TOO_LONG: Codes(11, 23),
    Condition.TERM_INVALID_FORMAT: Codes(126, 36),  # Bib-1: illegal term value for attribute
    Condition.EMPTY_TERM: Codes(125, 27),
    Condition.NON_SPECIAL_CHARACTER_ESCAPED: Codes(108, 26),  # CQL's alone; yaz maps 108 to 26
    Condition.MASKING_UNSUPPORTED: Codes(120, 28),
    Condition.MASKING_POSITION_UNSUPPORTED: Codes(120, 49),  # CQL's alone: "x*yz", "*xyz"
    Condition.MASKED_TERM_TOO_SHORT: Codes(9, 29),
    Condition.ANCHORING_UNSUPPORTED: Codes(119, 31),
    Condition.UNSUPPORTED_BOOLEAN: Codes(110, 37),
    Condition.UNSUPPORTED_BOOLEAN_MODIFIER: Codes(110, 46),
    Condition.QUERY_TOO_COMPLEX: Codes(6, 38),
    Condition.PROXIMITY_UNSUPPORTED: Codes(201, 39),
    Condition.QUERY_TOO_BROAD: Codes(234, 60),
    # SRU has no "resources exhausted" for a set not made (yaz's 57 says one was made); such a
    # query is one that reads too much of the index, which 60 says.
    Condition.RESOURCES_EXHAUSTED: Codes(31, 60),
    Condition.RESULT_SET_MISSING: Codes(30, 51),
    Condition.START_OUT_OF_RANGE: Codes(13, 61),
    Condition.RECORD_DELETED: Codes(1028, 65),
    Condition.UNKNOWN_SCHEMA: Codes(25, 66),
    Condition.RECORD_NOT_IN_SCHEMA: Codes(238, 67),
    Condition.UNSUPPORTED_PACKING: Codes(239, 71),
    Condition.XPATH_UNSUPPORTED: Codes(100, 72),  # SRU 1.1's recordXPath parameter
    Condition.UNSUPPORTED_SORT_KEY: Codes(207, 88),  # SRU: unsupported path for sort
    Condition.TOO_MANY_SORT_KEYS: Codes(211, 84),
    Condition.UNSUPPORTED_SORT_DIRECTION: Codes(214, 90),
    Condition.UNSUPPORTED_SORT_MODIFIER: Codes(215, 91),  # SRU: unsupported case value
    Condition.UNSUPPORTED_SORT_MISSING: Codes(213, 92),
    Condition.MALFORMED_SCAN: Codes(228, 6),  # SRU: the parameter's value is unsupported
    Condition.SCAN_POSITION_OUT_OF_RANGE: Codes(233, 120),
    Condition.TOO_MANY_SCAN_TERMS: Codes(1029, 121),
}
"""Each condition's Bib-1 diagnostic and SRU diagnostic number (the SRU list is the one at
``info:srw/diagnostic/1``; both numbers are the registered meaning, not an approximation,
except where a protocol has none closer: e.g. SRU's parameter errors become Bib-1 100)."""


class SearchError(Exception):
    """A request the search service (or a translator into it) refuses: a condition and detail.

    ``detail`` is the diagnostic's addinfo/details: the offending value, a limit, or for a
    malformed query the position of the fault.
    """

    def __init__(self, condition: Condition, detail: str = "") -> None:
        super().__init__(f"{condition.value}: {detail}" if detail else condition.value)
        self.condition = condition
        self.detail = detail

    @property
    def message(self) -> str:
        """The condition in words, for people (the dashboard) and SRU's ``<message>``."""
        return self.condition.value

    @property
    def bib1(self) -> int:
        return CODES[self.condition].bib1

    @property
    def sru(self) -> int:
        return CODES[self.condition].sru

    @property
    def sru_uri(self) -> str:
        return f"info:srw/diagnostic/1/{self.sru}"

"""The Bib-1 attribute set (1.2.840.10003.3.1) and diagnostic set (1.2.840.10003.4.1).

Attribute values are IntEnums, so a query model can say ``Use.TITLE`` and still compare
equal to the integers on the wire. :data:`DIAGNOSTICS` gives each Bib-1 diagnostic Koprik may
meet or send its message (the tests check them against libyaz). The SRU diagnostic a refusal
maps to is not here: it belongs to the search service's one table (``provider.search.errors``).
"""

from __future__ import annotations

from enum import IntEnum


class AttributeType(IntEnum):
    """Bib-1 attribute types (the ``N`` of ``@attr N=V``)."""

    USE = 1
    RELATION = 2
    POSITION = 3
    STRUCTURE = 4
    TRUNCATION = 5
    COMPLETENESS = 6


class Use(IntEnum):
    """Bib-1 Use attributes (access points) Koprik knows."""

    PERSONAL_NAME = 1
    CORPORATE_NAME = 2
    CONFERENCE_NAME = 3
    TITLE = 4
    TITLE_SERIES = 5
    TITLE_UNIFORM = 6
    ISBN = 7
    ISSN = 8
    LC_CARD_NUMBER = 9
    LOCAL_NUMBER = 12
    DEWEY_CLASSIFICATION = 13
    LC_CALL_NUMBER = 16
    SUBJECT_HEADING = 21
    SUBJECT_LC = 27
    DATE = 30
    DATE_OF_PUBLICATION = 31
    TITLE_KEY = 33
    CODE_LANGUAGE = 54
    PLACE_OF_PUBLICATION = 59
    ABSTRACT = 62
    NOTE = 63
    AUTHOR = 1003
    AUTHOR_NAME_PERSONAL = 1004
    AUTHOR_NAME_CORPORATE = 1005
    AUTHOR_NAME_CONFERENCE = 1006
    IDENTIFIER_STANDARD = 1007
    DATE_TIME_LAST_MODIFIED = 1012
    ANY = 1016
    PUBLISHER = 1018
    EDITOR = 1020
    MATERIAL_TYPE = 1031
    DOC_ID = 1032
    ANYWHERE = 1035


class Relation(IntEnum):
    """Bib-1 Relation attributes (type 2)."""

    LESS_THAN = 1
    LESS_THAN_OR_EQUAL = 2
    EQUAL = 3
    GREATER_OR_EQUAL = 4
    GREATER_THAN = 5
    NOT_EQUAL = 6
    PHONETIC = 100
    STEM = 101
    RELEVANCE = 102
    ALWAYS_MATCHES = 103


class Position(IntEnum):
    """Bib-1 Position attributes (type 3)."""

    FIRST_IN_FIELD = 1
    FIRST_IN_SUBFIELD = 2
    ANY_POSITION_IN_FIELD = 3


class Structure(IntEnum):
    """Bib-1 Structure attributes (type 4)."""

    PHRASE = 1
    WORD = 2
    KEY = 3
    YEAR = 4
    DATE_NORMALIZED = 5
    WORD_LIST = 6
    DATE_UNNORMALIZED = 100
    NAME_NORMALIZED = 101
    NAME_UNNORMALIZED = 102
    STRUCTURE = 103
    URX = 104
    FREE_FORM_TEXT = 105
    DOCUMENT_TEXT = 106
    LOCAL_NUMBER = 107
    STRING = 108
    NUMERIC_STRING = 109


class Truncation(IntEnum):
    """Bib-1 Truncation attributes (type 5)."""

    RIGHT = 1
    LEFT = 2
    LEFT_AND_RIGHT = 3
    NONE = 100
    PROCESS_HASH = 101
    REGEXP_1 = 102
    REGEXP_2 = 103
    PROCESS_HASH_AND_QUESTION = 104


class Completeness(IntEnum):
    """Bib-1 Completeness attributes (type 6)."""

    INCOMPLETE_SUBFIELD = 1
    COMPLETE_SUBFIELD = 2
    COMPLETE_FIELD = 3


# Messages are those of the Bib-1 diagnostic set as registered by the Z39.50 Maintenance Agency.
DIAGNOSTICS: dict[int, str] = {
    1: "Permanent system error",
    2: "Temporary system error",
    3: "Unsupported search",
    4: "Terms only exclusion (stop) words",
    5: "Too many argument words",
    6: "Too many boolean operators",
    7: "Too many truncated words",
    8: "Too many incomplete subfields",
    9: "Truncated words too short",
    10: "Invalid format for record number (search term)",
    11: "Too many characters in search statement",
    12: "Too many records retrieved",
    13: "Present request out of range",
    14: "System error in presenting records",
    15: "Record not authorized to be sent intersystem",
    16: "Record exceeds Preferred-message-size",
    17: "Record exceeds Maximum-record-size",
    18: "Result set not supported as a search term",
    19: "Only single result set as search term supported",
    20: "Only ANDing of a single result set as search term supported",
    21: "Result set exists and replace indicator off",
    22: "Result set naming not supported",
    23: "Combination of specified databases not supported",
    24: "Element set names not supported",
    25: "Specified element set name not valid for specified database",
    26: "Only a single element set name supported",
    27: "Result set no longer exists - unilaterally deleted by target",
    28: "Result set is in use",
    29: "One of the specified databases is locked",
    30: "Specified result set does not exist",
    31: "Resources exhausted - no results available",
    32: "Resources exhausted - unpredictable partial results available",
    33: "Resources exhausted - valid subset of results available",
    100: "Unspecified error",
    101: "Access-control failure",
    102: "Security challenge required but could not be issued - request terminated",
    103: "Security challenge required but could not be issued - record not included",
    104: "Security challenge failed - record not included",
    105: "Terminated by negative continue response",
    106: "No abstract syntaxes agreed to for this record",
    107: "Query type not supported",
    108: "Malformed query",
    109: "Database unavailable",
    110: "Operator unsupported",
    111: "Too many databases specified",
    112: "Too many result sets created",
    113: "Unsupported attribute type",
    114: "Unsupported Use attribute",
    115: "Unsupported value for Use attribute",
    116: "Use attribute required but not supplied",
    117: "Unsupported Relation attribute",
    118: "Unsupported Structure attribute",
    119: "Unsupported Position attribute",
    120: "Unsupported Truncation attribute",
    121: "Unsupported Attribute Set",
    122: "Unsupported Completeness attribute",
    123: "Unsupported attribute combination",
    124: "Unsupported coded value for term",
    125: "Malformed search term",
    126: "Illegal term value for attribute",
    127: "Unparsable format for un-normalized value",
    128: "Illegal result set name",
    129: "Proximity search of sets not supported",
    130: "Illegal result set in proximity search",
    131: "Unsupported proximity relation",
    132: "Unsupported proximity unit code",
    201: "Proximity not supported with this attribute combination",
    202: "Unsupported distance for proximity",
    203: "Ordered flag not supported for proximity",
    205: "Only zero step size supported for Scan",
    206: "Specified step size not supported for Scan",
    207: "Cannot sort according to sequence",
    208: "No result set name supplied on Sort",
    209: "Generic sort not supported (database-specific sort only supported)",
    210: "Database specific sort not supported",
    211: "Too many sort keys",
    212: "Duplicate sort keys",
    213: "Unsupported missing data action",
    214: "Illegal sort relation",
    215: "Illegal case value",
    216: "Illegal missing data action",
    217: "Segmentation: Cannot guarantee records will fit in specified segments",
    218: "ES: Package name already in use",
    219: "ES: no such package, on modify/delete",
    220: "ES: quota exceeded",
    221: "ES: extended service type not supported",
    222: "ES: permission denied on ES - id not authorized",
    223: "ES: permission denied on ES - cannot modify or delete",
    224: "ES: immediate execution failed",
    225: "ES: immediate execution not supported for this service",
    226: "ES: immediate execution not supported for these parameters",
    227: "No data available in requested record syntax",
    228: "Scan: malformed scan",
    229: "Term type not supported",
    230: "Sort: too many input results",
    231: "Sort: incompatible record formats",
    232: "Scan: term list not supported",
    233: "Scan: unsupported value of position-in-response",
    234: "Too many index terms processed",
    235: "Database does not exist",
    236: "Access to specified database denied",
    237: "Sort: illegal sort",
    238: "Record not available in requested syntax",
    239: "Record syntax not supported",
    240: "Scan: Resources exhausted looking for satisfying terms",
    241: "Scan: Beginning or end of term list",
    242: "Segmentation: max-segment-size too small to segment record",
    243: "Present: additional-ranges parameter not supported",
    244: "Present: comp-spec parameter not supported",
    245: "Type-1 query: restriction ('resultAttr') operand not supported",
    246: "Type-1 query: 'complex' attributeValue not supported",
    247: "Type-1 query: 'attributeSet' as part of AttributeElement not supported",
    1001: "Malformed APDU",
    1005: "Response records in Search response not supported",
    1006: (
        "Response records in Search response not possible for "
        "specified database (or database combination)"
    ),
    1010: "Init/AC: Bad Userid",
    1011: "Init/AC: Bad Userid and/or Password",
    1012: "Init/AC: No searches remaining (pre-purchased searches exhausted)",
    1016: "Init/AC: Blocked network address",
    1017: "Init/AC: No databases available for specified userId",
    1018: "Init/AC: System temporarily out of resources",
    1019: "Init/AC: System not available due to maintenance",
    1020: "Init/AC: System temporarily unavailable (Addinfo: when it's expected back up)",
    1024: "Unsupported Attribute",
    1025: "Service not supported for this database",
    1028: "Record deleted",
    1029: "Scan: too many terms requested. Addinfo: max terms supported",
    1054: "Init: Required negotiation record not included",
    1055: "Init: negotiation option required",
    1056: "Attribute not supported for database",
    1069: "No syntaxes available for this request",
    1070: "user not authorized to receive record(s) in requested syntax",
    1071: "preferredRecordSyntax not supplied",
    1072: "Query term includes characters that do not translate into the target character set",
    1073: "Database records do not contain data associated with access point",
}

#: Diagnostics a target answers most often, by name, for readable code.
PERMANENT_SYSTEM_ERROR = 1
TEMPORARY_SYSTEM_ERROR = 2
UNSUPPORTED_SEARCH = 3
PRESENT_OUT_OF_RANGE = 13
RESULT_SET_DOES_NOT_EXIST = 30
UNSPECIFIED_ERROR = 100
QUERY_TYPE_NOT_SUPPORTED = 107
MALFORMED_QUERY = 108
DATABASE_UNAVAILABLE = 109
OPERATOR_UNSUPPORTED = 110
UNSUPPORTED_ATTRIBUTE_TYPE = 113
UNSUPPORTED_USE_ATTRIBUTE = 114
UNSUPPORTED_RELATION_ATTRIBUTE = 117
UNSUPPORTED_STRUCTURE_ATTRIBUTE = 118
UNSUPPORTED_POSITION_ATTRIBUTE = 119
UNSUPPORTED_TRUNCATION_ATTRIBUTE = 120
UNSUPPORTED_ATTRIBUTE_SET = 121
UNSUPPORTED_COMPLETENESS_ATTRIBUTE = 122
UNSUPPORTED_ATTRIBUTE_COMBINATION = 123
ILLEGAL_TERM_VALUE = 126
ILLEGAL_RESULT_SET_NAME = 128
RECORD_NOT_IN_SYNTAX = 238
RECORD_SYNTAX_NOT_SUPPORTED = 239
DATABASE_DOES_NOT_EXIST = 235
ADDITIONAL_RANGES_NOT_SUPPORTED = 243
MALFORMED_APDU = 1001
RESPONSE_RECORDS_IN_SEARCH_NOT_SUPPORTED = 1005


class Bib1Error(Exception):
    """A request refused with its Bib-1 diagnostic ``code`` and ``addinfo`` (what a target
    sends back in a DefaultDiagFormat)."""

    def __init__(self, code: int, addinfo: str = "") -> None:
        super().__init__(f"[{code}] {diagnostic_message(code)}: {addinfo}")
        self.code = code
        self.addinfo = addinfo


def diagnostic_message(code: int) -> str:
    """Return the message of Bib-1 diagnostic ``code`` (a generic one for unknown codes)."""
    return DIAGNOSTICS.get(code, f"Unknown Bib-1 diagnostic {code}")

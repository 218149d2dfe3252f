"""The Bib-1 attribute set (1.2.840.10003.3.1) and diagnostic set (1.2.840.10003.4.1).

Attribute values are IntEnums, so a query model can say ``Use.TITLE`` and still compare
equal to the integers on the wire. :data:`DIAGNOSTICS` gives each Bib-1 diagnostic Koprik may
meet or send its message and the SRU diagnostic (``info:srw/diagnostic/1/N``) it maps to; the
mapping is the one yaz uses (``yaz_diag_bib1_to_srw``), which the tests check against libyaz.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


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


class Diagnostic(NamedTuple):
    """A Bib-1 diagnostic's message and the SRU diagnostic number it maps to."""

    message: str
    sru: int


# Messages are those of the Bib-1 diagnostic set as registered by the Z39.50 Maintenance Agency.
DIAGNOSTICS: dict[int, Diagnostic] = {
    1: Diagnostic("Permanent system error", 1),
    2: Diagnostic("Temporary system error", 2),
    3: Diagnostic("Unsupported search", 48),
    4: Diagnostic("Terms only exclusion (stop) words", 35),
    5: Diagnostic("Too many argument words", 12),
    6: Diagnostic("Too many boolean operators", 38),
    7: Diagnostic("Too many truncated words", 30),
    8: Diagnostic("Too many incomplete subfields", 32),
    9: Diagnostic("Truncated words too short", 29),
    10: Diagnostic("Invalid format for record number (search term)", 10),
    11: Diagnostic("Too many characters in search statement", 12),
    12: Diagnostic("Too many records retrieved", 60),
    13: Diagnostic("Present request out of range", 61),
    14: Diagnostic("System error in presenting records", 63),
    15: Diagnostic("Record not authorized to be sent intersystem", 68),
    16: Diagnostic("Record exceeds Preferred-message-size", 70),
    17: Diagnostic("Record exceeds Maximum-record-size", 70),
    18: Diagnostic("Result set not supported as a search term", 50),
    19: Diagnostic("Only single result set as search term supported", 55),
    20: Diagnostic("Only ANDing of a single result set as search term supported", 56),
    21: Diagnostic("Result set exists and replace indicator off", 52),
    22: Diagnostic("Result set naming not supported", 50),
    23: Diagnostic("Combination of specified databases not supported", 3),
    24: Diagnostic("Element set names not supported", 66),
    25: Diagnostic("Specified element set name not valid for specified database", 66),
    26: Diagnostic("Only a single element set name supported", 66),
    27: Diagnostic("Result set no longer exists - unilaterally deleted by target", 51),
    28: Diagnostic("Result set is in use", 52),
    29: Diagnostic("One of the specified databases is locked", 52),
    30: Diagnostic("Specified result set does not exist", 51),
    31: Diagnostic("Resources exhausted - no results available", 57),
    32: Diagnostic("Resources exhausted - unpredictable partial results available", 58),
    33: Diagnostic("Resources exhausted - valid subset of results available", 59),
    100: Diagnostic("Unspecified error", 1),
    101: Diagnostic("Access-control failure", 3),
    102: Diagnostic("Security challenge required but could not be issued - request terminated", 3),
    103: Diagnostic("Security challenge required but could not be issued - record not included", 3),
    104: Diagnostic("Security challenge failed - record not included", 3),
    105: Diagnostic("Terminated by negative continue response", 3),
    106: Diagnostic("No abstract syntaxes agreed to for this record", 66),
    107: Diagnostic("Query type not supported", 11),
    108: Diagnostic("Malformed query", 10),
    109: Diagnostic("Database unavailable", 235),
    110: Diagnostic("Operator unsupported", 37),
    111: Diagnostic("Too many databases specified", 1),
    112: Diagnostic("Too many result sets created", 58),
    113: Diagnostic("Unsupported attribute type", 10),
    114: Diagnostic("Unsupported Use attribute", 16),
    115: Diagnostic("Unsupported value for Use attribute", 16),
    116: Diagnostic("Use attribute required but not supplied", 16),
    117: Diagnostic("Unsupported Relation attribute", 19),
    118: Diagnostic("Unsupported Structure attribute", 22),
    119: Diagnostic("Unsupported Position attribute", 32),
    120: Diagnostic("Unsupported Truncation attribute", 28),
    121: Diagnostic("Unsupported Attribute Set", 15),
    122: Diagnostic("Unsupported Completeness attribute", 32),
    123: Diagnostic("Unsupported attribute combination", 22),
    124: Diagnostic("Unsupported coded value for term", 24),
    125: Diagnostic("Malformed search term", 36),
    126: Diagnostic("Illegal term value for attribute", 36),
    127: Diagnostic("Unparsable format for un-normalized value", 36),
    128: Diagnostic("Illegal result set name", 51),
    129: Diagnostic("Proximity search of sets not supported", 39),
    130: Diagnostic("Illegal result set in proximity search", 43),
    131: Diagnostic("Unsupported proximity relation", 40),
    132: Diagnostic("Unsupported proximity unit code", 42),
    201: Diagnostic("Proximity not supported with this attribute combination", 44),
    202: Diagnostic("Unsupported distance for proximity", 41),
    203: Diagnostic("Ordered flag not supported for proximity", 43),
    205: Diagnostic("Only zero step size supported for Scan", 1),
    206: Diagnostic("Specified step size not supported for Scan", 1),
    207: Diagnostic("Cannot sort according to sequence", 89),
    208: Diagnostic("No result set name supplied on Sort", 1),
    209: Diagnostic("Generic sort not supported (database-specific sort only supported)", 80),
    210: Diagnostic("Database specific sort not supported", 80),
    211: Diagnostic("Too many sort keys", 84),
    212: Diagnostic("Duplicate sort keys", 85),
    213: Diagnostic("Unsupported missing data action", 92),
    214: Diagnostic("Illegal sort relation", 90),
    215: Diagnostic("Illegal case value", 91),
    216: Diagnostic("Illegal missing data action", 92),
    217: Diagnostic("Segmentation: Cannot guarantee records will fit in specified segments", 63),
    218: Diagnostic("ES: Package name already in use", 1),
    219: Diagnostic("ES: no such package, on modify/delete", 1),
    220: Diagnostic("ES: quota exceeded", 1),
    221: Diagnostic("ES: extended service type not supported", 1),
    222: Diagnostic("ES: permission denied on ES - id not authorized", 3),
    223: Diagnostic("ES: permission denied on ES - cannot modify or delete", 1),
    224: Diagnostic("ES: immediate execution failed", 1),
    225: Diagnostic("ES: immediate execution not supported for this service", 1),
    226: Diagnostic("ES: immediate execution not supported for these parameters", 1),
    227: Diagnostic("No data available in requested record syntax", 66),
    228: Diagnostic("Scan: malformed scan", 1),
    229: Diagnostic("Term type not supported", 36),
    230: Diagnostic("Sort: too many input results", 83),
    231: Diagnostic("Sort: incompatible record formats", 89),
    232: Diagnostic("Scan: term list not supported", 1),
    233: Diagnostic("Scan: unsupported value of position-in-response", 1),
    234: Diagnostic("Too many index terms processed", 1),
    235: Diagnostic("Database does not exist", 235),
    236: Diagnostic("Access to specified database denied", 236),
    237: Diagnostic("Sort: illegal sort", 82),
    238: Diagnostic("Record not available in requested syntax", 67),
    239: Diagnostic("Record syntax not supported", 66),
    240: Diagnostic("Scan: Resources exhausted looking for satisfying terms", 1),
    241: Diagnostic("Scan: Beginning or end of term list", 1),
    242: Diagnostic("Segmentation: max-segment-size too small to segment record", 70),
    243: Diagnostic("Present: additional-ranges parameter not supported", 1),
    244: Diagnostic("Present: comp-spec parameter not supported", 66),
    245: Diagnostic("Type-1 query: restriction ('resultAttr') operand not supported", 10),
    246: Diagnostic("Type-1 query: 'complex' attributeValue not supported", 10),
    247: Diagnostic("Type-1 query: 'attributeSet' as part of AttributeElement not supported", 10),
    1001: Diagnostic("Malformed APDU", 1),
    1005: Diagnostic("Response records in Search response not supported", 1),
    1006: Diagnostic(
        "Response records in Search response not possible for "
        "specified database (or database combination)",
        1,
    ),
    1010: Diagnostic("Init/AC: Bad Userid", 3),
    1011: Diagnostic("Init/AC: Bad Userid and/or Password", 3),
    1012: Diagnostic("Init/AC: No searches remaining (pre-purchased searches exhausted)", 3),
    1016: Diagnostic("Init/AC: Blocked network address", 3),
    1017: Diagnostic("Init/AC: No databases available for specified userId", 3),
    1018: Diagnostic("Init/AC: System temporarily out of resources", 2),
    1019: Diagnostic("Init/AC: System not available due to maintenance", 2),
    1020: Diagnostic(
        "Init/AC: System temporarily unavailable (Addinfo: when it's expected back up)", 2
    ),
    1024: Diagnostic("Unsupported Attribute", 16),
    1025: Diagnostic("Service not supported for this database", 3),
    1028: Diagnostic("Record deleted", 65),
    1029: Diagnostic("Scan: too many terms requested. Addinfo: max terms supported", 1),
    1054: Diagnostic("Init: Required negotiation record not included", 1),
    1055: Diagnostic("Init: negotiation option required", 1),
    1056: Diagnostic("Attribute not supported for database", 1),
    1069: Diagnostic("No syntaxes available for this request", 1),
    1070: Diagnostic("user not authorized to receive record(s) in requested syntax", 1),
    1071: Diagnostic("preferredRecordSyntax not supplied", 1),
    1072: Diagnostic(
        "Query term includes characters that do not translate into the target character set",
        1,
    ),
    1073: Diagnostic("Database records do not contain data associated with access point", 16),
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


def diagnostic_message(code: int) -> str:
    """Return the message of Bib-1 diagnostic ``code`` (a generic one for unknown codes)."""
    known = DIAGNOSTICS.get(code)
    return known.message if known else f"Unknown Bib-1 diagnostic {code}"


def sru_diagnostic(code: int) -> str:
    """Return the SRU diagnostic URI for Bib-1 diagnostic ``code``; unknown codes map to
    ``info:srw/diagnostic/1/1`` (general system error)."""
    known = DIAGNOSTICS.get(code)
    return f"info:srw/diagnostic/1/{known.sru if known else 1}"

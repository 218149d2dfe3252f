"""OAI-PMH 2.0 vocabulary shared by the provider and the harvester: errors, argument schemas,
datestamps and resumption tokens."""

import re

from protocols.oaipmh.arguments import LIST_VERBS, VERBS, OaiRequest, parse_request
from protocols.oaipmh.dates import format_datestamp, parse_datestamp, parse_range
from protocols.oaipmh.errors import (
    BadArgument,
    BadResumptionToken,
    BadVerb,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoMetadataFormats,
    NoRecordsMatch,
    NoSetHierarchy,
    OaiError,
)
from protocols.oaipmh.tokens import ListPosition, Token, TokenCodec

OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
EMAIL = re.compile(r"[^ \t\n\r]+@([^ \t\n\r]+\.)+[^ \t\n\r]+")
"""The schema's emailType, which Identify's adminEmail must match (XML Schema's ``\\S`` is any
character but space, tab, CR and LF)."""

__all__ = [
    "EMAIL",
    "LIST_VERBS",
    "OAI_SCHEMA",
    "VERBS",
    "BadArgument",
    "BadResumptionToken",
    "BadVerb",
    "CannotDisseminateFormat",
    "IdDoesNotExist",
    "ListPosition",
    "NoMetadataFormats",
    "NoRecordsMatch",
    "NoSetHierarchy",
    "OaiError",
    "OaiRequest",
    "Token",
    "TokenCodec",
    "format_datestamp",
    "parse_datestamp",
    "parse_range",
    "parse_request",
]

"""OAI-PMH 2.0 vocabulary shared by the provider and the harvester: errors, argument schemas,
datestamps and resumption tokens."""

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

OAI_NAMESPACE = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"

__all__ = [
    "LIST_VERBS",
    "OAI_NAMESPACE",
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

"""CQL 1.2, the Contextual Query Language of SRU: parse tree and parser."""

from protocols.cql.nodes import Boolean, Modifier, Node, Query, Relation, SearchClause, SortSpec
from protocols.cql.parser import (
    SERVER_CHOICE,
    CqlSyntaxError,
    CqlTooComplex,
    CqlTooDeep,
    parse,
)

__all__ = [
    "SERVER_CHOICE",
    "Boolean",
    "CqlSyntaxError",
    "CqlTooComplex",
    "CqlTooDeep",
    "Modifier",
    "Node",
    "Query",
    "Relation",
    "SearchClause",
    "SortSpec",
    "parse",
]

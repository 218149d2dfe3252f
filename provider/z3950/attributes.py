"""Bib-1 attributes onto the catalogue's query model (the published profile is in the README).

Every attribute is either honoured or refused with a :class:`SearchError` whose condition's
Bib-1 diagnostic says why (:data:`provider.search.CODES`): an access point or behaviour the
index does not have is never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from catalog import search_index as ix
from catalog.query import And, AndNot, Ids, Match, Or, Query, Relation
from protocols.z3950 import bib1
from protocols.z3950.pqf import Boolean, ResultSetRef, Term
from protocols.z3950.pqf import Query as RpnQuery
from provider.search import Condition, SearchError

USE_INDEXES: dict[int, str] = {
    bib1.Use.PERSONAL_NAME: ix.AUTHOR,
    bib1.Use.CORPORATE_NAME: ix.AUTHOR,
    bib1.Use.CONFERENCE_NAME: ix.AUTHOR,
    bib1.Use.TITLE: ix.TITLE,
    bib1.Use.TITLE_SERIES: ix.TITLE,
    bib1.Use.TITLE_UNIFORM: ix.TITLE,
    bib1.Use.ISBN: ix.ISBN,
    bib1.Use.ISSN: ix.ISSN,
    bib1.Use.LOCAL_NUMBER: ix.LOCAL_NUMBER,
    bib1.Use.SUBJECT_HEADING: ix.SUBJECT,
    bib1.Use.DATE: ix.DATE,
    bib1.Use.DATE_OF_PUBLICATION: ix.DATE,
    bib1.Use.CODE_LANGUAGE: ix.LANGUAGE,
    bib1.Use.AUTHOR: ix.AUTHOR,
    bib1.Use.AUTHOR_NAME_PERSONAL: ix.AUTHOR,
    bib1.Use.AUTHOR_NAME_CORPORATE: ix.AUTHOR,
    bib1.Use.AUTHOR_NAME_CONFERENCE: ix.AUTHOR,
    bib1.Use.IDENTIFIER_STANDARD: ix.IDENTIFIER,
    bib1.Use.ANY: ix.ANY,
    bib1.Use.PUBLISHER: ix.PUBLISHER,
    bib1.Use.ANYWHERE: ix.ANY,
}
"""Bib-1 Use attribute -> catalogue index. Any other Use value is diagnostic 114."""

DEFAULT_USE = bib1.Use.ANY
MAX_QUERY_TERM_CHARS = 1000
"""Longest search term accepted (index terms are cut at 200 characters); longer is 11."""

_RELATIONS = {
    bib1.Relation.LESS_THAN: Relation.LESS,
    bib1.Relation.LESS_THAN_OR_EQUAL: Relation.LESS_OR_EQUAL,
    bib1.Relation.EQUAL: Relation.EQUAL,
    bib1.Relation.GREATER_OR_EQUAL: Relation.GREATER_OR_EQUAL,
    bib1.Relation.GREATER_THAN: Relation.GREATER,
    # Relevance is accepted and answered unranked, as an equality search (clients send it by
    # default; refusing it would make them useless here).
    bib1.Relation.RELEVANCE: Relation.EQUAL,
}
_PHRASE_STRUCTURES = {bib1.Structure.PHRASE, bib1.Structure.KEY}
_WORD_STRUCTURES = {bib1.Structure.WORD, bib1.Structure.WORD_LIST}
_DATE_STRUCTURES = {bib1.Structure.YEAR, bib1.Structure.DATE_NORMALIZED}
_TRUNCATIONS = {bib1.Truncation.RIGHT: True, bib1.Truncation.NONE: False}
_SORT_INDEXES = {ix.TITLE, ix.AUTHOR, ix.DATE}
_TYPES = {int(value) for value in bib1.AttributeType}
_POSITIONS = {int(value) for value in bib1.Position}
_COMPLETENESS = {int(value) for value in bib1.Completeness}


def index_of(attributes: dict[int, int]) -> str:
    """The catalogue index the Use attribute names (default: any); 114 if it has none."""
    use = attributes.get(bib1.AttributeType.USE, DEFAULT_USE)
    index = USE_INDEXES.get(use)
    if index is None:
        raise SearchError(Condition.UNSUPPORTED_INDEX, str(use))
    return index


def match_of(term: Term) -> Match:
    """The :class:`Match` for one attributed term, or :class:`SearchError` for what it cannot be."""
    attributes = term.attributes
    if len(term.term) > MAX_QUERY_TERM_CHARS:
        raise SearchError(Condition.TERM_TOO_LONG, str(MAX_QUERY_TERM_CHARS))
    for kind in attributes:
        if kind not in _TYPES:
            raise SearchError(Condition.UNSUPPORTED_ATTRIBUTE_TYPE, str(kind))
    index = index_of(attributes)
    relation_value = attributes.get(bib1.AttributeType.RELATION, bib1.Relation.EQUAL)
    relation = _RELATIONS.get(relation_value)
    if relation is None:
        raise SearchError(Condition.UNSUPPORTED_RELATION, str(relation_value))
    position = attributes.get(bib1.AttributeType.POSITION, bib1.Position.ANY_POSITION_IN_FIELD)
    if position not in _POSITIONS:
        raise SearchError(Condition.ANCHORING_UNSUPPORTED, str(position))
    completeness = attributes.get(
        bib1.AttributeType.COMPLETENESS, bib1.Completeness.INCOMPLETE_SUBFIELD
    )
    if completeness not in _COMPLETENESS:
        raise SearchError(Condition.UNSUPPORTED_COMPLETENESS, str(completeness))
    anchored = position != bib1.Position.ANY_POSITION_IN_FIELD or (
        completeness != bib1.Completeness.INCOMPLETE_SUBFIELD
    )
    structure = attributes.get(bib1.AttributeType.STRUCTURE)
    phrase = _phrase(structure, index, anchored)
    truncation_value = attributes.get(bib1.AttributeType.TRUNCATION, bib1.Truncation.NONE)
    if truncation_value not in _TRUNCATIONS:
        raise SearchError(Condition.MASKING_UNSUPPORTED, str(truncation_value))
    if anchored and not phrase and index not in ix.KEYED:
        # First-in-field and complete field/subfield need whole-field terms; a word cannot.
        raise SearchError(Condition.UNSUPPORTED_COMBINATION, "position/completeness with word")
    truncation = _TRUNCATIONS[truncation_value]
    # First in field/subfield, the subfield incomplete: the field begins with the phrase.
    leading = (position != bib1.Position.ANY_POSITION_IN_FIELD and phrase and not truncation
               and completeness == bib1.Completeness.INCOMPLETE_SUBFIELD
               and relation == Relation.EQUAL)  # fmt: skip
    # The date index holds years: a year or a date that is no year is 126 (catalog.query)
    year = structure in _DATE_STRUCTURES
    # A phrase at any position of an incomplete subfield may stand anywhere in the field.
    inside = structure == bib1.Structure.PHRASE and not anchored
    return Match(index, term.term, phrase, truncation, relation, leading=leading, year=year,
                 inside=inside)


def scan_start_of(term: Term) -> tuple[str, bool]:
    """The index and kind of terms (True: phrases) a Scan's start term reads: its attributes
    honoured as a search's (:func:`match_of`), but a term list is read from its start term, so
    a relation other than equality is 117 and truncation 120, never ignored."""
    match = match_of(term)
    if match.relation != Relation.EQUAL:
        raise SearchError(Condition.UNSUPPORTED_RELATION,
                          str(term.attributes[bib1.AttributeType.RELATION]))  # fmt: skip
    if match.truncation:
        raise SearchError(Condition.MASKING_UNSUPPORTED,
                          str(term.attributes[bib1.AttributeType.TRUNCATION]))  # fmt: skip
    return match.index, match.phrase


def _phrase(structure: int | None, index: str, anchored: bool) -> bool:
    if structure is None:
        return anchored
    if structure in _PHRASE_STRUCTURES:
        return True
    if structure in _WORD_STRUCTURES:
        return False
    if structure in _DATE_STRUCTURES:
        if index != ix.DATE:
            raise SearchError(Condition.UNSUPPORTED_COMBINATION, f"4={structure} on {index}")
        return False
    raise SearchError(Condition.UNSUPPORTED_STRUCTURE, str(structure))


def query_of(rpn: RpnQuery, result_set: Callable[[str], list[int]]) -> Query:
    """Translate a Type-1 query; ``result_set(name)`` gives an earlier set's ids (or raises 30)."""
    if isinstance(rpn, Term):
        return match_of(rpn)
    if isinstance(rpn, ResultSetRef):
        return Ids(tuple(result_set(rpn.name)))
    if not isinstance(rpn, Boolean) or rpn.op not in ("and", "or", "and-not"):
        raise SearchError(Condition.UNSUPPORTED_BOOLEAN, str(getattr(rpn, "op", rpn)))
    left, right = query_of(rpn.left, result_set), query_of(rpn.right, result_set)
    if rpn.op == "and":
        return And(left, right)
    if rpn.op == "or":
        return Or(left, right)
    return AndNot(left, right)


def sort_index_of(attributes: dict[int, int]) -> str:
    """The sortable index a Sort key's Use attribute names; 207 for any other."""
    use = attributes.get(bib1.AttributeType.USE)
    index = USE_INDEXES.get(use) if use is not None else None
    if index not in _SORT_INDEXES:
        named = f"1={use}" if use is not None else "no Use attribute"
        raise SearchError(Condition.UNSUPPORTED_SORT_KEY, named)
    return index


def sort_index_named(name: str) -> str:
    """A sortable index named by a Sort ``sortfield`` (``title``, ``author``, ``date`` or a
    ``1=N`` attribute as yaz-client writes it); 207 for any other."""
    text = name.strip().lower()
    if text in _SORT_INDEXES:
        return text
    kind, _, value = text.partition("=")
    if kind == "1" and value.isascii() and value.isdigit():
        return sort_index_of({bib1.AttributeType.USE: int(value)})
    raise SearchError(Condition.UNSUPPORTED_SORT_KEY, name)

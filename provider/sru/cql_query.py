"""CQL onto the catalogue's query model: the context sets ``cql``, ``dc``, ``bath`` and ``rec``.

Every index, relation, modifier and boolean is either honoured or refused with the
:class:`SearchError` whose SRU diagnostic says which (16 unsupported index, 19 relation, 20
relation modifier, 28 masking, 39 proximity, 46 boolean modifier, 15 context set...): nothing
is silently dropped. The mapping is the README's SRU profile; in short:

- ``cql.serverChoice``, ``cql.anywhere`` and ``cql.allIndexes`` search ``any`` (every field
  and the keys of every index); ``cql.allRecords`` matches every record whatever its relation
  and term (CQL 1.2; ``cql.allRecords = 1`` is the usual form); ``dc.*``, ``bath.*`` and
  ``rec.identifier`` search the index of the same meaning (:data:`INDEXES`);
- ``=`` and ``all`` ask for every word, ``any`` for one of them, ``adj`` for them next to each
  other anywhere in a field (as Z39.50's structure 1), ``exact`` and ``==`` for the whole field
  (or its first subfield) as a phrase; ``<``..``>=`` compare one term (on
  ``dc.date`` a year; the search answers 36 for any other term);
  ``within "a b"`` asks for one term from a to b (or b to a), both included;
- a term (with ``=``, ``all`` and ``any`` each of its words) ending in an unescaped ``*`` is
  right-truncated; a backslash escapes ``*``, ``?``, ``^``, ``"`` and itself, any other
  character escaped is 26 (unless ``unmasked``, which takes every character literally); a scan
  term is read so too (:func:`scan_start`);
- ``cql.resultSetId = id`` names an earlier result set.

>>> query, sort = translate(parse("dc.creator = navoiy sortBy dc.date/sort.descending"), sets)
>>> query, sort
(Match(index='author', term='navoiy', ...), [SortKey(index='date', descending=True)])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from catalog import search_index as ix
from catalog.query import And, AndNot, Every, Ids, Match, Or, Relation, within
from catalog.query import Query as ModelQuery
from protocols.cql import Modifier, Node, Query, SearchClause, SortSpec
from protocols.cql import Relation as CqlRelation
from provider.search import Condition, SearchError, SortKey

MAX_TERM_CHARS = 1000
"""Longest search term accepted (index terms are cut at 200 characters)."""

RELEVANCE = "rel"
"""The relevance context set's short name: its relation and boolean modifiers (``rel.*``) are
taken and answered unranked."""
CONTEXT_SETS: dict[str, str] = {
    "cql": "info:srw/cql-context-set/1/cql-v1.2",
    "dc": "info:srw/cql-context-set/1/dc-v1.1",
    "bath": "http://zing.z3950.org/cql/bath/2.0/",
    "rec": "info:srw/cql-context-set/2/rec-1.1",
    "sort": "info:srw/cql-context-set/1/sort-v1.0",
    RELEVANCE: "info:srw/cql-context-set/2/relevance-1.2",
}
"""The context sets a query may use, by their usual short name and newest identifier: explain
announces each of them (those of modifiers alone, sort and rel, too)."""
_BY_URI = {uri: name for name, uri in CONTEXT_SETS.items()} | {
    "info:srw/cql-context-set/1/cql-v1.1": "cql",
    "info:srw/cql-context-set/1/dc-v1.0": "dc",
    "info:srw/cql-context-set/2/rec-1.0": "rec",
    "info:srw/cql-context-set/2/relevance-1.0": RELEVANCE,
    "info:srw/cql-context-set/2/relevance-1.1": RELEVANCE,
}
UNPREFIXED = ("dc", "cql", "bath", "rec")
"""Where an index written without a prefix is looked for, in order (``title`` is
``dc.title``, ``anywhere`` is ``cql.anywhere``, ``isbn`` is ``bath.isbn``)."""

INDEXES: dict[str, dict[str, str]] = {
    "cql": {"serverchoice": ix.ANY, "anywhere": ix.ANY, "keywords": ix.ANY,
            "allindexes": ix.ANY},
    "dc": {"title": ix.TITLE, "creator": ix.AUTHOR, "contributor": ix.AUTHOR,
           "subject": ix.SUBJECT, "date": ix.DATE, "publisher": ix.PUBLISHER,
           "language": ix.LANGUAGE, "identifier": ix.IDENTIFIER},
    "bath": {"name": ix.AUTHOR, "personalname": ix.AUTHOR, "corporatename": ix.AUTHOR,
             "conferencename": ix.AUTHOR, "keytitle": ix.TITLE, "uniformtitle": ix.TITLE,
             "seriestitle": ix.TITLE, "subject": ix.SUBJECT, "topicalsubject": ix.SUBJECT,
             "geographicname": ix.SUBJECT, "isbn": ix.ISBN, "issn": ix.ISSN,
             "standardidentifier": ix.IDENTIFIER, "any": ix.ANY},
    "rec": {"identifier": ix.LOCAL_NUMBER},
}  # fmt: skip
"""Context set -> index name (lower-cased) -> catalogue index."""

_ORDER = {"<": Relation.LESS, "<=": Relation.LESS_OR_EQUAL, ">": Relation.GREATER,
          ">=": Relation.GREATER_OR_EQUAL}  # fmt: skip
_WORDS, _ANY, _ADJ, _EXACT, _WITHIN = "words", "any", "adj", "exact", "within"
_RELATIONS = {"=": _WORDS, "all": _WORDS, "any": _ANY, "adj": _ADJ, "exact": _EXACT,
              "==": _EXACT, "within": _WITHIN} | {k: k for k in _ORDER}  # fmt: skip
_IGNORED_RELATION_MODIFIERS = {"relevant", "ignorecase", "ignoreaccents", "word", "masked",
                               "unmasked", "string"}  # fmt: skip
"""Relation modifiers honoured as they are (relevance is answered unranked, as Z39.50's
relation 102; the index is folded, so case and accents never count). ``string`` asks for a
phrase and ``unmasked`` takes ``*`` literally; both are applied, not dropped."""
_RESULT_SET_RELATIONS = {"=", "==", "exact"}
"""A result set is named, never compared: other relations on cql.resultSetId are 19."""

ResultSetIds = Callable[[str], list[int]]


def translate(query: Query, result_set: ResultSetIds) -> tuple[ModelQuery, list[SortKey]]:
    """The catalogue query and sort keys of a parsed CQL query; ``result_set(id)`` gives an
    earlier set's ids (or raises RESULT_SET_MISSING)."""
    return _node(query.root, result_set), [_sort_key(spec) for spec in query.sort]


def _node(node: Node, result_set: ResultSetIds) -> ModelQuery:
    if isinstance(node, SearchClause):
        return _clause(node, result_set)
    if node.op == "prox":
        raise SearchError(Condition.PROXIMITY_UNSUPPORTED, "prox")
    for modifier in node.modifiers:
        if _context(modifier.name, node, "cql")[0] != RELEVANCE:
            raise SearchError(Condition.UNSUPPORTED_BOOLEAN_MODIFIER, modifier.name)
    left, right = _node(node.left, result_set), _node(node.right, result_set)
    if node.op == "and":
        return And(left, right)
    if node.op == "or":
        return Or(left, right)
    return AndNot(left, right)


def _context(name: str, node: Node | SortSpec, default: str) -> tuple[str, str]:
    """(context set short name, base name) of a possibly prefixed name; 15 for an unknown
    prefix. A prefix the query assigns where ``node`` stands is resolved through its URI."""
    prefix, dot, base = name.partition(".")
    if not dot:
        return default, name.lower()
    uri = dict(node.prefixes).get(prefix)
    if uri is not None:
        known = _BY_URI.get(uri)
        if known is None:
            raise SearchError(Condition.UNSUPPORTED_CONTEXT_SET, uri)
        return known, base.lower()
    return prefix.lower(), base.lower()


def set_named(clause: SearchClause) -> str | None:
    """The result set id ``clause`` names (``cql.resultSetId = id``), None when it is a search
    of an index; 19 or 20 for a relation or modifier other than naming."""
    if clause.index.lower() not in ("cql.resultsetid", "resultsetid"):
        return None
    if clause.relation.name.lower() not in _RESULT_SET_RELATIONS:
        raise SearchError(Condition.UNSUPPORTED_RELATION, clause.relation.name)
    if clause.relation.modifiers:
        raise SearchError(Condition.UNSUPPORTED_RELATION_MODIFIER,
                          clause.relation.modifiers[0].name)  # fmt: skip
    return clause.term


def _clause(clause: SearchClause, result_set: ResultSetIds) -> ModelQuery:
    name = set_named(clause)
    if name is not None:
        return Ids(tuple(result_set(name)))
    if _names_every_record(clause):
        return Every()
    index = index_of(clause.index, clause.prefixes)
    relation_name = clause.relation.name.lower()
    if "." in relation_name:
        relation_context, relation_name = _context(relation_name, clause, "cql")
        if relation_context != "cql":
            raise SearchError(Condition.UNSUPPORTED_RELATION, clause.relation.name)
    kind = _RELATIONS.get(relation_name)
    if kind is None:
        raise SearchError(Condition.UNSUPPORTED_RELATION, clause.relation.name)
    modifiers = {_modifier(m, clause) for m in clause.relation.modifiers}
    if "string" in modifiers and kind == _WORDS:
        kind = _EXACT
    return _match(index, kind, clause.term, masked="unmasked" not in modifiers)


def _names_every_record(clause: SearchClause) -> bool:
    """Whether ``clause`` is on ``cql.allRecords`` (``allRecords`` unprefixed, unless the query
    gives unprefixed indexes another context set), which CQL 1.2 says matches every record
    "no matter what values are provided for the relation and term"."""
    if "." in clause.index:
        return _context(clause.index, clause, "") == ("cql", "allrecords")
    unnamed = dict(clause.prefixes).get("")
    return clause.index.lower() == "allrecords" and (
        unnamed is None or _BY_URI.get(unnamed) == "cql"
    )


def _modifier(modifier: Modifier, clause: SearchClause) -> str:
    context, name = _context(modifier.name, clause, "cql")
    if context == RELEVANCE or (context == "cql" and name in _IGNORED_RELATION_MODIFIERS):
        return name
    raise SearchError(Condition.UNSUPPORTED_RELATION_MODIFIER, modifier.name)


def _match(index: str, kind: str, term: str, *, masked: bool) -> ModelQuery:
    if len(term) > MAX_TERM_CHARS:
        raise SearchError(Condition.TERM_TOO_LONG, str(MAX_TERM_CHARS))
    if masked:  # unmasked, every character is literal, the backslash too
        _check_escapes(term)
    if kind in (_WORDS, _ANY):
        return _words(index, kind, term, masked=masked)
    text, truncated = _unmask(term) if masked else (term, False)
    if kind in _ORDER or kind == _WITHIN:
        if truncated:
            raise SearchError(Condition.UNSUPPORTED_COMBINATION, f"{kind} with masking")
        if kind == _WITHIN:
            bounds = text.split()
            if len(bounds) != 2:
                raise SearchError(Condition.TERM_INVALID_FORMAT, f"within {term!r}")
            return within(index, *bounds)
        return Match(index, text, relation=_ORDER[kind])
    adjacent = kind == _ADJ and len(text.split()) > 1  # anywhere in a field, next to each other
    return Match(index, text, phrase=kind == _EXACT or adjacent, truncation=truncated,
                 inside=adjacent)


def _words(index: str, kind: str, term: str, *, masked: bool) -> ModelQuery:
    """A word list: every word of ``term`` (``=``, ``all``) or one of them (``any``), each
    right-truncated when it ends in ``*``. Words are looked up together as one leaf when only
    the last may be truncated (the catalogue truncates a leaf's last word), else one by one."""
    try:
        words = [_unmask(word) if masked else (word, False) for word in term.split()]
    except SearchError as error:  # the details name the term, not the word
        raise SearchError(error.condition, term) from None
    if not words:  # no word: the catalogue answers it (27, empty term)
        return Match(index, term)
    if kind != _ANY and not any(truncated for _, truncated in words[:-1]):
        return Match(index, " ".join(text for text, _ in words), truncation=words[-1][1])
    combined = Or if kind == _ANY else And
    query: ModelQuery = Match(index, words[0][0], truncation=words[0][1])
    for text, truncated in words[1:]:
        query = combined(query, Match(index, text, truncation=truncated))
    return query


_ESCAPABLE = frozenset('*?^"\\')
"""What a backslash escapes in a CQL term: the masking and anchoring characters, the quote and
itself. CQL 1.2 calls an escape of any other character an error."""


def _check_escapes(term: str) -> None:
    """26 (non special character escaped in term, the character in its details) for a
    backslash before a character not in :data:`_ESCAPABLE` (such a backslash was dropped, and
    the character searched)."""
    at = term.find("\\")
    while 0 <= at < len(term) - 1:
        if term[at + 1] not in _ESCAPABLE:
            raise SearchError(Condition.NON_SPECIAL_CHARACTER_ESCAPED, term[at + 1])
        at = term.find("\\", at + 2)


def _unmask(term: str) -> tuple[str, bool]:
    """The term without its masking, and whether it ends in right truncation (``*``). Any
    other unescaped ``*`` is 49 (masking in an unsupported position), ``?`` 28 (masking not
    supported), ``^`` 31; ``\\x`` stands for ``x`` (one of :data:`_ESCAPABLE`, as
    :func:`_check_escapes` has made sure)."""
    chars: list[str] = []
    truncated = False
    i = 0
    while i < len(term):
        char = term[i]
        if char == "\\" and i + 1 < len(term):
            chars.append(term[i + 1])
            i += 2
            continue
        if char == "*" and i == len(term) - 1:
            truncated = True
        elif char == "*":
            raise SearchError(Condition.MASKING_POSITION_UNSUPPORTED, term)
        elif char == "?":
            raise SearchError(Condition.MASKING_UNSUPPORTED, term)
        elif char == "^":
            raise SearchError(Condition.ANCHORING_UNSUPPORTED, term)
        else:
            chars.append(char)
        i += 1
    return "".join(chars), truncated


def scan_start(term: str) -> str:
    """Where a scan of ``term`` starts, the term read as a search reads it (:func:`_check_escapes`,
    :func:`_unmask`): ``\\*`` is a literal ``*``, a backslash before a character that is not
    special 26. SRU's scan takes the term as a place in the index's ordered list: a closing ``*``
    places it where the rest stands (the first term it matches is there), while ``*`` elsewhere,
    ``?`` and ``^`` place it nowhere, and get what a search gets (49, 28, 31)."""
    _check_escapes(term)
    return _unmask(term)[0]


_SORT_INDEXES = {ix.TITLE, ix.AUTHOR, ix.DATE}
_SORT_MODIFIERS = {"ascending": False, "descending": True}
_SORT_IGNORED = {"ignorecase", "ignoreaccents"}
_MISSING_LAST = {False: "missinghigh", True: "missinglow"}
"""The missing-value modifier (by descending) that says what a sort does: records without a
value for the key come last, in either direction (:func:`catalog.query.sort_ids`)."""


def _sort_key(spec: SortSpec) -> SortKey:
    """A CQL ``sortBy`` key, its index named with the query's prefix assignments (an unknown
    context set is 15, an index that is not sortable 88); a modifier asking for another
    treatment of records without a value (``sort.missingOmit``, ``sort.missingHigh`` when
    descending...) is 92, one asking to respect case, another unsupported one or one of
    another context set than sort's 91."""
    try:
        index = index_of(spec.index, spec.prefixes)
    except SearchError as error:
        if error.condition == Condition.UNSUPPORTED_CONTEXT_SET:
            raise
        index = ""
    if index not in _SORT_INDEXES:
        raise SearchError(Condition.UNSUPPORTED_SORT_KEY, spec.index)
    descending = False
    missing: list[tuple[str, str]] = []  # (base, as written)
    for modifier in spec.modifiers:
        context, base = _context(modifier.name, spec, "sort")
        if context != "sort":  # another set's "descending" is not sort's
            raise SearchError(Condition.UNSUPPORTED_SORT_MODIFIER, modifier.name)
        if base in _SORT_MODIFIERS:
            descending = _SORT_MODIFIERS[base]
        elif base.startswith("missing"):
            missing.append((base, modifier.name))
        elif base not in _SORT_IGNORED:
            raise SearchError(Condition.UNSUPPORTED_SORT_MODIFIER, modifier.name)
    for base, written in missing:
        if base != _MISSING_LAST[descending]:
            raise SearchError(Condition.UNSUPPORTED_SORT_MISSING, written)
    return SortKey(index, descending)


def sort_keys_of(text: str) -> list[SortKey]:
    """SRU 1.1 ``sortKeys``: space-separated ``path,schema,ascending[,caseSensitive[,missing]]``
    with ``ascending`` 1 (default) or 0; the path is an index name as in CQL. Sorting ignores
    case (``caseSensitive`` 1 is 91) and puts records without a value last (``missingValue``
    other than the one saying so in the key's direction is 92)."""
    keys: list[SortKey] = []
    for item in text.split():
        path, *rest = item.split(",")
        ascending = rest[1] if len(rest) > 1 else "1"
        if ascending not in ("0", "1", ""):
            raise SearchError(Condition.UNSUPPORTED_SORT_DIRECTION, ascending)
        if len(rest) > 2 and rest[2] not in ("", "0"):
            raise SearchError(Condition.UNSUPPORTED_SORT_MODIFIER, rest[2])
        last = "lowValue" if ascending == "0" else "highValue"
        if len(rest) > 3 and rest[3] not in ("", last):
            raise SearchError(Condition.UNSUPPORTED_SORT_MISSING, rest[3])
        direction = () if ascending != "0" else (Modifier("sort.descending"),)
        keys.append(_sort_key(SortSpec(path, direction)))
    return keys


def index_of(name: str, prefixes: Sequence[tuple[str, str]] = ()) -> str:
    """The catalogue index a (possibly prefixed) CQL index name stands for (scan); 16 if none."""
    clause = SearchClause(name, CqlRelation("="), "", tuple(prefixes))
    unnamed = dict(prefixes).get("")
    if "." not in name and unnamed is not None:
        contexts: tuple[str, ...] = (_BY_URI.get(unnamed, ""),)
        if not contexts[0]:
            raise SearchError(Condition.UNSUPPORTED_CONTEXT_SET, unnamed)
        base = name.lower()
    elif "." not in name:
        contexts, base = UNPREFIXED, name.lower()
    else:
        context, base = _context(name, clause, "")
        if context not in INDEXES:
            raise SearchError(Condition.UNSUPPORTED_CONTEXT_SET, context)
        contexts = (context,)
    for context in contexts:
        index = INDEXES.get(context, {}).get(base)
        if index is not None:
            return index
    raise SearchError(Condition.UNSUPPORTED_INDEX, name)

"""The parse tree of a CQL 1.2 query (what :func:`protocols.cql.parse` returns).

Names (indexes, relations, modifiers) keep their prefix as written (``dc.title``); the prefix
assignments in scope at a clause or boolean travel with it (:attr:`SearchClause.prefixes`,
:attr:`Boolean.prefixes`), so whoever interprets the query resolves ``prefix -> context set
URI`` with the query's own map first.
:meth:`to_cql` writes a tree back as CQL (keywords lower-cased, terms quoted where needed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NEEDS_QUOTES = re.compile(r'[\s()=<>"/]')
KEYWORDS = frozenset({"and", "or", "not", "prox", "sortby"})


def quoted(text: str) -> str:
    """``text`` as a CQL term: bare when it can be, else in double quotes."""
    if text and not _NEEDS_QUOTES.search(text) and text.lower() not in KEYWORDS:
        return text
    return '"' + text.replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Modifier:
    """``/name``, or ``/name<comparison>value`` (``/distance<=3``)."""

    name: str
    comparison: str | None = None
    value: str | None = None

    def to_cql(self) -> str:
        if self.comparison is None or self.value is None:
            return "/" + self.name
        return f"/{self.name}{self.comparison}{quoted(self.value)}"


@dataclass(frozen=True)
class Relation:
    """A comparitor (``=``, ``any``, ``cql.within``...) and its modifiers."""

    name: str
    modifiers: tuple[Modifier, ...] = ()

    def to_cql(self) -> str:
        return self.name + "".join(m.to_cql() for m in self.modifiers)


@dataclass(frozen=True)
class SearchClause:
    """``index relation term``; a bare term has index ``cql.serverChoice`` and relation ``=``
    (CQL 1.2; 1.1 said ``scr``). ``position`` is the 1-based offset of the term's clause."""

    index: str
    relation: Relation
    term: str
    prefixes: tuple[tuple[str, str], ...] = ()
    """Prefix assignments in scope, outermost first (an unnamed ``> uri`` has prefix "")."""
    position: int = 1

    def to_cql(self) -> str:
        return f"{self.index} {self.relation.to_cql()} {quoted(self.term)}"


@dataclass(frozen=True)
class Boolean:
    """``left op right`` (op: and, or, not, prox) with the boolean's modifiers."""

    op: str
    left: Node
    right: Node
    modifiers: tuple[Modifier, ...] = ()
    prefixes: tuple[tuple[str, str], ...] = ()
    """Prefix assignments in scope at the boolean, as :attr:`SearchClause.prefixes`: its
    modifiers' prefixes (``or/rel.combine=sum``) are resolved through them."""

    def to_cql(self) -> str:
        op = self.op + "".join(m.to_cql() for m in self.modifiers)
        return f"({self.left.to_cql()} {op} {self.right.to_cql()})"


Node = SearchClause | Boolean


@dataclass(frozen=True)
class SortSpec:
    """One ``sortBy`` key: an index and its modifiers (``sort.descending``...)."""

    index: str
    modifiers: tuple[Modifier, ...] = ()
    prefixes: tuple[tuple[str, str], ...] = ()
    """The prefix assignments in front of the whole query, which scope its sortBy too."""

    def to_cql(self) -> str:
        return self.index + "".join(m.to_cql() for m in self.modifiers)


@dataclass(frozen=True)
class Query:
    """A whole query: its tree and its ``sortBy`` keys (none when it has no sortBy)."""

    root: Node
    sort: tuple[SortSpec, ...] = ()

    def to_cql(self) -> str:
        text = self.root.to_cql()
        if self.sort:
            text += " sortBy " + " ".join(s.to_cql() for s in self.sort)
        return text

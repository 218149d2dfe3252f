"""A parser for the whole CQL 1.2 grammar (the LoC specification's BNF), by recursive descent.

::

    sortedQuery      ::= prefixAssignment sortedQuery | scopedClause ['sortBy' sortSpec]
    sortSpec         ::= sortSpec singleSpec | singleSpec
    singleSpec       ::= index [modifierList]
    cqlQuery         ::= prefixAssignment cqlQuery | scopedClause
    prefixAssignment ::= '>' prefix '=' uri | '>' uri
    scopedClause     ::= scopedClause booleanGroup searchClause | searchClause
    booleanGroup     ::= boolean [modifierList]
    boolean          ::= 'and' | 'or' | 'not' | 'prox'
    searchClause     ::= '(' cqlQuery ')' | index relation searchTerm | searchTerm
    relation         ::= comparitor [modifierList]
    comparitor       ::= comparitorSymbol | namedComparitor
    comparitorSymbol ::= '=' | '>' | '<' | '>=' | '<=' | '<>' | '=='
    modifier         ::= '/' modifierName [comparitorSymbol modifierValue]
    term             ::= identifier | 'and' | 'or' | 'not' | 'prox' | 'sortby'

Booleans have equal precedence and group to the left; keywords are case-insensitive. A query
that does not parse raises :class:`CqlSyntaxError` with the 1-based character position of the
fault (SRU diagnostic 10 carries it). Input is bounded by the caller (SRU: the request size);
nesting is bounded here (:data:`MAX_DEPTH`), so no query can exhaust the stack: parentheses
nested deeper raise :class:`CqlTooDeep`.

>>> parse('dc.title any fish sortBy dc.date/sort.descending').to_cql()
'dc.title any fish sortBy dc.date/sort.descending'
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.cql.nodes import Boolean, Modifier, Node, Query, Relation, SearchClause, SortSpec

MAX_DEPTH = 64
"""Deepest nesting of parentheses and prefix assignments accepted."""
MAX_CLAUSES = 256
"""Most search clauses one query may hold (whoever walks the tree recurses once per boolean)."""
SERVER_CHOICE = "cql.serverChoice"
BOOLEANS = ("and", "or", "not", "prox")
SYMBOLS = ("==", "<>", "<=", ">=", "=", "<", ">")
_SINGLE = "()/"


class CqlSyntaxError(ValueError):
    """A query that is not CQL; ``position`` is the 1-based offset where parsing failed."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position


class CqlTooDeep(CqlSyntaxError):
    """Parentheses nested deeper than :data:`MAX_DEPTH` (``position``: where the first one too
    deep opens its query). CQL all the same, which SRU tells from a syntax error (13)."""


class CqlTooComplex(CqlSyntaxError):
    """A query of more than :data:`MAX_CLAUSES` search clauses (``position``: the first one
    too many)."""


@dataclass(frozen=True)
class Token:
    text: str
    position: int
    quoted: bool = False
    symbol: bool = False

    def is_close(self) -> bool:
        return self.symbol and self.text == ")"

    def word(self, *words: str) -> bool:
        """Whether this is one of the keywords ``words`` (unquoted, any case)."""
        return not self.quoted and not self.symbol and self.text.lower() in words


def tokens(text: str) -> list[Token]:
    """The tokens of ``text``: symbols, words (charString1) and quoted strings (charString2,
    backslash escapes kept except that ``\\"`` stands for a quote)."""
    found: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in _SINGLE:
            found.append(Token(char, i + 1, symbol=True))
            i += 1
            continue
        symbol = next((s for s in SYMBOLS if text.startswith(s, i)), None)
        if symbol is not None:
            found.append(Token(symbol, i + 1, symbol=True))
            i += len(symbol)
            continue
        if char == '"':
            start, i, chars = i, i + 1, []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    chars.append(text[i : i + 2] if text[i + 1] != '"' else '"')
                    i += 2
                    continue
                chars.append(text[i])
                i += 1
            if i >= n:
                raise CqlSyntaxError("unterminated quoted string", start + 1)
            found.append(Token("".join(chars), start + 1, quoted=True))
            i += 1
            continue
        start = i
        while i < n and not text[i].isspace() and text[i] not in '()=<>"/':
            i += 1
        found.append(Token(text[start:i], start + 1))
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokens(text)
        self.index = 0
        self.end = len(text) + 1
        self.clauses = 0

    # -- token helpers -------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token | None:
        at = self.index + ahead
        return self.tokens[at] if at < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise CqlSyntaxError("unexpected end of query", self.end)
        self.index += 1
        return token

    def is_symbol(self, *symbols: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token is not None and token.symbol and token.text in symbols

    def term(self, what: str) -> Token:
        token = self.take()
        if token.symbol:
            raise CqlSyntaxError(f"expected {what}, found {token.text!r}", token.position)
        return token

    # -- grammar -------------------------------------------------------------------------------

    def sorted_query(self) -> Query:
        prefixes, depth = self.prefix_assignments((), 0)
        root = self.scoped_clause(prefixes, depth, top=True)
        sort: list[SortSpec] = []
        token = self.peek()
        if token is not None and token.word("sortby"):
            self.take()
            while self.peek() is not None:
                name = self.term("a sort index")
                sort.append(SortSpec(name.text, self.modifiers(), prefixes))
            if not sort:
                raise CqlSyntaxError("expected a sort index after sortBy", self.end)
        token = self.peek()
        if token is not None:
            raise CqlSyntaxError(f"unexpected {token.text!r}", token.position)
        return Query(root, tuple(sort))

    def cql_query(self, prefixes: tuple[tuple[str, str], ...], depth: int) -> Node:
        self.within_depth(depth, CqlTooDeep)
        prefixes, depth = self.prefix_assignments(prefixes, depth)
        return self.scoped_clause(prefixes, depth, top=False)

    def prefix_assignments(
        self, prefixes: tuple[tuple[str, str], ...], depth: int
    ) -> tuple[tuple[tuple[str, str], ...], int]:
        """The prefixes in scope after the assignments at the next tokens, and the depth."""
        while self.is_symbol(">"):
            depth += 1  # each assignment scopes what follows, as a parenthesis does
            self.within_depth(depth, CqlSyntaxError)
            self.take()
            first = self.term("a prefix or URI")
            if self.is_symbol("="):
                self.take()
                uri = self.term("a URI")
                prefixes = (*prefixes, (first.text, uri.text))
            else:
                prefixes = (*prefixes, ("", first.text))
        return prefixes, depth

    def within_depth(self, depth: int, error: type[CqlSyntaxError]) -> None:
        """Raise ``error`` at the next token when ``depth`` is past :data:`MAX_DEPTH` (before,
        prefix assignments were not counted until a parenthesis: 65,000 of them were parsed,
        each copying the prefixes before it)."""
        if depth > MAX_DEPTH:
            token = self.peek()
            raise error("query nested too deeply", token.position if token else self.end)

    def scoped_clause(self, prefixes: tuple[tuple[str, str], ...], depth: int, top: bool) -> Node:
        node = self.search_clause(prefixes, depth)
        while True:
            token = self.peek()
            if token is None or token.is_close() or (top and token.word("sortby")):
                return node
            if not token.word(*BOOLEANS):
                raise CqlSyntaxError(f"expected a boolean, found {token.text!r}", token.position)
            self.take()
            modifiers = self.modifiers()
            right = self.search_clause(prefixes, depth)
            node = Boolean(token.text.lower(), node, right, modifiers, prefixes)

    def search_clause(self, prefixes: tuple[tuple[str, str], ...], depth: int) -> Node:
        token = self.peek()
        if token is None:
            raise CqlSyntaxError("expected a search term", self.end)
        if self.is_symbol("("):
            self.take()
            node = self.cql_query(prefixes, depth + 1)
            if not self.is_symbol(")"):
                found = self.peek()
                raise CqlSyntaxError("expected ')'", found.position if found else self.end)
            self.take()
            return node
        first = self.term("a search term")
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise CqlTooComplex(f"more than {MAX_CLAUSES} search clauses", first.position)
        relation = self.relation()
        if relation is None:
            return SearchClause(SERVER_CHOICE, Relation("="), first.text, prefixes, first.position)
        term = self.term("a search term")
        return SearchClause(first.text, relation, term.text, prefixes, first.position)

    def relation(self) -> Relation | None:
        """The relation after an index, or None when the term stood alone."""
        token = self.peek()
        if token is None:
            return None
        if token.symbol and token.text in SYMBOLS:
            self.take()
            return Relation(token.text, self.modifiers())
        after = self.peek(1)
        named = (
            not token.symbol and not token.quoted and not token.word(*BOOLEANS, "sortby")
            and after is not None and not after.is_close()
        )  # fmt: skip
        if not named:
            return None
        self.take()
        return Relation(token.text, self.modifiers())

    def modifiers(self) -> tuple[Modifier, ...]:
        found: list[Modifier] = []
        while self.is_symbol("/"):
            self.take()
            name = self.term("a modifier name")
            if self.is_symbol(*SYMBOLS):
                comparison = self.take().text
                value = self.term("a modifier value")
                found.append(Modifier(name.text, comparison, value.text))
            else:
                found.append(Modifier(name.text))
        return tuple(found)


def parse(text: str) -> Query:
    """The parse tree of the CQL query ``text``; :class:`CqlSyntaxError` if it is not CQL."""
    if not text.strip():
        raise CqlSyntaxError("empty query", 1)
    return _Parser(text).sorted_query()

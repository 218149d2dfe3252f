"""The Type-1 (RPN) query: a small typed model, PQF text, and the PDU form.

The model is what the Z39.50 target evaluates and what the origin sends::

    query = parse_pqf('@and @attr 1=4 "war and peace" @attr 1=1003 tolstoy')
    # Boolean("and", Term({1: 4}, "war and peace"), Term({1: 1003}, "tolstoy"))
    rpn = rpn_to_pdu(query)          # the RPNQuery value codec.encode_pdu expects
    assert rpn_from_pdu(rpn) == query

PQF is the Prefix Query Format of yaz-client: ``@attr [set] T=V`` (numeric values; the
attributes apply to the whole query that follows, inner ones overriding outer ones of the same
type), ``@and``/``@or``/``@not``, ``@set NAME``, ``@attrset bib-1`` in front, bare or
double-quoted terms (``\\"`` and ``\\\\`` escape inside quotes). Only the Bib-1 attribute set is
understood.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from protocols.z3950 import bib1, oids

Operator = Literal["and", "or", "and-not"]

_PQF_OPERATORS: dict[str, Operator] = {"@and": "and", "@or": "or", "@not": "and-not"}
_OPERATOR_PQF = {op: keyword for keyword, op in _PQF_OPERATORS.items()}
_BIB1_NAMES = {"bib-1", "bib1", oids.BIB1_ATTRIBUTE_SET}
_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]\S*))', re.S)


@dataclass(frozen=True)
class Term:
    """A search term with its Bib-1 attributes, ``{attribute type: value}``."""

    attributes: dict[int, int] = field(hash=False)
    term: str


@dataclass(frozen=True)
class Boolean:
    """``left op right``; ``and-not`` is "left but not right"."""

    op: Operator
    left: Query
    right: Query


@dataclass(frozen=True)
class ResultSetRef:
    """An earlier result set used as an operand."""

    name: str


Query = Term | Boolean | ResultSetRef


class PqfError(ValueError):
    """PQF text that cannot be parsed; the message says where."""


class UnsupportedQuery(bib1.Bib1Error):
    """A Type-1 query Koprik cannot represent, with the Bib-1 diagnostic to answer."""


# --- PQF text -------------------------------------------------------------------------------


def parse_pqf(text: str) -> Query:
    """Parse PQF text into the query model; raises :class:`PqfError`."""
    tokens = _tokenize(text)
    if tokens and tokens[0] == ("@attrset", False):
        if len(tokens) < 2 or tokens[1][0].lower() not in _BIB1_NAMES:
            raise PqfError("only the bib-1 attribute set is supported")
        tokens = tokens[2:]
    query, position = _parse(tokens, 0, {})
    if position != len(tokens):
        raise PqfError(f"unexpected {tokens[position][0]!r} after the query")
    return query


def to_pqf(query: Query) -> str:
    """Write ``query`` as PQF text that :func:`parse_pqf` reads back to an equal query."""
    if isinstance(query, Term):
        attributes = "".join(f"@attr {t}={v} " for t, v in query.attributes.items())
        escaped = query.term.replace("\\", "\\\\").replace('"', '\\"')
        return f'{attributes}"{escaped}"'
    if isinstance(query, ResultSetRef):
        escaped = query.name.replace("\\", "\\\\").replace('"', '\\"')
        return f'@set "{escaped}"'
    return f"{_OPERATOR_PQF[query.op]} {to_pqf(query.left)} {to_pqf(query.right)}"


def _tokenize(text: str) -> list[tuple[str, bool]]:
    """Split PQF into (token, was_quoted) pairs."""
    tokens: list[tuple[str, bool]] = []
    position = 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None:
            raise PqfError(f"unterminated quoted term at offset {position}")
        if match.group(1) is not None:
            tokens.append((re.sub(r"\\(.)", r"\1", match.group(1), flags=re.S), True))
        else:
            tokens.append((match.group(2), False))
        position = match.end()
    return tokens


def _parse(
    tokens: list[tuple[str, bool]], position: int, inherited: dict[int, int]
) -> tuple[Query, int]:
    if position >= len(tokens):
        raise PqfError("query ends where a term or operator was expected")
    token, quoted = tokens[position]
    keyword = "" if quoted else token.lower()
    if keyword == "@attr":
        attributes, position = _parse_attribute(tokens, position + 1, inherited)
        return _parse(tokens, position, attributes)
    if keyword in _PQF_OPERATORS:
        left, position = _parse(tokens, position + 1, inherited)
        right, position = _parse(tokens, position, inherited)
        return Boolean(_PQF_OPERATORS[keyword], left, right), position
    if keyword == "@set":
        if position + 1 >= len(tokens):
            raise PqfError("@set needs a result set name")
        return ResultSetRef(tokens[position + 1][0]), position + 2
    if keyword.startswith("@"):
        raise PqfError(f"unsupported PQF operator {token}")
    return Term(dict(inherited), token), position + 1


def _parse_attribute(
    tokens: list[tuple[str, bool]], position: int, inherited: dict[int, int]
) -> tuple[dict[int, int], int]:
    if position < len(tokens) and "=" not in tokens[position][0]:
        if tokens[position][0].lower() not in _BIB1_NAMES:
            raise PqfError(f"unsupported attribute set {tokens[position][0]!r}")
        position += 1
    if position >= len(tokens):
        raise PqfError("@attr needs TYPE=VALUE")
    match = re.fullmatch(r"(\d+)=(\d+)", tokens[position][0])
    if match is None:
        raise PqfError(f"@attr wants numeric TYPE=VALUE, not {tokens[position][0]!r}")
    attributes = dict(inherited)
    attributes[int(match.group(1))] = int(match.group(2))
    return attributes, position + 1


# --- PDU form (RPNQuery values of codec.encode_pdu) ------------------------------------------


def rpn_to_pdu(query: Query, encoding: str = "utf-8") -> dict[str, Any]:
    """Return the RPNQuery value (Bib-1 attribute set) for ``query``; terms are sent as
    ``general`` octets in ``encoding``: UTF-8, or the character set agreed in Init, as
    yaz-client and ZOOM send them."""
    return {"attributeSet": oids.BIB1_ATTRIBUTE_SET, "rpn": _structure_to_pdu(query, encoding)}


def _structure_to_pdu(query: Query, encoding: str) -> tuple[str, Any]:
    if isinstance(query, Boolean):
        operands = {"rpn1": _structure_to_pdu(query.left, encoding),
                    "rpn2": _structure_to_pdu(query.right, encoding)}  # fmt: skip
        return "rpnRpnOp", {**operands, "op": (query.op, None)}
    if isinstance(query, ResultSetRef):
        return "op", ("resultSet", query.name)
    return "op", ("attrTerm", attributes_plus_term(query, encoding))


def attributes_plus_term(term: Term, encoding: str = "utf-8") -> dict[str, Any]:
    """Return the AttributesPlusTerm value for ``term`` (also the start point of a Scan), its
    term in ``encoding`` (composed first for any but UTF-8, sent as typed: a legacy set has
    ``ü`` only precomposed); UnicodeEncodeError for a character ``encoding`` lacks."""
    attributes = [
        {"attributeType": kind, "attributeValue": ("numeric", value)}
        for kind, value in term.attributes.items()
    ]
    text = term.term if encoding == "utf-8" else unicodedata.normalize("NFC", term.term)
    return {"attributes": attributes, "term": ("general", text.encode(encoding))}


def rpn_from_pdu(rpn: dict[str, Any]) -> Query:
    """Return the query model of a decoded RPNQuery value.

    Raises :class:`UnsupportedQuery` with the Bib-1 diagnostic a target should answer:
    121 for another attribute set (for the query, or for one attribute: Bib-1 named there is
    taken, as Zebra takes it, so 247, per-attribute sets unsupported, would be untrue), 246 for
    complex attribute values, 245 for restriction operands, 110 for proximity, 229 for term
    types other than general, characterString and numeric, 125 for general terms that are not
    UTF-8. An attribute type given more than once counts as given first (see
    :func:`term_from_pdu`).
    """
    if rpn.get("attributeSet") != oids.BIB1_ATTRIBUTE_SET:
        raise UnsupportedQuery(bib1.UNSUPPORTED_ATTRIBUTE_SET, str(rpn.get("attributeSet")))
    return _structure_from_pdu(rpn["rpn"])


def _structure_from_pdu(structure: tuple[str, Any]) -> Query:
    kind, value = structure
    if kind == "rpnRpnOp":
        op = value["op"][0]
        if op == "prox":
            raise UnsupportedQuery(bib1.OPERATOR_UNSUPPORTED, "prox")
        return Boolean(op, _structure_from_pdu(value["rpn1"]), _structure_from_pdu(value["rpn2"]))
    operand_kind, operand = value
    if operand_kind == "resultSet":
        return ResultSetRef(operand)
    if operand_kind == "resultAttr":
        raise UnsupportedQuery(245, operand["resultSet"])
    return term_from_pdu(operand)


def term_from_pdu(attributes_plus_term: dict[str, Any]) -> Term:
    """Return the :class:`Term` of a decoded AttributesPlusTerm (see :func:`rpn_from_pdu`).

    Of an attribute type listed more than once, the first value counts (the others are still
    checked for 246 and 121), as Zebra answers: neither Z39.50 nor Bib-1 gives a repeated type
    a meaning, and YAZ's clients (yaz-client, ZOOM under Koha and MarcEdit) never send one
    (their PQF keeps the innermost of ``@attr 1=4 @attr 1=1003``, their CCL the first), so such
    a list comes from another client, which Zebra answers and 123 would have refused.
    """
    attributes: dict[int, int] = {}
    for element in attributes_plus_term["attributes"]:
        kind = element["attributeType"]
        if element.get("attributeSet", oids.BIB1_ATTRIBUTE_SET) != oids.BIB1_ATTRIBUTE_SET:
            raise UnsupportedQuery(bib1.UNSUPPORTED_ATTRIBUTE_SET, str(element["attributeSet"]))
        value_kind, value = element["attributeValue"]
        if value_kind != "numeric":
            raise UnsupportedQuery(246, f"type {kind}")
        attributes.setdefault(kind, value)
    term_kind, term = attributes_plus_term["term"]
    if term_kind == "general":
        try:
            text = bytes(term).decode("utf-8")
        except UnicodeDecodeError as error:
            raise UnsupportedQuery(125, "term is not UTF-8") from error
    elif term_kind == "characterString":
        text = term
    elif term_kind == "numeric":
        text = str(term)
    else:
        raise UnsupportedQuery(229, term_kind)
    return Term(attributes, text)

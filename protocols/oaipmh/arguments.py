"""Declarative per-verb argument schemas (OAI-PMH 2.0 section 4).

Each verb lists its required, optional and exclusive arguments. :func:`parse_request` checks a
request's ``(name, value)`` pairs against its verb's schema, so verb handlers only ever see
valid argument sets:

>>> parse_request([("verb", "GetRecord"), ("identifier", "oai:natlib.uz:1"),
...                ("metadataPrefix", "oai_dc")]).arguments["identifier"]
'oai:natlib.uz:1'

A missing, repeated or unknown verb, or one not in UTF-8, is :class:`BadVerb`; a repeated,
unknown, missing or empty argument, an argument of illegal syntax or not in UTF-8, or an
exclusive argument given with others, is :class:`BadArgument`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from protocols.forms import first_not_utf8, is_utf8, shown
from protocols.oaipmh.errors import BadArgument, BadVerb


@dataclass(frozen=True)
class VerbSchema:
    """The arguments one verb takes besides ``verb`` itself."""

    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    exclusive: str | None = None
    """An argument that, when present, must be the only one (``resumptionToken``)."""

    @property
    def allowed(self) -> frozenset[str]:
        extra = {self.exclusive} if self.exclusive else set()
        return self.required | self.optional | extra


_LIST = VerbSchema(
    required=frozenset({"metadataPrefix"}),
    optional=frozenset({"from", "until", "set"}),
    exclusive="resumptionToken",
)

VERBS: Mapping[str, VerbSchema] = {
    "GetRecord": VerbSchema(required=frozenset({"identifier", "metadataPrefix"})),
    "Identify": VerbSchema(),
    "ListIdentifiers": _LIST,
    "ListMetadataFormats": VerbSchema(optional=frozenset({"identifier"})),
    "ListRecords": _LIST,
    "ListSets": VerbSchema(exclusive="resumptionToken"),
}

SYNTAX: Mapping[str, re.Pattern[str]] = {
    "metadataPrefix": re.compile(r"[A-Za-z0-9\-_.!~*'()]+"),
    "set": re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*"),
}
"""The syntax of arguments whose type the OAI-PMH schema restricts (values are echoed in
``<request>``, so a value of another shape is badArgument rather than an invalid response)."""

LIST_VERBS = frozenset({"ListIdentifiers", "ListRecords", "ListSets"})
"""Verbs whose answers are paged lists (and count against the concurrency limit)."""


@dataclass(frozen=True)
class OaiRequest:
    """A request that passed its verb's schema."""

    verb: str
    arguments: dict[str, str]


def parse_request(pairs: Iterable[tuple[str, str]]) -> OaiRequest:
    """Check the request's argument pairs (query string or form, in order) against the schema.

    Raises :class:`BadVerb` or :class:`BadArgument`: a verb holding a byte that is not UTF-8
    (:func:`protocols.forms.form_pairs` keeps such bytes) is a BadVerb, any other argument
    holding one a BadArgument once the verb is known (a request without a legal verb is a
    BadVerb, whatever else is wrong).
    """
    pairs = list(pairs)
    verbs: list[str] = []
    arguments: dict[str, str] = {}
    repeated: list[str] = []
    for name, value in pairs:
        if name == "verb":
            verbs.append(value)
        elif name in arguments:
            repeated.append(name)
        else:
            arguments[name] = value
    if not verbs:
        raise BadVerb("the verb argument is missing")
    if len(verbs) > 1:
        raise BadVerb("the verb argument is repeated")
    verb = verbs[0]
    if not is_utf8(verb):
        raise BadVerb(f"the verb {shown(verb)!r} is not UTF-8")
    schema = VERBS.get(verb)
    if schema is None:
        raise BadVerb(f"{verb!r} is not an OAI-PMH verb")
    not_utf8 = first_not_utf8(pairs)
    if not_utf8 is not None:
        raise BadArgument(f"argument {not_utf8[0]!r} is not UTF-8")
    if repeated:
        raise BadArgument(f"argument {repeated[0]!r} is repeated")
    unknown = sorted(set(arguments) - schema.allowed)
    if unknown:
        raise BadArgument(f"{verb} does not take the argument {unknown[0]!r}")
    empty = sorted(name for name, value in arguments.items() if not value)
    if empty:
        raise BadArgument(f"argument {empty[0]!r} is empty")
    for name, pattern in SYNTAX.items():
        if name in arguments and not pattern.fullmatch(arguments[name]):
            raise BadArgument(f"{name}={arguments[name]!r} has an illegal syntax")
    if schema.exclusive and schema.exclusive in arguments:
        if len(arguments) > 1:
            others = ", ".join(sorted(set(arguments) - {schema.exclusive}))
            raise BadArgument(f"{schema.exclusive} is exclusive; it cannot go with {others}")
        return OaiRequest(verb, arguments)
    missing = sorted(schema.required - set(arguments))
    if missing:
        raise BadArgument(f"{verb} requires the argument {missing[0]!r}")
    return OaiRequest(verb, arguments)

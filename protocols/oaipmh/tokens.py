"""Stateless, signed resumption tokens.

A token carries everything needed to serve the next page: the verb, the list's arguments
(metadataPrefix, set, from, until), the keyset position ``(datestamp, id)`` of the last record
sent, the cursor, the completeListSize counted at the first page, and an expiry time. It is
signed with HMAC-SHA256, so any worker sharing the secret can answer it and nobody can forge
one; a token that is tampered with, malformed, expired, or presented to another verb is
:class:`BadResumptionToken`.

>>> codec = TokenCodec(b"secret", lifetime=3600)
>>> token = codec.encode(ListPosition("ListRecords", "oai_dc", None, None, None,
...                                   (1700000000, 42), 500, 1234), now=1700000000)
>>> codec.decode(token, "ListRecords", now=1700000001).cursor
500
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.oaipmh.errors import BadResumptionToken
from protocols.sealed import Forged, Malformed, Seal

_VERSION = 1


@dataclass(frozen=True)
class ListPosition:
    """Where a paged list stands after a page (what a resumption token carries)."""

    verb: str
    prefix: str
    set_spec: str | None
    from_: int | None
    until: int | None
    after: tuple[int, int]
    """The ``(datestamp, id)`` key of the last record sent; the next page starts after it."""
    cursor: int
    """How many records were sent before the next page."""
    complete_list_size: int | None
    """How many records the whole list has; None when it was not counted (longer than the
    provider counts)."""


@dataclass(frozen=True)
class Token:
    """An issued token: its text, its position, and when it stops being accepted."""

    text: str
    position: ListPosition
    expires: int


class TokenCodec:
    """Encodes and checks tokens with one secret; tokens live ``lifetime`` seconds."""

    def __init__(self, secret: bytes, lifetime: int) -> None:
        if not secret:
            raise ValueError("a resumption token secret must not be empty")
        self._seal = Seal(secret)
        self.lifetime = lifetime

    def encode(self, position: ListPosition, now: int) -> Token:
        """The token for ``position``, issued at ``now`` (epoch seconds)."""
        expires = now + self.lifetime
        fields = [
            _VERSION,
            position.verb,
            position.prefix,
            position.set_spec,
            position.from_,
            position.until,
            position.after[0],
            position.after[1],
            position.cursor,
            position.complete_list_size,
            expires,
        ]
        return Token(self._seal.close(fields), position, expires)

    def decode(self, text: str, verb: str, now: int) -> ListPosition:
        """The position ``text`` stands for; raises :class:`BadResumptionToken` if unusable."""
        try:
            fields = self._seal.open(text)
        except Forged:
            raise BadResumptionToken(
                "the resumption token is not one this repository issued"
            ) from None
        except Malformed:
            raise BadResumptionToken("the resumption token is malformed") from None
        try:
            (version, token_verb, prefix, set_spec, from_, until, datestamp, record_id, cursor,
             size, expires) = fields  # type: ignore[misc]
        except (ValueError, TypeError):
            raise BadResumptionToken("the resumption token is malformed") from None
        if version != _VERSION or not _well_typed(fields):
            raise BadResumptionToken("the resumption token is malformed")
        if token_verb != verb:
            raise BadResumptionToken(f"the resumption token belongs to {token_verb}, not {verb}")
        if expires < now:
            raise BadResumptionToken("the resumption token has expired")
        return ListPosition(
            token_verb, prefix, set_spec, from_, until, (datestamp, record_id), cursor, size
        )


def _well_typed(fields: list[object]) -> bool:
    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    _, verb, prefix, set_spec, from_, until, datestamp, record_id, cursor, size, expires = fields
    return (
        isinstance(verb, str)
        and isinstance(prefix, str)
        and (set_spec is None or isinstance(set_spec, str))
        and (from_ is None or is_int(from_))
        and (until is None or is_int(until))
        and (size is None or is_int(size))
        and all(is_int(v) for v in (datestamp, record_id, cursor, expires))
    )

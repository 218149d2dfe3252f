"""Stateless, signed SRU result set ids: any worker, and any node on the same catalogue,
answers ``cql.resultSetId = "id"``.

A ``resultSetId`` carries what the set is rather than naming memory that holds it: the CQL
query, the SRU 1.1 ``sortKeys``, the highest record id in the catalogue when the set was made
(its *bound*), the number of records it had, and when the id stops being accepted. It is
signed with HMAC-SHA256 under a key kept in the catalogue (so every process sharing the
catalogue can check it and nobody can forge one); the front end re-evaluates the query,
leaving out records above the bound, whenever a process does not hold the set already.

Why not keep the sets themselves in the catalogue: that is a write (up to
``search.max_result_set`` ids) for every SRU search, on the database harvests write to, and a
table to expire; an id that re-evaluates costs a search only in a process that has not seen
the set, and nothing at all to keep.

The limit, stated plainly: a set made again is the same set as long as no record up to its
bound has changed whether it matches. Records added later never join it (their ids are above
the bound). A record of the set that was deleted, or edited so that it no longer matches, makes
the set made again smaller, which the front end sees once it has read that far (at once for a
sorted or combined query, by the page that passes the change for a one-term query) and answers
diagnostic 51 rather than a shifted page; the process that made the set keeps serving it as it
was, with diagnostic 65 in the slot of a deleted record. A sorted or combined query reads every
id when it is made, so its id also carries a digest of them in order (its *order*): made again
in an order of its own (a record edited so that it sorts elsewhere, one leaving while another
joins), the set is 51 too, and two sets of one query made before and after such an edit are
never taken for each other. Not seen, for a one-term query (read a window at a time, in id
order): one record leaving while another up to the bound starts matching, which shifts positions
after theirs; on PostgreSQL, a record whose id was drawn before the set was made but committed
after it counts as such a joiner. A client that must not miss a record under changes harvests
with OAI-PMH instead.

>>> ids = SignedSetIds(b"key")
>>> text = ids.encode(SetQuery("dc.title = sea", "", bound=812, count=40), expires=1700000600)
>>> ids.decode(text, now=1700000000).count
40
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.sealed import Forged, Malformed, Seal

_VERSION = 2
MAX_ID_CHARS = 2000
"""Longest result set id issued or read: a query whose id would be longer gets none (the client
pages by repeating the query), and a longer text is refused before it is decoded."""


class UnknownSet(ValueError):
    """An id that is not a usable result set: malformed, not issued here, or expired."""


@dataclass(frozen=True)
class SetQuery:
    """What a result set id stands for (and the key a process keeps the set under)."""

    query: str
    """The CQL query, as the client sent it."""
    sort_keys: str
    """SRU 1.1 ``sortKeys`` ("" for none; later versions sort in the query)."""
    bound: int
    """The highest record id when the set was made: records above it are left out."""
    count: int
    """How many records the set had (its numberOfRecords)."""
    order: str = ""
    """A digest of the set's ids in order when all were read as it was made
    (:meth:`~provider.search.result_sets.ResultSet.order`), else ""."""


class SignedSetIds:
    """Encodes and checks result set ids with one secret."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("a result set id secret must not be empty")
        self._seal = Seal(secret)

    def encode(self, made: SetQuery, expires: int) -> str | None:
        """The id of ``made``, accepted until ``expires`` (epoch seconds); None if it would be
        longer than :data:`MAX_ID_CHARS`."""
        fields = [_VERSION, made.query, made.sort_keys, made.bound, made.count, made.order,
                  expires]
        text = self._seal.close(fields, ascii_only=False)
        return text if len(text) <= MAX_ID_CHARS else None

    def decode(self, text: str, now: int, *, expired_too: bool = False) -> SetQuery:
        """What ``text`` stands for; raises :class:`UnknownSet` (saying why) if it is unusable.

        ``expired_too`` accepts an expired id: a set named inside the query of another set
        that is still valid (that outer id's signature already vouches for it).
        """
        if len(text) > MAX_ID_CHARS:
            raise UnknownSet("too long")
        try:
            fields = self._seal.open(text)
        except Forged:
            raise UnknownSet("not issued here") from None
        except Malformed:
            raise UnknownSet("malformed") from None
        try:
            version, query, sort_keys, bound, count, order, expires = fields  # type: ignore[misc]
        except (ValueError, TypeError):
            raise UnknownSet("malformed") from None
        if (
            version != _VERSION
            or not isinstance(query, str)
            or not isinstance(sort_keys, str)
            or not isinstance(order, str)
            or not all(_is_int(v) for v in (bound, count, expires))
        ):
            raise UnknownSet("malformed")
        if expires < now and not expired_too:
            raise UnknownSet("expired")
        return SetQuery(query, sort_keys, bound, count, order)

def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

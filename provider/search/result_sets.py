"""Result sets: what a search found, and the two ways they are kept.

A :class:`ResultSet` holds the matching count and the ids read so far (a compact array). For a
one-term search of more records than ``search.snapshot_ids`` only a first window of ids is read
at search time; the query is kept and more ids are read as a later window, sort or reference
needs them. A set with a ``bound`` leaves out
ids above it (records added after the set was made; see :func:`within`).

:class:`NamedSets` are a session's sets by name (Z39.50): a new set beyond the limit evicts the
least recently used one instead of refusing the search (yaz-client names every set, so a
refusal would end a session's searching after ``limit`` searches). :class:`SharedSets` are a
process's cache of sets any request may name (SRU, whose ids say what the set is, so a process
that does not hold one makes it again): kept until idle for their time to live, bounded in
number and in ids across all clients.
"""

from __future__ import annotations

import hashlib
import threading
import time
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from catalog.query import Query

WINDOW = 100
"""Ids of a one-term result read at a time once it is larger than was read at search time
(``search.snapshot_ids``)."""

MoreIds = Callable[[Query, int, int], list[int]]
"""``more(query, after, count)``: the next ``count`` ids after id ``after`` of ``query``."""


@dataclass
class ResultSet:
    """``count`` records matched; ``ids`` the first of them read so far, in order.

    ``query`` is kept while ``ids`` is only a first window of a one-term result (see
    :meth:`wanted`); ``limit`` is the most ids the set will ever hold; ``bound``, when set, the
    highest id it may hold (``count`` becomes the number of ids up to it once all are read).
    """

    ids: array[int]
    count: int
    limit: int
    query: Query | None = None
    bound: int | None = None
    _reading: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """Held while more ids are read: a shared set may be paged by two requests at once."""

    @property
    def positions(self) -> int:
        """The positions the set has: ``count``, at most ``limit`` (ids past it are never read)."""
        return min(self.count, self.limit)

    def order(self) -> str:
        """A digest of the ids in order once every one is read (``query`` None), else "":
        what tells a set made again in another order from the set as it was made."""
        if self.query is not None:
            return ""
        return hashlib.blake2b(self.ids.tobytes(), digest_size=12).hexdigest()

    def wanted(self, end: int, more: MoreIds) -> None:
        """Make sure ids up to position ``end`` (or the end of the set) are read (blocking)."""
        limit = self.positions
        if self.query is None or len(self.ids) >= min(end, limit):
            return
        with self._reading:
            while self.query is not None and len(self.ids) < min(end, limit):
                after = self.ids[-1] if self.ids else 0
                found = more(self.query, after, max(end - len(self.ids), WINDOW))
                kept = found if self.bound is None else found[: bisect_right(found, self.bound)]
                self.ids.extend(kept[: limit - len(self.ids)])
                if len(kept) < len(found) or not found:  # past the bound, or no more at all
                    self.query = None
                    if self.bound is not None and len(self.ids) < self.limit:
                        self.count = len(self.ids)
                elif len(self.ids) >= limit:
                    self.query = None


@dataclass
class NamedSets:
    """A session's result sets by name, at most ``limit`` of them (least recently used goes)."""

    limit: int
    _sets: OrderedDict[str, ResultSet] = field(default_factory=OrderedDict)

    def get(self, name: str) -> ResultSet | None:
        found = self._sets.get(name)
        if found is not None:
            self._sets.move_to_end(name)
        return found

    def put(self, name: str, results: ResultSet) -> None:
        self._sets.pop(name, None)
        self._sets[name] = results
        while len(self._sets) > self.limit:
            self._sets.popitem(last=False)

    def pop(self, name: str) -> ResultSet | None:
        return self._sets.pop(name, None)

    def clear(self) -> None:
        self._sets.clear()

    def __contains__(self, name: str) -> bool:
        return name in self._sets

    def __len__(self) -> int:
        return len(self._sets)


class SharedSets:
    """Result sets by a key, kept ``ttl`` seconds after their last use.

    Thread-safe: the SRU front end reads and writes them from its database threads. At most
    ``limit`` are kept, holding at most ``max_ids`` ids together (counted when a set is put);
    beyond either the least recently used go first.

    A set may also be found by an ``alias`` given when it is put (:meth:`find`), for as long as
    it is kept and no later set took the alias: the SRU front end keeps a set under what its
    id says (:class:`provider.sru.set_ids.SetQuery`) and finds it by the query that made it,
    so that a request for a later page of the same query reads on in that set.
    """

    def __init__(
        self,
        ttl: float,
        limit: int,
        max_ids: int = 5_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self.max_ids = max_ids
        self._clock = clock
        self._lock = threading.Lock()
        self._sets: OrderedDict[Hashable, tuple[ResultSet, float, Hashable]] = OrderedDict()
        self._keys: dict[Hashable, Hashable] = {}
        """The key of the set each alias stands for."""

    def put(self, key: Hashable, results: ResultSet, alias: Hashable = None) -> None:
        """Keep ``results`` under ``key`` (replacing what was kept under it), also found by
        ``alias`` when given."""
        with self._lock:
            self._expire()
            self._drop(key)
            self._sets[key] = (results, self._clock() + self.ttl, alias)
            if alias is not None:
                self._keys[alias] = key
            held = sum(len(s.ids) for s, _, _ in self._sets.values())
            while len(self._sets) > self.limit or (held > self.max_ids and len(self._sets) > 1):
                oldest = next(iter(self._sets))
                held -= len(self._sets[oldest][0].ids)
                self._drop(oldest)

    def get(self, key: Hashable) -> ResultSet | None:
        """The set kept under ``key`` (its time to live starts again), or None once gone."""
        with self._lock:
            self._expire()
            return self._used(key)

    def find(self, alias: Hashable) -> tuple[Hashable, ResultSet] | None:
        """The key and the set last put with ``alias`` (its time to live starts again), or
        None once gone."""
        with self._lock:
            self._expire()
            key = self._keys.get(alias)
            results = None if key is None else self._used(key)
            return None if results is None else (key, results)

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._drop(key)

    def _used(self, key: Hashable) -> ResultSet | None:
        found = self._sets.get(key)
        if found is None:
            return None
        self._sets[key] = (found[0], self._clock() + self.ttl, found[2])
        self._sets.move_to_end(key)
        return found[0]

    def _drop(self, key: Hashable) -> None:
        found = self._sets.pop(key, None)
        if found is not None and found[2] is not None and self._keys.get(found[2]) == key:
            del self._keys[found[2]]

    def _expire(self) -> None:
        now = self._clock()
        while self._sets:
            key, (_, deadline, _) = next(iter(self._sets.items()))
            if deadline > now:
                return
            self._drop(key)


def within(results: ResultSet, bound: int) -> ResultSet:
    """The records of ``results`` (a set in id order) with ids up to ``bound``.

    A set made again from its query leaves out the records added since it was first made,
    whose ids are higher. ``count`` is the number of ids up to the bound when that is known
    (the ids read pass it, or every matching id is read), else still the whole result's count.
    """
    cut = bisect_right(results.ids, bound)
    ids = results.ids[:cut]
    if cut < len(results.ids):  # past the bound: every id up to it is read
        return ResultSet(ids, cut, results.limit, None, bound)
    if results.query is None and results.count <= results.limit:  # every id read
        return ResultSet(ids, cut, results.limit, None, bound)
    return ResultSet(ids, results.count, results.limit, results.query, bound)


def new_set(ids: list[int], count: int, limit: int, query: Query | None = None) -> ResultSet:
    return ResultSet(array("q", ids), count, limit, query)

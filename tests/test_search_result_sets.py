"""provider/search/result_sets.py: named sets evict the least recently used; shared sets
expire after their time to live and are bounded in number."""

from __future__ import annotations

from collections.abc import Callable

from catalog.query import Match, Query
from provider.search.result_sets import NamedSets, SharedSets, new_set, within


def test_a_new_named_set_beyond_the_limit_evicts_the_least_recently_used() -> None:
    sets = NamedSets(limit=2)
    sets.put("1", new_set([1], 1, 10))
    sets.put("2", new_set([2], 1, 10))
    assert sets.get("1") is not None  # "1" is now the most recently used
    sets.put("3", new_set([3], 1, 10))
    assert "2" not in sets and "1" in sets and "3" in sets
    assert len(sets) == 2


def test_forty_named_sets_keep_the_last_thirty_two() -> None:
    sets = NamedSets(limit=32)
    for n in range(1, 41):
        sets.put(str(n), new_set([n], 1, 10))
    assert [str(n) in sets for n in (1, 8, 9, 40)] == [False, False, True, True]


def test_shared_sets_expire_after_their_idle_time_and_are_bounded() -> None:
    now = [0.0]
    sets = SharedSets(ttl=10, limit=2, clock=lambda: now[0])
    sets.put("first", new_set([1], 1, 10))
    now[0] = 9
    assert sets.get("first") is not None  # used: lives until 19
    sets.put("second", new_set([2], 1, 10))
    now[0] = 18
    assert sets.get("first") is not None and sets.get("second") is not None
    now[0] = 40
    assert sets.get("first") is None and sets.get("second") is None
    for n in range(3):
        sets.put(n, new_set([n], 1, 10))
    assert [sets.get(n) is not None for n in range(3)] == [False, True, True]


def test_shared_sets_are_bounded_by_the_ids_they_hold() -> None:
    sets = SharedSets(ttl=10, limit=100, max_ids=5)
    sets.put("first", new_set([1, 2, 3], 3, 10))
    sets.put("second", new_set([4, 5, 6], 3, 10))
    assert sets.get("first") is None and sets.get("second") is not None


def _more(ids: list[int]) -> Callable[[Query, int, int], list[int]]:
    """``more`` of a one-term query whose records are ``ids`` (ascending)."""
    return lambda _query, after, count: [i for i in ids if i > after][:count]


def test_within_leaves_out_ids_above_the_bound_and_counts_what_is_left() -> None:
    complete = within(new_set([2, 5, 9, 12], 4, 100), bound=9)
    assert complete.ids.tolist() == [2, 5, 9] and complete.count == 3 and complete.query is None
    # a one-term set read in windows: the count is known once reading passes the bound
    catalogue = list(range(1, 800, 2))  # 400 matching ids; 300 of them up to the bound 599
    first = within(new_set(catalogue[:100], 400, 1000, Match("title", "sea")), bound=599)
    assert first.query is not None and first.count == 400
    first.wanted(120, _more(catalogue))  # reads a window of 100 more
    assert len(first.ids) == 200 and first.query is not None and first.count == 400
    first.wanted(1000, _more(catalogue))
    assert first.ids.tolist() == catalogue[:300] and first.count == 300 and first.query is None
    # cut by the limit, every id at or below the bound: how many there are stays unknown
    limited = within(new_set([1, 2, 3], 10, 3), bound=50)
    assert limited.ids.tolist() == [1, 2, 3] and limited.count == 10

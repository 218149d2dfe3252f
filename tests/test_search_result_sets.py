"""provider/search/result_sets.py: named sets evict the least recently used; shared sets
expire after their time to live and are bounded in number."""

from __future__ import annotations

from provider.search.result_sets import NamedSets, SharedSets, new_set


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
    first = sets.add(new_set([1], 1, 10))
    now[0] = 9
    assert sets.get(first) is not None  # used: lives until 19
    second = sets.add(new_set([2], 1, 10))
    now[0] = 18
    assert sets.get(first) is not None and sets.get(second) is not None
    now[0] = 40
    assert sets.get(first) is None and sets.get(second) is None
    ids = [sets.add(new_set([n], 1, 10)) for n in range(3)]
    assert [sets.get(i) is not None for i in ids] == [False, True, True]
    assert len({*ids, first, second}) == 5  # ids are never reused


def test_shared_sets_are_bounded_by_the_ids_they_hold() -> None:
    sets = SharedSets(ttl=10, limit=100, max_ids=5)
    first = sets.add(new_set([1, 2, 3], 3, 10))
    second = sets.add(new_set([4, 5, 6], 3, 10))
    assert sets.get(first) is None and sets.get(second) is not None

"""catalog.written_ids: a run's marks, one bit a record id, however far apart the ids."""

from catalog.written_ids import WrittenIds


def test_marked_ids_and_only_those_are_in_it() -> None:
    marks = WrittenIds()
    assert 0 not in marks and 5 not in marks
    marks.add_all([0, 7, 8, 1_000_003])
    marks.add_all([])
    assert [i for i in (0, 1, 6, 7, 8, 9, 1_000_002, 1_000_003, 1_000_004, 10**9) if i in marks] \
        == [0, 7, 8, 1_000_003]

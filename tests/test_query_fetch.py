"""catalog.query.fetch: statements of fixed sizes give every asked record once, in order,
whatever the number of ids (padding, repeats, several chunks), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from pymarc import Field, Record

from catalog import query as q


@pytest.fixture
def ids(catalog) -> list[int]:  # type: ignore[no-untyped-def]
    with catalog.writer() as writer:
        for n in range(1, 511):
            record = Record(force_utf8=True)
            record.add_field(Field(tag="001", data=f"f{n:04d}"))
            writer.put(record)
    with catalog.engine.connect() as connection:
        rows = connection.execute(q.select(q.models.records.c.id).order_by("id"))
        return [row.id for row in rows]


@pytest.mark.parametrize("count", [1, 3, 17, 500, 510])
def test_every_size_gives_the_asked_records_in_order(catalog, ids, count) -> None:  # type: ignore[no-untyped-def]
    wanted = list(reversed(ids[:count]))
    with catalog.engine.connect() as connection:
        fetched = q.fetch(connection, wanted)
    assert [f.id for f in fetched] == wanted
    assert all(f.marc is not None and f.local_id.startswith("f") for f in fetched)


def test_repeats_and_unknown_ids(catalog, ids) -> None:  # type: ignore[no-untyped-def]
    wanted = [ids[4], 10**9, ids[4], ids[0]]
    with catalog.engine.connect() as connection:
        fetched = q.fetch(connection, wanted)
    assert [f.id for f in fetched] == [ids[4], ids[4], ids[0]]
    with catalog.engine.connect() as connection:
        assert q.fetch(connection, []) == []

"""Reading live records out in bulk (``koprik export``), a bounded page at a time.

Records come in ``(datestamp, id)`` order, the order of OAI-PMH lists, read as keyset pages of
``batch`` rows, so memory stays bounded however large the catalogue is and a record changed
during the export is met at most once more (at its new datestamp), never skipped. Deleted
records are left out: a MARC file has no way to say "deleted"; so are the members of union
records, which the union record stands for (as OAI-PMH serves them: as deletions, except in the
members set, when it is served).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from sqlalchemy import and_, func, not_, select, tuple_

from catalog import models
from catalog.store import Catalog

Form = Literal["iso2709", "marcxml"]
BATCH = 1000


def _selection(  # type: ignore[no-untyped-def]
    form: Form, set_spec: str | None, from_: int | None, until: int | None, members: bool
):
    """The query over live records, its data column and its ``(datestamp, id)`` key columns;
    ``members``: ``set_spec`` is the members set (:meth:`Catalog.is_members_set`)."""
    r, rend = models.records, models.renditions
    key_datestamp, key_id = r.c.datestamp, r.c.id
    if form == "iso2709":
        data, source = r.c.marc, r
    else:
        data = rend.c.data
        source = r.join(rend, and_(rend.c.record_id == r.c.id, rend.c.format == "marc21"))
    if members:
        conditions = [r.c.deleted.is_(False), r.c.union_id.is_not(None), data.is_not(None)]
    else:
        conditions = [not_(models.hidden()), data.is_not(None)]
    if set_spec is not None and not members:
        rs = models.record_sets
        source = source.join(rs, rs.c.record_id == r.c.id)
        key_datestamp, key_id = rs.c.datestamp, rs.c.record_id
        conditions.append(rs.c.set_spec == set_spec)
    if from_ is not None:
        conditions.append(key_datestamp >= from_)
    if until is not None:
        conditions.append(key_datestamp <= until)
    return source, conditions, data, key_datestamp, key_id


def count_live(
    catalog: Catalog, form: Form, *, set_spec: str | None = None, from_: int | None = None,
    until: int | None = None,
) -> int:
    """How many records :func:`live_records` yields with the same arguments."""
    members = catalog.is_members_set(set_spec)
    source, conditions, _data, _d, _i = _selection(form, set_spec, from_, until, members)
    with catalog.engine.connect() as connection:
        return int(connection.execute(
            select(func.count()).select_from(source).where(*conditions)
        ).scalar_one())


def live_records(
    catalog: Catalog, form: Form, *, set_spec: str | None = None, from_: int | None = None,
    until: int | None = None, batch: int = BATCH,
) -> Iterator[bytes]:
    """The bytes of each live record: ISO 2709 (the canonical MARC21, UTF-8) or a MARCXML
    ``<record>`` element; in set ``set_spec`` and with a datestamp within ``from_``..``until``
    (epoch seconds, inclusive) when given."""
    members = catalog.is_members_set(set_spec)
    source, conditions, data, key_datestamp, key_id = _selection(
        form, set_spec, from_, until, members
    )
    query = (
        select(data, key_datestamp.label("k_datestamp"), key_id.label("k_id"))
        .select_from(source)
        .where(*conditions)
        .order_by(key_datestamp, key_id)
        .limit(batch)
    )
    after: tuple[int, int] | None = None
    while True:
        page = query if after is None else query.where(
            tuple_(key_datestamp, key_id) > tuple_(*after)
        )
        with catalog.engine.connect() as connection:
            rows = connection.execute(page).all()
        for row in rows:
            yield bytes(row[0])
        if len(rows) < batch:
            return
        after = (rows[-1].k_datestamp, rows[-1].k_id)

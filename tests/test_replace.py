"""catalog.replace: deleting the records a source's whole catalogue, imported again, no longer
holds (``koprik import --replace``; the command's own test is in test_import_command)."""

from __future__ import annotations

from sqlalchemy import select

from catalog import Catalog, models
from catalog import replace as replace_module
from catalog.replace import delete_unmet
from catalog.store import Incoming
from catalog.written_ids import WrittenIds
from tests.books import book


def _states(catalog: Catalog) -> dict[str, tuple[int, bool, int]]:
    r = models.records
    with catalog.engine.connect() as connection:
        rows = connection.execute(select(r.c.local_id, r.c.id, r.c.deleted, r.c.datestamp))
        return {row.local_id: (row.id, bool(row.deleted), row.datestamp) for row in rows}


def test_only_the_sources_live_records_stored_before_the_run_and_not_met_are_deleted(
    catalog, monkeypatch
):
    monkeypatch.setattr(replace_module, "CHUNK", 2)  # paged, as a large source is
    with catalog.writer("import") as writer:
        writer.put_many([Incoming(book(f"{n}", f"Kitob {n}"), source="sam") for n in range(5)]
                        + [Incoming(book("1", "Ours")), Incoming(book("1", "Ours"), source="bux")])
    states = _states(catalog)
    stored_at = states["sam:0"][2]
    met = WrittenIds()
    met.add_all([states["sam:0"][0], states["1"][0], states["bux:1"][0]])

    # Records stored at or after the run began are another run's: left alone.
    assert delete_unmet(catalog, "sam", met, before=stored_at) == 0
    looked: list[int] = []
    assert delete_unmet(catalog, "sam", met, stored_at + 1, looked.append) == 4
    assert looked == [2, 2, 1]
    deleted = {local_id: state[1] for local_id, state in _states(catalog).items()}
    assert deleted == {"sam:0": False, "sam:1": True, "sam:2": True, "sam:3": True,
                       "sam:4": True, "1": False, "bux:1": False}
    history = catalog.record_history(states["sam:3"][0])
    assert [(change.outcome.value, change.origin) for change in history][-1] == (
        "deleted", "import")
    looked.clear()
    assert delete_unmet(catalog, "sam", met, stored_at + 1, looked.append) == 0
    assert looked == [1]

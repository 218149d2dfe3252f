"""catalog.replace: deleting the records a source's whole catalogue, imported again, no longer
holds (``koprik import --replace``; the command's own test is in test_import_command)."""

from __future__ import annotations

from sqlalchemy import select

from catalog import Catalog, models
from catalog import replace as replace_module
from catalog.replace import delete_unmet, latest_change
from catalog.store import Incoming
from catalog.written_ids import WrittenIds
from tests.books import book


def _states(catalog: Catalog) -> dict[str, tuple[int, bool, int]]:
    r = models.records
    with catalog.engine.connect() as connection:
        rows = connection.execute(select(r.c.local_id, r.c.id, r.c.deleted, r.c.datestamp))
        return {row.local_id: (row.id, bool(row.deleted), row.datestamp) for row in rows}


def test_only_the_sources_live_records_not_met_and_unchanged_since_the_run_began_are_deleted(
    catalog, monkeypatch
):
    monkeypatch.setattr(replace_module, "CHUNK", 2)  # paged, as a large source is
    with catalog.writer("import") as writer:
        writer.put_many([Incoming(book(f"{n}", f"Kitob {n}"), source="sam") for n in range(6)]
                        + [Incoming(book("1", "Ours")), Incoming(book("1", "Ours"), source="bux")])
    states = _states(catalog)
    began = latest_change(catalog)
    # After the run began: another run of the source changes sam:5; the deduplication of
    # another source's records restamps sam:1 (a new datestamp, no change of the record).
    with catalog.writer("import") as writer:
        writer.put_many([Incoming(book("5", "Kitob 5, ikkinchi nashr"), source="sam")])
    with catalog.writer("union") as writer:
        writer.now += 5
        writer.restamp([states["sam:1"][0]])
    assert _states(catalog)["sam:1"][2] > states["sam:1"][2]
    met = WrittenIds()
    met.add_all([states["sam:0"][0], states["1"][0], states["bux:1"][0]])

    seen: list[tuple[int, int]] = []
    assert delete_unmet(catalog, "sam", met, began, lambda *n: seen.append(n)) == 4
    assert seen == [(2, 1), (2, 2), (2, 1)]
    deleted = {local_id: state[1] for local_id, state in _states(catalog).items()}
    assert deleted == {"sam:0": False, "sam:1": True, "sam:2": True, "sam:3": True,
                       "sam:4": True, "sam:5": False, "1": False, "bux:1": False}
    history = catalog.record_history(states["sam:3"][0])
    assert [(change.outcome.value, change.origin) for change in history][-1] == (
        "deleted", "import")
    seen.clear()
    assert delete_unmet(catalog, "sam", met, began, lambda *n: seen.append(n)) == 0
    assert seen == [(2, 0)]  # sam:0 and sam:5 are all that is live
    assert delete_unmet(catalog, "sam", met, latest_change(catalog)) == 1  # sam:5, unchanged since


def test_a_record_whose_formats_alone_were_made_again_is_still_deleted(catalog) -> None:
    """``koprik db renditions`` adds an ``updated`` change to the records whose formats it
    writes, with their MARC as it was: one met by no replace run meanwhile was kept, and
    served, until the next run."""
    from catalog.renditions_again import make_again

    with catalog.writer("import") as writer:
        writer.put_many([Incoming(book(f"{n}", f"Kitob {n}"), source="sam") for n in range(2)])
    states = _states(catalog)
    began = latest_change(catalog)
    with catalog.engine.begin() as connection:
        connection.execute(models.renditions.update().values(data=b"<old/>"))
    assert make_again(catalog.engine).changed == 2
    with catalog.writer("import") as writer:  # and a record changed by another run meanwhile
        writer.put_many([Incoming(book("1", "Kitob 1, ikkinchi nashr"), source="sam")])
    assert delete_unmet(catalog, "sam", WrittenIds(), began) == 1
    deleted = {local_id: state[1] for local_id, state in _states(catalog).items()}
    assert deleted == {"sam:0": True, "sam:1": False}
    assert states.keys() == deleted.keys()

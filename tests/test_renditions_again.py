"""``koprik db renditions`` (catalog/renditions_again.py): every live record's served formats
made again from its stored MARC; those that changed written, with new datestamps for the
record and its set memberships and a change in its history; the rest left as they were
(SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import pytest
from sqlalchemy import text

from catalog import Catalog
from catalog.db import open_engine
from catalog.dedup import run_dedup
from catalog.demo import demo_records
from catalog.renditions import make_renditions
from catalog.search_index import read_canonical
from catalog.store import Incoming
from config import load_settings
from config.settings import FileSource
from koprik.cli import main
from tests.books import book
from tests.conftest import signalled

BEFORE = 1_000_000_000
"""The datestamp every record is moved back to before the run (2001-09-09)."""


def _catalogue(catalog_url: str, folder: Path, records: int) -> Path:
    """A settings file naming ``catalog_url``, filled with ``records`` demo records, every one
    of them and its set memberships dated :data:`BEFORE`."""
    config = folder / "koprik.toml"
    config.write_text(f'[database]\nurl = "{catalog_url}"\n')
    catalog = Catalog.open(load_settings(config))
    try:
        with catalog.writer() as writer:
            for record in demo_records(records):
                writer.put(record)
        with catalog.engine.begin() as connection:
            connection.execute(text("UPDATE records SET datestamp = :t"), {"t": BEFORE})
            connection.execute(text("UPDATE record_sets SET datestamp = :t"), {"t": BEFORE})
    finally:
        catalog.close()
    return config


def _state(catalog_url: str) -> dict[int, tuple[int, dict[str, bytes], set[int], list[str]]]:
    """Each record's datestamp, renditions, its memberships' datestamps and the origins of its
    history's changes."""
    engine = open_engine(catalog_url)
    try:
        with engine.connect() as connection:
            state = {row.id: (row.datestamp, {}, set(), []) for row in connection.execute(
                text("SELECT id, datestamp FROM records"))}  # fmt: skip
            for row in connection.execute(text("SELECT record_id, format, data FROM renditions")):
                state[row.record_id][1][row.format] = bytes(row.data)
            for row in connection.execute(text("SELECT record_id, datestamp FROM record_sets")):
                state[row.record_id][2].add(row.datestamp)
            for row in connection.execute(
                text("SELECT record_id, origin FROM record_changes ORDER BY id")
            ):
                state[row.record_id][3].append(row.origin)
    finally:
        engine.dispose()
    return state


def test_formats_made_otherwise_are_written_with_new_datestamps_and_the_rest_left(
    catalog_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _catalogue(catalog_url, tmp_path, 12)
    engine = open_engine(catalog_url)
    try:
        with engine.begin() as connection:
            ids = list(connection.execute(text("SELECT id FROM records ORDER BY id")).scalars())
            older, lacking, unreadable = ids[1], ids[4], ids[7]
            connection.execute(text("UPDATE renditions SET data = :old WHERE record_id = :id "
                                    "AND format = 'mods'"),
                               {"old": b"<mods>an older crosswalk's</mods>", "id": older})
            connection.execute(text("DELETE FROM renditions WHERE record_id = :id AND "
                                    "format = 'oai_dc'"), {"id": lacking})  # fmt: skip
            connection.execute(text("UPDATE records SET marc = :marc WHERE id = :id"),
                               {"marc": b"not ISO 2709", "id": unreadable})
            marc = {row.id: bytes(row.marc) for row in connection.execute(
                text("SELECT id, marc FROM records"))}  # fmt: skip
    finally:
        engine.dispose()
    before = _state(catalog_url)
    history = {record_id: changes for record_id, (_, _, _, changes) in before.items()}

    assert main(["--config", str(config), "db", "renditions"]) == 0
    said = capsys.readouterr().out
    assert said.endswith(": the formats of 12 records made again; 2 changed, given new "
                         "datestamps (harvesters take them again); 1 whose stored MARC could not "
                         "be read left as they were (the log names them)\n"), said
    after = _state(catalog_url)
    for record_id, (datestamp, renditions, memberships, changes) in after.items():
        if record_id == unreadable:
            assert after[record_id] == before[record_id]
            continue
        assert renditions == make_renditions(read_canonical(marc[record_id]), "")
        if record_id in (older, lacking):
            assert datestamp > BEFORE and memberships == {datestamp}
            assert changes == [*history[record_id], "renditions"]
        else:
            assert after[record_id] == before[record_id]  # its datestamp and history with it
    assert after[older][1]["mods"] != before[older][1]["mods"]
    assert set(after[lacking][1]) == {"oai_dc", "marc21", "mods"}
    assert before[lacking][2] == {BEFORE}  # (it was in sets: their datestamps moved)

    assert main(["--config", str(config), "db", "renditions"]) == 0  # again: nothing to do
    assert capsys.readouterr().out.endswith(
        ": the formats of 12 records made again; none changed; 1 whose stored MARC could not be "
        "read left as they were (the log names them)\n")
    assert _state(catalog_url) == after


def test_a_union_members_formats_are_written_and_it_keeps_its_datestamp(
    catalog_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{catalog_url}"\n')
    sources = [FileSource("sam", "UzSaRL", "Samarqand"), FileSource("bux", "UzBuRL", "Buxoro")]
    catalog = Catalog.open(dataclasses.replace(load_settings(config), file_sources=sources))
    try:
        with catalog.writer() as writer:
            writer.put_many([
                Incoming(book("1", "O‘zbekiston tarixi", author="Karimov, Alisher",
                              isbn="978-9943-01-234-9"), source="sam"),
                Incoming(book("1", "O‘zbekiston tarixi", author="Karimov, Alisher",
                              isbn="978-9943-01-234-9"), source="bux"),
            ])  # fmt: skip
        run_dedup(catalog)
    finally:
        catalog.close()
    engine = open_engine(catalog_url)
    try:
        with engine.begin() as connection:
            rows = connection.execute(
                text("SELECT id, union_id, is_union FROM records ORDER BY id")).all()
            (union,) = [row.id for row in rows if row.is_union]
            member = next(row.id for row in rows if row.union_id == union)
            connection.execute(text("UPDATE renditions SET data = :old WHERE format = 'mods' "
                                    "AND record_id IN (:a, :b)"),
                               {"old": b"<mods>an older crosswalk's</mods>", "a": union,
                                "b": member})  # fmt: skip
            connection.execute(text("UPDATE records SET datestamp = :t"), {"t": BEFORE})
            connection.execute(text("UPDATE record_sets SET datestamp = :t"), {"t": BEFORE})
    finally:
        engine.dispose()
    before = _state(catalog_url)

    assert main(["--config", str(config), "db", "renditions"]) == 0
    assert capsys.readouterr().out.endswith(
        ": the formats of 3 records made again; 2 changed: 1 given new datestamps (harvesters "
        "take them again), 1 members of a union record keeping theirs (the union record is "
        "served)\n")
    after = _state(catalog_url)
    assert after[union][0] > BEFORE and after[union][2] == {after[union][0]}
    assert after[member][1]["mods"] != before[member][1]["mods"]
    assert after[member][0] == BEFORE and after[member][2] <= {BEFORE}
    assert after[member][3] == [*before[member][3], "renditions"]


def test_deleted_records_are_not_looked_at(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    config = _catalogue(url, tmp_path, 3)
    catalog = Catalog.open(load_settings(config))
    try:
        with catalog.engine.connect() as connection:
            first = connection.execute(text("SELECT min(local_id) FROM records")).scalar_one()
        with catalog.writer() as writer:
            writer.delete(first)
    finally:
        catalog.close()
    assert main(["--config", str(config), "db", "renditions"]) == 0
    assert capsys.readouterr().out.endswith(
        ": the formats of 2 records made again; none changed\n")


def test_a_stop_as_a_batch_commits_waits_for_its_records_to_be_restamped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ^C between a batch's COMMIT and the move of its records to the second the COMMIT
    ended in (catalog/restamp.py) left them at a datestamp a harvest may have paged past, and
    a run again found nothing to write, so they stayed there."""
    from catalog import renditions_again

    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    _catalogue(url, tmp_path, 3)
    engine = open_engine(url)
    restamped: list[list[int]] = []
    restamp = renditions_again.restamp_after_commit

    def stopped_then_restamped(engine: object, ids: list[int], stamped: int) -> None:
        signalled(signal.SIGINT)
        restamp(engine, ids, stamped)  # type: ignore[arg-type]
        restamped.append(ids)

    monkeypatch.setattr(renditions_again, "restamp_after_commit", stopped_then_restamped)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE renditions SET data = :old"), {"old": b"<old/>"})
        with pytest.raises(KeyboardInterrupt):
            renditions_again.make_again(engine)
    finally:
        signal.signal(signal.SIGINT, before)
        engine.dispose()
    assert len(restamped) == 1 and len(restamped[0]) == 3

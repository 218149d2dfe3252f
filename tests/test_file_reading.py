"""``koprik import`` reads a large file in a process of its own: with the same outcome, record
for record, as the small files read in the writing process (koprik/file_reading.py)."""

import dataclasses
import os
import signal
import struct
from pathlib import Path

import pytest
from pymarc import Field, Record
from sqlalchemy import select

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.store import Incoming, PreparedRecord, Preparer
from config import load_settings
from crosswalks.marc_io import iter_records, record_to_iso2709
from koprik import file_reading
from koprik.errors import UserError
from koprik.file_reading import OWN_PROCESS_BYTES, Read, ReadAhead, ReadSpec, read_batches
from tests.conftest import DATA
from tests.test_import_command import koprik
from tests.test_iso2709 import EDGE_CASES, iso

MARC21 = DATA / "marc21"
BROKEN = (MARC21 / "broken" / "bad_records.mrc").read_bytes()


def _copies(count: int) -> list[bytes]:
    """``count`` different records (test.dat's, each with an 001 of its own), ISO 2709."""
    originals = [item.record for item in iter_records(MARC21 / "test.dat")]
    made = []
    for n in range(count):
        record: Record = originals[n % len(originals)]
        record.remove_fields("001")
        record.add_ordered_field(Field(tag="001", data=f"copy{n:05d}"))
        made.append(record.as_marc())
    return made


def _catalogue(folder: Path) -> set[tuple[str, str]]:
    catalog = Catalog.open(load_settings(folder / "koprik.toml"))
    try:
        with catalog.engine.connect() as connection:
            r = models.records.c
            return set(connection.execute(select(r.local_id, r.digest)))
    finally:
        catalog.close()


def _rejected(folder: Path) -> list[str]:
    text = (folder / "rejects.txt").read_text()
    return [line.split("\t", 1)[1] for line in text.splitlines() if not line.startswith("\t")]


def test_a_large_file_imports_as_its_parts_do(tmp_path):
    records = _copies(2400)
    marc8 = (MARC21 / "marc8.dat").read_bytes()
    # Broken records near the start, in the middle and at the end; MARC-8 among UTF-8.
    parts = [
        BROKEN + b"".join(records[:800]),
        marc8 + b"".join(records[800:1600]) + BROKEN,
        b"".join(records[1600:]) + BROKEN,
    ]
    assert all(len(part) < OWN_PROCESS_BYTES for part in parts)
    whole = tmp_path / "whole.mrc"
    whole.write_bytes(b"".join(parts))
    assert whole.stat().st_size >= OWN_PROCESS_BYTES  # read in a process of its own

    big, small = tmp_path / "big", tmp_path / "small"
    big.mkdir()
    small.mkdir()
    files = []
    for n, part in enumerate(parts):
        files.append(small / f"part{n}.mrc")
        files[-1].write_bytes(part)
    at_once = koprik(big, "import", "--rejects", str(big / "rejects.txt"), str(whole))
    in_parts = koprik(small, "import", "--rejects", str(small / "rejects.txt"), *map(str, files))

    assert at_once.returncode == in_parts.returncode == 1  # some records rejected
    assert "Traceback" not in at_once.stderr + in_parts.stderr
    summary = at_once.stdout.splitlines()[0]
    assert summary == in_parts.stdout.splitlines()[0]
    assert summary.startswith("import: 2401 added, 0 updated, 0 unchanged, ")
    assert _catalogue(big) == _catalogue(small)
    # The same records rejected for the same reasons, numbered by their place in the file.
    broken_count = len(_rejected(small)) // 3
    assert broken_count > 0
    reasons = sorted(line.split("\t", 1)[1] for line in _rejected(big))
    assert reasons == sorted(line.split("\t", 1)[1] for line in _rejected(small))
    numbers = [int(line.split("\t")[0].removeprefix("record ")) for line in _rejected(big)]
    assert numbers[0] <= broken_count  # at the start
    assert max(numbers) > 2400  # at the end of the whole file


def test_a_large_file_without_records_is_one_line(tmp_path):
    empty = tmp_path / "empty.xml"
    padding = "<!-- " + "x" * OWN_PROCESS_BYTES + " -->"
    empty.write_text(
        '<?xml version="1.0"?>\n<collection xmlns="http://www.loc.gov/MARC21/slim">'
        f"{padding}</collection>\n"
    )
    result = koprik(tmp_path, "import", str(empty))
    assert result.returncode == 2
    assert result.stderr == f"koprik: {empty}: no marcxml records found\n"


def _built_and_prepared(spec: ReadSpec, preparer: Preparer) -> list[Read]:
    """What :func:`read_batches` made of each record when every record was built."""
    made: list[Read] = []
    for item in iter_records(spec.path, spec.fmt, charset=spec.charset):
        if item.record is None:
            made.append((item, None))
            continue
        prepared = preparer(Incoming(item.record, source=spec.source, check_as=item.index + 1))
        made.append((dataclasses.replace(item, record=None), prepared))
    return made


@pytest.mark.parametrize("source", [None, "regional"])
def test_records_read_straight_to_bytes_are_prepared_as_built_ones(tmp_path, source):
    """Plain records are never built (:func:`crosswalks.iso2709.read_record_or_canonical`):
    what is read and prepared of each is what building, checking and writing it gives, over
    the shortcut's edge cases, MARC-8 and damaged records, demo records, and records of other
    institutions; and only those are marked plain (read again without checks)."""
    edge_cases = [case.values[0] for case in EDGE_CASES]
    demo = [record_to_iso2709(record) for record in demo_records(50)]
    path = tmp_path / "mixed.mrc"
    path.write_bytes(b"".join([
        *edge_cases, (MARC21 / "marc8.dat").read_bytes(), BROKEN, *demo,
        (MARC21 / "yaz" / "marccol5.u8.marc").read_bytes(),
        iso((b"001", b"x 1"), (b"003", b"DLC"), (b"245", b"10\x1faOther")),
        iso((b"003", b"UzTUNL"), (b"245", b"10\x1faOurs, no 001")),
    ]))
    spec = ReadSpec(path, "marc21", None, 1 << 20, False, source, 7, 1 << 20)
    preparer = Preparer(1 << 20, "UzTUNL")
    read = [made for batch in read_batches(spec, preparer) for made in batch]
    plain = [isinstance(prepared, PreparedRecord) and prepared.plain for _, prepared in read]
    read = [(item, dataclasses.replace(prepared, plain=False)
             if isinstance(prepared, PreparedRecord) else prepared) for item, prepared in read]
    assert read == _built_and_prepared(spec, preparer)
    straight = sum(item.canonical is not None for item in iter_records(path, canonical=True))
    assert straight >= len(demo) + len([case for case in EDGE_CASES if case.values[1]])
    assert sum(plain) == straight  # their bytes are read again without checks


@pytest.mark.parametrize(
    ("count", "sizes"),
    [
        (1, [1]),
        (5, [1, 2, 2]),
        (16, [1, 2, 4, 4, 2, 1, 2]),
        (39, [1, 2, 4, 8, 8, 8, 4, 2, 2]),
        (40, [1, 2, 4, 8, 8, 8, 4, 2, 1, 2]),
        (41, [1, 2, 4, 8, 8, 8, 5, 2, 1, 2]),
        (57, [1, 2, 4, 8, 8, 8, 8, 8, 5, 2, 1, 2]),
    ],
)
def test_batches_grow_to_full_and_the_last_records_come_in_halves(tmp_path, count, sizes):
    """With batches of 8: 1, 2, 4 records first, then 8s; the last full batch and what follows
    it in halves down to 1 or 2 (so that little is left to write when the derivations end).
    Every record comes once, in file order."""
    path = tmp_path / "copies.mrc"
    path.write_bytes(b"".join(_copies(count)))
    spec = ReadSpec(path, "marc21", None, 1 << 20, False, None, 8, 1 << 20)
    batches = list(read_batches(spec, Preparer(1 << 20, "UzTUNL")))
    assert [item.index for batch in batches for item, _ in batch] == list(range(count))
    assert [len(batch) for batch in batches] == sizes


def _killed_sending(spec: ReadSpec, preparer: Preparer, sending) -> None:  # type: ignore[no-untyped-def]
    """A reading process killed as it sends a batch: the first 10 bytes of a message of 1,000
    in the pipe (as a large batch is sent, in pieces), then SIGKILL."""
    os.write(sending.fileno(), struct.pack("!i", 1000) + b"0123456789")
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_reading_process_killed_as_it_sends_is_said_to_have_ended(tmp_path, monkeypatch):
    """The import ended "koprik: got end of file during message" (the pipe's OSError for a
    message cut short), where a reading process that ended between batches is said to have
    ended (crash probe)."""
    monkeypatch.setattr(file_reading, "_read_into", _killed_sending)  # (its name goes across)
    large = tmp_path / "large.mrc"
    large.write_bytes(b"0" * OWN_PROCESS_BYTES)
    spec = ReadSpec(large, "marc21", None, 1 << 20, False, None, 2000, 2 << 20)
    with (pytest.raises(UserError, match=r"large\.mrc: the process reading it ended unexpectedly "
                                         r"\(exit status -9\)"),
          ReadAhead(spec, Preparer(1 << 20, "")) as batches):  # fmt: skip
        list(batches)

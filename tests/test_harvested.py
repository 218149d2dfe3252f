"""harvester.harvested: the identifier of a record from a source that gives none."""

from __future__ import annotations

from pymarc import Field, Leader, Record

from harvester.harvested import identifier_of


def _with_001(control: str | None) -> Record:
    record = Record(leader=Leader("00000nam a2200000 a 4500"))
    if control is not None:
        record.add_field(Field(tag="001", data=control))
    return record


def test_the_001_without_spaces_else_a_digest_of_the_payload() -> None:
    assert identifier_of(_with_001("  70813420 /AJ/r86 "), b"") == "70813420/AJ/r86"
    assert identifier_of(_with_001(None), b"abc") == "sha1:a9993e364706816aba3e25717850c26c9cd0d89d"
    assert identifier_of(_with_001("   "), b"abc").startswith("sha1:")
    assert identifier_of(None, b"abc").startswith("sha1:")

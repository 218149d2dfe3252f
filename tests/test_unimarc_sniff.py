"""UNIMARC/Authorities records told apart, by content: from MARC21 authority records (which stay
MARC21) and from UNIMARC bibliographic records (which the crosswalk converts). The records are
built by hand in :mod:`tests.authority_records`."""

from __future__ import annotations

import io

import pytest

from crosswalks.marc_io import detect_format
from crosswalks.registry import input_format
from crosswalks.unimarc_sniff import authority_refusal, looks_unimarc
from tests.authority_records import (
    marc21_person,
    unimarc_book,
    unimarc_corporate,
    unimarc_person,
    unimarc_reference,
)

AUTHORITIES = [unimarc_person, unimarc_corporate, unimarc_reference]


@pytest.mark.parametrize("record", AUTHORITIES, ids=lambda f: f.__name__)
def test_a_unimarc_authority_record_is_unimarc(record) -> None:
    assert looks_unimarc(record())
    assert detect_format(record()) == "unimarc"


def test_a_marc21_authority_record_stays_marc21() -> None:
    assert not looks_unimarc(marc21_person())
    assert detect_format(marc21_person()) == "marc21"
    # one MARC21 authority record among UNIMARC ones: the file is not UNIMARC
    assert detect_format(unimarc_person() + marc21_person()) == "marc21"


def test_an_authority_leader_without_unimarc_content_is_not_unimarc() -> None:
    """leader/06 'x' or 'z' alone says nothing (MARC21 holdings and authorities use them)."""
    leaderless = bytearray(marc21_person())
    leaderless[6:7] = b"x"
    assert not looks_unimarc(bytes(leaderless))  # 008, no UNIMARC heading: MARC21 holdings-like


def test_the_refusal_names_the_type_of_record_in_words() -> None:
    assert authority_refusal("00232nx  a2200097   450 ") == (
        "UNIMARC authority record (leader/06 'x': authority entry record): the crosswalk "
        "converts bibliographic records only"
    )
    assert "reference entry record" in (authority_refusal("00175ny  a2200073   450 ") or "")
    assert "general explanatory" in (authority_refusal("00175nz  a2200073   450 ") or "")
    assert authority_refusal("00200nam a2200085   450 ") is None


def test_the_unimarc_crosswalk_rejects_authority_records_and_converts_the_others() -> None:
    data = unimarc_person() + unimarc_book() + unimarc_corporate() + unimarc_reference()
    items = list(input_format("unimarc").read(io.BytesIO(data), 100_000))
    assert [item.record is not None for item in items] == [False, True, False, False]
    for item in (items[0], items[2], items[3]):
        assert item.error is not None
        assert item.error.startswith("UNIMARC authority record (leader/06 ")
        assert item.error.endswith("the crosswalk converts bibliographic records only")
        assert item.raw  # kept whole for the reject file
    book = items[1].record
    assert book is not None and book["245"]["a"].startswith("Стихи")

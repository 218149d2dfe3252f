"""Bib-1 diagnostics and their SRU mapping, checked against yaz's own tables (libyaz)."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest

from protocols.z3950 import bib1

# Deliberate differences from yaz's strings: a typo fixed, a doubled space collapsed.
OUR_WORDING = {15, 243, 244}


@pytest.fixture(scope="module")
def libyaz() -> ctypes.CDLL:
    path = ctypes.util.find_library("yaz")
    if path is None:
        pytest.skip("libyaz not installed")
    library = ctypes.CDLL(path)
    library.diagbib1_str.restype = ctypes.c_char_p
    library.diagbib1_str.argtypes = [ctypes.c_int]
    library.yaz_diag_bib1_to_srw.restype = ctypes.c_int
    library.yaz_diag_bib1_to_srw.argtypes = [ctypes.c_int]
    return library


def test_codes_the_target_needs_are_present() -> None:
    needed = {1, 2, 3, 11, 13, 25, 30, 100, 108, *range(113, 124), 126, 128, 225, 227, 238, 239}
    assert needed | {243, 1005} <= set(bib1.DIAGNOSTICS)


@pytest.mark.interop
def test_messages_match_yaz(libyaz: ctypes.CDLL) -> None:
    for code, diagnostic in bib1.DIAGNOSTICS.items():
        theirs = libyaz.diagbib1_str(code).decode()
        if code in OUR_WORDING:
            assert diagnostic.message != theirs
            assert diagnostic.message.split()[-1] == theirs.split()[-1]
        else:
            assert diagnostic.message == theirs, code


@pytest.mark.interop
def test_sru_mapping_matches_yaz(libyaz: ctypes.CDLL) -> None:
    for code, diagnostic in bib1.DIAGNOSTICS.items():
        assert diagnostic.sru == libyaz.yaz_diag_bib1_to_srw(code), code


def test_lookups() -> None:
    assert bib1.sru_diagnostic(114) == "info:srw/diagnostic/1/16"
    assert bib1.sru_diagnostic(99999) == "info:srw/diagnostic/1/1"
    assert bib1.diagnostic_message(239) == "Record syntax not supported"
    assert "99999" in bib1.diagnostic_message(99999)
    assert bib1.Use.TITLE == 4 and bib1.Use.AUTHOR == 1003 and bib1.Use.ANY == 1016
    assert bib1.Structure.PHRASE == 1 and bib1.Truncation.NONE == 100

"""Bib-1 diagnostics, checked against yaz's own table (libyaz)."""

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
    return library


def test_codes_the_target_needs_are_present() -> None:
    needed = {1, 2, 3, 11, 13, 25, 30, 100, 108, *range(113, 124), 126, 128, 225, 227, 238, 239}
    assert needed | {243, 1005} <= set(bib1.DIAGNOSTICS)


@pytest.mark.interop
def test_messages_match_yaz(libyaz: ctypes.CDLL) -> None:
    for code, message in bib1.DIAGNOSTICS.items():
        theirs = libyaz.diagbib1_str(code).decode()
        if code in OUR_WORDING:
            assert message != theirs
            assert message.split()[-1] == theirs.split()[-1]
        else:
            assert message == theirs, code


def test_lookups() -> None:
    assert bib1.diagnostic_message(239) == "Record syntax not supported"
    assert "99999" in bib1.diagnostic_message(99999)
    assert bib1.Use.TITLE == 4 and bib1.Use.AUTHOR == 1003 and bib1.Use.ANY == 1016
    assert bib1.Structure.PHRASE == 1 and bib1.Truncation.NONE == 100

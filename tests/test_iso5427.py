"""ISO 5427 to Unicode (crosswalks.iso5427): every code of its two sets against glibc's iconv,
the ISO 2022 placement a UNIMARC record gives them, unassigned codes refused."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from crosswalks import iso5427


def iconv_sets() -> set[str]:
    """The character sets ``iconv -l`` lists (none when there is no iconv)."""
    if shutil.which("iconv") is None:
        return set()
    listed = subprocess.run(["iconv", "-l"], capture_output=True, check=True, timeout=60)
    return {name.strip("/") for name in listed.stdout.decode().replace(",", " ").split()}


glibc = pytest.mark.skipif(
    not {"ISO_5427", "ISO_5427-EXT"} <= iconv_sets(), reason="no iconv with ISO_5427"
)


def iconv_g1(text: str) -> bytes:
    """``text`` as a UNIMARC record's G1 carries ISO 5427: each run of characters between
    spaces encoded by glibc's iconv (``-t ISO_5427``, a 7-bit code) with the eighth bit set;
    spaces stay 0x20 (0xA0 is no code of a 94-character set). Not Koprik's own encoding."""
    out = bytearray()
    for piece in re.split("( )", text):
        if piece == " ":
            out += b" "
        elif piece:
            done = subprocess.run(["iconv", "-f", "UTF-8", "-t", "ISO_5427"], input=piece.encode(),
                                  capture_output=True, check=True, timeout=60)  # fmt: skip
            out += bytes(code | 0x80 for code in done.stdout)
    return bytes(out)


def iconv_read(charset: str, code: int) -> str | None:
    """The character glibc's iconv reads one byte ``code`` as, in its 7-bit form of
    ``charset``; None when iconv refuses the byte."""
    done = subprocess.run(["iconv", "-f", charset, "-t", "UTF-8"], input=bytes([code]),
                          capture_output=True, timeout=60)  # fmt: skip
    return done.stdout.decode() if done.returncode == 0 else None


def iconv_graphics(charset: str) -> dict[int, str]:
    """``{7-bit code: character}`` of the 94 graphic positions (0x21-0x7E) iconv reads."""
    read = {code: iconv_read(charset, code) for code in range(0x21, 0x7F)}
    return {code: char for code, char in read.items() if char}


@glibc
@pytest.mark.parametrize(
    ("charset", "designation"), [("ISO_5427", b""), ("ISO_5427-EXT", b"\x1b)Q")]
)
def test_every_code_of_g1_reads_as_iconv_reads_it_in_its_7_bit_form(
    charset: str, designation: bytes
) -> None:
    """iconv has each set as a 7-bit code (0x21-0x7E); a UNIMARC record carries it as G1, in
    the right half, so byte ``code | 0x80`` is compared with iconv's ``code``. The basic set
    (ISO-IR-37) is in G1 from the start; the extension (ISO-IR-54) once ``ESC ) Q`` puts it
    there. What iconv refuses has no character here either."""
    expected = iconv_graphics(charset)
    assert len(expected) == (94 if charset == "ISO_5427" else 42)
    for code in range(0x21, 0x7F):
        data = designation + bytes([code | 0x80])
        if code in expected:
            assert iso5427.decode(data) == expected[code], hex(code | 0x80)
        else:
            with pytest.raises(iso5427.Iso5427Error, match=f"code 0x{code | 0x80:02x}"):
                iso5427.decode(data)


def test_the_left_half_is_iso_646_and_the_sets_change_by_escape() -> None:
    # "Навоий 1441" with the Cyrillic in G1, the digits in G0 (ASCII)
    assert iso5427.decode(b"\xee\xc1\xd7\xcf\xc9\xca 1441") == "Навоий 1441"
    # ёлка: ё from the extension, then the basic set back in G1
    assert iso5427.decode(b"\x1b)Q\xc4\x1b)N\xcc\xcb\xc1") == "ёлка"
    assert iso5427.decode(b"\x88The \x89end") == "\x98The \x9cend"  # ISO 6630's NSB, NSE


@pytest.mark.parametrize("code", [0x7F, 0x80, 0x9F, 0xA0, 0xFF])
def test_codes_outside_the_sets_are_refused(code: int) -> None:
    with pytest.raises(iso5427.Iso5427Error, match=f"code 0x{code:02x} \\(offset 2\\)"):
        iso5427.decode(b"ab" + bytes([code]))


@pytest.mark.parametrize("sequence", [b"\x1b(N", b"\x1b)B", b"\x1b)", b"\x1b"])
def test_other_escape_sequences_are_refused(sequence: bytes) -> None:
    with pytest.raises(iso5427.Iso5427Error, match="escape sequence"):
        iso5427.decode(b"\xc1" + sequence + b"\xc1")

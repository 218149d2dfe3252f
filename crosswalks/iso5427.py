"""ISO 5427 (Cyrillic for bibliographic interchange) to Unicode, as a UNIMARC record carries it.

The character set UNIMARC 100 $a/26-29 declares as 02 (ISO registration #37, basic Cyrillic)
in its G1 set: ISO 646 IRV (ASCII) in bytes 0x00-0x7E, the 94 Cyrillic codes in the right half
(0xA1-0xFE, the set's 7-bit code with the eighth bit set), as ISO 2022 places a G1 set in an
8-bit code (UNIMARC Appendix J). ``ESC ) Q`` puts ISO 5427's extension (ISO-IR-54, ISO DIS
5427, UNIMARC's code 04) in G1, ``ESC ) N`` the basic set back; a value starts with the basic
set. ISO 6630's non-sort marks at 0x88 and 0x89 are read as in ISO 5426.

Both sets are MARC-8's Basic and Extended Cyrillic (:func:`crosswalks.marc8.tables`, sets N and
Q), which LoC took from these ISO registrations, but for one code: 2/4 (0xA4 here) is ISO-IR-37's
currency sign ¤, where MARC-8 put the dollar sign. Every code is checked against glibc's iconv
(``ISO_5427``, ``ISO_5427-EXT``; tests/test_iso5427.py).

>>> decode(b"\\xee\\xc1\\xd7\\xcf\\xc9\\xca")
'Навоий'
"""

from __future__ import annotations

from functools import cache

from crosswalks import iso5426
from crosswalks.marc8 import CYRILLIC, EXTENDED_CYRILLIC, CodedChar, tables

ESC = 0x1B
_G1_DESIGNATIONS = {b"\x1b)N": CYRILLIC, b"\x1b)Q": EXTENDED_CYRILLIC}
"""The escape sequences that put a set in G1 (ISO 2022 ``ESC 2/9 F``, F the set's final byte)."""
_NON_SORT = (0x88, 0x89)


class Iso5427Error(ValueError):
    """ISO 5427 data holds a code or escape sequence that has no character."""


@cache
def g1_sets() -> dict[int, dict[int, CodedChar]]:
    """``{final byte: {7-bit code: character}}`` of the two sets that may be in G1."""
    basic = dict(tables()[CYRILLIC])
    basic[0x24] = CodedChar("\u00a4", False)  # ISO-IR-37's 2/4; MARC-8 has "$" there
    return {CYRILLIC: basic, EXTENDED_CYRILLIC: tables()[EXTENDED_CYRILLIC]}


def decode(data: bytes) -> str:
    """ISO 5427 ``data`` (one subfield or control field) as Unicode.

    Raises :class:`Iso5427Error` naming the first code that has no character (DEL, C1 controls
    but the non-sort marks, 0xA0, 0xFF, what the set in G1 lacks) or escape sequence that
    designates no set here; nothing is replaced silently.
    """
    if data.isascii() and 0x7F not in data and ESC not in data:
        return data.decode("ascii")
    sets = g1_sets()
    g1 = sets[CYRILLIC]
    text: list[str] = []
    offset = 0
    while offset < len(data):
        byte = data[offset]
        if byte == ESC:
            g1 = sets[_designated(data, offset)]
            offset += 3
            continue
        if byte < 0x7F:
            text.append(chr(byte))
        elif byte in _NON_SORT:
            text.append(iso5426.table()[byte].char)
        else:
            entry = g1.get(byte & 0x7F) if 0xA1 <= byte <= 0xFE else None
            if entry is None:
                raise Iso5427Error(
                    f"invalid ISO 5427: code 0x{byte:02x} (offset {offset}) is unassigned"
                )
            text.append(entry.char)
        offset += 1
    return "".join(text)


def _designated(data: bytes, offset: int) -> int:
    """The final byte of the set the escape sequence at ``data[offset]`` puts in G1."""
    sequence = data[offset : offset + 3]
    final = _G1_DESIGNATIONS.get(sequence)
    if final is None:
        shown = " ".join(f"0x{byte:02x}" for byte in sequence)
        raise Iso5427Error(f"invalid ISO 5427 escape sequence ({shown}) at offset {offset}")
    return final

"""ISO 5426 (extended Latin for bibliographic interchange) to Unicode, from a code table kept as
data (``tables/iso5426.tsv``).

The character set UNIMARC 100 $a/26-29 declares as 03: ISO 646 IRV (ASCII) in bytes 0x00-0x7E,
ISO 5426 in 0xA1-0xFE, ISO 6630's non-sort marks at 0x88 and 0x89. Its non-spacing diacritics
(0xC0-0xDF) are written before their base letter, as in MARC-8's ANSEL; they are moved after it
(:class:`crosswalks.marc8.MarksAfterBase`) and the text composed (NFC).

>>> decode(b"Citt\\xc1a")
'Città'
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from crosswalks.marc8 import CodedChar, MarksAfterBase


class Iso5426Error(ValueError):
    """ISO 5426 data holds a code that has no character."""


@cache
def table() -> dict[int, CodedChar]:
    """``{byte: character}`` of the codes above ASCII (``tables/iso5426.tsv``)."""
    text = resources.files("crosswalks.tables").joinpath("iso5426.tsv").read_text("utf-8")
    codes: dict[int, CodedChar] = {}
    for line in text.splitlines():
        if line.startswith("#") or line.startswith("code\t"):
            continue
        code, point, combining, _name = line.split("\t")
        codes[int(code, 16)] = CodedChar(chr(int(point, 16)), combining == "1")
    return codes


def decode(data: bytes) -> str:
    """ISO 5426 ``data`` (one subfield or control field) as NFC Unicode.

    Raises :class:`Iso5426Error` naming the first code that has no character (DEL, C1 controls
    but the non-sort marks, unassigned positions); nothing is replaced silently.
    """
    if data.isascii() and 0x7F not in data:
        return data.decode("ascii")
    codes = table()
    text = MarksAfterBase()
    for offset, byte in enumerate(data):
        if byte < 0x7F:
            text.base(chr(byte))
            continue
        entry = codes.get(byte)
        if entry is None:
            raise Iso5426Error(
                f"invalid ISO 5426: code 0x{byte:02x} (offset {offset}) is unassigned"
            )
        text.add(entry)
    return text.nfc()

"""MarcEdit mnemonic text (``.mrk``): one ``=TAG  data`` line per field, a blank line per record.

Conventions, as MarcEdit writes them: ``\\`` stands for a blank in the leader, control fields and
indicators; subfields start with ``$``. Four mnemonics keep the text lossless: ``{dollar}`` for a
``$`` in data, ``{bsol}`` for a backslash, ``{lcub}`` and ``{rcub}`` for braces.

Character mnemonics (``tables/mrk_mnemonics.tsv``, LoC's MARCMaker names) are read wherever
they occur: ANSEL letters and marks (``{Lstrok}``, ``{acute}e``: a mark precedes its letter, as
in MARC-8), ``{esc}`` designations of other MARC-8 sets (``{esc}(NPU{esc}(B``), and accented
letters by name (``{eacute}``); a name not in the table stays as written and is reported
(:func:`parse_mrk` collects them). :func:`record_to_mrk` writes real UTF-8, or with
``mnemonics=True`` ASCII text in MARC-8 with mnemonics, as MarcEdit writes MARC-8 files.

pymarc's ``MARCMakerReader`` and ``Record.__str__`` are close to this but neither maps ``\\`` back
to a blank nor escapes ``$``, so a round trip through them loses data; hence this module.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import BinaryIO

from pymarc import Field, Indicators, Leader, Record, Subfield

from crosswalks import marc8
from crosswalks.framing import BOM, SAMPLE_BYTES, too_large

_ESCAPES = {"{": "{lcub}", "}": "{rcub}", "$": "{dollar}", "\\": "{bsol}"}
_ESCAPE = re.compile(r"[{}$\\]")
_MNEMONIC = re.compile(r"\{([A-Za-z][A-Za-z0-9]*)\}")
_ACCENTS = {"grave": "\u0300", "acute": "\u0301", "circ": "\u0302", "tilde": "\u0303",
            "macr": "\u0304", "breve": "\u0306", "dot": "\u0307", "uml": "\u0308",
            "ring": "\u030a", "dblac": "\u030b", "caron": "\u030c", "cedil": "\u0327",
            "ogon": "\u0328"}
"""Accent names of letter mnemonics such as {eacute} (HTML's names, as MarcEdit reads them)."""


@cache
def mnemonics() -> dict[str, bytes]:
    """``{name: MARC-8 bytes}`` of every mnemonic read (the table's and letters by name)."""
    table: dict[str, bytes] = {}
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        for name, mark in _ACCENTS.items():
            composed = unicodedata.normalize("NFC", letter + mark)
            if len(composed) == 1:
                table[letter + name] = marc8.encode(composed)
    text = resources.files("crosswalks.tables").joinpath("mrk_mnemonics.tsv").read_text("utf-8")
    for line in text.splitlines():
        if line.startswith("#") or line.startswith("name\t"):
            continue
        name, code, _meaning = line.split("\t")
        table[name] = bytes.fromhex(code)
    return table


@cache
def _names() -> dict[int, str]:
    """``{byte: name}`` for writing: the table's own names (not letters by name)."""
    names: dict[int, str] = {}
    for name, code in mnemonics().items():
        if len(code) == 1 and (code[0] >= 0x80 or code[0] == 0x1B):
            names.setdefault(code[0], name)
    return names


def _escape(text: str) -> str:
    return _ESCAPE.sub(lambda match: _ESCAPES[match.group()], text)


def _unescape(text: str, unknown: list[str] | None = None) -> str:
    """``text`` with its mnemonics read; names not in the table stay and go to ``unknown``."""
    if "{" not in text and "&#x" not in text:
        return text
    table = mnemonics()
    data = bytearray()
    position = 0
    for match in _MNEMONIC.finditer(text):
        data += marc8.encode(text[position : match.start()])
        code = table.get(match.group(1))
        if code is None:
            if unknown is not None:
                unknown.append(match.group())
            code = marc8.encode(match.group())
        data += code
        position = match.end()
    data += marc8.encode(text[position:])
    try:
        return marc8.decode(bytes(data))
    except marc8.Marc8Error as error:
        raise ValueError(f"mnemonics give {error}") from None


def _mnemonic_text(text: str) -> str:
    """``text`` as MARC-8 written in ASCII: mnemonics for ESC and ANSEL codes."""
    names = _names()
    out = []
    for byte in marc8.encode(text):
        char = chr(byte)
        if byte in names:
            out.append("{" + names[byte] + "}")
        else:
            out.append(_ESCAPES.get(char, char))
    return "".join(out)


def _blanks_out(text: str) -> str:
    return _escape(text).replace(" ", "\\")


def _blanks_in(text: str, unknown: list[str] | None = None) -> str:
    return _unescape(text.replace("\\", " "), unknown)


def record_to_mrk(record: Record, *, mnemonics: bool = False) -> str:
    """The record as MarcEdit text: ``=LDR`` line then one line per field, ending with ``\\n``.

    With ``mnemonics``, the text is ASCII: MARC-8 with every escape and ANSEL code written
    as its mnemonic. Raises :class:`ValueError` for a record whose data holds a line break,
    which a line-based format cannot carry (MARCXML and MARC-in-JSON can).
    """
    escape = _mnemonic_text if mnemonics else _escape
    for field in record.fields:
        values = (
            [field.data or ""]
            if field.is_control_field()
            else [subfield.value for subfield in field.subfields]
        )
        if any("\n" in value or "\r" in value for value in values):
            raise ValueError(f"field {field.tag} holds a line break, which .mrk cannot carry")
    lines = [f"=LDR  {_blanks_out(str(record.leader))}"]
    for field in record.fields:
        if field.is_control_field():
            lines.append(f"={field.tag}  {escape(field.data or '').replace(' ', chr(92))}")
        else:
            indicators = "".join(_blanks_out(i) for i in field.indicators or ("", ""))
            subfields = "".join(f"${s.code}{escape(s.value)}" for s in field.subfields)
            lines.append(f"={field.tag}  {indicators}{subfields}")
    return "\n".join(lines) + "\n"


def parse_mrk(text: str, unknown: list[str] | None = None) -> Record:
    """Parse one record of MarcEdit text; raise :class:`ValueError` naming the bad line.

    Mnemonics not in the table are kept as written and appended to ``unknown`` (as
    ``"field TAG: {name}"``).
    """
    record = Record()
    has_leader = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not line.startswith("=") or line[4:6] != "  " or len(line) < 6:
            raise ValueError(f"line {number} is not '=TAG  data': {line[:40]!r}")
        tag, data = line[1:4], line[6:]
        found: list[str] = []
        if tag == "LDR":
            if has_leader:
                raise ValueError(f"line {number}: a second leader (=LDR) in one record")
            has_leader = True
            leader = _blanks_in(data)
            if len(leader) != 24 or not leader.isascii():
                raise ValueError(
                    f"line {number}: the leader must be 24 ASCII characters, "
                    f"not {len(leader)}: {data[:40]!r}"
                )
            record.leader = Leader(leader)
        elif tag < "010" and tag.isdigit():
            record.add_field(Field(tag=tag, data=_blanks_in(data, found)))
        else:
            indicators, _dollar, rest = data.partition("$")
            if len(indicators) != 2 or not _dollar:
                raise ValueError(f"line {number}: field {tag} needs two indicators and $")
            try:
                subfields = [
                    Subfield(code=part[:1], value=_unescape(part[1:], found))
                    for part in rest.split("$")
                ]
            except ValueError as error:
                raise ValueError(f"line {number}: field {tag}: {error}") from None
            record.add_field(
                Field(tag=tag, indicators=Indicators(*_blanks_in(indicators)), subfields=subfields)
            )
        if unknown is not None:
            unknown.extend(f"field {tag}: unknown mnemonic {name}" for name in found)
    return record


BLOCK = 64 * 1024
_LEADER_LINE = b"=LDR"
_LINE_END = re.compile(rb"\r\n?|\n")


def iter_chunks(stream: BinaryIO, max_bytes: int) -> Iterator[tuple[bytes, int, str | None]]:
    """The records of a ``.mrk`` byte stream, framed by blank lines (CR, LF or CRLF) and by a
    second ``=LDR`` line, which begins a record as it does in MarcEdit (records written without
    a blank line between them would otherwise run together into one).

    Yields ``(record text, line number of its first line, None)``, its lines joined by LF; a
    record over ``max_bytes`` comes out as ``(its first bytes, line, reason)`` and is skipped to
    the next blank line or ``=LDR`` line without being held, so memory stays bounded by
    ``max_bytes``.
    """
    record, line = bytearray(), bytearray()
    number, first, blank, over, sample = 1, 0, True, False, b""
    head = b""  # the first bytes of the line being read, up to len(_LEADER_LINE)
    has_leader = False  # the record being read has its =LDR line
    for piece, ends in _pieces(stream):
        deciding = len(head) < len(_LEADER_LINE)
        if deciding:
            earlier, head = head, head + piece[: len(_LEADER_LINE) - len(head)]
            deciding = len(head) < len(_LEADER_LINE) and not ends
            if not deciding and head == _LEADER_LINE:
                if has_leader and (record or over):
                    yield (sample, first, too_large(max_bytes)) if over else (
                        bytes(record), first, None)
                    record.clear()
                    over, first = False, number
                    line[:] = earlier  # the line's first pieces, dropped if the record was over
                has_leader = True
        if blank and piece.strip():
            blank = False
            if not record and not over:
                first = number
        if not over:
            line += piece
            # until a line shows whether it is =LDR, it is not counted against the record
            if not deciding and len(record) + len(line) > max_bytes:
                over = True
                sample = bytes((record + line)[:SAMPLE_BYTES])
                record.clear()
                line.clear()
        if not ends:
            continue
        if blank and (record or over):
            yield (sample, first, too_large(max_bytes)) if over else (bytes(record), first, None)
            record.clear()
            over = has_leader = False
        elif not blank and not over:
            record += line + b"\n"
        line.clear()
        blank, head = True, b""
        number += 1
    if record or over:
        yield (sample, first, too_large(max_bytes)) if over else (bytes(record), first, None)


def _pieces(stream: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """``(bytes, ends a line)``: the lines of ``stream`` without their line ends, a line longer
    than a block coming in several pieces; a byte-order mark at the start is dropped."""
    carriage_return = False
    head = True
    while block := stream.read(BLOCK):
        if head:
            block, head = block.removeprefix(BOM), False
        start = 1 if carriage_return and block[:1] == b"\n" else 0
        for match in _LINE_END.finditer(block, start):
            yield block[start : match.start()], True
            start = match.end()
        if start < len(block):
            yield block[start:], False
        carriage_return = block.endswith(b"\r")
    yield b"", True

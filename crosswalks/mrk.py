"""MarcEdit mnemonic text (``.mrk``): one ``=TAG  data`` line per field, a blank line per record.

Conventions, as MarcEdit writes them: ``\\`` stands for a blank in the leader, control fields and
indicators; subfields start with ``$``. Four mnemonics keep the text lossless: ``{dollar}`` for a
``$`` in data, ``{bsol}`` for a backslash, ``{lcub}`` and ``{rcub}`` for braces. Other MarcEdit
character mnemonics (``{eacute}`` and the like) are not decoded: Koprik writes real UTF-8.

pymarc's ``MARCMakerReader`` and ``Record.__str__`` are close to this but neither maps ``\\`` back
to a blank nor escapes ``$``, so a round trip through them loses data; hence this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from pymarc import Field, Indicators, Leader, Record, Subfield

from crosswalks.framing import SAMPLE_BYTES, too_large

_ESCAPES = {"{": "{lcub}", "}": "{rcub}", "$": "{dollar}", "\\": "{bsol}"}
_ESCAPE = re.compile(r"[{}$\\]")
_MNEMONIC = re.compile(r"\{(lcub|rcub|dollar|bsol)\}")
_UNESCAPES = {"lcub": "{", "rcub": "}", "dollar": "$", "bsol": "\\"}


def _escape(text: str) -> str:
    return _ESCAPE.sub(lambda match: _ESCAPES[match.group()], text)


def _unescape(text: str) -> str:
    return _MNEMONIC.sub(lambda match: _UNESCAPES[match.group(1)], text)


def _blanks_out(text: str) -> str:
    return _escape(text).replace(" ", "\\")


def _blanks_in(text: str) -> str:
    return _unescape(text.replace("\\", " "))


def record_to_mrk(record: Record) -> str:
    """The record as MarcEdit text: ``=LDR`` line then one line per field, ending with ``\\n``.

    Raises :class:`ValueError` for a record whose data holds a line break, which a line-based
    format cannot carry (MARCXML and MARC-in-JSON can).
    """
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
            lines.append(f"={field.tag}  {_blanks_out(field.data or '')}")
        else:
            indicators = "".join(_blanks_out(i) for i in field.indicators or ("", ""))
            subfields = "".join(f"${s.code}{_escape(s.value)}" for s in field.subfields)
            lines.append(f"={field.tag}  {indicators}{subfields}")
    return "\n".join(lines) + "\n"


def parse_mrk(text: str) -> Record:
    """Parse one record of MarcEdit text; raise :class:`ValueError` naming the bad line."""
    record = Record()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not line.startswith("=") or line[4:6] != "  " or len(line) < 6:
            raise ValueError(f"line {number} is not '=TAG  data': {line[:40]!r}")
        tag, data = line[1:4], line[6:]
        if tag == "LDR":
            leader = _blanks_in(data)
            if len(leader) != 24 or not leader.isascii():
                raise ValueError(
                    f"line {number}: the leader must be 24 ASCII characters, "
                    f"not {len(leader)}: {data[:40]!r}"
                )
            record.leader = Leader(leader)
        elif tag < "010" and tag.isdigit():
            record.add_field(Field(tag=tag, data=_blanks_in(data)))
        else:
            indicators, _dollar, rest = data.partition("$")
            if len(indicators) != 2 or not _dollar:
                raise ValueError(f"line {number}: field {tag} needs two indicators and $")
            subfields = [
                Subfield(code=part[:1], value=_unescape(part[1:])) for part in rest.split("$")
            ]
            record.add_field(
                Field(tag=tag, indicators=Indicators(*_blanks_in(indicators)), subfields=subfields)
            )
    return record


BLOCK = 64 * 1024
_LINE_END = re.compile(rb"\r\n?|\n")
_BOM = b"\xef\xbb\xbf"


def iter_chunks(stream: BinaryIO, max_bytes: int) -> Iterator[tuple[bytes, int, str | None]]:
    """The records of a ``.mrk`` byte stream, framed by blank lines (CR, LF or CRLF).

    Yields ``(record text, line number of its first line, None)``, its lines joined by LF; a
    record over ``max_bytes`` comes out as ``(its first bytes, line, reason)`` and is skipped to
    the next blank line without being held, so memory stays bounded by ``max_bytes``.
    """
    record, line = bytearray(), bytearray()
    number, first, blank, over, sample = 1, 0, True, False, b""
    for piece, ends in _pieces(stream):
        if blank and piece.strip():
            blank = False
            if not record and not over:
                first = number
        if not over:
            line += piece
            if len(record) + len(line) > max_bytes:
                over = True
                sample = bytes((record + line)[:SAMPLE_BYTES])
                record.clear()
                line.clear()
        if not ends:
            continue
        if blank and (record or over):
            yield (sample, first, too_large(max_bytes)) if over else (bytes(record), first, None)
            record.clear()
            over = False
        elif not blank and not over:
            record += line + b"\n"
        line.clear()
        blank = True
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
            block, head = block.removeprefix(_BOM), False
        start = 1 if carriage_return and block[:1] == b"\n" else 0
        for match in _LINE_END.finditer(block, start):
            yield block[start : match.start()], True
            start = match.end()
        if start < len(block):
            yield block[start:], False
        carriage_return = block.endswith(b"\r")
    yield b"", True

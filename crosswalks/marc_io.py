"""Reading and writing MARC21: ISO 2709, MARCXML, MARC-in-JSON and MarcEdit ``.mrk``.

Reading is streaming and permissive: :func:`iter_records` yields one :class:`ReadItem` per
record, and a record that cannot be read faithfully comes out with ``record=None``, its bytes
and a one-line reason, while reading goes on (for XML, a syntax error ends the file, since
nothing after it can be trusted; a JSON object that is malformed or not UTF-8 costs only
itself). Every record that comes out is Unicode with
leader/09 = 'a' and passes :func:`crosswalks.marc_syntax.syntax_problems`.

>>> for item in iter_records("records.mrc"):
...     if item.record is None:
...         print(item.index, item.error)

Writers: :func:`record_to_iso2709`, :func:`record_to_json`, :func:`record_to_mrk`,
:func:`crosswalks.marcxml.record_to_marcxml`, and :func:`open_writer` for a stream of them.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from lxml import etree
from pymarc import Field, Indicators, Leader, Record, Subfield
from pymarc.marcjson import JSONHandler

from crosswalks import charsets, iso2709, mrk, xml_records
from crosswalks.framing import BOM, MAX_RECORD_BYTES, too_large
from crosswalks.json_stream import iter_json_objects
from crosswalks.marc_syntax import syntax_problems
from crosswalks.marcxml import record_to_marcxml
from crosswalks.namespaces import MARCXML_NS
from crosswalks.unimarc_sniff import looks_unimarc

MARC_FORMATS = ("marc21", "marcxml", "marcjson", "mrk")
"""Formats :func:`iter_records` reads into MARC21 (plus ``unimarc``: ISO 2709 read as is)."""
HEAD_BYTES = 64 * 1024
_FIVE_DIGITS = re.compile(rb"\d{5}")
_NEXT_RECORD = re.compile(rb"\x1d[\x00\x1a\r\n ]*\d{5}[ -~]{7}\d{5}")
"""A record terminator, then a leader's record length and base address: ISO 2709 whatever
its first record's leader says."""
_UTF16_STARTS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"),
                 (b"<\x00", "utf-16-le"), (b"\x00<", "utf-16-be"))
"""The first bytes of UTF-16 XML: a byte-order mark, or ``<`` in either byte order."""
_LEADER_SHAPE = re.compile(rb"[ -~]{10}22\d{5}[ -~]{3}4500(?:[0-9A-Za-z]{3}\d{9})+\x1e")
"""A MARC21 leader past its record length, then directory entries and their terminator."""


class NothingToRead(ValueError):
    """A source that is empty, holds only blanks, or is compressed: there is no format to tell
    (a compressed file's records are inside it, for the user to take out)."""


_COMPRESSED = (
    (b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip"), (b"7z\xbc\xaf\x27\x1c", "7z"),
)  # fmt: skip
"""The first bytes of the compressed files and archives a record file comes in, and their
names (no format Koprik reads begins so)."""


@dataclass
class ReadItem:
    """One record read, or the reason it could not be (``record`` None, ``error`` set).

    ``raw`` holds the record's own bytes as read (ISO 2709 record, XML element, JSON text),
    ``identifier`` the OAI-PMH header identifier when the record came in an OAI response, and
    ``notes`` what a conversion could not map (filled by crosswalks such as UNIMARC).
    """

    index: int
    record: Record | None
    raw: bytes
    error: str | None
    identifier: str | None = None
    notes: list[str] = field(default_factory=list)
    decision: charsets.Decision | None = None
    """For ISO 2709, the charset the record was read in and why."""
    repairs: list[str] = field(default_factory=list)
    """What :func:`crosswalks.repair.repair_item` repaired to read the record."""
    canonical: iso2709.Canonical | None = None
    """The record, not built but read straight into its canonical bytes, when the reader was
    asked for them (``iter_records(canonical=True)``); ``record`` and ``error`` are then None."""


def detect_format(head: bytes) -> str:
    """The format of a file from its first bytes (a few KiB are plenty).

    Returns "marc21", "unimarc" (ISO 2709 whose first records look UNIMARC/RUSMARC:
    :mod:`crosswalks.unimarc_sniff`), "marcxml", "marcjson", "mrk", "oai_dc" or "mods" (the
    last three also when wrapped in an OAI-PMH response). Raises :class:`NothingToRead` for a
    source that is empty, only blanks or compressed, :class:`ValueError` when no format fits.
    ISO 2709 is recognized by its first record's length, or, should that be damaged, by the
    leader that follows it or the next record's. A byte-order mark (:data:`BOM`) before any
    format is passed over: ISO 2709 after one was not told.
    """
    if not head:
        raise NothingToRead("the file is empty")
    for magic, kind in _COMPRESSED:
        if head.startswith(magic):
            raise NothingToRead(f"compressed ({kind}); decompress it first")
    head = head.removeprefix(BOM)
    if not head.strip(b" \t\r\n\x00"):
        raise NothingToRead("the file holds only blanks, no records")
    text = _utf16_xml(head) or head.lstrip()
    if text.startswith(b"<"):
        fmt, _wrapped = xml_records.sniff(text)
        if fmt is None:
            raise ValueError("XML, but neither MARCXML, oai_dc nor MODS")
        return fmt
    if text[:1] in (b"{", b"["):
        return "marcjson"
    if text.startswith(b"=LDR"):
        return "mrk"
    start = head.lstrip(b"\x00\r\n ")
    if _FIVE_DIGITS.match(start) or _LEADER_SHAPE.match(start) or _NEXT_RECORD.search(head):
        return "unimarc" if looks_unimarc(head) else "marc21"
    raise ValueError("not ISO 2709, MARCXML, MARC-in-JSON or MarcEdit text")


def _utf16_xml(head: bytes) -> bytes | None:
    """The start of an XML document in UTF-16 (as Windows tools save "Unicode" text), with or
    without its byte-order mark, re-encoded in UTF-8 to be sniffed; None for any other head.
    (The XML parser itself reads UTF-16.)"""
    for start, codec in _UTF16_STARTS:
        if head.startswith(start):
            text = head.decode(codec, errors="ignore").lstrip("\ufeff").lstrip()
            return text.encode("utf-8") if text.startswith("<") else None
    return None


def iter_records(
    source: BinaryIO | str | Path,
    fmt: str | None = None,
    *,
    charset: str | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
    canonical: bool = False,
) -> Iterator[ReadItem]:
    """Yield a :class:`ReadItem` for each record of ``source`` (a path or a binary stream).

    ``fmt`` is one of :data:`MARC_FORMATS` or "unimarc" (ISO 2709 whose charset is detected
    without MARC-8 and whose leader is not held to MARC21 rules); None detects it (detected
    UNIMARC is converted to MARC21 by :mod:`crosswalks.registry`'s ``unimarc`` input). DC and
    MODS are read into MARC21 by :mod:`crosswalks.registry`. A record larger than
    ``max_record_bytes`` as read is rejected without being held whole. ``charset`` (a
    :data:`crosswalks.charsets.CANDIDATES` label) says what ISO 2709 records and ``.mrk`` text
    are in; None decides per record (``.mrk`` must then be UTF-8). XML and JSON declare their
    own encoding. With ``canonical``, a plain MARC21 ISO 2709 record (the common case) comes
    as its canonical bytes, not built (:func:`crosswalks.iso2709.read_record_or_canonical`), for a
    caller that only stores it. Raises :class:`ValueError` for a format it cannot read, and
    :class:`NoRecords` at the end of a source in which nothing looked like a record.
    """
    with ExitStack() as stack:
        stream = (
            stack.enter_context(open(source, "rb")) if isinstance(source, str | Path) else source
        )
        stream = peekable(stream)
        detected = fmt is None
        if fmt is None:
            fmt = detect_format(stream.peek(HEAD_BYTES)[:HEAD_BYTES])
        reader = _READERS.get(fmt)
        if reader is None:
            raise ValueError(f"iter_records reads {', '.join(_READERS)}; not {fmt}")
        if detected and fmt == "unimarc":  # converted to MARC21, as ``--from unimarc`` does
            items = _unimarc_as_marc21(stream, max_record_bytes, charset)
        elif fmt == "marc21":
            items = reader(stream, max_record_bytes, charset=charset, canonical=canonical)
        elif fmt in ("unimarc", "mrk"):
            items = reader(stream, max_record_bytes, charset=charset)
        else:
            items = reader(stream, max_record_bytes)
        yield from require_records(items, fmt)


def _unimarc_as_marc21(
    stream: BinaryIO, max_bytes: int, charset: str | None
) -> Iterator[ReadItem]:
    """The records of a UNIMARC ``stream`` converted to MARC21 by :mod:`crosswalks.registry`'s
    ``unimarc`` input (imported here: the registry imports this module)."""
    from crosswalks.registry import input_format

    read: Callable[..., Iterator[ReadItem]] = input_format("unimarc").read
    return read(stream, max_bytes, charset=charset)


class NoRecords(ValueError):
    """A source that held nothing that looks like a record of its format."""


def require_records(items: Iterator[ReadItem], fmt: str) -> Iterator[ReadItem]:
    """``items``, then :class:`NoRecords` if there were none (not even a rejected one)."""
    found = False
    for item in items:
        found = True
        yield item
    if not found:
        raise NoRecords(f"no {fmt} records found")


def peekable(stream: BinaryIO) -> io.BufferedReader:
    """``stream`` as a buffered reader whose ``peek`` shows at least :data:`HEAD_BYTES`."""
    return io.BufferedReader(_RawAdapter(stream), HEAD_BYTES)


class _RawAdapter(io.RawIOBase):
    """Reads through to a stream it does not own (closing the adapter leaves it open)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def normalize_entry_map(record: Record) -> None:
    """Set leader/10-11 to "22" and leader/20-23 to "4500", the only values MARC21 allows.

    They describe the ISO 2709 structure, carry no data, and are often blank or "450 " in the
    wild; MARCXML requires them. (ISO 2709 input with another indicator count is rejected
    before this point, since its fields would be misread.)
    """
    text = str(record.leader)
    if len(text) == 24 and (text[10:12] != "22" or text[20:24] != "4500"):
        record.leader = Leader(text[:10] + "22" + text[12:20] + "4500")


def checked_item(index: int, record: Record, raw: bytes, identifier: str | None = None) -> ReadItem:
    """A :class:`ReadItem` for a record just built: its entry map normalized, and rejected
    with the first of its :func:`~crosswalks.marc_syntax.syntax_problems` if it has any."""
    normalize_entry_map(record)
    problems = syntax_problems(record)
    if problems:
        tag, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        where = f"field {tag}: " if tag else ""
        return ReadItem(index, None, raw, f"{where}{message}{more}", identifier)
    return ReadItem(index, record, raw, None, identifier)


def _read_iso2709(
    stream: BinaryIO,
    max_bytes: int,
    *,
    marc21: bool = True,
    charset: str | None = None,
    canonical: bool = False,
) -> Iterator[ReadItem]:
    for index, (chunk, problem) in enumerate(iso2709.iter_chunks(stream)):
        if problem is None and len(chunk) > max_bytes:
            problem = too_large(max_bytes, len(chunk))
        if problem is not None:
            yield ReadItem(index, None, chunk, problem)
            continue
        try:
            if canonical and marc21:
                record, decision = iso2709.read_record_or_canonical(chunk, charset=charset)
            else:
                record, decision = iso2709.read_record(chunk, allow_marc8=marc21, charset=charset)
        except iso2709.RecordError as error:
            yield ReadItem(index, None, chunk, str(error))
            continue
        if isinstance(record, iso2709.Canonical):  # plain: passes checked_item's checks
            yield ReadItem(index, None, chunk, None, decision=decision, canonical=record)
            continue
        item = (
            checked_item(index, record, chunk) if marc21 else ReadItem(index, record, chunk, None)
        )
        item.decision = decision
        yield item


def _read_unimarc(
    stream: BinaryIO, max_bytes: int, *, charset: str | None = None
) -> Iterator[ReadItem]:
    return _read_iso2709(stream, max_bytes, marc21=False, charset=charset)


def marcxml_element_to_record(element: etree._Element) -> Record:
    """A MARCXML ``<record>`` lxml element as a pymarc Record.

    Reads exactly as pymarc's strict SAX handler (``pymarc.marcxml.XmlHandler``) reads the
    element's SAX events (elements outside the MARCXML namespace are passed over but their text
    counts; a subfield with an empty code is dropped; the last ``<record>`` wins), walking the
    tree directly: several times cheaper than producing those events through ``lxml.sax``.
    A plain record (:func:`_plain_record`), the usual case, is read in one pass over its
    fields: 45 µs for a demo record of 14 fields, against 78 µs for the general walk.
    """
    record = _plain_record(element)
    if record is None:
        builder = _MarcxmlBuilder()
        builder.walk(element)
        if len(builder.records) != 1:
            raise ValueError("not a MARCXML record")
        record = builder.records[0]
    text = str(record.leader)
    record.leader = Leader(text[:9] + "a" + text[10:])
    return record


_RECORD = xml_records.PAYLOAD_TAGS["marcxml"]
_LEADER = f"{{{MARCXML_NS}}}leader"
_CONTROLFIELD = f"{{{MARCXML_NS}}}controlfield"
_DATAFIELD = f"{{{MARCXML_NS}}}datafield"
_SUBFIELD = f"{{{MARCXML_NS}}}subfield"


def _plain_record(element: etree._Element) -> Record | None:
    """``element`` read as :class:`_MarcxmlBuilder` reads it, when it is a plain MARCXML
    record: a ``<record>`` whose children are one leader, control fields and data fields of
    the MARCXML namespace, with only whitespace beside them, each holding nothing but text (a
    data field: subfields holding nothing but text, with only whitespace beside them). Only
    their own text then counts (what lies between elements is read by no field), so each value
    is an element's ``.text``. None for anything else (other elements, comments, a field or
    subfield without its tag or code, a second leader, text beside fields or subfields), which
    the general walk reads or refuses."""
    if element.tag != _RECORD or _holds_text(element.text):
        return None
    record = Record()
    fields = record.fields
    leaders = 0
    for child in element:
        tag = child.tag
        if _holds_text(child.tail):
            return None
        if tag == _DATAFIELD:
            name = child.get("tag")
            if name is None or _holds_text(child.text):
                return None
            subfields: list[Subfield] = []
            for sub in child:
                code = sub.get("code")
                if sub.tag != _SUBFIELD or code is None or len(sub) or _holds_text(sub.tail):
                    return None
                if code:  # a subfield with an empty code is dropped
                    subfields.append(iso2709.new_subfield((code, sub.text or "")))
            indicators = (child.get("ind1", " "), child.get("ind2", " "))
            if len(name) == 3 and not (name < "010" and name.isdigit()):
                fields.append(iso2709.plain_data_field(name, indicators, subfields))
            else:  # pymarc pads a numeric tag, and reads one below 010 as a control field's
                fields.append(Field(name, Indicators(*indicators), subfields))
        elif len(child):
            return None
        elif tag == _CONTROLFIELD:
            name = child.get("tag")
            if name is None:
                return None
            field = Field(name)
            field.data = child.text or ""
            fields.append(field)
        elif tag == _LEADER:
            leaders += 1
            if leaders > 1:
                return None
            record.leader = _leader(child.text or "")
        else:
            return None
    return record


def _holds_text(text: str | None) -> bool:
    """Whether ``text``, found between elements, is more than the whitespace of indentation."""
    return bool(text and not text.isspace())


class _MarcxmlBuilder:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self._record: Record | None = None
        self._field: Field | None = None
        self._code: str | None = None
        self._text: list[str] = []
        self._leaders = 0

    def walk(self, element: etree._Element) -> None:
        tag = element.tag
        if not isinstance(tag, str):  # a comment or processing instruction: its tail is text
            if tag is not etree.Comment and tag is not etree.ProcessingInstruction:
                raise ValueError("an entity reference in MARCXML")
            if element.tail:
                self._text.append(element.tail)
            return
        namespace, _, name = tag[1:].partition("}") if tag[:1] == "{" else ("", "", tag)
        ours = namespace == MARCXML_NS
        if ours:
            self._start(name, element)
            self._refuse_mixed_content(name, element)
        if element.text:
            self._text.append(element.text)
        for child in element:
            self.walk(child)
        if ours:
            self._end(name)
        if element.tail:
            self._text.append(element.tail)

    def _refuse_mixed_content(self, name: str, element: etree._Element) -> None:
        """Raise :class:`ValueError` when ``element`` mixes text and elements where MARCXML has
        only one of them: an element in a leader, control field or subfield (text only), text
        beside the fields of a record or the subfields of a data field. pymarc would read on,
        keeping only the text after the last element (``<subfield>Start <i>inner</i> tail`` as
        ``tail``)."""
        if name in ("record", "datafield"):
            loose = [element.text] + [child.tail for child in element]
            text = next((text for text in loose if _holds_text(text)), None)
            if text is not None:
                parts = "subfields" if name == "datafield" else "fields"
                where = self._where() if name == "datafield" else "the record"
                raise ValueError(f"{where} has text outside its {parts}: {text[:40]!r}")
        elif name in ("leader", "controlfield", "subfield"):
            inner = next((child for child in element if isinstance(child.tag, str)), None)
            if inner is not None:
                raise ValueError(
                    f"{self._where(name)} holds the element <{etree.QName(inner).localname}>, "
                    "where MARCXML has text only"
                )

    def _where(self, name: str = "datafield") -> str:
        """The field or subfield being read, as a message names it."""
        if name == "leader":
            return "the leader"
        field = f"field {self._field.tag}" if self._field is not None else "a field"
        return f"{field} ${self._code}" if name == "subfield" else field

    def _start(self, name: str, element: etree._Element) -> None:
        self._text = []
        if name == "record":
            self._record = Record()
            self._leaders = 0
        elif name == "leader":
            self._leaders += 1
            if self._leaders > 1:
                raise ValueError("two leaders in one record")
        elif name == "controlfield":
            self._field = Field(_attribute(element, "tag"))
        elif name == "datafield":
            self._field = Field(
                _attribute(element, "tag"),
                Indicators(element.get("ind1", " "), element.get("ind2", " ")),
            )
        elif name == "subfield":
            self._code = _attribute(element, "code")

    def _end(self, name: str) -> None:
        text = "".join(self._text)
        self._text = []
        record, field = self._record, self._field
        if name == "record" and record is not None:
            self.records.append(record)
            self._record = None
        elif name == "leader" and record is not None:
            record.leader = _leader(text)
        elif name == "controlfield" and record is not None and field is not None:
            field.data = text
            record.add_field(field)
            self._field = None
        elif name == "datafield" and record is not None and field is not None:
            record.add_field(field)
            self._field = None
        elif name == "subfield" and field is not None and self._code:
            field.add_subfield(self._code, text)
            self._code = None


def _leader(text: str) -> Leader:
    """A MARCXML leader; :class:`crosswalks.iso2709.RecordError` saying so when it is not the
    24 characters a leader is."""
    if len(text) != 24:
        raise iso2709.RecordError(f"leader of {len(text)} characters, not 24: {text!r}")
    return Leader(text)


def _attribute(element: etree._Element, name: str) -> str:
    value = element.get(name)
    if value is None:
        raise ValueError(f"<{etree.QName(element).localname}> without its {name} attribute")
    return value


def _read_marcxml(stream: io.BufferedReader, max_bytes: int) -> Iterator[ReadItem]:
    _fmt, wrapped = xml_records.sniff(stream.peek(HEAD_BYTES)[:HEAD_BYTES])
    for index, item in enumerate(xml_records.iter_payloads(
        stream, "marcxml", wrapped=wrapped, max_bytes=max_bytes
    )):
        if item.element is None:
            yield ReadItem(index, None, item.raw, item.error, item.identifier)
            continue
        try:
            record = marcxml_element_to_record(item.element)
        except Exception as error:  # pymarc's handler raises whatever a bad element provokes
            yield ReadItem(index, None, item.raw, iso2709.describe(error), item.identifier)
            continue
        yield checked_item(index, record, item.raw, item.identifier)


def _read_marcjson(stream: BinaryIO, max_bytes: int) -> Iterator[ReadItem]:
    for index, (value, text, problem) in enumerate(iter_json_objects(stream, max_bytes)):
        raw = text.encode("utf-8", "surrogateescape")  # bytes that are not UTF-8 as they were
        if problem is not None:
            yield ReadItem(index, None, raw, problem)
        else:
            yield _marcjson_item(index, value, raw)


def _marcjson_item(index: int, value: object, raw: bytes) -> ReadItem:
    problem = marcjson_shape_problem(value)
    if problem is not None:
        return ReadItem(index, None, raw, f"not a MARC-in-JSON record: {problem}")
    handler = JSONHandler()
    try:
        handler.element(value)
        (record,) = handler.records
    except Exception as error:  # what pymarc refuses in a record of the right shape
        return ReadItem(index, None, raw,
                        f"not a MARC-in-JSON record: {iso2709.describe(error)}")  # fmt: skip
    return checked_item(index, record, raw)


def marcjson_shape_problem(value: object) -> str | None:
    """Why ``value`` (decoded JSON) is not a MARC-in-JSON record, in words; None if it has
    the shape: a string leader and an array of fields, each an object of one tag holding a
    string (a control field) or ind1, ind2 strings and an array of subfields, each an object
    of one code and its string.

    pymarc's reader takes any value and fails where a part is not what it expects (a number
    indicator, a null leader) with its own exception, or builds a field whose data is not a
    string, which failed later, past the guard of one record, and stopped the reading.
    """
    if not isinstance(value, dict):
        return "not an object"
    if not isinstance(value.get("leader"), str):
        return "the leader is not a string"
    fields = value.get("fields")
    if not isinstance(fields, list):
        return "fields is not an array"
    for number, item in enumerate(fields, 1):
        if not isinstance(item, dict) or len(item) != 1:
            return f"field {number}: not an object of one tag"
        ((tag, content),) = item.items()
        if Field(tag).control_field:
            if not isinstance(content, str):
                return f"field {tag}: a control field's data is not a string"
            continue
        if not isinstance(content, dict):
            return f"field {tag}: not an object of ind1, ind2 and subfields"
        for indicator in ("ind1", "ind2"):
            if not isinstance(content.get(indicator), str):
                return f"field {tag}: {indicator} is not a string"
        subfields = content.get("subfields")
        if not isinstance(subfields, list):
            return f"field {tag}: subfields is not an array"
        for place, subfield in enumerate(subfields, 1):
            if not (isinstance(subfield, dict) and len(subfield) == 1
                    and isinstance(next(iter(subfield.values())), str)):  # fmt: skip
                return f"field {tag}: subfield {place} is not an object of one code and its string"
    return None


def _read_mrk(
    stream: BinaryIO, max_bytes: int, *, charset: str | None = None
) -> Iterator[ReadItem]:
    if charset == charsets.MARC8:
        raise ValueError(".mrk text in MARC-8 is not read; MarcEdit mnemonics cover it")
    if charset is not None and charset in charsets.UNIMARC_DECLARED.values():
        name = charset.upper().replace("-", " ")  # "iso-5426" is ISO 5426
        raise ValueError(f".mrk text in {name} is not read; it is for UNIMARC ISO 2709 records")
    label = charset or charsets.UTF8
    encoding = "utf-8" if label == charsets.UTF8 else charsets.CODECS[label]
    for index, (chunk, line, problem) in enumerate(mrk.iter_chunks(stream, max_bytes)):
        if problem is not None:
            yield ReadItem(index, None, chunk, f"{problem} (from line {line})")
            continue
        unknown: list[str] = []
        try:
            record = mrk.parse_mrk(chunk.decode(encoding), unknown)
        except UnicodeDecodeError as error:
            reason = f"not {label.upper()} ({error.reason}, from line {line})"
            yield ReadItem(index, None, chunk, reason)
        except ValueError as error:
            yield ReadItem(index, None, chunk, f"{error} (record from line {line})")
        except Exception as error:  # pymarc's constructors raise whatever odd text provokes
            reason = f"{iso2709.describe(error)} (record from line {line})"
            yield ReadItem(index, None, chunk, reason)
        else:
            item = checked_item(index, record, chunk)
            item.notes = unknown
            yield item


_READERS: dict[str, Callable[..., Iterator[ReadItem]]] = {
    "marc21": _read_iso2709,
    "unimarc": _read_unimarc,
    "marcxml": _read_marcxml,
    "marcjson": _read_marcjson,
    "mrk": _read_mrk,
}


# --- writing -----------------------------------------------------------------------------------


def _utf8_leader(record: Record) -> None:
    text = str(record.leader)
    if text[9:10] != "a":
        record.leader = Leader(text[:9] + "a" + text[10:])


def record_to_iso2709(record: Record) -> bytes:
    """ISO 2709 in UTF-8 with leader/09 'a' and the record length and base address recomputed;
    :class:`crosswalks.iso2709.TooLong` when a field or the record is longer than ISO 2709
    can hold."""
    _utf8_leader(record)
    return iso2709.checked_length(record.as_marc(), record)


def record_to_json(record: Record) -> str:
    """MARC-in-JSON of one record (an object with ``leader`` and ``fields``)."""
    return json.dumps(record.as_dict(), ensure_ascii=False)


def record_to_mrk(record: Record, *, mnemonics: bool = False) -> str:
    """MarcEdit mnemonic text of one record (see :mod:`crosswalks.mrk`)."""
    return mrk.record_to_mrk(record, mnemonics=mnemonics)


class FramedWriter:
    """Writes ``header``, the serialized records with ``separator`` between, and ``footer``.

    The header is written with the first record, and nothing at all when there was none: an
    empty container is not always a valid document (a MODS ``modsCollection`` must hold one
    ``mods``), and a conversion that converted nothing has no output to give.
    """

    def __init__(
        self,
        out: BinaryIO,
        serialize: Callable[[Record], bytes],
        *,
        header: bytes = b"",
        separator: bytes = b"",
        footer: bytes = b"",
    ) -> None:
        self.out = out
        self.serialize = serialize
        self.header = header
        self.separator = separator
        self.footer = footer
        self.count = 0

    def write(self, record: Record) -> None:
        data = self.serialize(record)
        self.out.write(self.separator if self.count else self.header)
        self.out.write(data)
        self.count += 1

    def close(self) -> None:
        if self.count:
            self.out.write(self.footer)
        self.out.flush()


XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def open_writer(fmt: str, out: BinaryIO) -> FramedWriter:
    """A writer of ``fmt`` ("marc21", "marcxml", "marcjson", "mrk") records to ``out``.

    MARCXML is one ``<collection>``; MARC-in-JSON one array; ``.mrk`` records are separated by
    blank lines. Raises :class:`ValueError` for another format.
    """
    if fmt == "marc21":
        return FramedWriter(out, record_to_iso2709)
    if fmt == "marcxml":
        return FramedWriter(
            out,
            record_to_marcxml,
            header=XML_DECLARATION + f'<collection xmlns="{MARCXML_NS}">\n'.encode(),
            separator=b"\n",
            footer=b"\n</collection>\n",
        )
    if fmt == "marcjson":
        return FramedWriter(
            out,
            lambda record: record_to_json(record).encode("utf-8"),
            header=b"[\n",
            separator=b",\n",
            footer=b"\n]\n",
        )
    if fmt == "mrk":
        return FramedWriter(
            out, lambda record: record_to_mrk(record).encode("utf-8"), separator=b"\n"
        )
    raise ValueError(f"open_writer writes {', '.join(MARC_FORMATS)}; not {fmt}")

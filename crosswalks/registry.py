"""Record formats by name, for ``koprik crosswalk`` and anything else that converts files.

An input format reads a binary stream into :class:`crosswalks.marc_io.ReadItem` s holding
MARC21 records; an output format opens a writer of MARC21 records onto a binary stream.
Conversions owned by other modules are imported when first used, so the registry loads
(and ``--list`` works) whatever is installed.

Inputs: marc21, marcxml, marcjson, mrk, oai_dc, mods, unimarc (alias rusmarc).
Outputs: marc21, marcxml, marcjson, mrk, oai_dc, mods. The XML outputs are one document:
MARCXML a ``<collection xmlns="http://www.loc.gov/MARC21/slim">``, MODS a
``<modsCollection xmlns="http://www.loc.gov/mods/v3">`` (both as their schemas define), and
oai_dc a ``<collection>`` without namespace holding one ``<oai_dc:dc>`` per record (Dublin Core
defines no collection element). The oai_dc and mods inputs read such files back, as well as a
single record and OAI-PMH responses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from pymarc import Leader, Record

from crosswalks import charsets, iso2709, marc_io, xml_records
from crosswalks.marc_io import HEAD_BYTES, FramedWriter, ReadItem


@dataclass(frozen=True)
class InputFormat:
    """``read(stream, max_bytes)`` yields the records; formats that carry no encoding of their
    own (``takes_charset``) also take ``charset=LABEL`` to be told what it is."""

    name: str
    description: str
    read: Callable[..., Iterator[ReadItem]]
    """``read(stream, max_bytes, charset=None)``: records, refusing those over ``max_bytes`` as
    serialized (see :func:`crosswalks.marc_io.iter_records`)."""
    takes_charset: bool = False


@dataclass(frozen=True)
class OutputFormat:
    name: str
    description: str
    open: Callable[[BinaryIO], FramedWriter]
    extension: str
    """The usual extension of a file in this format, without its dot (``mrc``, ``xml``)."""
    marc8: bool = False
    """Whether records are written in MARC-8 (leader/09 blank), not UTF-8 (leader/09 'a')."""

    def declared(self, record: Record) -> Record:
        """``record`` with leader/09 saying what this output writes it in: 'a' (UTF-8) or,
        for MARC-8, blank. Done before any step that looks at it (``--add-script-880`` marks
        Cyrillic with 066 in MARC-8 only), so that every output says what it is."""
        text = str(record.leader)
        mark = " " if self.marc8 else "a"
        if len(text) == 24 and text[9] != mark:
            record.leader = Leader(text[:9] + mark + text[10:])
        return record


class CrosswalkUnavailable(LookupError):
    """The module that implements a conversion is not installed (or lacks the function)."""


def _function(module: str, name: str) -> Callable[..., Any]:
    """``crosswalks.module.name``, imported now."""
    try:
        return getattr(importlib.import_module(f"crosswalks.{module}"), name)
    except (ImportError, AttributeError) as error:
        message = f"crosswalks.{module}.{name} is not available ({error})"
        raise CrosswalkUnavailable(message) from None


def _marc_reader(fmt: str) -> Callable[..., Iterator[ReadItem]]:
    def read(stream: BinaryIO, max_bytes: int, charset: str | None = None) -> Iterator[ReadItem]:
        return marc_io.iter_records(stream, fmt, charset=charset, max_record_bytes=max_bytes)

    return read


def _xml_reader(
    fmt: str, module: str, name: str
) -> Callable[[BinaryIO, int], Iterator[ReadItem]]:
    def read(stream: BinaryIO, max_bytes: int) -> Iterator[ReadItem]:
        return marc_io.require_records(_converted(stream, max_bytes), fmt)

    def _converted(stream: BinaryIO, max_bytes: int) -> Iterator[ReadItem]:
        convert = _function(module, name)
        buffered = marc_io.peekable(stream)
        _found, wrapped = xml_records.sniff(buffered.peek(HEAD_BYTES)[:HEAD_BYTES])
        payloads = xml_records.iter_payloads(buffered, fmt, wrapped=wrapped, max_bytes=max_bytes)
        for index, item in enumerate(payloads):
            if item.element is None:
                yield ReadItem(index, None, item.raw, item.error, item.identifier)
                continue
            try:
                record = convert(item.element)
            except Exception as error:  # a crosswalk may fail on any odd record
                reason = f"{fmt} to MARC21 failed: {iso2709.describe(error)}"
                yield ReadItem(index, None, item.raw, reason, item.identifier)
                continue
            yield marc_io.checked_item(index, record, item.raw, item.identifier)

    return read


def _read_unimarc(
    stream: BinaryIO, max_bytes: int, charset: str | None = None
) -> Iterator[ReadItem]:
    """UNIMARC/RUSMARC bibliographic records converted to MARC21 (an authority record is
    rejected, not converted: :func:`crosswalks.unimarc.to_marc21`)."""
    convert = _function("unimarc", "to_marc21")
    items = marc_io.iter_records(stream, "unimarc", charset=charset, max_record_bytes=max_bytes)
    for item in items:
        if item.record is None:
            yield item
            continue
        try:
            result = convert(item.record)
        except ValueError as error:  # NotConverted: the reason, in one line
            item.error, item.record = str(error), None
            yield item
            continue
        checked = marc_io.checked_item(item.index, result.record, item.raw)
        checked.notes = list(result.unmapped)
        checked.decision = item.decision
        yield checked


def _xml_collection(
    module: str, name: str, header: bytes, footer: bytes
) -> Callable[[BinaryIO], FramedWriter]:
    def open_writer(out: BinaryIO) -> FramedWriter:
        convert = _function(module, name)
        return FramedWriter(
            out,
            convert,
            header=marc_io.XML_DECLARATION + header,
            separator=b"\n",
            footer=b"\n" + footer,
        )

    return open_writer


def _marc_writer(fmt: str) -> Callable[[BinaryIO], FramedWriter]:
    return lambda out: marc_io.open_writer(fmt, out)


INPUTS: dict[str, InputFormat] = {
    fmt.name: fmt
    for fmt in (
        InputFormat(
            "marc21",
            "MARC21 ISO 2709 (UTF-8, MARC-8, CP1251, KOI8-R... detected per record)",
            _marc_reader("marc21"),
            takes_charset=True,
        ),
        InputFormat(
            "marcxml", "MARCXML record, collection or OAI-PMH response", _marc_reader("marcxml")
        ),
        InputFormat(
            "marcjson", "MARC-in-JSON: object, array or one per line", _marc_reader("marcjson")
        ),
        InputFormat("mrk", "MarcEdit mnemonic text", _marc_reader("mrk"), takes_charset=True),
        InputFormat(
            "oai_dc",
            "Dublin Core (oai_dc), bare or in an OAI-PMH response",
            _xml_reader("oai_dc", "dc_to_marc", "dc_to_marc"),
        ),
        InputFormat(
            "mods",
            "MODS, bare, in a modsCollection or an OAI-PMH response",
            _xml_reader("mods", "mods_to_marc", "mods_to_marc"),
        ),
        InputFormat(
            "unimarc",
            "UNIMARC/RUSMARC ISO 2709 (UTF-8, CP1251, KOI8-R... detected per record)",
            _read_unimarc,
            takes_charset=True,
        ),
    )
}
INPUT_ALIASES = {"rusmarc": "unimarc"}

OUTPUTS: dict[str, OutputFormat] = {
    fmt.name: fmt
    for fmt in (
        OutputFormat("marc21", "MARC21 ISO 2709 in UTF-8", _marc_writer("marc21"), "mrc"),
        OutputFormat("marcxml", "MARCXML collection", _marc_writer("marcxml"), "xml"),
        OutputFormat("marcjson", "MARC-in-JSON array", _marc_writer("marcjson"), "json"),
        OutputFormat("mrk", "MarcEdit mnemonic text", _marc_writer("mrk"), "mrk"),
        OutputFormat(
            "marc8",
            "MARC21 ISO 2709 in MARC-8",
            lambda out: FramedWriter(out, charsets.record_to_iso2709_marc8),
            "mrc",
            marc8=True,
        ),
        OutputFormat(
            "mrk8",
            "MarcEdit text in MARC-8, ASCII with mnemonics ({esc}, {acute}...)",
            lambda out: FramedWriter(
                out,
                lambda record: marc_io.record_to_mrk(record, mnemonics=True).encode("ascii"),
                separator=b"\n",
            ),
            "mrk",
            marc8=True,
        ),
        OutputFormat(
            "oai_dc",
            "Dublin Core records in a <collection>",
            _xml_collection("dublin_core", "marc_to_dc", b"<collection>\n", b"</collection>\n"),
            "xml",
        ),
        OutputFormat(
            "mods",
            "MODS 3.7 modsCollection",
            _xml_collection(
                "mods",
                "marc_to_mods",
                b'<modsCollection xmlns="http://www.loc.gov/mods/v3">\n',
                b"</modsCollection>\n",
            ),
            "xml",
        ),
    )
}


def input_name(name: str) -> str | None:
    """The name of the input format called ``name`` or aliased by it (``rusmarc``: ``unimarc``),
    None when there is none: what every reader of a format name (the command line, the
    workbench) accepts."""
    name = INPUT_ALIASES.get(name, name)
    return name if name in INPUTS else None


def input_format(name: str) -> InputFormat:
    """The input format called ``name`` (or an alias); :class:`KeyError` when there is none."""
    canonical = input_name(name)
    if canonical is None:
        raise KeyError(name)
    return INPUTS[canonical]


def output_format(name: str) -> OutputFormat:
    """The output format called ``name``; :class:`KeyError` when there is none."""
    return OUTPUTS[name]

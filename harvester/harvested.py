"""A harvested record as every protocol's client hands it to ingest (:mod:`harvester.ingest`)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree
from pymarc import Record

from crosswalks.iso2709 import flawless_fields
from crosswalks.namespaces import MARCXML_NS

_PLAIN = re.compile(rb"[\x20-\x7e]*")
"""Bytes that every charset a record may come in (MARC-8 included) reads as the same ASCII."""


@dataclass
class Harvested:
    """One record as a source delivered it, whatever the protocol, on its way in.

    Exactly one of ``metadata`` (XML to crosswalk by its namespace), ``record`` (MARC already
    decoded), ``read`` (a module-level function reading ``payload`` into MARC21 where the
    catalogue derives it, see :class:`catalog.store.Unread`; it then has its ``identifier``)
    or ``error`` (why it cannot be used) says what it is, unless it is a deletion.
    ``identifier`` None means the record's 001, else a digest of its payload
    (:func:`identifier_of`): SRU and Z39.50 records carry no identifier of their own.
    """

    identifier: str | None
    raw: bytes
    """The bytes as received: what a reject keeps."""
    datestamp: str = ""
    deleted: bool = False
    metadata: etree._Element | None = None
    record: Record | None = None
    format: str = ""
    """The provenance's metadata namespace or record syntax (for ``metadata``: its namespace)."""
    payload: bytes | None = None
    """The original payload kept with the record (for ``metadata``: its XML)."""
    read: Callable[[bytes], Record] | None = None
    error: str | None = None
    where: str = ""
    """Where it was in the answer (``record 5``), put before a reject's reason."""


def identifier_of(record: Record | None, payload: bytes) -> str:
    """A record's identifier at a source that gives none: its 001 (spaces removed), else
    ``sha1:`` and a digest of its payload. A position in a result set is not an identifier:
    the same query run later, or another query, puts other records there."""
    control = record.get("001") if record is not None else None
    return _identifier(control.data if control is not None else None, payload)


def usmarc_identifier(data: bytes) -> str | None:
    """:func:`identifier_of` the record ``data`` (ISO 2709) decodes into, found from its
    directory without decoding it; None when that cannot be told so (a record whose structure
    is not flawless, or whose 001 is not plain ASCII, which its charset may read otherwise).
    Whatever the record turns out to be, this is the identifier it is stored under."""
    fields = flawless_fields(data)
    if fields is None:
        return None
    control = next((value for tag, value in fields if tag == "001"), None)
    if control is not None and _PLAIN.fullmatch(control) is None:
        return None
    return _identifier(control.decode("ascii") if control is not None else None, data)


def marcxml_identifier(metadata: etree._Element, payload: bytes) -> str | None:
    """:func:`identifier_of` the MARCXML ``<record>`` ``metadata`` (whose XML is ``payload``)
    is read into (:func:`crosswalks.marc_io.marcxml_element_to_record`), found from its first
    controlfield 001 without reading it; None when that cannot be told so: metadata that is
    not one plain MARCXML record (another format, other elements among its fields or another
    record inside, a tag pymarc would pad to three digits, a 001 with elements inside)."""
    if metadata.tag != f"{{{MARCXML_NS}}}record":
        return None
    control: str | None = None
    fields = 0
    for child in metadata:
        name = child.tag
        if not isinstance(name, str) or not name.startswith(f"{{{MARCXML_NS}}}"):
            return None
        local = name[len(MARCXML_NS) + 2 :]
        if local == "leader":
            continue
        tag = child.get("tag")
        if local not in ("controlfield", "datafield") or tag is None or len(tag) != 3:
            return None
        fields += 1
        if tag == "001" and control is None:
            if local != "controlfield" or len(child):
                return None
            control = child.text or ""
    inside = metadata.iterdescendants(
        f"{{{MARCXML_NS}}}controlfield", f"{{{MARCXML_NS}}}datafield", f"{{{MARCXML_NS}}}record"
    )
    if sum(1 for _ in inside) != fields:  # a field or record inside a field is read as one
        return None
    return _identifier(control, payload)


def _identifier(control: str | None, payload: bytes) -> str:
    """The 001's data without spaces, else ``sha1:`` and a digest of the payload."""
    if control and control.strip():
        return "".join(control.split())
    return "sha1:" + hashlib.sha1(payload).hexdigest()

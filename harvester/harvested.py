"""A harvested record as every protocol's client hands it to ingest (:mod:`harvester.ingest`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lxml import etree
from pymarc import Record


@dataclass
class Harvested:
    """One record as a source delivered it, whatever the protocol, on its way in.

    Exactly one of ``metadata`` (XML to crosswalk by its namespace), ``record`` (MARC already
    decoded) or ``error`` (why it cannot be used) says what it is, unless it is a deletion.
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
    error: str | None = None
    where: str = ""
    """Where it was in the answer (``record 5``), put before a reject's reason."""


def identifier_of(record: Record | None, payload: bytes) -> str:
    """A record's identifier at a source that gives none: its 001 (spaces removed), else
    ``sha1:`` and a digest of its payload. A position in a result set is not an identifier:
    the same query run later, or another query, puts other records there."""
    control = record.get("001") if record is not None else None
    if control is not None and control.data and control.data.strip():
        return "".join(control.data.split())
    return "sha1:" + hashlib.sha1(payload).hexdigest()

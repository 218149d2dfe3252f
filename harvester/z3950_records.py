"""USMARC records from a Z39.50 target, made ready for the catalogue: addressed, decoded, keyed.

A Z39.50 record carries no identifier and no character-set label of its own, so this module
decides both:

- **Character set.** When the target agreed to send records in a negotiated character set,
  that is the expected one (:func:`expected_charset`; one Koprik reads no records in is said
  and passed over); otherwise the source's configured ``charset`` is (empty: none).
  :func:`decode_usmarc` lets the bytes speak first (:func:`crosswalks.iso2709.decode_record`)
  and then holds them to the expectation: valid multi-byte UTF-8 and MARC-8 escape sequences
  are proof and win; among the 8-bit readings that detection cannot tell apart with
  certainty (CP1251, KOI8-R, ISO 8859-1, MARC-8 without escapes...) the expected set decides;
  a record that is not UTF-8 although UTF-8 was agreed is refused with the reason, never repaired.
- **Identifier.** the record's 001, else a digest of its bytes
  (:func:`harvester.harvested.identifier_of`, as for every source that gives none).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from pymarc import Record

from crosswalks import charsets
from crosswalks.iso2709 import RecordError, decode_record
from crosswalks.marc_io import checked_item
from harvester.faults import quoted
from harvester.z3950_origin import Z3950Client
from protocols.http_urls import idna_problem
from protocols.z3950 import oids

log = logging.getLogger(__name__)

DEFAULT_PORT = 210
DEFAULT_DATABASE = "Default"
SCHEME = "z3950://"


class Z3950Address(NamedTuple):
    host: str
    port: int
    database: str

    @property
    def url(self) -> str:
        """``z3950://host:port/database``: the base URL kept in provenance."""
        return f"{SCHEME}{self.host}:{self.port}/{self.database}"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}/{self.database}"


def parse_address(text: str) -> Z3950Address:
    """Read ``[z3950://]HOST[:PORT][/DATABASE]`` (port 210 and database Default if omitted).

    Raises :class:`ValueError` naming the problem.
    """
    try:
        text.encode("utf-8")
    except UnicodeError:
        raise ValueError(f"{text!r} is not UTF-8 text") from None
    rest = text.strip()
    if rest.lower().startswith(SCHEME):
        rest = rest[len(SCHEME) :]
    if "://" in rest:
        raise ValueError(f"{text!r} is not a Z39.50 address; expected HOST:PORT/DATABASE")
    address, _, database = rest.partition("/")
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    if not host:
        raise ValueError(f"no host in {text!r}; expected HOST:PORT/DATABASE")
    if port and not (port.isascii() and port.isdigit()):
        raise ValueError(f"bad port {port!r} in {text!r}")
    number = int(port) if port else DEFAULT_PORT
    if not 0 < number < 65536:
        raise ValueError(f"port {number} out of range in {text!r}")
    problem = idna_problem(host, http=False)
    if problem is not None:
        raise ValueError(f"{problem} in {text!r}")
    return Z3950Address(host, number, database or DEFAULT_DATABASE)


def charset_label(name: str) -> str:
    """The :mod:`crosswalks.charsets` label of a character-set name (``UTF-8``, ``utf8``,
    ``MARC-8``, ``windows-1251``, ``KOI8-R``, ``ISO-8859-1`` ...). Raises :class:`ValueError`
    for a set records cannot be decoded from."""
    return charsets.charset_name(name)


def expected_charset(client: Z3950Client, configured: str | None) -> str | None:
    """The charset label records from ``client``'s target come in: the set agreed for records
    (:attr:`~harvester.z3950_origin.Z3950Client.records_charset`), else ``configured`` (the
    source's or copy target's ``charset``, as a label; None: detect). A set agreed that no
    MARC record is read in (:func:`charset_label`: ISO 8859-2) is said in one line, and
    records are read as without an agreement, as YAZ goes on."""
    agreed = client.records_charset
    if agreed is None:
        return configured
    try:
        return charset_label(agreed)
    except ValueError:
        reading = (f"{configured} (the charset configured)" if configured
                   else "their bytes and leader/09 say")  # fmt: skip
        log.warning('%s:%d agreed to the character set "%s", which Koprik reads no MARC records '
                    "in: they are read as %s", client.host, client.port, quoted(agreed), reading)
        return configured


def marc_syntax(unimarc: bool) -> str:
    """The record syntax (OID) a target is asked for MARC records in: UNIMARC for a source or
    a copy target whose records are UNIMARC (its ``crosswalk``), else USMARC."""
    return oids.UNIMARC if unimarc else oids.USMARC


def decode_usmarc(data: bytes, expected: str | None = None, unimarc: bool = False) -> Record:
    """A Unicode MARC21 record from one ISO 2709 record the target sent (a UNIMARC one with
    ``unimarc``: MARC-8, which UNIMARC never uses, is then no reading).

    ``expected`` is a :func:`charset_label` (or None: the bytes alone decide); see the module
    docstring for how it is weighed. The record's entry map is normalized and it is checked
    like any imported record. Raises :class:`crosswalks.iso2709.RecordError` with the reason.
    """
    declared = data
    if expected == charsets.UTF8 and len(data) > 9:
        declared = data[:9] + b"a" + data[10:]
    record, found = decode_record(declared, allow_marc8=not unimarc)
    if expected is not None and found != expected and found != charsets.UTF8:
        if expected == charsets.UTF8:
            raise RecordError(f"not UTF-8 as agreed: the bytes read as {found}")
        if not (found == charsets.MARC8 and charsets.has_marc8_escapes(data[24:])):
            record, _found = decode_record(data, allow_marc8=not unimarc, charset=expected)
    checked = checked_item(0, record, data)
    if checked.error is not None:
        raise RecordError(checked.error)
    return record

"""Records as Present returns them: a record syntax, an element set and a character set.

=============  ==========================  =====================================================
syntax         element sets                what is sent
=============  ==========================  =====================================================
USMARC         F (default), B, ``marc8``   ISO 2709; UTF-8 when UTF-8 was negotiated, else (and
                                           always for ``marc8``) MARC-8
XML            F or ``marcxml`` (default), the stored MARCXML, Dublin Core (oai_dc) or MODS
               ``dc``, ``mods``, B         rendition; B is MARCXML of the brief record
SUTRS          F (default), B              the record as MARC mnemonic text (pymarc's ``.mrk``)
=============  ==========================  =====================================================

B, the brief record, keeps the leader, 001, 008, 020, 1XX, 245 and 260/264, and the 880s linked
to them (their text in the other script: what a reader of that script needs; 066 with them), so
that no ``$6 880-NN`` of a kept field dangles. An element set a
syntax does not have is diagnostic 25; a syntax not in the table is 239; a record that cannot be
given in the syntax is a surrogate diagnostic 238 (1028 when it was deleted after the search).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymarc import Leader, Record

from catalog.query import StoredRecord
from catalog.search_index import read_canonical
from crosswalks.charsets import record_to_iso2709_marc8
from crosswalks.iso2709 import utf8_to_marc8
from crosswalks.marcxml import record_to_marcxml
from protocols.z3950 import oids
from protocols.z3950.bib1 import Bib1Error
from protocols.z3950.codec import make_external

FULL, BRIEF, MARC8 = "f", "b", "marc8"
BRIEF_TAGS = ("001", "008", "020", "100", "110", "111", "130", "245", "260", "264")
RECORD_DELETED = 1028
ELEMENT_SET_INVALID = 25

_XML_RENDITIONS = {FULL: "marc21", "marcxml": "marc21", "dc": "oai_dc", "mods": "mods"}
_SYNTAXES = {
    oids.USMARC: {FULL, BRIEF, MARC8},
    oids.XML: {BRIEF, *_XML_RENDITIONS},
    oids.APPLICATION_XML: {BRIEF, *_XML_RENDITIONS},
    oids.SUTRS: {FULL, BRIEF},
}


@dataclass(frozen=True)
class Request:
    """What a Present asks for: a syntax OID and a (lower-cased) element set name."""

    syntax: str
    element_set: str
    utf8: bool

    @property
    def rendition(self) -> str | None:
        """The stored rendition this request is served from (None: built from the MARC)."""
        if self.syntax in (oids.XML, oids.APPLICATION_XML) and self.element_set != BRIEF:
            return _XML_RENDITIONS[self.element_set]
        return None

    @property
    def verbatim(self) -> bool:
        """Whether the stored MARC (ISO 2709, UTF-8) goes out as it is, unparsed."""
        return self.syntax == oids.USMARC and self.element_set == FULL and self.utf8


def request_of(syntax: str | None, element_set: str | None, utf8: bool) -> Request:
    """Check a syntax and element set (None: USMARC, F); raises 239 or 25."""
    syntax = syntax or oids.USMARC
    allowed = _SYNTAXES.get(syntax)
    if allowed is None:
        raise Bib1Error(239, oids.record_syntax_name(syntax))
    name = (element_set or FULL).lower()
    if name not in allowed:
        raise Bib1Error(ELEMENT_SET_INVALID, element_set or "")
    return Request(syntax, name, utf8)


def render(stored: StoredRecord, request: Request) -> dict[str, Any]:
    """The EXTERNAL for one record; raises :class:`Bib1Error` (a surrogate diagnostic)."""
    if stored.marc is None:
        raise Bib1Error(RECORD_DELETED, stored.local_id)
    if request.rendition is not None:
        if stored.rendition is None:
            raise Bib1Error(238, f"{stored.local_id} has no {request.element_set}")
        return make_external(request.syntax, stored.rendition)
    if request.verbatim:
        return make_external(oids.USMARC, stored.marc)
    if request.syntax == oids.USMARC and request.element_set != BRIEF and (
        marc8 := utf8_to_marc8(stored.marc)
    ) is not None:
        return make_external(oids.USMARC, marc8)  # the full record, MARC-8 (not negotiated)
    record = read_canonical(stored.marc)
    if request.element_set == BRIEF:
        record = _brief(record)
    if request.syntax == oids.SUTRS:
        return make_external(oids.SUTRS, str(record))
    if request.syntax == oids.USMARC:
        if request.utf8 and request.element_set != MARC8:
            return make_external(oids.USMARC, record.as_marc())
        return make_external(oids.USMARC, record_to_iso2709_marc8(record))
    return make_external(request.syntax, record_to_marcxml(record))


def _brief(record: Record) -> Record:
    """The brief record: the fields of :data:`BRIEF_TAGS`, and the 880s that hold them in the
    other script (an 880 whose $6 names a kept tag: ``245-01/(N``), so that no kept field's
    ``$6 880-NN`` links to nothing; with those 880s, the 066 that declares their scripts."""
    kept = [field for field in record.get_fields() if _in_brief(field)]
    scripts = any(field.tag == "880" for field in kept)
    brief = Record(force_utf8=True, leader=record.leader)
    brief.add_field(*(
        field for field in record.get_fields()
        if field in kept or (scripts and field.tag == "066")
    ))
    # the leader's record length and base address as the brief record's own, in every syntax
    # (ISO 2709 writes them anew; MARCXML and SUTRS showed the full record's)
    brief.leader = Leader(brief.as_marc()[:24].decode("ascii"))
    return brief


def _in_brief(field: Any) -> bool:
    if field.tag in BRIEF_TAGS:
        return True
    if field.tag != "880" or field.is_control_field():
        return False
    links = field.get_subfields("6")
    return bool(links) and links[0][:3] in BRIEF_TAGS

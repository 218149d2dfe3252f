"""Unqualified Dublin Core (oai_dc) -> MARC21 bibliographic record.

DC carries no field structure, so the mapping is by element, after the LoC DC-to-MARC
crosswalk with Koprik's choices (documented in ``tables/README.md``):

========== ===========================================================================
title      first -> 245 (ind1 1 when there is a creator, else 0); others -> 246 13
creator    first -> 100 (1# for "Surname, Forenames", else 0#); others -> 700
contributor 700
publisher  260 $b (with the first date in $c)
date       first -> 260 $c and 008/07-10 (its year); others -> 500 notes
identifier ISBN -> 020, ISSN -> 022, URI -> 856 40 $u, anything else -> 024 8#
subject    "A -- B" headings -> 650 #4 ($a, $x...), free keywords -> 653
description 520; coverage -> 500; source -> 786 0# $n; rights -> 540
type       655 #7 $2 local; a DCMI type sets leader/06
format     856 4# $q (media types) or 340 $a (other physical descriptions)
relation   URI -> 856 42 $u, other -> 787 0# $n
language   codes -> 041 $a and 008/35-37 (first); names that are not codes -> 546
========== ===========================================================================
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from importlib import resources

import pymarc
from lxml import etree

from crosswalks.dublin_core import type_of_leader
from crosswalks.iso2709 import new_subfield, plain_data_field
from crosswalks.marc_build import (
    classify_identifier,
    clean,
    field_008,
    language_code,
    new_record,
    year_of,
)
from crosswalks.namespaces import DC_NS

_TABLE = tomllib.loads(
    resources.files("crosswalks.tables").joinpath("dc_to_marc.toml").read_text("utf-8")
)


def _field(tag: str, ind: str, *pairs: tuple[str, str]) -> pymarc.Field:
    """A data field (every tag here is one): built without pymarc's checks, which a tag,
    indicators and subfield codes of this module's own cannot fail (see
    :func:`crosswalks.iso2709.plain_data_field`)."""
    return plain_data_field(tag, (ind[0], ind[1]), list(map(new_subfield, pairs)))


def dc_values(element: etree._Element) -> dict[str, list[str]]:
    """Non-empty, normalized values of each DC element under ``element``, in document order."""
    values: dict[str, list[str]] = defaultdict(list)
    prefix = f"{{{DC_NS}}}"
    for child in element.iter(etree.Element):
        # Not etree.QName(child): it raises ValueError for the name lxml gives an element of a
        # namespace URI that is not one ('}http://purl.org/...') or of an undeclared prefix.
        if child.tag.startswith(prefix):
            # A leaf's text is all its text; itertext() costs more than the rest of the loop.
            text = clean(child.text if len(child) == 0 else "".join(child.itertext()))
            if text:
                values[child.tag[len(prefix):]].append(text)
    return values


def _name_field(tag: str, name: str, role: str | None = None) -> pymarc.Field:
    pairs = [("a", name)] + ([("e", role)] if role else [])
    return _field(tag, "1 " if "," in name else "0 ", *pairs)


def _subject_field(subject: str) -> pymarc.Field:
    parts = [p.strip() for p in subject.split("--") if p.strip()]
    if len(parts) > 1:
        return _field("650", " 4", ("a", parts[0]), *(("x", p) for p in parts[1:]))
    return _field("653", "  ", ("a", subject))


def dc_to_marc(element: etree._Element) -> pymarc.Record:
    """A MARC21 record for one DC record (an ``oai_dc:dc`` element, or any element whose
    descendants are DC elements). Never raises for missing elements: a DC record with no title
    gets a 245 with "[Untitled]" so the record stays valid MARC21."""
    dc = dc_values(element)
    types = dc.get("type", [])
    leader_type = next((_TABLE["leader_type"][t.lower()] for t in types
                        if t.lower() in _TABLE["leader_type"]), "a")
    record = new_record(leader_type)

    codes: list[str] = []
    language_notes: list[str] = []
    for value in dc.get("language", []):
        code = language_code(value, _TABLE["language"])
        if code is None:
            language_notes.append(value)
        elif code not in codes:
            codes.append(code)
    dates = dc.get("date", [])
    record.add_field(field_008(year_of(dates[0]) if dates else None,
                               codes[0] if codes else None))

    identifiers = [classify_identifier(v) for v in dc.get("identifier", [])]
    for tag, ind, code in (("020", "  ", "a"), ("022", "  ", "a"), ("024", "8 ", "a")):
        for kind, value in identifiers:
            if kind == tag:
                record.add_field(_field(tag, ind, (code, value)))
    if codes:
        record.add_field(_field("041", "  ", *(("a", c) for c in codes)))

    creators = dc.get("creator", [])
    if creators:
        record.add_field(_name_field("100", creators[0]))
    titles = dc.get("title", []) or ["[Untitled]"]
    record.add_field(_field("245", ("1" if creators else "0") + "0", ("a", titles[0])))
    for title in titles[1:]:
        record.add_field(_field("246", "13", ("a", title)))

    imprint = [("b", p) for p in dc.get("publisher", [])] + [("c", d) for d in dates[:1]]
    if imprint:
        record.add_field(_field("260", "  ", *imprint))
    formats = dc.get("format", [])
    for value in formats:
        if "/" not in value:
            record.add_field(_field("340", "  ", ("a", value)))

    notes = [*dates[1:], *dc.get("coverage", [])]
    record.add_field(*(_field("500", "  ", ("a", n)) for n in notes))
    record.add_field(*(_field("520", "  ", ("a", d)) for d in dc.get("description", [])))
    record.add_field(*(_field("540", "  ", ("a", r)) for r in dc.get("rights", [])))
    record.add_field(*(_field("546", "  ", ("a", n)) for n in language_notes))
    record.add_field(*(_subject_field(s) for s in dc.get("subject", [])))
    # A type leader/06 says as MARC -> DC writes it back ("text") is not a 655 as well: each
    # round trip through MARC added one more dc:type of it.
    said = type_of_leader(leader_type)
    record.add_field(*(_field("655", " 7", ("a", t), ("2", "local")) for t in types
                       if t.lower() != said))
    record.add_field(*(_name_field("700", c) for c in creators[1:]))
    record.add_field(*(_name_field("700", c) for c in dc.get("contributor", [])))
    record.add_field(*(_field("786", "0 ", ("n", s)) for s in dc.get("source", [])))

    relations = [classify_identifier(v) for v in dc.get("relation", [])]
    record.add_field(*(_field("787", "0 ", ("n", v)) for k, v in relations if k != "856"))
    record.add_field(*(_field("856", "40", ("u", v)) for k, v in identifiers if k == "856"))
    record.add_field(*(_field("856", "42", ("u", v)) for k, v in relations if k == "856"))
    record.add_field(*(_field("856", "4 ", ("q", f)) for f in formats if "/" in f))
    return record

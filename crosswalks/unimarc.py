"""UNIMARC / RUSMARC bibliographic records -> MARC21.

The field mapping is data, in ``tables/unimarc_to_marc21.toml`` (documented for catalogers in
``tables/README.md``); the converters for each kind of field are in
:mod:`crosswalks.unimarc_fields`. This module does the record-level parts: the leader, 008
from the coded fields 100/101/102/105/106, 040 from 801, and the report of what did not map.

    record, _decision = iso2709.read_record(raw_iso2709_bytes, allow_marc8=False)
    result = unimarc_to_marc21(record)
    result.record.as_marc()   # MARC21, UTF-8
    result.unmapped           # ["899 $a: NLR", ...]

:func:`to_marc21` is the conversion as every reader of records that come in UNIMARC uses it
(files, harvests): an authority record is refused, and a failure is one line of reason.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import pymarc

from crosswalks import lint_008
from crosswalks.iso2709 import describe
from crosswalks.unimarc_fields import CONVERTERS, Context, clean
from crosswalks.unimarc_sniff import authority_refusal

_MAIN_ENTRY_TAGS = ("700", "710", "720")
_SERIES_ENTRY_TAGS = ("410", "411")
_CODED = ("100", "102", "801")
"""Coded fields whose data every record takes (008 dates, country; 040)."""
_CODED_BY_MATERIAL = {"BK": ("105", "106"), "CR": ("106", "110")}
"""The coded fields whose data goes into the 008/18-34 of a MARC21 material; one in a record
of another material is reported unmapped."""
_SOURCE_FACTS_040_LEAVES = "ac2"
"""801 $a (the agency's country), $c (the date of its transaction) and $2 (the record's
format): 040 names agencies only. The record's dates are its 005 and 008/00-05 (from 005 and
100), its format is MARC21 now, and the catalogue archives the UNIMARC original; they are not
reported, as every UNIMARC record has them."""


@dataclass
class UnimarcResult:
    """A converted record, and one line for each UNIMARC field or subfield that did not map."""

    record: pymarc.Record
    unmapped: list[str] = field(default_factory=list)


@cache
def mapping() -> dict[str, Any]:
    """The mapping table (``tables/unimarc_to_marc21.toml``), parsed once."""
    table = resources.files("crosswalks.tables").joinpath("unimarc_to_marc21.toml")
    text = table.read_text("utf-8")
    return tomllib.loads(text)


class NotConverted(ValueError):
    """A UNIMARC record :func:`to_marc21` does not convert; the message is the reason."""


def to_marc21(record: pymarc.Record) -> UnimarcResult:
    """:func:`unimarc_to_marc21` for a record as it came in: an authority record is refused
    (:func:`~crosswalks.unimarc_sniff.authority_refusal`), and a record the conversion fails on
    gets the reason in one line. Raises :class:`NotConverted`."""
    refusal = authority_refusal(str(record.leader))
    if refusal is not None:
        raise NotConverted(refusal)
    try:
        return unimarc_to_marc21(record)
    except Exception as error:  # a crosswalk may fail on any odd record
        raise NotConverted(f"UNIMARC to MARC21 failed: {describe(error)}") from None


def unimarc_to_marc21(record: pymarc.Record) -> UnimarcResult:
    """``record`` (UNIMARC or RUSMARC, already Unicode) as a MARC21 record in UTF-8.

    Every field is looked up in the mapping table; fields and subfields with no place in
    MARC21 are listed in ``UnimarcResult.unmapped`` as ``"TAG $c: value"`` or ``"TAG: field"``.
    The input record is not changed.
    """
    table = mapping()
    ctx = Context(
        relators=table["relators"],
        has_main_entry=any(record.get_fields(*_MAIN_ENTRY_TAGS)),
    )
    out = pymarc.Record(force_utf8=True)
    out.leader = _leader(record, table["leader"])
    out.add_ordered_field(_field_008(record, out.leader, table, ctx))
    used = _CODED + _CODED_BY_MATERIAL.get(lint_008.material(str(out.leader)) or "", ())
    coded = {*_CODED, *(tag for tags in _CODED_BY_MATERIAL.values() for tag in tags)}
    for source in record.get_fields():
        tag = source.tag
        if tag in ("001", "005"):
            out.add_ordered_field(pymarc.Field(tag=tag, data=source.data))
        elif tag == "003":
            if uri := (source.data or "").strip():
                out.add_ordered_field(_uri_024(uri))
        elif tag in coded:
            if tag not in used:
                ctx.unmapped.append(f"{tag}: {source}")
        elif tag in table["fields"]:
            spec = _spec_for(tag, table["fields"][tag], ctx, record)
            for made in CONVERTERS[spec.get("kind", "isbd")](source, spec, ctx):
                out.add_ordered_field(made)
        else:
            ctx.unmapped.append(f"{tag}: {source}")
    cataloging = _field_040(record, ctx)
    if cataloging is not None:
        out.add_ordered_field(cataloging)
    return UnimarcResult(out, ctx.unmapped)


def _spec_for(
    tag: str, spec: Mapping[str, Any], ctx: Context, record: pymarc.Record
) -> Mapping[str, Any]:
    """500 is 240 under a main entry, 130 (the uniform title as main entry) otherwise; 225 is a
    490 traced (ind1 1) when a 410/411 gives the series its 830, untraced (ind1 0) otherwise."""
    if tag == "500" and not ctx.has_main_entry:
        return {**spec, "tag": "130", "ind1": "nonfiling", "ind2": " "}
    if tag == "225" and record.get_fields(*_SERIES_ENTRY_TAGS):
        return {**spec, "ind1": "1"}
    return spec


def _uri_024(uri: str) -> pymarc.Field:
    """The 024 of the persistent URI a UNIMARC 003 holds (MARC21 003 is an organization code)."""
    return pymarc.Field(
        tag="024",
        indicators=["7", " "],
        subfields=[pymarc.Subfield("a", uri), pymarc.Subfield("2", "uri")],
    )


def _leader(record: pymarc.Record, table: Mapping[str, Mapping[str, str]]) -> pymarc.Leader:
    source = (str(record.leader) + " " * 24)[:24]
    status = table["status"].get(source[5], "n")
    kind = table["type"].get(source[6], "a")
    level = table["level"].get(source[7], "m")
    encoding = table["encoding"].get(source[17], "u")
    form = table["cataloging_form"].get(source[18], " ")
    multipart = _multipart_level(record, source)
    return pymarc.Leader(f"00000{status}{kind}{level} a2200000{encoding}{form}{multipart}4500")


def _multipart_level(record: pymarc.Record, source: str) -> str:
    """MARC21 leader/19 (multipart resource record level) from UNIMARC leader/08 (hierarchical
    level) of a monograph (leader/07 m): the highest level (1) is the set (a); a record below
    it (2) is a part, with a dependent title (c) when its 200 says the title is not significant
    (indicator 1 0: "Вып. 13", "Т. 2"), an independent one (b) otherwise. MARC21 means the
    position for sets of monographs and their parts: a serial or a component part, in a
    hierarchy or not, and a record outside one (0, blank) are blank, not specified."""
    if source[7] != "m" or source[8] not in "12":
        return " "
    if source[8] == "1":
        return "a"
    title = record.get("200")
    return "c" if title is not None and title.indicators[0] == "0" else "b"


def _first(record: pymarc.Record, tag: str, code: str = "a") -> str:
    for found in record.get_fields(tag):
        value = found.get(code)
        if value:
            return value
    return ""


def _date(value: str) -> str:
    value = (value + "    ")[:4]
    return value if not value.strip() else value.replace(" ", "u")


def _field_008(
    record: pymarc.Record, leader: pymarc.Leader, table: Mapping[str, Any], ctx: Context
) -> pymarc.Field:
    """008 from 100 $a (dates, audience, script of title), 102 (country), 101 (language), 105
    and 106 (books), 110 and 106 (continuing resources)."""
    general = (_first(record, "100") + " " * 36)[:36]
    entered = general[2:8] if general[:8].isdigit() else _date_entered(record)
    date_type = table["dates"]["type"].get(general[8], "|")
    date1 = _date(general[9:13]) if date_type != "n" else "uuuu"
    date2 = "    " if date_type == "s" else _date(general[13:17])
    country = _first(record, "102").strip().upper()
    place = table["countries"].get(country)
    if place is None:
        place = "xx "
        if country:
            ctx.report("102", "a", f"{country} (no MARC21 country code in the table)")
    language = (_first(record, "101") or "und").strip().lower()[:3].ljust(3)
    kind = lint_008.material(str(leader))
    if kind == "CR":
        material = _serial_positions(record, general, table, language)
    elif kind == "BK":
        material = _book_positions(record, general, table)
    else:
        material = "|" * 17
    data = f"{entered}{date_type}{date1}{date2}{place}{material}{language} d"
    return pymarc.Field(tag="008", data=data)


def _date_entered(record: pymarc.Record) -> str:
    """008/00-05 when 100 has no date: the 005 transaction date, else today (UTC)."""
    latest = record.get("005")
    stamp = latest.data if latest is not None and latest.data else ""
    if stamp[:8].isdigit():
        return stamp[2:8]
    return datetime.now(UTC).strftime("%y%m%d")


def _book_positions(record: pymarc.Record, general: str, table: Mapping[str, Any]) -> str:
    """008/18-34 for books from 100 $a/17 and /20 (audience, government publication) and 105
    $a (illustrations, contents, forms)."""
    coded = (_first(record, "105") + " " * 13)[:13]
    if not _first(record, "105"):
        coded = "|" * 13
    illustrations = "".join(table["illustrations"].get(c, " ") for c in coded[0:4])
    audience = table["audience"].get(general[17], " ")
    form = table["form_of_item"].get(_first(record, "106")[:1], " ")
    contents = "".join(table["contents"].get(c, " ") for c in coded[4:8])
    if illustrations.strip() == "" and coded[0] == "|":
        illustrations, contents = "||||", "||||"
    flags = "".join(c if c in "01" else "|" for c in coded[8:11])
    literary = table["literary_form"].get(coded[11], "|")
    biography = table["biography"].get(coded[12], "|")
    government = table["government"].get(general[20], "|")
    return f"{illustrations}{audience}{form}{contents}{government}{flags} {literary}{biography}"


def _serial_positions(
    record: pymarc.Record, general: str, table: Mapping[str, Any], language: str
) -> str:
    """008/18-34 for continuing resources from 110 $a (type, frequency, regularity, type of
    material, nature of contents, conference), 106 $a (form of item) and 100 $a/20 (government
    publication) and /34-35 (script of title); what UNIMARC does not say is '|'."""
    coded = (_first(record, "110") + "|" * 11)[:11]
    frequency = table["frequency"].get(coded[1], "|")
    regularity = table["regularity"].get(coded[2], "|")
    kind = table["continuing_type"].get(coded[0], "|")
    form = table["form_of_item"].get(_first(record, "106")[:1], " ")
    entire = table["serial_contents"].get(coded[3], " ")
    contents = _left_justified(coded[4:7], table["serial_contents"])
    conference = coded[7] if coded[7] in "01" else "|"
    government = table["government"].get(general[20], "|")
    script = _script_of_title(general[34:36], language, table)
    return (f"{frequency}{regularity} {kind}|{form}{entire}{contents}{government}{conference}"
            f"   {script}|")


def _script_of_title(code: str, language: str, table: Mapping[str, Any]) -> str:
    """008/33 (original alphabet or script of title) from UNIMARC 100 $a/34-35 (script of
    title) by ``[script_of_title]``. UNIMARC's Latin is MARC21's basic Roman (a) in a language
    written without diacritics (``[basic_roman]``: English, Latin...), extended Roman (b) in the
    others, as MARC21 codes the language rather than the title in hand."""
    script: str = table["script_of_title"].get(code, "|")
    if code == "ba" and language in table["basic_roman"]["languages"]:
        return "a"
    return script


def _left_justified(codes: str, table: Mapping[str, str]) -> str:
    """``codes`` through ``table``, those with no MARC21 code (blank) left out and the rest
    left-justified, as MARC21 wants a list of codes that fills fewer positions than it has."""
    mapped = "".join(code for code in (table.get(c, " ") for c in codes) if code != " ")
    return mapped.ljust(len(codes))


def _field_040(record: pymarc.Record, ctx: Context) -> pymarc.Field | None:
    """040 from 801 by the function its indicator 2 gives: 0 original agency -> $a, 1
    transcribing -> $c, 2 modifying -> $d, 3 issuing -> $d unless it is already $a or $c;
    $g rules -> $e; $a $c $2 have no place (:data:`_SOURCE_FACTS_040_LEAVES`). With no
    original or transcribing agency, the first agency named stands in for them.

    MARC21 has no element for the agency that issued (distributed) a record: 040 names who
    created, transcribed and modified it, and 003 names the organization whose control number
    the 001 is, which the catalogue takes as the record's owner, not a crosswalk's to guess
    from 801. An agency that passed on another agency's record is a later agency in that
    record's history, which MARC21 writes in $d; one that issued its own record (UNIMARC's
    "the same agency will have carried out some or all functions": the SBN's ICCU, named only
    as issuing agency) modified nothing, and is not said to have."""
    agencies, rules = _agencies_801(record, ctx)
    original, transcribing, modifying, issuing = (agencies[key] for key in "0123")
    named = original or transcribing or modifying or issuing
    if not named:
        return None
    cataloging = (original or named)[0]
    transcriber = (transcribing or original or named)[0]
    later = modifying + [a for a in issuing if a not in (cataloging, transcriber, *modifying)]
    language = (_first(record, "100") + " " * 25)[22:25].strip()
    subfields = [pymarc.Subfield("a", cataloging)]
    if len(language) == 3:
        subfields.append(pymarc.Subfield("b", language))
    subfields += [pymarc.Subfield("e", rule) for rule in rules]
    subfields.append(pymarc.Subfield("c", transcriber))
    subfields += [pymarc.Subfield("d", agency) for agency in later]
    return pymarc.Field(tag="040", indicators=[" ", " "], subfields=subfields)


def _agencies_801(record: pymarc.Record, ctx: Context) -> tuple[dict[str, list[str]], list[str]]:
    """The agencies ($b) of the 801 fields by function (indicator 2: 0 original, 1
    transcribing, 2 modifying, 3 issuing; any other value counts as modifying), each once,
    and the cataloguing rules ($g); any other subfield that 040 has no place for is reported."""
    agencies: dict[str, list[str]] = {key: [] for key in "0123"}
    rules: list[str] = []
    for source in record.get_fields("801"):
        agency = clean(source.get("b") or "")
        target = agencies.get(source.indicators[1], agencies["2"])
        if agency and agency not in target:
            target.append(agency)
        for code, value in source.subfields:
            if code == "g" and value not in rules:
                rules.append(value)
            elif code not in "bg" and code not in _SOURCE_FACTS_040_LEAVES:
                ctx.report("801", code, value)
    return agencies, rules

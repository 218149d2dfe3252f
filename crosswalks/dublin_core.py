"""MARC21 bibliographic record -> unqualified Dublin Core (``oai_dc``).

The mapping follows the Library of Congress MARC-to-DC crosswalk (the reference is the
stylesheet ``MARC21slim2DC.xsl``) with Koprik's deliberate choices, all kept as data in
``tables/marc_to_dc.toml`` and explained for catalogers in ``tables/README.md``:

* 100/110/111 -> ``creator``, 700/710/711/720 -> ``contributor``;
* 264 (RDA) is mapped like 260 (publisher, date);
* 020/022/024 -> ``identifier`` (``URN:ISBN:``/``URN:ISSN:`` forms for ISBN and ISSN);
* 041 $a/$d and 008/35-37 -> ``language`` (each code once);
* $6 linkage never leaks into a value; whitespace is normalized; empty elements are not written;
* a linked 880 field (original script) is mapped like the field its $6 names, so an original-
  script title becomes a second ``dc:title``.

This runs on the catalogue's write path for every record, so it writes the XML text directly
(every value passes :func:`crosswalks.xmltext.xml_safe` and is written by
:func:`crosswalks.xmlwrite.element`) instead of building a tree, in one pass over the fields.

>>> marc_to_dc(record)  # doctest: +SKIP
b'<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" ...><dc:title>...'
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import cast

import pymarc

from crosswalks.namespaces import DC_NS, OAI_DC_NS, XSI_NS
from crosswalks.xmltext import xml_safe
from crosswalks.xmlwrite import element

OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"

_OPEN = (
    f'<oai_dc:dc xmlns:oai_dc="{OAI_DC_NS}" xmlns:dc="{DC_NS}" xmlns:xsi="{XSI_NS}" '
    f'xsi:schemaLocation="{OAI_DC_NS} {OAI_DC_SCHEMA}">'
)
_CLOSE = "</oai_dc:dc>"

Extractor = Callable[[list[pymarc.Subfield], list[str]], None]


@dataclass(frozen=True)
class _Rule:
    """One table rule, compiled: the DC element and how a field's subfields become values."""

    element: str
    extract: Extractor


def _normalize(text: str) -> str:
    """Whitespace collapsed to single spaces, ends trimmed, XML-forbidden characters dropped."""
    return " ".join(xml_safe(text).split())


def _extractor(spec: dict[str, object]) -> Extractor:
    """Build the extractor that one ``[[rule]]`` of the table describes: it appends the
    elements a field's subfields make to a list, written."""
    take = spec["take"]
    name = f"dc:{spec['element']}"
    codes = str(spec.get("codes", ""))
    prefix = str(spec.get("prefix", ""))
    token = bool(spec.get("token", False))

    def finish(value: str, out: list[str]) -> None:
        value = _normalize(value)
        if token and value:
            value = value.split(" ", 1)[0]
        if value:
            out.append(element(name, prefix + value))

    if take == "select":

        def extract(subfields: list[pymarc.Subfield], out: list[str]) -> None:
            finish(" ".join(s.value for s in subfields if s.code in codes), out)

    elif take == "all":

        def extract(subfields: list[pymarc.Subfield], out: list[str]) -> None:
            finish(" ".join(s.value for s in subfields if s.code.isalpha()), out)

    elif take == "first":

        def extract(subfields: list[pymarc.Subfield], out: list[str]) -> None:
            for s in subfields:
                if s.code in codes:
                    finish(s.value, out)
                    return

    elif take == "each":

        def extract(subfields: list[pymarc.Subfield], out: list[str]) -> None:
            for s in subfields:
                if s.code in codes:
                    finish(s.value, out)

    else:
        raise ValueError(f"marc_to_dc.toml: unknown take {take!r}")
    return extract


def _rule_tags(spec: dict[str, object]) -> list[str]:
    """The tags one rule applies to: its ``tags`` list or its ``range`` minus ``except``."""
    if "range" in spec:
        low, high = (int(t) for t in cast("list[int | str]", spec["range"]))
        excluded = set(cast("list[str]", spec.get("except", [])))
        return [f"{n:03d}" for n in range(low, high + 1) if f"{n:03d}" not in excluded]
    return list(cast("list[str]", spec["tags"]))


def _load_table() -> tuple[dict[str, str], list[_Rule], dict[str, list[int]]]:
    """Read the mapping table: leader/06 types, rules in output order, rule indexes by tag."""
    text = resources.files("crosswalks.tables").joinpath("marc_to_dc.toml").read_text("utf-8")
    table = tomllib.loads(text)
    rules: list[_Rule] = []
    by_tag: dict[str, list[int]] = {}
    for spec in table["rule"]:
        rules.append(_Rule(spec["element"], _extractor(spec)))
        for tag in _rule_tags(spec):
            by_tag.setdefault(tag, []).append(len(rules) - 1)
    return dict(table["leader_type"]), rules, by_tag


_LEADER_TYPE, _RULES, _RULES_BY_TAG = _load_table()


def type_of_leader(code: str) -> str | None:
    """The ``dc:type`` written for leader/06 ``code`` (None: none is)."""
    return _LEADER_TYPE.get(code)


_FIRST_TYPE_RULE = next(i for i, r in enumerate(_RULES) if r.element == "type")
_LAST_DATE_RULE = max(i for i, r in enumerate(_RULES) if r.element == "date")


def _linked_tag(field: pymarc.Field) -> str:
    """The tag an 880 field stands for (from ``$6 245-01/(N``), or '' when it has none."""
    for s in field.subfields:
        if s.code == "6":
            return s.value[:3]
    return ""


def marc_languages(record: pymarc.Record) -> list[str]:
    """Language codes of a record: 008/35-37 first, then 041 $a and $d, each code once.

    Old records run several codes together in one 041 subfield (``engfre``): they are split.
    Blank and fill codes are skipped, and so is anything but ASCII letters. The one reading of
    a record's languages: its Dublin Core, its language sets, its language search terms and
    its match profile all use it.
    """
    return _languages(record.get("008"), record.get_fields("041"))


def _languages(f008: pymarc.Field | None, f041: list[pymarc.Field]) -> list[str]:
    """:func:`marc_languages` from the record's first 008 and its 041 fields."""
    codes: list[str] = []
    if f008 is not None and f008.data is not None and len(f008.data) >= 38:
        codes.append(f008.data[35:38])
    for field in f041:
        for s in field.subfields:
            if s.code in "ad":
                value = s.value.strip()
                if len(value) % 3 == 0:
                    codes.extend(value[i : i + 3] for i in range(0, len(value), 3))
                else:
                    codes.append(value)
    seen: list[str] = []
    for code in codes:
        code = code.strip().lower()
        if code.isascii() and code.isalpha() and code not in seen:
            seen.append(code)
    return seen


def marc_to_dc(record: pymarc.Record) -> bytes:
    """One ``oai_dc:dc`` element (UTF-8, no XML declaration) for a MARC21 bibliographic record.

    The output is valid against ``oai_dc.xsd``. Never raises on odd data: a field without the
    subfields a rule wants simply contributes nothing.
    """
    written: list[list[str]] = [[] for _ in _RULES]  # each rule's elements, in rule order
    f008: pymarc.Field | None = None
    f041: list[pymarc.Field] = []
    for field in record.fields:
        tag = field.tag
        if field.control_field:
            if tag == "008" and f008 is None:
                f008 = field
            continue
        if tag == "880":
            tag = _linked_tag(field)
        elif tag == "041":
            f041.append(field)
        indexes = _RULES_BY_TAG.get(tag)
        if indexes is None:
            continue
        subfields = field.subfields
        for index in indexes:
            _RULES[index].extract(subfields, written[index])

    leader_type = _LEADER_TYPE.get(str(record.leader)[6:7]) if record.leader else None
    if leader_type is not None:
        written[_FIRST_TYPE_RULE].insert(0, element("dc:type", leader_type))

    parts = [_OPEN]
    for index, elements in enumerate(written):
        parts += elements
        if index == _LAST_DATE_RULE:  # language follows date, as in the LoC stylesheet
            parts.extend(element("dc:language", code) for code in _languages(f008, f041))
    parts.append(_CLOSE)
    return "".join(parts).encode("utf-8")

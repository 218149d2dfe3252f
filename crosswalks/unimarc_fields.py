"""Field converters of the UNIMARC -> MARC21 crosswalk (see crosswalks/unimarc.py).

Each converter takes one UNIMARC data field and its entry in
``tables/unimarc_to_marc21.toml`` and returns MARC21 fields, reporting in ``Context.unmapped``
every subfield it could not place. ISBD punctuation follows MARC21 practice: the mark that
introduces an element ends the preceding subfield (``$a Title :$b subtitle /$c author.``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pymarc

from crosswalks.standard_numbers import number_text

NON_SORT = "\x88\x89\x98\x9c"
"""NSB/NSE (ISO 6630 as C1 controls, and their MARC21 Unicode forms SOS/ST)."""

_WITHOUT_NON_SORT = str.maketrans(dict.fromkeys(NON_SORT))
_NSB = "\x88\x98"
_NSE = "\x89\x9c"
_STRIP_ISBD = " ,:;/="
_FINAL = ".?!-"

Spec = Mapping[str, Any]


@dataclass
class Context:
    """What a converter needs besides the field: the relator table and the running report."""

    relators: Mapping[str, list[str]]
    has_main_entry: bool
    unmapped: list[str] = field(default_factory=list)
    main_entry_taken: bool = False

    def report(self, tag: str, code: str, value: str) -> None:
        self.unmapped.append(f"{tag} ${code}: {value}")


@dataclass(frozen=True)
class Rule:
    """How one UNIMARC subfield becomes a MARC21 subfield."""

    to: str
    sep: str = ""
    join: bool = False
    wrap: str = ""

    @classmethod
    def of(cls, spec: str | Mapping[str, Any]) -> Rule:
        if isinstance(spec, str):
            return cls(spec)
        return cls(spec["to"], spec.get("sep", ""), spec.get("join", False), spec.get("wrap", ""))


def clean(value: str) -> str:
    """``value`` without the non-sorting control characters and outer white space."""
    return value.translate(_WITHOUT_NON_SORT).strip()


def _trim(value: str) -> str:
    return value.rstrip(_STRIP_ISBD).rstrip()


def _attach(previous: str, sep: str) -> str:
    """``previous`` ending with the ISBD mark of ``sep`` (never doubling a full stop)."""
    mark = sep.strip()
    previous = _trim(previous)
    if not mark or (mark == "." and previous.endswith(".")):
        return previous
    return previous + " " + mark if sep.startswith(" ") else previous + mark


class Builder:
    """Accumulates MARC21 subfields with ISBD punctuation between them."""

    def __init__(self) -> None:
        self.subfields: list[list[str]] = []

    def add(self, rule: Rule, value: str) -> None:
        value = clean(value)
        if not value:
            return
        if rule.wrap:
            value = rule.wrap[0] + value + rule.wrap[1]
        if rule.join:
            for existing in reversed(self.subfields):
                if existing[0] == rule.to:
                    mark = rule.sep
                    if mark.strip() == "." and existing[1].rstrip().endswith("."):
                        mark = " "
                    existing[1] = _trim(existing[1]) + mark + value
                    return
        if self.subfields:
            self.subfields[-1][1] = _attach(self.subfields[-1][1], rule.sep)
        self.subfields.append([rule.to, value])

    def end(self, text: str) -> None:
        """Close the field with ``text`` (a full stop) unless it already ends with one."""
        for item in reversed(self.subfields):
            if item[0].isalpha():
                if not item[1].endswith(tuple(_FINAL)):
                    item[1] = _trim(item[1]) + text
                return

    def field(self, tag: str, indicators: list[str]) -> pymarc.Field | None:
        if not self.subfields:
            return None
        return pymarc.Field(
            tag=tag,
            indicators=indicators,
            subfields=[pymarc.Subfield(code, value) for code, value in self.subfields],
        )


def indicators(source: pymarc.Field, spec: Spec, builder: Builder) -> list[str]:
    """The MARC21 indicators described by ``spec["ind1"]``/``spec["ind2"]`` (see the table)."""
    result = []
    for position, key in ((0, "ind1"), (1, "ind2")):
        rule = spec.get(key, " ")
        if isinstance(rule, Mapping):
            value = rule.get(source.indicators[position], " ")
        elif rule in ("=1", "=2"):
            value = source.indicators[int(rule[1]) - 1]
        elif rule == "nonfiling":
            value = nonfiling(source.get("a") or "")
        elif rule == "source":
            value = "7" if any(code == "2" for code, _ in builder.subfields) else "4"
        else:
            value = rule
        result.append(value)
    return result


def convert_isbd(source: pymarc.Field, spec: Spec, ctx: Context) -> list[pymarc.Field]:
    """Subfield by subfield through ``spec["subfields"]``, with ISBD punctuation."""
    rules = {code: Rule.of(rule) for code, rule in spec.get("subfields", {}).items()}
    compact = set(spec.get("compact", ()))
    numbers = compact | set(spec.get("numbers", ()))
    builder = Builder()
    for code, value in source.subfields:
        rule = rules.get(code)
        if rule is None:
            ctx.report(source.tag, code, value)
            continue
        if code in numbers:
            value = number_text(value)
        builder.add(rule, value.replace("-", "").replace(" ", "") if code in compact else value)
    if spec.get("sort"):
        builder.subfields.sort(key=lambda item: (item[0].isdigit(), item[0]))
    else:  # $0 $2 $5 ... close the field in MARC21, whatever their UNIMARC place
        builder.subfields.sort(key=lambda item: item[0].isdigit())
    if "end" in spec:
        builder.end(spec["end"])
    made = builder.field(spec["tag"], indicators(source, spec, builder))
    return [made] if made else []


def convert_title(source: pymarc.Field, spec: Spec, ctx: Context) -> list[pymarc.Field]:
    """200 -> 245: the non-sorting part of the first $a gives indicator 2."""
    fields = convert_isbd(source, spec, ctx)
    if not fields:
        return fields
    significant = source.indicators[0] != "0"
    fields[0].indicators = pymarc.Indicators(
        "1" if ctx.has_main_entry and significant else "0", nonfiling(source.get("a") or "")
    )
    return fields


def nonfiling(title: str) -> str:
    """The MARC21 nonfiling indicator (0-9) of a UNIMARC title: the characters its non-sorting
    part holds, between the NSB that opens the title and the NSE."""
    if title[:1] not in _NSB:
        return "0"
    end = min((title.find(c) for c in _NSE if c in title), default=-1)
    return str(min(end - 1, 9)) if end > 0 else "0"


_NAME_RULES = {
    "d": Rule("b", " "),
    "c": Rule("c", ", "),
    "g": Rule("q", " "),
    "f": Rule("d", ", "),
    "p": Rule("u", ", "),
}
_SUBDIVISIONS = {"x": Rule("x"), "y": Rule("z"), "z": Rule("y"), "j": Rule("v")}
_CONTROL = {"2": Rule("2"), "3": Rule("0")}


def _relator(builder: Builder, tag: str, code: str, ctx: Context) -> None:
    relator = ctx.relators.get(code.strip())
    if relator is None:
        ctx.report(tag, "4", code)
        return
    builder.add(Rule("e", ", "), relator[1])
    builder.add(Rule("4"), relator[0])


def _tag_for_responsibility(spec: Spec, ctx: Context, meeting: bool) -> str:
    """The main-entry tag (1XX) once per record; any further one becomes its 7XX."""
    tag = spec["meeting"] if meeting else spec["tag"]
    if tag.startswith("1"):
        if ctx.main_entry_taken:
            return "7" + tag[1:]
        ctx.main_entry_taken = True
    return tag


def name_builder(source: pymarc.Field, ctx: Context) -> Builder:
    """Personal name subfields: $a "Entry, forenames", $b $c $q $d $u, subdivisions, $e $4 $0."""
    builder = Builder()
    entry = clean(source.get("a") or "")
    rest = clean(source.get("b") or "").lstrip(", ").strip()
    builder.add(Rule("a"), f"{entry}, {rest}" if entry and rest else entry or rest)
    for code in _NAME_RULES:  # MARC21 order: $b $c $q $d $u
        for value in source.get_subfields(code):
            builder.add(_NAME_RULES[code], f"({clean(value)})" if code == "g" else value)
    tail: list[tuple[str, str]] = []
    for code, value in source.subfields:
        if code in _SUBDIVISIONS or code in _CONTROL or code == "4":
            tail.append((code, value))
        elif code not in "ab" and code not in _NAME_RULES:
            ctx.report(source.tag, code, value)
    _add_tail(builder, source.tag, tail, ctx)
    return builder


def _add_tail(builder: Builder, tag: str, tail: list[tuple[str, str]], ctx: Context) -> None:
    """Subdivisions, then relators, then $0/$2, in MARC21 order."""
    for code, value in tail:
        if code in _SUBDIVISIONS:
            builder.add(_SUBDIVISIONS[code], value)
    for code, value in tail:
        if code == "4":
            _relator(builder, tag, value, ctx)
    for code, value in tail:
        if code in _CONTROL:
            builder.add(_CONTROL[code], value)


def convert_name(source: pymarc.Field, spec: Spec, ctx: Context) -> list[pymarc.Field]:
    """70X/600/602 personal or family names; UNIMARC ind2 (0 forename, 1 surname) -> MARC ind1."""
    builder = name_builder(source, ctx)
    builder.end(".")
    ind = indicators(source, spec, builder)
    if "ind1" not in spec:
        ind[0] = source.indicators[1] if source.indicators[1] in "01" else "1"
    tag = _tag_for_responsibility(spec, ctx, meeting=False)
    made = builder.field(tag, ind)
    return [made] if made else []


def corporate_builder(source: pymarc.Field, meeting: bool, ctx: Context) -> Builder:
    """Corporate or meeting name subfields; $c qualifiers go in parentheses after the name."""
    builder = Builder()
    tail: list[tuple[str, str]] = []
    for code, value in source.subfields:
        if code == "a":
            builder.add(Rule("a"), value)
        elif code == "b":
            builder.add(Rule("e" if meeting else "b", ". "), value)
        elif code == "c" and builder.subfields:
            builder.subfields[-1][1] = f"{_trim(builder.subfields[-1][1])} ({clean(value)})"
        elif code == "d":
            builder.add(Rule("n", " "), value)
        elif code == "f":
            builder.add(Rule("d", " "), value)
        elif code == "e":
            builder.add(Rule("c", " : " if meeting else " "), value)
        elif code in _SUBDIVISIONS or code in _CONTROL or code == "4":
            tail.append((code, value))
        else:
            ctx.report(source.tag, code, value)
    _add_tail(builder, source.tag, tail, ctx)
    return builder


def convert_corporate(source: pymarc.Field, spec: Spec, ctx: Context) -> list[pymarc.Field]:
    """71X/601: UNIMARC ind1 1 is a meeting; ind2 (0 inverted, 1 jurisdiction, 2 direct)."""
    meeting = source.indicators[0] == "1"
    builder = corporate_builder(source, meeting, ctx)
    builder.end(".")
    ind = indicators(source, spec, builder)
    ind[0] = source.indicators[1] if source.indicators[1] in "012" else "2"
    tag = _tag_for_responsibility(spec, ctx, meeting)
    made = builder.field(tag, ind)
    return [made] if made else []


def embedded(source: pymarc.Field) -> list[pymarc.Field]:
    """The fields embedded with $1 in a 4XX or 604 field, as pymarc fields."""
    fields: list[pymarc.Field] = []
    for code, value in source.subfields:
        if code == "1":
            tag = value[:3]
            if tag < "010":
                fields.append(pymarc.Field(tag=tag, data=value[3:]))
            else:
                ind = (value[3:5] + "  ")[:2]
                fields.append(pymarc.Field(tag=tag, indicators=list(ind), subfields=[]))
        elif fields and not fields[-1].is_control_field():
            fields[-1].add_subfield(code, value)
    return fields


_LINK_ORDER = "atbdghvwxz"


def convert_linking(source: pymarc.Field, spec: Spec, ctx: Context) -> list[pymarc.Field]:
    """4XX with embedded fields, or with standard subfields, -> 76X-78X ($a $t $b $d $g $h $w
    $x $z) or 830 for series."""
    series = spec["tag"] == "830"
    parts: dict[str, list[str]] = {}
    for code, value in _standard_subfields(source, series, ctx):
        if value:
            parts.setdefault(code, []).append(value)
    for part in embedded(source):
        for code, value in _link_part(part, series, source.tag, ctx):
            if value:
                parts.setdefault(code, []).append(value)
    builder = Builder()
    for code in _LINK_ORDER:
        for value in parts.get(code, []):
            if code in "wxz":
                builder.add(Rule(code), value)
            elif code == "v":
                builder.add(Rule("v", " ; "), value)
            else:
                builder.add(Rule(code, ". ", join=code == "t"), value)
    ind = indicators(source, spec, builder)
    ind[0] = " " if series else _NOTE_CONTROLLER.get(source.indicators[1], "0")
    if series:
        ind[1] = nonfiling(_series_title(source))
    made = builder.field(spec["tag"], ind)
    return [made] if made else []


def _series_title(source: pymarc.Field) -> str:
    """The title of a 410/411 as written, non-sorting marks and all: its standard $t, or the
    $a of its embedded 200."""
    for part in embedded(source):
        if part.tag == "200":
            return part.get("a") or ""
    return source.get("t") or ""


_NOTE_CONTROLLER = {"0": "1", "1": "0"}
"""UNIMARC 4XX indicator 2 (0 do not make a note, 1 make a note) -> MARC21 76X-78X indicator 1
(0 display note, 1 do not display note): the same choice, coded the other way round."""


_STANDARD_LINK = {"a": "a", "e": "b", "p": "h", "v": "g", "0": "w", "x": "x", "y": "z"}
"""The UNIMARC 4XX standard subfields (author, edition, physical description, volume, record
identifier, ISSN, ISBN) -> MARC21 76X-78X; title and imprint are composed in
:func:`_standard_subfields`."""
_STANDARD_SERIES = {"v": "v", "0": "w", "x": "x"}


def _standard_subfields(
    source: pymarc.Field, series: bool, ctx: Context
) -> list[tuple[str, str]]:
    """The (MARC21 code, text) pairs of the subfields a 4XX has before any embedded field:
    UNIMARC's second technique of linking, standard subfields ($t title, $h $i part, $c place,
    $n publisher, $d date, ...) rather than $1 embedded fields."""
    title: list[str] = []
    imprint: dict[str, list[str]] = {"c": [], "n": [], "d": []}
    pairs: list[tuple[str, str]] = []
    mapping = _STANDARD_SERIES if series else _STANDARD_LINK
    for code, value in source.subfields:
        if code == "1":
            break
        if code == "t":
            title.append(_trim(clean(value)))
        elif code in "hi" and title:
            title.append((", " if code == "i" and len(title) > 1 else ". ") + _trim(clean(value)))
        elif code in imprint and not series:
            imprint[code].append(clean(value))
        elif code in mapping:
            pairs.append((mapping[code], clean(value)))
        else:
            ctx.report(source.tag, code, value)
    if title:
        text = title[0] + "".join(title[1:])
        pairs.insert(0, ("a" if series else "t", text))
    place = " ; ".join(imprint["c"])
    text = " : ".join(p for p in (place, " : ".join(imprint["n"])) if p)
    date = ", ".join(imprint["d"])
    if text or date:
        pairs.append(("d", f"{text}, {date}" if text and date else text or date))
    return pairs


def _link_part(part: pymarc.Field, series: bool, tag: str, ctx: Context) -> list[tuple[str, str]]:
    """The (MARC21 code, text) pairs one embedded field gives a linking entry."""
    where = f"{tag} $1 {part.tag}"
    if part.tag == "001":
        return [("w", part.data or "")]
    if part.tag == "200":
        title_code = "a" if series else "t"
        pairs = []
        for code, value in part.subfields:
            if code == "a":
                pairs.append((title_code, clean(value)))
            elif code == "e" and pairs:
                pairs[-1] = (title_code, f"{_trim(pairs[-1][1])} : {clean(value)}")
            elif code == "v":
                pairs.append(("v" if series else "g", clean(value)))
            else:
                ctx.unmapped.append(f"{where} ${code}: {value}")
        return pairs
    if not series and part.tag in ("700", "701", "702", "710", "711", "712"):
        personal = part.tag.startswith("70")
        name = name_builder(part, ctx) if personal else corporate_builder(part, False, ctx)
        return [("a", " ".join(v for c, v in name.subfields if c in "abcdq"))]
    if not series and part.tag in _LINK_DESCRIPTION:
        code, text = _LINK_DESCRIPTION[part.tag](part)
        return [(code, text)]
    ctx.unmapped.append(f"{where}: {part}")
    return []


def _place_publisher_date(part: pymarc.Field) -> tuple[str, str]:
    place = " ; ".join(clean(v) for v in part.get_subfields("a"))
    publisher = " : ".join(clean(v) for v in part.get_subfields("c"))
    date = ", ".join(clean(v) for v in part.get_subfields("d"))
    text = " : ".join(p for p in (place, publisher) if p)
    return "d", f"{text}, {date}" if text and date else text or date


_LINK_DESCRIPTION: dict[str, Callable[[pymarc.Field], tuple[str, str]]] = {
    "205": lambda part: ("b", clean(part.get("a") or "")),
    "210": _place_publisher_date,
    "215": lambda part: ("g", clean(part.get("a") or "")),
    "010": lambda part: ("z", clean(part.get("a") or "")),
    "011": lambda part: ("x", clean(part.get("a") or "")),
}


def convert_namesubject(source: pymarc.Field, spec: Spec, ctx: Context) -> list[pymarc.Field]:
    """604 name and title subject: embedded 700 or 710 + 500 -> 600 or 610 with $t."""
    parts = embedded(source)
    names = [p for p in parts if p.tag in ("700", "701", "702", "710", "711", "712")]
    titles = [p for p in parts if p.tag in ("500", "501")]
    if not names or not titles:
        ctx.unmapped.append(f"{source.tag}: {source}")
        return []
    name = names[0]
    personal = name.tag.startswith("70")
    builder = name_builder(name, ctx) if personal else corporate_builder(name, False, ctx)
    tail: list[tuple[str, str]] = []
    for code, value in titles[0].subfields:
        if code == "a":
            builder.add(Rule("t", ". "), value)
        elif code in _SUBDIVISIONS or code in _CONTROL:
            tail.append((code, value))
        else:
            ctx.report(source.tag, code, value)
    _add_tail(builder, source.tag, tail, ctx)
    builder.end(".")
    ind = indicators(source, spec, builder)
    ind[0] = name.indicators[1] if name.indicators[1] in "012" else "1"
    made = builder.field("600" if personal else "610", ind)
    return [made] if made else []


def convert_holding(source: pymarc.Field, spec: Spec, ctx: Context) -> list[pymarc.Field]:
    """RUSMARC 899 (location and shelf mark of a copy) -> 852, subfield by subfield, each value
    as it is: a shelf mark or an inventory number takes no ISBD punctuation. A field without the
    holding institution ($a, mandatory in RUSMARC) is another format's local 899 (the Italian
    SBN writes its libraries in $1 and $2) and is reported whole."""
    if not clean(source.get("a") or ""):
        ctx.unmapped.append(f"{source.tag}: {source}")
        return []
    rules: Mapping[str, str] = spec["subfields"]
    subfields = []
    for code, value in source.subfields:
        if code not in rules:
            ctx.report(source.tag, code, value)
        elif value := clean(value):
            subfields.append(pymarc.Subfield(rules[code], value))
    return [pymarc.Field(tag=spec["tag"], indicators=[spec.get("ind1", " "), spec.get("ind2", " ")],
                         subfields=subfields)]


Converter = Callable[[pymarc.Field, Spec, Context], list[pymarc.Field]]

CONVERTERS: dict[str, Converter] = {
    "isbd": convert_isbd,
    "title": convert_title,
    "name": convert_name,
    "corporate": convert_corporate,
    "linking": convert_linking,
    "namesubject": convert_namesubject,
    "holding": convert_holding,
}

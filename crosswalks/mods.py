"""MARC21 bibliographic record -> MODS 3.7.

Follows the Library of Congress stylesheet ``MARC21slim2MODS3-7.xsl`` for the elements a
catalogue exchanges: titleInfo, name, typeOfResource, originInfo, language,
physicalDescription, abstract, accessCondition, note, subject, classification, identifier,
location and recordInfo. Code lists are data in ``tables/marc_to_mods.toml``. Linked 880
fields become alternate forms (``altRepGroup`` and ``script``) of the element their $6 names,
as in LoC; where $6 carries no script code (always so in the regular field, which LoC labels
"Latn" whatever it holds), ``script`` is read from the text itself (:func:`script_of`).
What LoC derives from coded 007/008 positions beyond dates, place, language and frequency
(form, digitalOrigin, genre, targetAudience...) is not written; ``tables/README.md`` lists it.

>>> marc_to_mods(record)  # doctest: +SKIP
b'<mods xmlns="http://www.loc.gov/mods/v3" version="3.7" ...><titleInfo>...'
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import pymarc

from crosswalks.namespaces import MODS_NS, XLINK_NS, XSI_NS
from crosswalks.xmltext import as_any_uri, xml_safe
from crosswalks.xmlwrite import attribute, element

MODS_SCHEMA = "http://www.loc.gov/standards/mods/v3/mods-3-7.xsd"
RECORD_ORIGIN = "Converted from MARC21 to MODS 3.7 by Koprik"

_TABLE = tomllib.loads(
    resources.files("crosswalks.tables").joinpath("marc_to_mods.toml").read_text("utf-8")
)

_SCRIPT_CODES: dict[str, str] = _TABLE["script"]
NOTE_TYPES: dict[str, str] = _TABLE["note_type"]
_NOTE_LEFT_OUT = {"508": "u368", "518": "368", "530": "u368"}
"""Subfields a note leaves out besides $6 and $8 (LoC's createNoteFrom508, 518, 530)."""
ABSTRACT_LABELS = {"0": "Subject", "1": "Review", "2": "Scope and content", "3": "Abstract",
                    "4": "Content advice", "8": ""}
"""520 first indicator -> abstract/@displayLabel ("": none; any other: Summary), as LoC's
createAbstractFrom520."""
ACCESS_CONDITIONS = {"506": ("restriction on access", "abcd35"),
                      "540": ("use and reproduction", "abcde35")}
"""accessCondition/@type and the subfields taken (LoC's createAccessConditionFrom506, 540)."""
_PUNCT = ".:,;/ "
_MANUSCRIPT = "dfpt"  # leader/06 values whose dates are dates of creation


_SCRIPTS = {"LATIN": "Latn", "CYRILLIC": "Cyrl", "GREEK": "Grek", "HEBREW": "Hebr",
            "ARABIC": "Arab", "CJK": "Hani", "HIRAGANA": "Hira", "KATAKANA": "Kana",
            "HANGUL": "Hang", "ARMENIAN": "Armn", "GEORGIAN": "Geor", "DEVANAGARI": "Deva",
            "TAMIL": "Taml", "THAI": "Thai", "ETHIOPIC": "Ethi"}
"""Unicode name prefixes of letters -> ISO 15924 script codes (for ``@script``)."""


@lru_cache(maxsize=4096)
def _script_of_char(char: str) -> str | None:
    """The script code of one letter (None: not a letter, or a script not in the table);
    cached, since looking up a character's Unicode name costs more than the rest."""
    if not char.isalpha():
        return None
    return _SCRIPTS.get(unicodedata.name(char, "").split(" ")[0])


def script_of(text: str) -> str | None:
    """The ISO 15924 code of the script most letters of ``text`` are in (None: no letters).

    Uzbek Latin's modifier letters (ʻ ʼ) count for no script.
    """
    counts: dict[str, int] = {}
    for script in map(_script_of_char, text):
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    return max(counts, key=lambda code: counts[code]) if counts else None


def _text(value: str) -> str:
    return " ".join(xml_safe(value).split())


def chop(value: str, punctuation: str = _PUNCT) -> str:
    """Trailing ISBD punctuation removed, as LoC's ``chopPunctuation`` does."""
    return value.rstrip(punctuation)


def _leaf(name: str, value: str, attributes: str = "") -> str:
    """Element ``name`` holding ``value``, its whitespace normalized (see :func:`_text`)."""
    return element(name, _text(value), attributes)


def _from_record(key: str, value: str) -> str:
    """An attribute whose value comes from the record (a $2, a $6 group, a subfield's type):
    without the characters XML forbids, as element text is (:func:`_text`), but otherwise as
    it is."""
    return attribute(key, xml_safe(value))


def _add(out: list[str], name: str, attributes: str, content: str) -> None:
    """A top-level container element appended to ``out``, unless it is empty."""
    if content:
        out.append(element(name, None, attributes, content))


def _add_leaf(out: list[str], name: str, value: str, attributes: str = "") -> None:
    """A top-level element holding ``value`` appended to ``out``, unless the value is empty
    once normalized."""
    value = _text(value)
    if value:
        out.append(element(name, value, attributes))


def _select(field: pymarc.Field, codes: str) -> str:
    return " ".join(s.value for s in field.subfields if s.code in codes)


def _first(field: pymarc.Field, code: str) -> str | None:
    for s in field.subfields:
        if s.code == code:
            return s.value
    return None


def _link(field: pymarc.Field) -> str:
    """The field's last $u or $0 as the element's ``xlink:href`` (LoC's template ``uri``, which
    sets it for each in turn), its namespace declared with it; none without either, or when
    it is no URI even escaped (:func:`as_any_uri`): the record's MODS would be invalid."""
    link = ""
    for s in field.subfields:
        if s.code == "u" or s.code == "0":
            link = s.value
    uri = as_any_uri(link) if link else None
    return _XLINK + attribute("xlink:href", uri) if uri else ""


def _add_linked(out: list[str], name: str, value: str, attributes: str, link: str) -> None:
    """:func:`_add_leaf` with the attributes ``link`` (:func:`_link`): an element with a link
    is written without text too, as LoC writes a 530 of a $u alone."""
    if link and not _text(value):
        out.append(element(name, None, attributes + link))
    else:
        _add_leaf(out, name, value, attributes + link)


def _around(field: pymarc.Field, axis: str, codes: str, *, before: bool) -> str:
    """Subfields in ``codes`` standing before the last (or after the first) ``$axis``, joined;
    ``$axis`` itself is included when looking after it (LoC's ``specialSubfieldSelect``)."""
    positions = [i for i, s in enumerate(field.subfields) if s.code == axis]
    if not positions:
        return ""
    values = []
    for i, s in enumerate(field.subfields):
        if before and s.code in codes and i < positions[-1]:
            values.append(s.value)
        if not before and (s.code == axis or (s.code in codes and i > positions[0])):
            values.append(s.value)
    return " ".join(values)


_ROOT = "".join([
    attribute("xmlns", MODS_NS),
    attribute("xmlns:xsi", XSI_NS),
    attribute("version", "3.7"),
    attribute("xsi:schemaLocation", f"{MODS_NS} {MODS_SCHEMA}"),
])
"""The attributes of the ``mods`` element."""
_fixed = cache(attribute)
""":func:`attribute` for the writer's own values (names of types, authorities, scripts: a small
set, so the unbounded cache stays small), which per record cost more to write than to look up.
Code tables (``_EVENTS``...) map codes to plain values, as ``tables/marc_to_mods.toml`` does,
and the attribute is written with this where it is used."""
_XLINK = attribute("xmlns:xlink", XLINK_NS)
_PRESERVE = attribute("xml:space", "preserve")
_TYPE_TEXT = attribute("type", "text")
_CODE_MARCRELATOR = attribute("authority", "marcrelator") + attribute("type", "code")
_ISO639 = attribute("authority", "iso639-2b") + attribute("type", "code")
_MARC = attribute("encoding", "marc")
_START = attribute("point", "start")
_END = attribute("point", "end")
_QUESTIONABLE = attribute("qualifier", "questionable")
_RECORD_ORIGIN = element("recordOrigin", RECORD_ORIGIN)
_SUBDIVISIONS = {"v": "genre", "x": "topic", "y": "temporal", "z": "geographic"}
_EVENTS = {"0": "producer", "1": "publisher", "2": "distributor", "3": "manufacturer"}
"""264 second indicator -> originInfo/@eventType."""
_ISSUE_KINDS = {"0": "issue number", "1": "matrix number", "2": "music plate",
                "3": "music publisher", "4": "videorecording identifier"}
"""028 first indicator -> identifier/@type."""
_SUBJECT_NAMES: dict[str, tuple[str, Callable[[_Builder, pymarc.Field], str], str]] = {
    "600": ("personal", lambda b, field: b.personal_parts(field) + b.role(field), "t"),
    "610": ("corporate", lambda b, field: b.corporate_parts(field, "cdnp") + b.role(field), "t"),
    "611": ("conference", lambda b, field: _leaf("namePart", _select(field, "abcdeqnp")), "tpn"),
}
"""A name subject's tag -> the name's type, its parts, and the subfields of the titleInfo that
follows it when the field has a $t (a name/title subject)."""


@dataclass(frozen=True)
class _IdentifierRule:
    """One ``[[identifier]]`` of the table: a subfield of fields ``tag`` (with first indicator
    ``ind1``, if given), the text after ``after`` in it (if given), and the attributes: the
    ``type`` read from subfield ``type_from`` (if given), then the table's own ones."""

    tag: str
    ind1: str | None
    code: str
    after: str | None
    type_from: str | None
    attributes: str


_IDENTIFIER_RULES = tuple(
    _IdentifierRule(
        rule["tag"], rule.get("ind1"), rule["code"], rule.get("after"), rule.get("type_from"),
        (attribute("type", rule["type"]) if "type_from" not in rule and rule.get("type")
         else "") + (attribute("invalid", "yes") if rule.get("invalid") else ""),
    )
    for rule in _TABLE["identifier"]
)


class _Builder:
    """Writes the MODS text for one record; one method per MODS element family.

    The record's fields are grouped by tag once (``by_tag``, ``linked``, ``linked_by_tag``):
    the element families look fields up by tag some thirty times per record, and scanning
    every field each time cost more than writing the XML.

    Each method returns or appends the elements it writes, as text (:mod:`crosswalks.xmlwrite`).
    The elements of ``mods`` itself go to ``top`` as they are made, except those LoC writes
    last (classification, identifier, location, recordInfo): :meth:`build` adds them after
    the rest. A top-level element with neither content nor text is left out (:func:`_add`):
    MODS requires content in them.
    """

    def __init__(self, record: pymarc.Record) -> None:
        self.record = record
        self.by_tag: dict[str, list[pymarc.Field]] = {}
        self.linked: list[tuple[str, pymarc.Field]] = []
        """Each datafield in record order with its tag (an 880: the tag its $6 names)."""
        self.linked_by_tag: dict[str, list[pymarc.Field]] = {}
        by_tag, linked, linked_by_tag = self.by_tag, self.linked, self.linked_by_tag
        for field in record.fields:
            tag = field.tag
            by_tag.setdefault(tag, []).append(field)
            if not field.control_field:
                if tag == "880":  # (the test saves a call per field)
                    tag = self.tag_of(field)
                linked.append((tag, field))
                linked_by_tag.setdefault(tag, []).append(field)
        self.leader = str(record.leader or "").ljust(24)
        f008 = self.get("008")
        self.f008 = (f008.data or "") if f008 is not None else ""
        self.top: list[str] = []

    def fields(self, *tags: str) -> list[pymarc.Field]:
        """Datafields with one of ``tags`` and the 880 fields linked to one, in record order."""
        if len(tags) == 1:
            return self.linked_by_tag.get(tags[0], [])
        present = [tag for tag in tags if tag in self.linked_by_tag]
        if len(present) <= 1:
            return self.linked_by_tag[present[0]] if present else []
        return [field for tag, field in self.linked if tag in tags]

    def get_fields(self, tag: str) -> list[pymarc.Field]:
        """The fields tagged ``tag`` (880s as such), like ``Record.get_fields``."""
        return self.by_tag.get(tag, [])

    def get(self, tag: str) -> pymarc.Field | None:
        """The first field tagged ``tag``, like ``Record.get``."""
        found = self.by_tag.get(tag)
        return found[0] if found else None

    @staticmethod
    def tag_of(field: pymarc.Field) -> str:
        """The field's tag, or for an 880 the tag its $6 links it to."""
        return field.tag if field.tag != "880" else (_first(field, "6") or "")[:3]

    def alternate(self, field: pymarc.Field) -> str:
        """altRepGroup/script attributes for a field in a linked pair (LoC's ``xxx880``)."""
        linkage = _first(field, "6")
        if not linkage or len(linkage) < 6:
            return ""
        group = _from_record("altRepGroup", linkage[4:6])
        script = _SCRIPT_CODES.get(linkage[7:9]) if field.tag == "880" else None
        if script is None:  # no script code in $6 (a regular field never has one)
            script = script_of(" ".join(v for c, v in field.subfields if c != "6"))
        return group + _fixed("script", script) if script else group

    # titleInfo ---------------------------------------------------------------------------

    def part(self, field: pymarc.Field, simple_part_name: bool) -> str:
        number = chop(_around(field, "n", "fgkdlmor", before=False))
        if simple_part_name:
            name = chop(_first(field, "p") or "")
        else:
            name = chop(_around(field, "p", "fgkdlmor", before=False))
        written = _leaf("partNumber", number) if number.strip() else ""
        if name.strip():
            written += _leaf("partName", name)
        return written

    def title(self, field: pymarc.Field, title: str) -> str:
        """title, with a nonSort part when the nonfiling indicator says so."""
        title = chop(_text(title))
        skip = field.indicator2 if field.tag in ("245", "242", "880") else ""
        if skip.isascii() and skip.isdigit() and int(skip) > 0:
            nonsort = element("nonSort", title[: int(skip)] + " ", _PRESERVE)
            return nonsort + _leaf("title", title[int(skip) :])
        return _leaf("title", title)

    def title_info(self) -> None:
        top = self.top
        for field in self.fields("245"):
            attributes = self.alternate(field)
            if _first(field, "b") is not None:
                content = self.title(field, _around(field, "b", "afgks", before=True))
                subtitle = chop(_text(_around(field, "b", "afgks", before=False)))
                content += element("subTitle", subtitle)  # normalized already
            else:
                content = self.title(field, _select(field, "abfgks"))
            _add(top, "titleInfo", attributes,
                     content + self.part(field, simple_part_name=False))
        for field in self.fields("210"):
            attributes = _fixed("type", "abbreviated") + self.alternate(field)
            content = _leaf("title", chop(_select(field, "a"))) + self.subtitle(field)
            _add(top, "titleInfo", attributes, content)
        for field in self.fields("246"):
            kind = "translated" if field.indicator2 == "1" else "alternative"
            attributes = _fixed("type", kind) + self.alternate(field)
            label = _first(field, "i")
            if label:
                attributes += attribute("displayLabel", _text(label))
            content = (_leaf("title", chop(_select(field, "af"))) + self.subtitle(field)
                       + self.part(field, simple_part_name=False))
            _add(top, "titleInfo", attributes, content)
        for tag, codes in (("240", "adfklmors"), ("130", "adfklmors"), ("730", "adfklmors")):
            for field in self.fields(tag):
                if tag == "730" and field.indicator2 == "2":
                    continue
                attributes = _fixed("type", "uniform") + self.alternate(field)
                has_part = any(s.code in "np" for s in field.subfields)
                last_part = max((i for i, s in enumerate(field.subfields) if s.code in "np"),
                                default=-1)
                title = " ".join(s.value for i, s in enumerate(field.subfields)
                                 if s.code in codes and (not has_part or i < last_part))
                content = (_leaf("title", chop(title))
                           + self.part(field, simple_part_name=tag == "730"))
                _add(top, "titleInfo", attributes, content)
        for field in self.fields("740"):
            attributes = _fixed("type", "alternative") + self.alternate(field)
            content = (_leaf("title", chop(_select(field, "ah")))
                       + self.part(field, simple_part_name=True))
            _add(top, "titleInfo", attributes, content)

    def subtitle(self, field: pymarc.Field) -> str:
        subtitle = _first(field, "b")
        return "" if subtitle is None else _leaf("subTitle", chop(subtitle))

    # name --------------------------------------------------------------------------------

    def role(self, field: pymarc.Field) -> str:
        roles = [element("role", None, "", _leaf("roleTerm", chop(s.value), _TYPE_TEXT))
                 for s in field.subfields if s.code == "e"]
        roles += [element("role", None, "", _leaf("roleTerm", s.value, _CODE_MARCRELATOR))
                  for s in field.subfields if s.code == "4"]
        return "".join(roles)

    def personal_parts(self, field: pymarc.Field) -> str:
        parts = [_leaf("namePart", _select(field, "aq"))]
        if any(s.code in "bc" for s in field.subfields):
            parts.append(_leaf("namePart", _select(field, "bc"),
                               _fixed("type", "termsOfAddress")))
        parts += [_leaf("namePart", chop(s.value), _fixed("type", "date"))
                  for s in field.subfields if s.code == "d"]
        parts += [_leaf("affiliation", s.value) for s in field.subfields if s.code == "u"]
        return "".join(parts)

    def corporate_parts(self, field: pymarc.Field, rest: str) -> str:
        parts = [_leaf("namePart", s.value)
                 for code in "ab" for s in field.subfields if s.code == code]
        if any(s.code in rest for s in field.subfields):
            parts.append(_leaf("namePart", _select(field, rest)))
        return "".join(parts)

    def name(self, field: pymarc.Field, primary: bool) -> None:
        """One name from a 1XX/7XX field (LoC's createNameFrom100...720)."""
        kind = self.tag_of(field)[1:]
        ind1 = field.indicator1
        if kind == "00":
            if ind1 not in ("0", "1", "3"):
                return
            attributes = _fixed("type", "family" if ind1 == "3" else "personal")
            if primary:
                attributes += _fixed("usage", "primary")
            attributes += self.alternate(field)
            content = self.personal_parts(field)
        elif kind == "10":
            attributes = _fixed("type", "corporate") + self.alternate(field)
            content = self.corporate_parts(field, "cdn")
        elif kind == "11":
            attributes = _fixed("type", "conference") + self.alternate(field)
            content = _leaf("namePart", _select(field, "acdenq"))
        else:  # 720
            attributes = _fixed("type", "personal") if ind1 == "1" else ""
            attributes += self.alternate(field)
            content = _leaf("namePart", _first(field, "a") or "")
        _add(self.top, "name", attributes, content + self.role(field))

    def names(self) -> None:
        for tags, primary in ((("100", "110", "111"), True), (("700", "710", "711", "720"), False)):
            for tag in tags:
                for field in self.fields(tag):
                    if _first(field, "t") is None:
                        self.name(field, primary and tag == "100")

    # originInfo --------------------------------------------------------------------------

    def dates_from_008(self, date_260c: str) -> str:
        if len(self.f008) < 15:
            return ""
        kind, date1, date2 = self.f008[6], self.f008[7:11].strip(), self.f008[11:15].strip()
        manuscript = self.leader[6] in _MANUSCRIPT
        dates: list[str] = []
        if kind in "eprst" and date1 and date1 != date_260c:
            dates.append(_leaf("dateCreated" if manuscript else "dateIssued", date1, _MARC))
        if kind in "cdikmu":
            if date1:
                dates.append(_leaf("dateIssued", date1, _MARC + _START))
            if date2:
                dates.append(_leaf("dateIssued", date2, _MARC + _END))
        if kind == "q":
            if date1:
                dates.append(_leaf("dateIssued", date1, _MARC + _START + _QUESTIONABLE))
            if date2:
                dates.append(_leaf("dateIssued", date2, _MARC + _END + _QUESTIONABLE))
        if kind == "t" and date2:
            dates.append(_leaf("copyrightDate", date2, _MARC))
        return "".join(dates)

    def imprint(self, field: pymarc.Field, chop_text: bool) -> str:
        """place, publisher and date from one 260 (chopped) or 264 field (as recorded)."""
        manuscript = self.leader[6] in _MANUSCRIPT
        parts: list[str] = []
        for s in field.subfields:
            if s.code == "a":
                place = chop(s.value).lstrip(".:,;/[ ") if chop_text else s.value
                parts.append(element("place", None, "", _leaf("placeTerm", place, _TYPE_TEXT)))
        for s in field.subfields:
            if s.code == "b":
                parts.append(_leaf("publisher", chop(s.value, ":,;/ ") if chop_text else s.value))
            elif s.code == "c":
                value = chop(s.value) if chop_text else s.value
                parts.append(_leaf("dateCreated" if manuscript else "dateIssued", value))
            elif s.code == "g":
                parts.append(_leaf("dateCreated", s.value))
        return "".join(parts)

    def shared_origin(self) -> str:
        """What every originInfo repeats: 008 place and dates, issuance, 008 frequency."""
        parts: list[str] = []
        country = self.f008[15:18].strip() if len(self.f008) >= 18 else ""
        if country.replace("|", ""):
            place_term = _leaf("placeTerm", country,
                               _fixed("type", "code") + _fixed("authority", "marccountry"))
            parts.append(element("place", None, "", place_term))
        f260 = self.get_fields("260")
        parts.append(self.dates_from_008(chop(_first(f260[0], "c") or "") if f260 else ""))
        issuance = _TABLE["issuance"].get(self.leader[7])
        if issuance:
            parts.append(_leaf("issuance", issuance))
        if self.leader[6] == "a" and self.leader[7] in "bis" and len(self.f008) > 18:
            frequency = _TABLE["frequency"].get(self.f008[18])
            if frequency:
                parts.append(_leaf("frequency", frequency,
                                   _fixed("authority", "marcfrequency")))
        return "".join(parts)

    def origin_content(self, field: pymarc.Field) -> str:
        tag = self.tag_of(field)
        if tag == "260":
            return self.imprint(field, chop_text=True)
        if tag == "250":
            return "".join(_leaf("edition", s.value) for s in field.subfields if s.code == "a")
        return _leaf("frequency", _select(field, "ab"))  # 310, 321

    def origin_info(self) -> None:
        """originInfo as LoC's template of that name makes it: one per linked field, one for
        the unlinked ones, one per linked 880; then one per 264 (RDA) by its event."""
        tags = ("260", "250", "310", "321")
        own = [f for f in self.record.fields if f.tag in tags]
        linked = [f for f in own if _first(f, "6") is not None]
        groups = [[f] for f in linked]
        unlinked = [f for f in own if _first(f, "6") is None]
        if unlinked or (not linked and self.get("008") is not None):
            groups.append(unlinked)
        groups += [[f] for f in self.get_fields("880")
                   if (_first(f, "6") or "")[:3] in tags]
        shared = self.shared_origin() if groups else ""
        for group in groups:
            attributes = ""
            if len(group) == 1 and _first(group[0], "6") is not None:
                attributes = self.alternate(group[0])
            content = shared + "".join(self.origin_content(field) for field in group)
            _add(self.top, "originInfo", attributes, content)
        for field in self.fields("264"):
            event = _EVENTS.get(field.indicator2)
            if event is not None:
                attributes = _fixed("eventType", event) + self.alternate(field)
                _add(self.top, "originInfo", attributes,
                         self.imprint(field, chop_text=False))

    # language, physicalDescription -------------------------------------------------------

    def languages(self) -> None:
        used: list[str] = []
        code008 = self.f008[35:38] if len(self.f008) >= 38 else ""
        if code008.replace("|", "").replace("#", "").strip():
            self.top.append(element("language", None, "",
                                    _leaf("languageTerm", code008, _ISO639)))
            used.append(code008.strip())
        for field in self.get_fields("041"):
            for s in field.subfields:
                if s.code not in "abdefgh":
                    continue
                value = s.value.strip()
                for i in range(0, len(value), 3):
                    code = value[i : i + 3]
                    if not code or code in used:
                        continue
                    used.append(code)
                    part = _TABLE["language_object_part"].get(s.code)
                    attributes = _fixed("objectPart", part) if part else ""
                    self.top.append(element("language", None, attributes,
                                            _leaf("languageTerm", code, _ISO639)))

    def physical_description(self) -> None:
        forms = [(s.value, "media" if self.tag_of(f) == "337" else "carrier", _first(f, "2"))
                 for f in self.fields("337", "338") for s in f.subfields if s.code == "a"]
        extents = [_select(f, "abce3fg") for f in self.get_fields("300")]
        media_types = [s.value for f in self.get_fields("856")
                       for s in f.subfields if s.code == "q"]
        if not (forms or extents or media_types):
            return
        parts = [_leaf("form", value, _fixed("type", kind)
                       + (_from_record("authority", authority) if authority else ""))
                 for value, kind, authority in forms]
        parts += [_leaf("extent", value) for value in extents]
        parts += [_leaf("internetMediaType", value) for value in media_types]
        self.top.append(element("physicalDescription", None, "", "".join(parts)))

    # subject -----------------------------------------------------------------------------

    def subject_authority(self, tag: str, field: pymarc.Field) -> str | None:
        """The authority the second indicator names (7: the one $2 names); for a 648 naming
        none, its $2 (LoC reads a 648's $2 whatever the indicator)."""
        ind2 = field.indicator2
        named = _first(field, "2") if ind2 == "7" else _TABLE["subject_authority"].get(ind2)
        return named or (_first(field, "2") if tag == "648" else None)

    def subdivisions(self, field: pymarc.Field) -> str:
        return "".join(_leaf(_SUBDIVISIONS[s.code], chop(s.value))
                       for s in field.subfields if s.code in _SUBDIVISIONS)

    def subject_title(self, field: pymarc.Field, codes: str) -> str:
        content = _leaf("title", chop(_select(field, codes)))
        return element("titleInfo", None, "", content + self.part(field, simple_part_name=False))

    def subject_content(self, tag: str, field: pymarc.Field) -> str:
        """The elements of one 6XX field's subject, before its subdivisions."""
        if tag in _SUBJECT_NAMES:
            kind, parts, title_codes = _SUBJECT_NAMES[tag]
            name = element("name", None, _fixed("type", kind), parts(self, field))
            if _first(field, "t") is not None:
                return name + self.subject_title(field, title_codes)
            return name
        if tag == "630":
            return self.subject_title(field, "adfhklor")
        if tag == "648":
            return _leaf("temporal", chop(_select(field, "abcd")))
        if tag == "650":
            return _leaf("topic", chop(_select(field, "abcd")))
        return "".join(_leaf("geographic", chop(s.value)) for s in field.subfields
                       if s.code == "a")

    def subjects(self) -> None:
        top = self.top
        for field in self.get_fields("043"):
            codes = [_leaf("geographicCode", s.value,
                           _fixed("authority", "marcgac" if s.code == "a" else "iso3166"))
                     for s in field.subfields if s.code in "ac"]
            if codes:
                top.append(element("subject", None, "", "".join(codes)))
        for field in self.fields("600", "610", "611", "630", "648", "650", "651"):
            tag = self.tag_of(field)
            attributes = self.alternate(field)
            authority = self.subject_authority(tag, field)
            if authority:
                attributes += _from_record("authority", authority)
            content = self.subject_content(tag, field) + self.subdivisions(field)
            _add(top, "subject", attributes, content)
        for field in self.fields("653"):
            if field.indicator2 in (" ", ""):
                top.extend(element("subject", None, "", _leaf("topic", s.value))
                           for s in field.subfields if s.code == "a")

    # identifier, classification, notes, location, recordInfo -----------------------------

    def identifiers(self) -> list[str]:
        out: list[str] = []
        for rule in _IDENTIFIER_RULES:
            for field in self.get_fields(rule.tag):
                if rule.ind1 is not None and field.indicator1 != rule.ind1:
                    continue
                value = _first(field, rule.code)
                if value is None:
                    continue
                if rule.after is not None:
                    if rule.after not in value:
                        continue
                    value = value.split(rule.after, 1)[1]
                attributes = rule.attributes
                if rule.type_from is not None:
                    kind = _first(field, rule.type_from)
                    attributes = (_from_record("type", kind) if kind else "") + attributes
                _add_leaf(out, "identifier", value, attributes)
        for field in self.get_fields("028"):
            kind = _ISSUE_KINDS.get(field.indicator1)
            _add_leaf(out, "identifier", _select(field, "ab"),
                      _fixed("type", kind) if kind else "")
        for field in self.get_fields("037"):
            attributes = _fixed("type", "stock number")
            if _first(field, "c"):
                attributes += attribute("displayLabel", _text(_select(field, "c")))
            _add_leaf(out, "identifier", _select(field, "ab"), attributes)
        return out

    def notes(self) -> None:
        """abstract, accessCondition and note elements, as LoC writes them (the notes of 362
        and 5XX in record order, where LoC groups them by tag)."""
        for field in self.fields("520"):
            label = ABSTRACT_LABELS.get(field.indicator1, "Summary")
            _add_linked(self.top, "abstract", _select(field, "ab"),
                        (_fixed("displayLabel", label) if label else "") + self.alternate(field),
                        _link(field))
        for field in self.fields(*ACCESS_CONDITIONS):
            kind, codes = ACCESS_CONDITIONS[self.tag_of(field)]
            _add_leaf(self.top, "accessCondition", _select(field, codes),
                      _fixed("type", kind) + self.alternate(field))
        for field in self.fields("245"):
            responsibility = _first(field, "c")
            if responsibility:
                attributes = _fixed("type", "statement of responsibility")
                _add_leaf(self.top, "note", responsibility,
                              attributes + self.alternate(field))
        for field in self.fields(*NOTE_TYPES):
            tag = self.tag_of(field)
            kind = NOTE_TYPES[tag]
            left_out = _NOTE_LEFT_OUT.get(tag, "68")
            text = " ".join(s.value for s in field.subfields if s.code not in left_out)
            _add_linked(self.top, "note", text,
                        (_fixed("type", kind) if kind else "") + self.alternate(field),
                        _link(field))

    def classifications(self) -> list[str]:
        out: list[str] = []
        for field in self.get_fields("050"):
            _add_leaf(out, "classification", _select(field, "ab"),
                          _fixed("authority", "lcc"))
        for field in self.get_fields("082"):
            attributes = _fixed("authority", "ddc")
            if _first(field, "2"):
                attributes += attribute("edition", _text(_first(field, "2") or ""))
            _add_leaf(out, "classification", _first(field, "a") or "", attributes)
        return out

    def location(self) -> str:
        """Each 856 $u as a ``url``, escaped as a link is (:func:`as_any_uri`), or left out when
        it is no URI even escaped: ``url`` is an ``xs:anyURI``, and LoC's copy of ``50%`` made
        the whole record invalid."""
        uris = (as_any_uri(s.value) for f in self.get_fields("856") for s in f.subfields
                if s.code == "u")
        urls = [_leaf("url", uri) for uri in uris if uri and _text(uri)]
        return element("location", None, "", "".join(urls)) if urls else ""

    def record_info(self) -> str:
        parts: list[str] = []
        source = self.get("003")
        if self.f008[:6].strip():
            parts.append(_leaf("recordCreationDate", self.f008[:6], _MARC))
        changed = self.get("005")
        if changed is not None and changed.data:
            parts.append(_leaf("recordChangeDate", changed.data,
                               _fixed("encoding", "iso8601")))
        control = self.get("001")
        if control is not None and control.data:
            attributes = (attribute("source", _text(source.data))
                          if source is not None and source.data else "")
            parts.append(_leaf("recordIdentifier", control.data, attributes))
        parts.append(_RECORD_ORIGIN)
        return element("recordInfo", None, "", "".join(parts))

    def build(self) -> str:
        """The ``mods`` element, its children in the order LoC writes them."""
        self.title_info()
        self.names()
        kind = _TABLE["type_of_resource"].get(self.leader[6])
        if kind:
            attributes = _fixed("collection", "yes") if self.leader[7] == "c" else ""
            if self.leader[6] in _MANUSCRIPT:
                attributes += _fixed("manuscript", "yes")
            _add_leaf(self.top, "typeOfResource", kind, attributes)
        self.origin_info()
        self.languages()
        self.physical_description()
        self.notes()
        self.subjects()
        last = [*self.classifications(), *self.identifiers(), self.location(),
                self.record_info()]
        return element("mods", None, _ROOT, "".join(self.top) + "".join(last))


def marc_to_mods(record: pymarc.Record) -> bytes:
    """One ``mods`` element (MODS 3.7, UTF-8, no XML declaration), valid against mods-3-7.xsd.

    Written straight as text (:mod:`crosswalks.xmlwrite`), as lxml would write the same tree:
    this runs for every record the catalogue stores, and building a tree cost more than the
    mapping itself."""
    return _Builder(record).build().encode("utf-8")

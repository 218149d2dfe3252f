"""MARC21 bibliographic record -> MODS 3.7.

Follows the Library of Congress stylesheet ``MARC21slim2MODS3-7.xsl`` for the elements a
catalogue exchanges: titleInfo, name, typeOfResource, originInfo, language,
physicalDescription, abstract, note, subject, classification, identifier, location and
recordInfo. Code lists are data in ``tables/marc_to_mods.toml``. Linked 880 fields become
alternate forms (``altRepGroup`` and ``script``) of the element their $6 names, as in LoC;
where $6 carries no script code (always so in the regular field, which LoC labels "Latn"
whatever it holds), ``script`` is read from the text itself (:func:`script_of`).
What LoC derives from coded 007/008 positions beyond dates, place, language and frequency
(form, digitalOrigin, genre, targetAudience...) is not written; ``tables/README.md`` lists it.

>>> marc_to_mods(record)  # doctest: +SKIP
b'<mods xmlns="http://www.loc.gov/mods/v3" version="3.7" ...><titleInfo>...'
"""

from __future__ import annotations

import tomllib
import unicodedata
from functools import lru_cache
from pathlib import Path

import pymarc

from crosswalks.xmltext import xml_safe
from crosswalks.xmlwrite import Element, sub_element, tostring

MODS_NS = "http://www.loc.gov/mods/v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MODS_SCHEMA = "http://www.loc.gov/standards/mods/v3/mods-3-7.xsd"
RECORD_ORIGIN = "Converted from MARC21 to MODS 3.7 by Koprik"

with (Path(__file__).resolve().parent / "tables" / "marc_to_mods.toml").open("rb") as _fh:
    _TABLE = tomllib.load(_fh)

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


def _sub(parent: Element, name: str, text: str | None = None, **attrs: str) -> Element:
    element = sub_element(parent, name, attrs)
    if text is not None:
        element.text = _text(text)
    return element


def _select(field: pymarc.Field, codes: str) -> str:
    return " ".join(s.value for s in field.subfields if s.code in codes)


def _first(field: pymarc.Field, code: str) -> str | None:
    for s in field.subfields:
        if s.code == code:
            return s.value
    return None


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


class _Builder:
    """Builds the MODS tree for one record; one method per MODS element family.

    The record's fields are grouped by tag once (``by_tag``, ``linked``, ``linked_by_tag``):
    the element families look fields up by tag some thirty times per record, and scanning
    every field each time cost more than building the tree.
    """

    def __init__(self, record: pymarc.Record) -> None:
        self.record = record
        self.by_tag: dict[str, list[pymarc.Field]] = {}
        self.linked: list[tuple[str, pymarc.Field]] = []
        """Each datafield in record order with its tag (an 880: the tag its $6 names)."""
        self.linked_by_tag: dict[str, list[pymarc.Field]] = {}
        for field in record.fields:
            self.by_tag.setdefault(field.tag, []).append(field)
            if not field.is_control_field():
                tag = self.tag_of(field)
                self.linked.append((tag, field))
                self.linked_by_tag.setdefault(tag, []).append(field)
        self.leader = str(record.leader or "").ljust(24)
        f008 = self.get("008")
        self.f008 = (f008.data or "") if f008 is not None else ""
        self.root = Element("mods", {
            "xmlns": MODS_NS,
            "xmlns:xsi": XSI_NS,
            "version": "3.7",
            "xsi:schemaLocation": f"{MODS_NS} {MODS_SCHEMA}",
        })

    def fields(self, *tags: str) -> list[pymarc.Field]:
        """Datafields with one of ``tags`` and the 880 fields linked to one, in record order."""
        if len(tags) == 1:
            return self.linked_by_tag.get(tags[0], [])
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

    def alternate(self, element: Element, field: pymarc.Field) -> None:
        """altRepGroup/script for a field in a linked pair (LoC's ``xxx880``)."""
        linkage = _first(field, "6")
        if not linkage or len(linkage) < 6:
            return
        element.set("altRepGroup", linkage[4:6])
        script = _TABLE["script"].get(linkage[7:9]) if field.tag == "880" else None
        if script is None:  # no script code in $6 (a regular field never has one)
            script = script_of(" ".join(v for c, v in field.subfields if c != "6"))
        if script:
            element.set("script", script)

    # titleInfo ---------------------------------------------------------------------------

    def part(self, info: Element, field: pymarc.Field, simple_part_name: bool) -> None:
        number = chop(_around(field, "n", "fgkdlmor", before=False))
        if simple_part_name:
            name = chop(_first(field, "p") or "")
        else:
            name = chop(_around(field, "p", "fgkdlmor", before=False))
        if number.strip():
            _sub(info, "partNumber", number)
        if name.strip():
            _sub(info, "partName", name)

    def title(self, info: Element, field: pymarc.Field, title: str) -> None:
        """title, with a nonSort part when the nonfiling indicator says so."""
        title = chop(_text(title))
        skip = field.indicators[1] if field.tag in ("245", "242", "880") else ""
        if skip.isdigit() and int(skip) > 0:
            nonsort = _sub(info, "nonSort")
            nonsort.text = title[: int(skip)] + " "
            nonsort.set("xml:space", "preserve")
            title = title[int(skip) :]
        _sub(info, "title", title)

    def title_info(self) -> None:
        for field in self.fields("245"):
            info = _sub(self.root, "titleInfo")
            self.alternate(info, field)
            if _first(field, "b") is not None:
                self.title(info, field, _around(field, "b", "afgks", before=True))
                _sub(info, "subTitle", chop(_text(_around(field, "b", "afgks", before=False))))
            else:
                self.title(info, field, _select(field, "abfgks"))
            self.part(info, field, simple_part_name=False)
        for field in self.fields("210"):
            info = _sub(self.root, "titleInfo", type="abbreviated")
            self.alternate(info, field)
            _sub(info, "title", chop(_select(field, "a")))
            self.subtitle(info, field)
        for field in self.fields("246"):
            kind = "translated" if field.indicators[1] == "1" else "alternative"
            info = _sub(self.root, "titleInfo", type=kind)
            self.alternate(info, field)
            label = _first(field, "i")
            if label:
                info.set("displayLabel", _text(label))
            _sub(info, "title", chop(_select(field, "af")))
            self.subtitle(info, field)
            self.part(info, field, simple_part_name=False)
        for tag, codes in (("240", "adfklmors"), ("130", "adfklmors"), ("730", "adfklmors")):
            for field in self.fields(tag):
                if tag == "730" and field.indicators[1] == "2":
                    continue
                info = _sub(self.root, "titleInfo", type="uniform")
                self.alternate(info, field)
                has_part = any(s.code in "np" for s in field.subfields)
                last_part = max((i for i, s in enumerate(field.subfields) if s.code in "np"),
                                default=-1)
                title = " ".join(s.value for i, s in enumerate(field.subfields)
                                 if s.code in codes and (not has_part or i < last_part))
                _sub(info, "title", chop(title))
                self.part(info, field, simple_part_name=tag == "730")
        for field in self.fields("740"):
            info = _sub(self.root, "titleInfo", type="alternative")
            self.alternate(info, field)
            _sub(info, "title", chop(_select(field, "ah")))
            self.part(info, field, simple_part_name=True)

    def subtitle(self, info: Element, field: pymarc.Field) -> None:
        subtitle = _first(field, "b")
        if subtitle is not None:
            _sub(info, "subTitle", chop(subtitle))

    # name --------------------------------------------------------------------------------

    def role(self, name: Element, field: pymarc.Field) -> None:
        for s in field.subfields:
            if s.code == "e":
                _sub(_sub(name, "role"), "roleTerm", chop(s.value), type="text")
        for s in field.subfields:
            if s.code == "4":
                role = _sub(name, "role")
                _sub(role, "roleTerm", s.value, authority="marcrelator", type="code")

    def personal_parts(self, name: Element, field: pymarc.Field) -> None:
        _sub(name, "namePart", _select(field, "aq"))
        if any(s.code in "bc" for s in field.subfields):
            _sub(name, "namePart", _select(field, "bc"), type="termsOfAddress")
        for s in field.subfields:
            if s.code == "d":
                _sub(name, "namePart", chop(s.value), type="date")
        for s in field.subfields:
            if s.code == "u":
                _sub(name, "affiliation", s.value)

    def corporate_parts(self, name: Element, field: pymarc.Field, rest: str) -> None:
        for code in "ab":
            for s in field.subfields:
                if s.code == code:
                    _sub(name, "namePart", s.value)
        if any(s.code in rest for s in field.subfields):
            _sub(name, "namePart", _select(field, rest))

    def name(self, parent: Element, field: pymarc.Field, primary: bool) -> None:
        """One name from a 1XX/7XX field (LoC's createNameFrom100...720)."""
        kind = self.tag_of(field)[1:]
        ind1 = field.indicators[0]
        if kind == "00":
            if ind1 not in ("0", "1", "3"):
                return
            name = _sub(parent, "name", type="family" if ind1 == "3" else "personal")
            if primary:
                name.set("usage", "primary")
            self.alternate(name, field)
            self.personal_parts(name, field)
        elif kind == "10":
            name = _sub(parent, "name", type="corporate")
            self.alternate(name, field)
            self.corporate_parts(name, field, "cdn")
        elif kind == "11":
            name = _sub(parent, "name", type="conference")
            self.alternate(name, field)
            _sub(name, "namePart", _select(field, "acdenq"))
        else:  # 720
            name = _sub(parent, "name")
            if ind1 == "1":
                name.set("type", "personal")
            self.alternate(name, field)
            _sub(name, "namePart", _first(field, "a") or "")
        self.role(name, field)

    def names(self) -> None:
        for tags, primary in ((("100", "110", "111"), True), (("700", "710", "711", "720"), False)):
            for tag in tags:
                for field in self.fields(tag):
                    if _first(field, "t") is None:
                        self.name(self.root, field, primary and tag == "100")

    # originInfo --------------------------------------------------------------------------

    def dates_from_008(self, info: Element, date_260c: str) -> None:
        if len(self.f008) < 15:
            return
        kind, date1, date2 = self.f008[6], self.f008[7:11].strip(), self.f008[11:15].strip()
        manuscript = self.leader[6] in _MANUSCRIPT
        if kind in "eprst" and date1 and date1 != date_260c:
            _sub(info, "dateCreated" if manuscript else "dateIssued", date1, encoding="marc")
        if kind in "cdikmu":
            if date1:
                _sub(info, "dateIssued", date1, encoding="marc", point="start")
            if date2:
                _sub(info, "dateIssued", date2, encoding="marc", point="end")
        if kind == "q":
            if date1:
                _sub(info, "dateIssued", date1, encoding="marc", point="start",
                     qualifier="questionable")
            if date2:
                _sub(info, "dateIssued", date2, encoding="marc", point="end",
                     qualifier="questionable")
        if kind == "t" and date2:
            _sub(info, "copyrightDate", date2, encoding="marc")

    def imprint(self, info: Element, field: pymarc.Field, chop_text: bool) -> None:
        """place, publisher and date from one 260 (chopped) or 264 field (as recorded)."""
        manuscript = self.leader[6] in _MANUSCRIPT
        for s in field.subfields:
            if s.code == "a":
                place = chop(s.value).lstrip(".:,;/[ ") if chop_text else s.value
                _sub(_sub(info, "place"), "placeTerm", place, type="text")
        for s in field.subfields:
            if s.code == "b":
                _sub(info, "publisher", chop(s.value, ":,;/ ") if chop_text else s.value)
            elif s.code == "c":
                value = chop(s.value) if chop_text else s.value
                _sub(info, "dateCreated" if manuscript else "dateIssued", value)
            elif s.code == "g":
                _sub(info, "dateCreated", s.value)

    def shared_origin(self, info: Element) -> None:
        """What every originInfo repeats: 008 place and dates, issuance, 008 frequency."""
        country = self.f008[15:18].strip() if len(self.f008) >= 18 else ""
        if country.replace("|", ""):
            _sub(_sub(info, "place"), "placeTerm", country, type="code", authority="marccountry")
        f260 = self.get_fields("260")
        self.dates_from_008(info, chop(_first(f260[0], "c") or "") if f260 else "")
        issuance = _TABLE["issuance"].get(self.leader[7])
        if issuance:
            _sub(info, "issuance", issuance)
        if self.leader[6] == "a" and self.leader[7] in "bis" and len(self.f008) > 18:
            frequency = _TABLE["frequency"].get(self.f008[18])
            if frequency:
                _sub(info, "frequency", frequency, authority="marcfrequency")

    def origin_content(self, info: Element, field: pymarc.Field) -> None:
        tag = self.tag_of(field)
        if tag == "260":
            self.imprint(info, field, chop_text=True)
        elif tag == "250":
            for s in field.subfields:
                if s.code == "a":
                    _sub(info, "edition", s.value)
        else:  # 310, 321
            _sub(info, "frequency", _select(field, "ab"))

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
        for group in groups:
            info = _sub(self.root, "originInfo")
            if len(group) == 1 and _first(group[0], "6") is not None:
                self.alternate(info, group[0])
            self.shared_origin(info)
            for field in group:
                self.origin_content(info, field)
        events = {"0": "producer", "1": "publisher", "2": "distributor", "3": "manufacturer"}
        for field in self.fields("264"):
            event = events.get(field.indicators[1])
            if event is not None:
                info = _sub(self.root, "originInfo", eventType=event)
                self.alternate(info, field)
                self.imprint(info, field, chop_text=False)

    # language, physicalDescription -------------------------------------------------------

    def languages(self) -> None:
        used: list[str] = []
        code008 = self.f008[35:38] if len(self.f008) >= 38 else ""
        if code008.replace("|", "").replace("#", "").strip():
            language = _sub(self.root, "language")
            _sub(language, "languageTerm", code008, authority="iso639-2b", type="code")
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
                    language = _sub(self.root, "language")
                    part = _TABLE["language_object_part"].get(s.code)
                    if part:
                        language.set("objectPart", part)
                    _sub(language, "languageTerm", code, authority="iso639-2b", type="code")

    def physical_description(self) -> None:
        forms = [(s.value, "media" if self.tag_of(f) == "337" else "carrier", _first(f, "2"))
                 for f in self.fields("337", "338") for s in f.subfields if s.code == "a"]
        extents = [_select(f, "abce3fg") for f in self.get_fields("300")]
        media_types = [s.value for f in self.get_fields("856")
                       for s in f.subfields if s.code == "q"]
        if not (forms or extents or media_types):
            return
        description = _sub(self.root, "physicalDescription")
        for value, kind, authority in forms:
            form = _sub(description, "form", value, type=kind)
            if authority:
                form.set("authority", authority)
        for value in extents:
            _sub(description, "extent", value)
        for value in media_types:
            _sub(description, "internetMediaType", value)

    # subject -----------------------------------------------------------------------------

    def subject_authority(self, subject: Element, field: pymarc.Field) -> None:
        ind2 = field.indicators[1]
        authority = _first(field, "2") if ind2 == "7" else _TABLE["subject_authority"].get(ind2)
        if authority:
            subject.set("authority", authority)

    def subdivisions(self, subject: Element, field: pymarc.Field) -> None:
        names = {"v": "genre", "x": "topic", "y": "temporal", "z": "geographic"}
        for s in field.subfields:
            if s.code in names:
                _sub(subject, names[s.code], chop(s.value))

    def subject_title(self, subject: Element, field: pymarc.Field, codes: str) -> None:
        info = _sub(subject, "titleInfo")
        _sub(info, "title", chop(_select(field, codes)))
        self.part(info, field, simple_part_name=False)

    def subjects(self) -> None:
        for field in self.get_fields("043"):
            codes = [(s.value, "marcgac" if s.code == "a" else "iso3166")
                     for s in field.subfields if s.code in "ac"]
            if codes:
                subject = _sub(self.root, "subject")
                for value, authority in codes:
                    _sub(subject, "geographicCode", value, authority=authority)
        for field in self.fields("600", "610", "611", "630", "648", "650", "651"):
            tag = self.tag_of(field)
            subject = _sub(self.root, "subject")
            self.alternate(subject, field)
            if tag == "648" and _first(field, "2"):
                subject.set("authority", _first(field, "2") or "")
            self.subject_authority(subject, field)
            if tag == "600":
                name = _sub(subject, "name", type="personal")
                self.personal_parts(name, field)
                self.role(name, field)
                if _first(field, "t") is not None:
                    self.subject_title(subject, field, "t")
            elif tag == "610":
                name = _sub(subject, "name", type="corporate")
                self.corporate_parts(name, field, "cdnp")
                self.role(name, field)
                if _first(field, "t") is not None:
                    self.subject_title(subject, field, "t")
            elif tag == "611":
                name = _sub(subject, "name", type="conference")
                _sub(name, "namePart", _select(field, "abcdeqnp"))
                if _first(field, "t") is not None:
                    self.subject_title(subject, field, "tpn")
            elif tag == "630":
                self.subject_title(subject, field, "adfhklor")
            elif tag == "648":
                _sub(subject, "temporal", chop(_select(field, "abcd")))
            elif tag == "650":
                _sub(subject, "topic", chop(_select(field, "abcd")))
            else:
                for s in field.subfields:
                    if s.code == "a":
                        _sub(subject, "geographic", chop(s.value))
            self.subdivisions(subject, field)
        for field in self.fields("653"):
            if field.indicators[1] in (" ", ""):
                for s in field.subfields:
                    if s.code == "a":
                        _sub(_sub(self.root, "subject"), "topic", s.value)

    # identifier, classification, notes, location, recordInfo -----------------------------

    def identifiers(self) -> None:
        for rule in _TABLE["identifier"]:
            for field in self.get_fields(rule["tag"]):
                if "ind1" in rule and field.indicators[0] != rule["ind1"]:
                    continue
                value = _first(field, rule["code"])
                if value is None:
                    continue
                if "after" in rule:
                    if rule["after"] not in value:
                        continue
                    value = value.split(rule["after"], 1)[1]
                identifier = _sub(self.root, "identifier", value)
                kind = _first(field, rule["type_from"]) if "type_from" in rule else rule.get("type")
                if kind:
                    identifier.set("type", kind)
                if rule.get("invalid"):
                    identifier.set("invalid", "yes")
        kinds = {"0": "issue number", "1": "matrix number", "2": "music plate",
                 "3": "music publisher", "4": "videorecording identifier"}
        for field in self.get_fields("028"):
            identifier = _sub(self.root, "identifier", _select(field, "ab"))
            if field.indicators[0] in kinds:
                identifier.set("type", kinds[field.indicators[0]])
        for field in self.get_fields("037"):
            identifier = _sub(self.root, "identifier", _select(field, "ab"), type="stock number")
            if _first(field, "c"):
                identifier.set("displayLabel", _text(_select(field, "c")))

    def notes_and_rest(self) -> None:
        for field in self.fields("520"):
            _sub(self.root, "abstract", _select(field, "ab"))
        for field in self.fields("245"):
            responsibility = _first(field, "c")
            if responsibility:
                note = _sub(self.root, "note", responsibility, type="statement of responsibility")
                self.alternate(note, field)
        for field in self.fields("500"):
            _sub(self.root, "note", _select(field, "a3"))
        for field in self.get_fields("050"):
            _sub(self.root, "classification", _select(field, "ab"), authority="lcc")
        for field in self.get_fields("082"):
            classification = _sub(self.root, "classification", _first(field, "a") or "",
                                  authority="ddc")
            if _first(field, "2"):
                classification.set("edition", _text(_first(field, "2") or ""))
        urls = [s.value for f in self.get_fields("856") for s in f.subfields
                if s.code == "u"]
        if urls:
            location = _sub(self.root, "location")
            for url in urls:
                _sub(location, "url", url)
        info = _sub(self.root, "recordInfo")
        source = self.get("003")
        if self.f008[:6].strip():
            _sub(info, "recordCreationDate", self.f008[:6], encoding="marc")
        changed = self.get("005")
        if changed is not None and changed.data:
            _sub(info, "recordChangeDate", changed.data, encoding="iso8601")
        control = self.get("001")
        if control is not None and control.data:
            identifier = _sub(info, "recordIdentifier", control.data)
            if source is not None and source.data:
                identifier.set("source", _text(source.data))
        _sub(info, "recordOrigin", RECORD_ORIGIN)

    def build(self) -> Element:
        self.title_info()
        self.names()
        kind = _TABLE["type_of_resource"].get(self.leader[6])
        if kind:
            resource = _sub(self.root, "typeOfResource", kind)
            if self.leader[7] == "c":
                resource.set("collection", "yes")
            if self.leader[6] in _MANUSCRIPT:
                resource.set("manuscript", "yes")
        self.origin_info()
        self.languages()
        self.physical_description()
        self.notes_and_rest()
        self.subjects()
        self.identifiers()
        self.reorder()
        return self.root

    def reorder(self) -> None:
        """Move identifiers, classifications, location and recordInfo to the end (the order LoC
        writes); drop containers left empty (MODS requires content in them)."""
        order = {"classification": 1, "identifier": 2, "location": 3, "recordInfo": 4}
        children = sorted(self.root, key=lambda e: order.get(e.name, 0))
        self.root.children = [child for child in children if len(child) or child.text]


def marc_to_mods(record: pymarc.Record) -> bytes:
    """One ``mods`` element (MODS 3.7, UTF-8, no XML declaration), valid against mods-3-7.xsd.

    The tree is a :mod:`crosswalks.xmlwrite` one, written as lxml would write it: this runs for
    every record the catalogue stores, and lxml elements cost more than the mapping itself."""
    return tostring(_Builder(record).build())

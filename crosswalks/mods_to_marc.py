"""MODS 3.x -> MARC21 bibliographic record.

The reverse of :mod:`crosswalks.mods` (the LoC MARC-to-MODS mapping read backwards), so that
marc -> mods -> marc keeps titles, names, dates, subjects and identifiers. Code lists are in
``tables/mods_to_marc.toml``; ``tables/README.md`` explains the mapping for catalogers.

Alternate-script forms (elements sharing an ``altRepGroup``) become linked 880 fields: the first
element of a group makes the regular field with ``$6 880-NN``, the others 880 fields with
``$6 TAG-NN/script``. Trailing ISBD punctuation is not re-added.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources

import pymarc
from lxml import etree

from crosswalks.lint_fields import definitions
from crosswalks.marc_build import clean, field_008, new_record, year_of
from crosswalks.mods import ABSTRACT_LABELS, ACCESS_CONDITIONS, NOTE_TYPES
from crosswalks.namespaces import MODS_NS, XLINK_NS

_M = "{" + MODS_NS + "}"

_TABLE = tomllib.loads(
    resources.files("crosswalks.tables").joinpath("mods_to_marc.toml").read_text("utf-8")
)
_NOTE_TAGS = {kind: tag for tag, kind in NOTE_TYPES.items() if kind and tag != "535"}
"""note/@type -> the 5XX (or 362) it comes from (each type has one); an untyped note is 500,
and so is 535's, whose first indicator (holder of originals or of duplicates) the note does not
say."""
_NOTE_INDICATORS = {"362": "1 ", "511": "0 "}
"""Indicators of the notes whose first indicator MARC defines without a blank: 362 as an
unformatted note, 511 with no display constant."""
_CONDITION_TAGS = {kind: tag for tag, (kind, _) in ACCESS_CONDITIONS.items()}
_ABSTRACT_INDICATORS = {label: ind for ind, label in ABSTRACT_LABELS.items() if label}
"""abstract/@displayLabel -> 520's first indicator (blank for another, or none)."""
_HREF = "{" + XLINK_NS + "}href"

Pairs = list[tuple[str, str]]


def _kids(element: etree._Element, name: str) -> list[etree._Element]:
    return element.findall(_M + name)


def _text(element: etree._Element | None) -> str:
    return clean("".join(element.itertext())) if element is not None else ""


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


@dataclass
class _Draft:
    """Fields collected in MODS order, then sorted and linked into one record."""

    fields: list[tuple[pymarc.Field, etree._Element | None]] = field(default_factory=list)
    leader_type: str = "a"
    level: str = "m"
    date1: str | None = None
    date2: str | None = None
    place: str | None = None
    entered: str | None = None
    control: tuple[str, str] | None = None  # 001 and 003

    def add(self, tag: str, ind: str, pairs: Pairs, source: etree._Element | None = None) -> None:
        pairs = [(c, v) for c, v in pairs if v]
        if pairs:
            subfields = [pymarc.Subfield(c, v) for c, v in pairs]
            self.fields.append((pymarc.Field(tag, [ind[0], ind[1]], subfields), source))


def _note_pairs(tag: str, note: etree._Element) -> Pairs:
    """A note's text as $a and its ``xlink:href`` as $u, where MARC defines a $u for the tag
    (530, 538...; 500 and 362 have none). The link's own text, which the note holds after the
    rest (LoC writes every subfield but a 530's $u into it), is taken off $a."""
    text, href = _text(note), note.get(_HREF)
    rule = definitions().get(tag)
    if not href or rule is None or "u" not in rule.subfields:
        return [("a", text)]
    if text == href:
        text = ""
    elif text.endswith(" " + href):
        text = text[: -len(href) - 1]
    return [("a", text), ("u", href)]


def _title(draft: _Draft, info: etree._Element, has_main_name: bool) -> None:
    nonsort = _nonfiling("".join(e.text or "" for e in _kids(info, "nonSort")))
    title = nonsort + _text(info.find(_M + "title")).lstrip()
    pairs: Pairs = [("a", title), ("b", _text(info.find(_M + "subTitle")))]
    pairs += [("n", _text(e)) for e in _kids(info, "partNumber")]
    pairs += [("p", _text(e)) for e in _kids(info, "partName")]
    kind = info.get("type")
    if kind is None:
        skip = str(min(len(nonsort), 9)) if nonsort else "0"
        draft.add("245", ("1" if has_main_name else "0") + skip, pairs, info)
    elif kind == "uniform":
        draft.add("240" if has_main_name else "130", "10" if has_main_name else "0 ", pairs, info)
    elif kind == "abbreviated":
        draft.add("210", "0 ", pairs, info)
    else:
        draft.add("246", "11" if kind == "translated" else "13", pairs, info)


def _nonfiling(nonsort: str) -> str:
    """The nonfiling characters a ``nonSort`` stands for, as 245's second indicator counts them:
    an article and the one space after it ("The "), or an elided one with none ("L'", "al-").
    LoC's MARC -> MODS stylesheet, and ours, add a space to the article's ("The  ", "L' "),
    which came back as 5 and cut the title's first letter off on the next trip; other writers
    leave the article's out ("The")."""
    kept = nonsort.rstrip()
    return kept + " " if kept[-1:].isalnum() else kept


def _name_pairs(name: etree._Element) -> Pairs:
    kind = name.get("type")
    pairs: Pairs = []
    plain = [_text(p) for p in _kids(name, "namePart") if p.get("type") is None]
    if kind == "corporate":
        pairs += [("a" if i == 0 else "b", v) for i, v in enumerate(plain)]
    else:
        pairs += [("a", ", ".join(plain))] if plain else []
    for part in _kids(name, "namePart"):
        code = {"termsOfAddress": "c", "date": "d"}.get(part.get("type") or "")
        if code:
            pairs.append((code, _text(part)))
    pairs += [("u", _text(e)) for e in _kids(name, "affiliation")]
    for term in name.iterfind(f"{_M}role/{_M}roleTerm"):
        pairs.append(("4" if term.get("type") == "code" else "e", _text(term)))
    return pairs


def _name(draft: _Draft, name: etree._Element, main: bool) -> None:
    kind = name.get("type")
    if kind in ("personal", "family"):
        tag, ind = "00", ("3 " if kind == "family" else "1 ")
    elif kind == "corporate":
        tag, ind = "10", "2 "
    elif kind == "conference":
        tag, ind = "11", "2 "
    else:
        draft.add("720", "  ", _name_pairs(name), name)
        return
    draft.add(("1" if main else "7") + tag, ind, _name_pairs(name), name)


def _origin(draft: _Draft, info: etree._Element) -> None:
    for term in info.iterfind(f"{_M}place/{_M}placeTerm"):
        if term.get("authority") == "marccountry" and term.get("type") == "code":
            draft.place = _text(term)
    for date in info:
        if date.get("encoding") == "marc" and _local(date) in ("dateIssued", "dateCreated"):
            if date.get("point") == "end":
                draft.date2 = _text(date)[:4]
            else:
                draft.date1 = _text(date)[:4]
    issuance = _text(info.find(_M + "issuance"))
    draft.level = _TABLE["issuance"].get(issuance, draft.level)
    pairs: Pairs = [("a", _text(t)) for t in info.iterfind(f"{_M}place/{_M}placeTerm")
                    if t.get("type") != "code"]
    pairs += [("b", _text(e)) for e in _kids(info, "publisher")]
    for date in info:
        if _local(date) in ("dateIssued", "dateCreated") and date.get("encoding") is None:
            pairs.append(("c", _text(date)))
    pairs += [("c", _text(e)) for e in _kids(info, "copyrightDate") if not e.get("encoding")]
    event = info.get("eventType")
    if event in _TABLE["event_indicator"]:
        draft.add("264", " " + _TABLE["event_indicator"][event], pairs, info)
    else:
        draft.add("260", "  ", pairs, info)
    for edition in _kids(info, "edition"):
        draft.add("250", "  ", [("a", _text(edition))], info)
    for frequency in _kids(info, "frequency"):
        if frequency.get("authority") is None:
            draft.add("310", "  ", [("a", _text(frequency))], info)


def _languages(draft: _Draft, mods: etree._Element) -> list[str]:
    """041 from the coded languages; returns the codes of the resource's own language."""
    pairs: Pairs = []
    for language in _kids(mods, "language"):
        code = language.get("objectPart")
        for term in _kids(language, "languageTerm"):
            if term.get("type") == "code":
                pairs.append((_TABLE["language_subfield"].get(code, "a"), _text(term)))
            else:
                draft.add("546", "  ", [("a", _text(term))])
    codes = [v for c, v in pairs if c == "a"]
    if len(pairs) > 1:
        draft.add("041", "  ", pairs)
    return codes


def _physical(draft: _Draft, mods: etree._Element) -> None:
    for description in _kids(mods, "physicalDescription"):
        for extent in _kids(description, "extent"):
            draft.add("300", "  ", [("a", _text(extent))])
        for form in _kids(description, "form"):
            tag = {"media": "337", "carrier": "338"}.get(form.get("type") or "")
            if tag:
                draft.add(tag, "  ", [("a", _text(form)), ("2", form.get("authority") or "")])
        for media in _kids(description, "internetMediaType"):
            draft.add("856", "4 ", [("q", _text(media))])
        for note in _kids(description, "note"):
            draft.add("500", "  ", [("a", _text(note))])


_SUBDIVISION = {"topic": "x", "temporal": "y", "geographic": "z", "genre": "v"}
_HEAD = {"topic": "650", "temporal": "648", "geographic": "651", "genre": "655",
         "titleInfo": "630", "name": "600"}


def _subject(draft: _Draft, subject: etree._Element) -> None:
    children = [c for c in subject if isinstance(c.tag, str)]
    codes = [c for c in children if _local(c) == "geographicCode"]
    if codes:
        draft.add("043", "  ", [("a" if c.get("authority") != "iso3166" else "c", _text(c))
                                for c in codes])
    children = [c for c in children if _local(c) in _HEAD]
    if not children:
        return
    authority = subject.get("authority")
    ind2 = _TABLE["subject_indicator"].get(authority, "7" if authority else "4")
    head, rest = children[0], children[1:]
    pairs: Pairs
    if _local(head) == "name":
        tag = {"corporate": "610", "conference": "611"}.get(head.get("type") or "", "600")
        pairs = _name_pairs(head)
        ind1 = "2" if tag != "600" else ("3" if head.get("type") == "family" else "1")
        if rest and _local(rest[0]) == "titleInfo":
            pairs += [("t", _text(rest[0].find(_M + "title")))]
            rest = rest[1:]
    elif _local(head) == "titleInfo":
        tag, ind1 = "630", "0"
        pairs = [("a", _text(head.find(_M + "title")))]
        pairs += [("p", _text(e)) for e in _kids(head, "partName")]
    else:
        tag, ind1 = _HEAD[_local(head)], " "
        pairs = [("a", _text(head))]
    pairs += [(_SUBDIVISION[_local(c)], _text(c)) for c in rest if _local(c) in _SUBDIVISION]
    if ind2 == "7":
        pairs.append(("2", authority or ""))
    draft.add(tag, ind1 + ind2, pairs, subject)


def _identifier(draft: _Draft, identifier: etree._Element) -> None:
    kind = identifier.get("type") or ""
    value = _text(identifier)
    if kind == "oclc":
        draft.add("035", "  ", [("a", "(OCoLC)" + value)])
        return
    tag, ind, code = _TABLE["identifier"].get(kind, ["024", "7 " if kind else "8 ", "a"])
    if identifier.get("invalid") == "yes":
        code = "z"
    pairs: Pairs = [(code, value)]
    if tag == "024" and ind == "7 ":
        pairs.append(("2", kind))
    draft.add(tag, ind, pairs)


def _record_info(draft: _Draft, info: etree._Element) -> None:
    ident = info.find(_M + "recordIdentifier")
    if ident is not None and _text(ident):
        draft.control = (_text(ident), ident.get("source") or "")
    created = info.find(_M + "recordCreationDate")
    if created is not None and created.get("encoding") == "marc" and len(_text(created)) == 6:
        draft.entered = _text(created)


def _titles_of(draft: _Draft, notes: list[etree._Element]) -> list[pymarc.Field | None]:
    """The 245 each statement of responsibility belongs to, as its $c: the first, or for a note
    of an altRepGroup the title of that group in the same place (the second note of group 02,
    in Latin, to the second title of 02, which becomes the Latin 880; both went to the first
    245, which then had two $c, and the 880 none)."""
    titles = [(f, source) for f, source in draft.fields if f.tag == "245"]
    first = titles[0][0] if titles else None
    seen: dict[str, int] = {}
    found: list[pymarc.Field | None] = []
    for note in notes:
        group = note.get("altRepGroup")
        if not group:
            found.append(first)
            continue
        place = seen.get(group, 0)
        seen[group] = place + 1
        grouped = [f for f, source in titles
                   if source is not None and source.get("altRepGroup") == group]  # fmt: skip
        found.append(grouped[place] if place < len(grouped) else first)
    return found


def _link_alternates(draft: _Draft) -> None:
    """Turn the second and later members of each altRepGroup into linked 880 fields."""
    first_of: dict[tuple[str, str], pymarc.Field] = {}
    for marc_field, source in draft.fields:
        group = source.get("altRepGroup") if source is not None else None
        if not group:
            continue
        key = (group, marc_field.tag)
        if key not in first_of:
            first_of[key] = marc_field
            continue
        original = first_of[key]
        number = group[-2:].rjust(2, "0")
        if not any(s.code == "6" for s in original.subfields):
            original.subfields.insert(0, pymarc.Subfield("6", f"880-{number}"))
        script = _TABLE["script_code"].get(source.get("script") or "", "")
        marc_field.subfields.insert(0, pymarc.Subfield("6", f"{marc_field.tag}-{number}/{script}"
                                                        .rstrip("/")))
        marc_field.tag = "880"


def mods_to_marc(element: etree._Element) -> pymarc.Record:
    """A MARC21 record for one MODS record (a ``mods`` element, or an element holding one)."""
    mods = element if _local(element) == "mods" else element.find(f".//{_M}mods")
    if mods is None:
        raise ValueError("no MODS record in the element")
    draft = _Draft()
    names = _kids(mods, "name")
    main = next((n for n in names if n.get("usage") == "primary"), None)
    main_group = main.get("altRepGroup") if main is not None else None
    for info in _kids(mods, "titleInfo"):
        _title(draft, info, main is not None)
    for name in names:
        is_main = name is main or (main_group is not None and name.get("altRepGroup") == main_group)
        _name(draft, name, is_main)
    resource = mods.find(_M + "typeOfResource")
    if resource is not None:
        draft.leader_type = _TABLE["leader_type"].get(_text(resource), "a")
        if resource.get("manuscript") == "yes":
            draft.leader_type = _TABLE["manuscript_type"].get(draft.leader_type, "p")
    for info in _kids(mods, "originInfo"):
        _origin(draft, info)
    codes = _languages(draft, mods)
    _physical(draft, mods)
    for abstract in _kids(mods, "abstract"):
        first = _ABSTRACT_INDICATORS.get(abstract.get("displayLabel") or "", " ")
        draft.add("520", first + " ", [("a", _text(abstract)), ("u", abstract.get(_HREF) or "")],
                  abstract)
    notes = _kids(mods, "note")
    responsibilities = [n for n in notes if n.get("type") == "statement of responsibility"]
    for note, title in zip(responsibilities, _titles_of(draft, responsibilities), strict=True):
        if title is not None:
            title.add_subfield("c", _text(note))
    for note in notes:
        if note.get("type") != "statement of responsibility":
            tag = _NOTE_TAGS.get(note.get("type") or "", "500")
            draft.add(tag, _NOTE_INDICATORS.get(tag, "  "), _note_pairs(tag, note), note)
    for condition in _kids(mods, "accessCondition"):
        tag = _CONDITION_TAGS.get(condition.get("type") or "")
        if tag is not None:
            draft.add(tag, "  ", [("a", _text(condition))], condition)
    for subject in _kids(mods, "subject"):
        _subject(draft, subject)
    for classification in _kids(mods, "classification"):
        authority = classification.get("authority")
        if authority == "lcc":
            draft.add("050", " 4", [("a", _text(classification))])
        elif authority == "ddc":
            draft.add("082", "0 ", [("a", _text(classification)),
                                    ("2", classification.get("edition") or "")])
        else:
            draft.add("084", "  ", [("a", _text(classification)), ("2", authority or "")])
    for identifier in _kids(mods, "identifier"):
        _identifier(draft, identifier)
    for url in mods.iterfind(f"{_M}location/{_M}url"):
        draft.add("856", "40", [("u", _text(url))])
    for info in _kids(mods, "recordInfo"):
        _record_info(draft, info)
    return _finish(draft, codes)


def _finish(draft: _Draft, codes: list[str]) -> pymarc.Record:
    _link_alternates(draft)
    record = new_record(draft.leader_type, draft.level)
    if draft.control:
        record.add_field(pymarc.Field("001", data=draft.control[0]))
        if draft.control[1]:
            record.add_field(pymarc.Field("003", data=clean(draft.control[1])))
    if draft.date1 is None:
        dates = [f.get("c") for f, _ in draft.fields if f.tag in ("260", "264")]
        draft.date1 = next((year_of(d) for d in dates if year_of(d)), None)
    f008 = field_008(draft.date1, codes[0] if codes else None, draft.date2, draft.place)
    if draft.entered:
        f008.data = draft.entered + f008.data[6:]
    record.add_field(f008)
    record.add_ordered_field(*(f for f, _ in sorted(draft.fields, key=lambda p: p[0].tag)))
    return record

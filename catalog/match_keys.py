"""Match keys and the match profile of a record, computed when it is written.

Keys are ``(kind, key)`` pairs stored in the indexed ``match_keys`` table; deduplication looks
up a record's candidates by them (:mod:`catalog.dedup`):

- ``isbn``: ISBN-13 of every 020 $a whose check digit is right (ISBN-10 converted). A malformed
  or wrong-check-digit ISBN is kept aside in the profile (``bad``), never matched.
- ``issn`` (022 $a, checked), ``lccn`` (010 $a), ``nbn`` (015 $a), ``nba`` (016 $a with its
  $2 agency), ``std`` (024 $a), ``ctl`` (035 $a whose ``(PREFIX)`` is in
  ``dedup.control_prefixes``).
- ``title``: the filing title (245 $a without the nonfiling characters ind2 names), script
  folded (:func:`crosswalks.uzbek.fold`), truncated to ``dedup.title_key_chars``; ``tend``: the
  end of a longer title (so that a typo early in the title does not hide a copy).
- ``ay``: the main author's folded surname and the year (a copy whose title has a typo early
  on, or another title proper, is still found).

The profile holds what the matcher compares (:class:`catalog.matcher.Profile`): material type,
year, extent in pages, edition, volume/part (245 $n/$p, else a volume the title names), the
part's name (245 $p), series
numbering, language, ISBNs and ISSNs, the folded title and the main author's folded surname.
It is stored as compact JSON beside the record, so deduplication never parses MARC.

>>> keys, profile = match_data(record, ["(OCoLC)"], 30)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from pymarc import Field, Record
from stdnum.exceptions import ValidationError

from catalog.sets import material_type
from crosswalks.dublin_core import marc_languages
from crosswalks.lint_fields import Tagged, by_tag
from crosswalks.standard_numbers import number_text, valid_isbn13, valid_issn
from crosswalks.uzbek import fold

log = logging.getLogger(__name__)

MAX_KEY_CHARS = 200
_ISBN_CANDIDATE = re.compile(r"[0-9][0-9\- ]{8,16}[0-9Xx]")
_ISSN_CANDIDATE = re.compile(r"\b\d{4}-?\d{3}[\dXx]\b")
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
_NUMBER = re.compile(r"\d+")
_EXTENT_END = re.compile(r"\s[:;+]")
_ROMAN = re.compile(r"\b([ivxlc]+)\b")
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}
_UZBEK_NUMBERS = ("bir", "ikki", "uch", "tort", "besh", "olti", "etti", "sakkiz", "toqqiz", "on")
"""Folded Uzbek numbers 1 to 10 (``to‘rt``, ``yetti``, ``to‘qqiz``, ``o‘n`` as folded): the
ordinal is the number and ``-inchi`` (``-nchi`` after a vowel: ``ikkinchi``, ``oltinchi``)."""
_RUSSIAN_ORDINAL_STEMS = (
    "perv", "vtor", "tret", "chetvert", "piat", "shest", "sedm", "vosm", "deviat", "desiat",
    "odinnadsat", "dvenadsat", "trinadsat", "chetirnadsat", "piatnadsat", "shestnadsat",
    "semnadsat", "vosemnadsat", "deviatnadsat", "dvadsat")
"""Folded stems of the Russian ordinals 1 to 20 (``третье`` is ``trete``, ``четырнадцатое``
``chetirnadsatoe``)."""
_RUSSIAN_ORDINAL = re.compile(
    r"(" + "|".join(_RUSSIAN_ORDINAL_STEMS) + r")(oe|oi|ii|aia|ia|ogo|ego|omu|emu|om|em|uiu|iu"
    r"|ie|e)")
_ENGLISH_ORDINALS = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
    "seventeenth", "eighteenth", "nineteenth", "twentieth")
_TENS = {"uz": {"on": 10, "iigirma": 20, "ottiz": 30}, "ru": {"dvadsat": 20, "tridsat": 30},
         "en": {"twenty": 20, "thirty": 30}}
"""Folded tens that go before an ordinal of 1 to 9 of their language ("o‘n birinchi" 11,
"двадцать первое" 21, "twenty first" 21; not the English "on" of "based on second
edition")."""


def _ordinal_words() -> dict[str, tuple[int, str]]:
    """Folded ordinal words of edition statements (Uzbek in either script, English; Russian is
    :data:`_RUSSIAN_ORDINAL`) and their numbers, 1 to 20 and more, with their language."""
    words = {word: (number, "en") for number, word in enumerate(_ENGLISH_ORDINALS, 1)}
    for number, cardinal in enumerate(_UZBEK_NUMBERS, 1):
        words[cardinal + ("nchi" if cardinal[-1] in "aeiou" else "inchi")] = (number, "uz")
    words["iigirmanchi"], words["ottizinchi"] = (20, "uz"), (30, "uz")
    return words


_ORDINALS = _ordinal_words()


@dataclass
class Profile:
    """What the matcher compares; ``None`` or empty means unknown."""

    material: str | None = None
    year: int | None = None
    pages: int | None = None
    edition: str | None = None
    volume: str | None = None
    part: str | None = None
    """The folded name of the part (245 $p), which the volume number beside it does not say:
    "2-jild, Sheʼrlar" and "2-jild, Dostonlar" are both volume 2."""
    series_number: str | None = None
    language: str | None = None
    isbns: list[str] = field(default_factory=list)
    issns: list[str] = field(default_factory=list)
    title: str = ""
    title_proper: str = ""
    subtitles: list[str] = field(default_factory=list)
    """The folded remainder of the title (245 $b), and each parallel one in it (after "="),
    apart; none when $b begins with a parallel title ($a ends with "=")."""
    author: str | None = None
    forename: str | None = None
    """The initial of the main author's forename (:func:`forename_initial`), when 100 $a has
    one after a comma."""
    bad: list[str] = field(default_factory=list)
    """Identifiers kept aside (an ISBN whose check digit is wrong), for ``koprik dedup explain``."""

    def to_json(self) -> str:
        # The fields read one by one: dataclasses.asdict deep-copies every list first, which
        # cost as much as working the profile out.
        values = {name: getattr(self, name) for name in _PROFILE_FIELDS}
        return _PROFILE_JSON.encode({k: v for k, v in values.items() if v not in (None, [], "")})

    @classmethod
    def from_json(cls, text: str | None) -> Profile:
        return cls(**json.loads(text)) if text else cls()


_PROFILE_FIELDS = tuple(f.name for f in dataclasses.fields(Profile))
_PROFILE_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""What ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` makes anew for each
call: made once, a profile's JSON took 8.5 µs instead of 12 (compiled, 3,000 imported records)."""


MatchKey = tuple[str, str]


def match_data(
    record: Record, control_prefixes: Sequence[str], title_chars: int, *,
    language_codes: Sequence[str] | None = None,
) -> tuple[list[MatchKey], Profile]:
    """The match keys and the profile of ``record`` (pure: safe to run in a worker process).
    ``language_codes``: the record's :func:`~crosswalks.dublin_core.marc_languages`, when the
    caller has them already (None: worked out here)."""
    fields = by_tag(record)
    profile = Profile(material=material_type(record))
    keys: list[MatchKey] = []
    for value in _subfields(fields, "020", "a"):
        for candidate in _ISBN_CANDIDATE.findall(number_text(value)):
            try:
                isbn13 = valid_isbn13(candidate)
            except ValidationError as error:
                profile.bad.append(candidate)
                # debug, not a warning: a record's data, which the import's report and the
                # validator say, and `koprik dedup explain` shows; a warning a record wrote
                # thousands of lines to standard error, and to the log of every harvest
                log.debug("record %s: ISBN %r kept aside, not matched: %s",
                          _control(fields, "001"), candidate, error)
                continue
            if isbn13 not in profile.isbns:
                profile.isbns.append(isbn13)
    keys += [("isbn", isbn) for isbn in profile.isbns]
    for value in _subfields(fields, "022", "a"):
        for candidate in _ISSN_CANDIDATE.findall(number_text(value)):
            try:
                issn = valid_issn(candidate)
            except ValidationError:
                profile.bad.append(candidate)
                continue
            if issn not in profile.issns:
                profile.issns.append(issn)
    keys += [("issn", issn) for issn in profile.issns]
    keys += [("lccn", k) for k in map(_compact, _subfields(fields, "010", "a")) if k]
    keys += [("nbn", k) for k in map(_compact, _subfields(fields, "015", "a")) if k]
    for f in fields.get("016", ()):
        agency = _compact(f.get("2") or "")
        keys += [("nba", f"{agency}:{k}") for k in map(_compact, f.get_subfields("a")) if k]
    keys += [("std", k) for k in map(_compact, _subfields(fields, "024", "a")) if k]
    keys += [("ctl", k) for v in _subfields(fields, "035", "a")
             if (k := control_key(v, control_prefixes))]
    title = _first(fields, "245")
    if title is not None:
        skip = nonfiling_chars(title)
        proper = " ".join(title.get_subfields("a"))[skip:]
        whole = " ".join([proper, *title.get_subfields("b")])
        profile.title_proper, profile.title = fold(proper), fold(whole)
        profile.volume = (_numbering(" ".join(title.get_subfields("n", "p")))
                          or _title_volume(profile.title))
        profile.part = fold(" ".join(title.get_subfields("p"))) or None
        profile.subtitles = _subtitles(title)
    if profile.title_proper:
        start = title_key(profile.title_proper, title_chars)
        end = profile.title_proper.replace(" ", "")[-title_chars:]
        keys += [("title", start)] + ([("tend", end)] if end != start else [])
    profile.author, profile.forename = _main_name(fields)
    profile.year = _year(fields)
    if profile.author and profile.year is not None:
        keys.append(("ay", f"{profile.author.replace(' ', '')}:{profile.year}"))
    profile.pages = _pages(fields)
    profile.edition = _edition(" ".join(_subfields(fields, "250", "a")))
    profile.series_number = _series_numbering(fields)
    codes = marc_languages(record) if language_codes is None else language_codes
    found = [code for code in codes if code not in ("und", "mul", "zxx")]
    profile.language = found[0] if found else None
    unique = list(dict.fromkeys((kind, key[:MAX_KEY_CHARS]) for kind, key in keys))
    return unique, profile


def _subtitles(title: Field) -> list[str]:
    """The folded remainders of the title in 245 $b, one per language (ISBD's " = " begins a
    parallel one); none when the title proper's $a ends with "=": then $b begins with a parallel
    title, not a remainder of this one."""
    if " ".join(title.get_subfields("a")).rstrip().endswith("="):
        return []
    remainder = " ".join(title.get_subfields("b"))
    return [folded for text in remainder.split("=") if (folded := fold(text))]


def title_key(folded_title: str, chars: int) -> str:
    """The blocking key of a folded title: its letters and digits, truncated."""
    return folded_title.replace(" ", "")[:chars]


def control_key(value: str, prefixes: Sequence[str]) -> str | None:
    """The key of a 035 $a whose ``(PREFIX)`` is whitelisted (``(OCoLC)ocm0012`` ->
    ``(ocolc)12``), else None."""
    for prefix in prefixes:
        if value.startswith(prefix):
            number = re.sub(r"^(ocm|ocn|on)", "", _compact(value[len(prefix):])).lstrip("0")
            return f"{prefix.lower()}{number}" if number else None
    return None


def nonfiling_chars(title: Field) -> int:
    indicator = title.indicator2
    return int(indicator) if indicator.isascii() and indicator.isdigit() else 0


def _compact(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", value.lower())


def _first(fields: Tagged, tag: str) -> Field | None:
    """The first field tagged ``tag``, as ``Record.get`` gives it."""
    found = fields.get(tag)
    return found[0] if found else None


def _subfields(fields: Tagged, tag: str, code: str) -> list[str]:
    return [v for f in fields.get(tag, ()) for v in f.get_subfields(code) if v]


def _control(fields: Tagged, tag: str) -> str:
    field_ = _first(fields, tag)
    return (field_.data or "") if field_ is not None else ""


def _main_name(fields: Tagged) -> tuple[str | None, str | None]:
    """The main entry's folded surname (a body's or meeting's whole name) and the initial of
    its forename."""
    for tag in ("100", "110", "111"):
        main = _first(fields, tag)
        if main is not None and main.get("a"):
            name, forename = main.get("a") or "", ""
            if tag == "100" and "," in name:
                name, forename = name.split(",", 1)
            return fold(uzbek_form(name)) or None, forename_initial(forename)
    return None, None


_PERSO_ARABIC_LETTERS = str.maketrans("āĀwW", "oOvV")
_FINAL_I = re.compile(r"ī(?!\w)")


def uzbek_form(name: str) -> str:
    """A name romanized from the Arabic script (ALA-LC Arabic and Persian) written as Uzbek
    writes it, before it is folded: the long ā is o, a final ī is iy, w is v (Nawāʼī is Navoiy,
    Bābur Bobur, Fārābī Forobiy): Nawāʼī and Navoiy were 0.55 alike (nawai and navoii), two
    authors. Neither Uzbek Latin nor the romanizations of Cyrillic have these letters; the w
    of another language's name is v in every copy alike."""
    composed = unicodedata.normalize("NFC", name)  # a MARC-8 record's ā is a and a macron
    return _FINAL_I.sub("iy", composed).translate(_PERSO_ARABIC_LETTERS)


_INITIAL_CLASSES = str.maketrans("xkucyew", "hqosiiv")
"""Initials that name one letter in the forms catalogues write a Central Asian name in (folded):
Ҳамид and its Russian form Хамид (Khamid, x), Қодир and Кодир, Ўткир and Уткир, Чори and its
initial written C. (Ц.), Ёқуб (ioqub) and Y., Евгений (evgeniy) and Y., Wali and Vali."""


def forename_initial(forename: str) -> str | None:
    """The initial of a forename, alike in every script and romanization ("Alisher", "А.",
    "ʻAlī" -> "a"; "Джамшид", "Jamshid" -> "j"; "Ҳамид", "Khamid", "Xamid" -> "h"), None when
    there is none."""
    folded = fold(forename)
    if folded.startswith("dj"):  # Джамшид, Dzhamshid: the Russian forms of Jamshid
        folded = folded[1:]
    return folded[:1].translate(_INITIAL_CLASSES) or None


def _year(fields: Tagged) -> int | None:
    fixed = _control(fields, "008")[7:11]
    if fixed.isascii() and fixed.isdigit():  # not "²²²²", which int() refuses
        return int(fixed)
    for value in _subfields(fields, "260", "c") + _subfields(fields, "264", "c"):
        match = _YEAR.search(value)
        if match:
            return int(match.group(1))
    return None


def _pages(fields: Tagged) -> int | None:
    """The largest number of the extent (300 $a), up to where ISBD's other details (" :"),
    dimensions (" ;") or accompanying material (" +") begin: a whole statement in $a, as MODS's
    ``extent`` is read into MARC ("1 map : col. ; 60 x 90 cm"), counted the 90 cm as 90 pages,
    and its own record's "1 map" vetoed it as another edition."""
    extents = [_EXTENT_END.split(v, 1)[0] for v in _subfields(fields, "300", "a")]
    numbers = [int(n) for v in extents for n in _NUMBER.findall(v)]
    return max(numbers) if numbers else None


def _edition(text: str) -> str | None:
    """The edition number of a 250 $a ("2-е изд." -> "2", "Second edition" -> "2"), its folded
    text when it names no number, None when there is no statement."""
    folded = fold(text)
    if not folded:
        return None
    number = _NUMBER.search(folded)
    if number:
        return str(int(number.group()))
    number_named = _ordinal(folded.split())
    return str(number_named) if number_named is not None else folded


def _ordinal(words: list[str]) -> int | None:
    """The number the first ordinal among folded ``words`` names ("oltinchi", "олтинчи",
    "шестое", "sixth" -> 6; "o‘n birinchi", "двадцать первое" -> 11, 21), None when none
    does: an edition named in words is the edition its number names ("oltinchi nashr" is
    "6-nashr")."""
    for at, word in enumerate(words):
        found = _ORDINALS.get(word)
        if found is None and (russian := _RUSSIAN_ORDINAL.fullmatch(word)):
            found = (_RUSSIAN_ORDINAL_STEMS.index(russian.group(1)) + 1, "ru")
        if found is None:
            continue
        value, language = found
        tens = _TENS[language].get(words[at - 1]) if at else None
        return tens + value if tens is not None and value < 10 else value
    return None


def _numbering(text: str) -> str | None:
    """The number of a volume, part or series entry ("Т. 2", "2-jild", "vol. II" -> "2");
    its folded text when it has none; None when empty."""
    folded = fold(text)
    if not folded:
        return None
    numbers = _NUMBER.findall(folded)
    if numbers:
        return ".".join(str(int(n)) for n in numbers)
    roman = _ROMAN.findall(folded)
    if roman:
        return ".".join(str(_roman_value(r)) for r in roman)
    return folded


def _series_numbering(fields: Tagged) -> str | None:
    """The record's numbers in its series (490 $v, 830 $v), each once: an 830 traces the series
    its 490 transcribes and repeats its number (490 "Klassika ; 2-kitob", 830 "Klassika ; kn.
    2"), which read as 2.2 vetoed the copy of a centre that gives the 490 alone."""
    numbers = [_numbering(value)
               for value in _subfields(fields, "490", "v") + _subfields(fields, "830", "v")]
    return ".".join(dict.fromkeys(number for number in numbers if number)) or None


_TITLE_VOLUME = re.compile(
    r"\b(\d+) (?:jild|kitob|qism|tom|chast)\b"
    r"|\b(?:t|tom|jild|kn|kniga|ch|chast|vol|volume|part|pt|band|bd|vip|qism|kitob)"
    r" (\d+\b|[ivxlc]{2,}\b|[ivxlc]$)")
"""A volume or part the title names (folded): "1-jild", "2-kitob", "3-қисм" (the number first),
"Т. 1", "Кн. 2", "Ч. 3", "vol. 4", "Part 5", "Т. II", "Part IV" (the word first; a roman numeral
of one letter ending the title only, so that "Книга и жизнь", "Книга в подарок" name none);
not "5 jildlik" (in five volumes) nor "в 2 томах"."""


def _title_volume(folded_title: str) -> str | None:
    """The volume/part of a title that names one ("Asarlar. 2-jild" -> "2"), for a record with
    no 245 $n or $p: a copy catalogued with the volume in $a is the copy of that volume."""
    numbers = [a or b for a, b in _TITLE_VOLUME.findall(folded_title)]
    return ".".join(str(int(n) if n.isdigit() else _roman_value(n)) for n in numbers) or None


def _roman_value(text: str) -> int:
    total = 0
    for char, following in zip(text, [*text[1:], ""], strict=True):
        value = _ROMAN_VALUES[char]
        total += -value if following and _ROMAN_VALUES[following] > value else value
    return total

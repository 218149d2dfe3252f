"""Uzbek scripts: Cyrillic <-> 1995 Latin, ALA-LC romanization, and the search fold key.

The letter tables are data, in ``crosswalks/tables/uzbek_scripts.toml``; this module holds the
context rules a table cannot express (е/ye, ц s/ts, capitals, apostrophes) and the 880 linking
of the other script into a MARC21 record.

>>> cyrillic_to_latin("Ўзбекистон")
'Oʻzbekiston'
>>> latin_to_cyrillic("O'zbekiston")
'Ўзбекистон'
>>> romanize_alalc("Навоий")
'Navoiĭ'
>>> fold("Навоий") == fold("Navoiy") == fold("Navoiĭ")
True
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

import pymarc

APOSTROPHES = "'’‘`ʻʼ′´ˊ‛＇ʽˈ"
"""Every character accepted as the Uzbek apostrophe on input: ASCII ', the quotation marks
’ ‘, the grave accent `, the modifier letters ʻ ʼ, the prime ′, the acute accent as typed
(´ U+00B4 on keyboards, ˊ U+02CA its modifier letter: oˊzbek, g´alaba), and the look-alikes
that fonts, converters and other keyboards give: the reversed quotation mark ‛ (U+201B), the
fullwidth apostrophe ＇ (U+FF07), the modifier letters reversed comma ʽ (U+02BD) and vertical
line ˈ (U+02C8)."""

OKINA = "ʻ"  # U+02BB, in oʻ and gʻ
TUTUQ = "ʼ"  # U+02BC, the tutuq belgisi

_CYR_VOWELS = frozenset("аеёиоуэюяўы")
_LAT_VOWELS = frozenset("aeiou")


@cache
def _tables() -> dict[str, dict[str, str]]:
    text = resources.files("crosswalks.tables").joinpath("uzbek_scripts.toml").read_text("utf-8")
    return tomllib.loads(text)


def _is_cyr_letter(char: str) -> bool:
    return "\u0400" <= char <= "\u04ff"


def _cased(latin: str, source_upper: bool, all_caps: bool) -> str:
    if not source_upper or not latin:
        return latin
    if all_caps:
        return latin.upper()
    return latin[0].upper() + latin[1:]


def _all_caps_context(text: str, index: int) -> bool:
    """True when the capital at ``index`` stands in an all-capitals word (ШАҲАР, not Шаҳар)."""
    after = text[index + 1] if index + 1 < len(text) else ""
    if after.isalpha():
        return after.isupper()
    before = text[index - 1] if index > 0 else ""
    return before.isalpha() and before.isupper()


def cyrillic_to_latin(text: str) -> str:
    """Uzbek Cyrillic ``text`` in the official 1995 Latin alphabet; other characters unchanged.

    е is ``ye`` at the start of a word and after a vowel, ъ or ь; ц is ``s`` at the start of a
    word and after a consonant and ``ts`` after a vowel; ъ becomes the tutuq belgisi ʼ (U+02BC),
    but after ў it is dropped (мўъжиза -> moʻjiza: the ʻ of oʻ marks it), and ь is dropped;
    сҳ is ``sʼh`` (Исҳоқ -> Isʼhoq), not the digraph sh; ў and ғ become oʻ
    and gʻ with U+02BB. ``text`` is read composed (NFC): й, ў and ё written decomposed (и, у
    or е and a combining mark, as records in NFD hold them) are the letters. Never raises.
    """
    text = unicodedata.normalize("NFC", text)
    table = _tables()["cyrillic_to_latin"]
    out: list[str] = []
    for index, char in enumerate(text):
        lower = char.lower()
        previous = text[index - 1].lower() if index > 0 else ""
        at_start = not _is_cyr_letter(previous)
        if lower == "е":
            latin = "ye" if at_start or previous in _CYR_VOWELS or previous in "ъь" else "e"
        elif lower == "ц":
            latin = "ts" if previous in _CYR_VOWELS else "s"
        elif lower == "с" and text[index + 1 : index + 2].lower() == "ҳ":
            latin = "s" + TUTUQ
        elif lower == "ъ" and previous == "ў":  # the ʻ of oʻ marks it already: мўъжиза, moʻjiza
            continue
        elif lower in table:
            latin = table[lower]
        else:
            out.append(char)
            continue
        out.append(_cased(latin, char != lower, _all_caps_context(text, index)))
    return "".join(out)


_APOS_CLASS = "[" + re.escape(APOSTROPHES) + "]"
_LATIN_TOKEN = re.compile(
    rf"[Ss]{_APOS_CLASS}[Hh]|[OoGg]{_APOS_CLASS}|[Yy][Oo](?!{_APOS_CLASS})|[Yy][UuAaEe]"
    rf"|[Ss][Hh]|[Cc][Hh]|(?:(?<=[^\W\d_])|(?<=[OoGg]{_APOS_CLASS})){_APOS_CLASS}(?=[^\W\d_])|[A-Za-z]"
)
_TO_TUTUQ = str.maketrans(dict.fromkeys(APOSTROPHES, TUTUQ))


def _tutuq_in_capitals(text: str, index: int) -> bool:
    """True when the tutuq belgisi at ``index`` stands between capitals (MAʼRIFAT, MOʻʼJIZA), so
    that its ъ is a capital Ъ; the letters on both sides are looked at, apostrophes passed over
    (the ʻ of OʻʼJIZA)."""
    before = text[:index].rstrip(APOSTROPHES)[-1:]
    after = text[index + 1 :].lstrip(APOSTROPHES)[:1]
    return before.isupper() and after.isupper()


_QUOTE_OPENERS = {"'": "'", "`": "`", "＇": "＇", "’": "‘‛’", "‘": "‘‚"}
"""The apostrophes that are quotation marks too, each with the marks that open a quote it
closes (itself among them): ‘Navo’ as 'Navo'."""
_WORD_FINAL_QUOTE = re.compile(
    rf"(?<=[OoGg])[{re.escape(''.join(_QUOTE_OPENERS))}](?![^\W\d_]|{_APOS_CLASS})"
)


def _closes_a_quote(text: str, index: int) -> bool:
    """True when the apostrophe at ``index``, ending a word after its o or g, closes a quote:
    a mark of its kind (:data:`_QUOTE_OPENERS`) began a word before it, and none ended one
    since ('Navo', 'Alisher Navo'; not tog' in 'Dunyo' va tog', nor one no mark opened). Marks
    inside words (Oʻzbekiston's) are passed over."""
    openers = _QUOTE_OPENERS[text[index]]
    for before in range(index - 1, -1, -1):
        if text[before] not in openers:
            continue
        letter_before = before > 0 and text[before - 1].isalpha()
        letter_after = text[before + 1].isalpha()
        if letter_after and not letter_before:
            return True
        if letter_before and not letter_after:
            return False
    return False


def latin_to_cyrillic(text: str) -> str:
    """Uzbek 1995 Latin ``text`` in Cyrillic; characters outside the alphabet unchanged.

    Any of :data:`APOSTROPHES` after o or g makes ў or ғ, unless it ends the word and closes a
    quote that a mark of its kind opened ('Navo' -> 'Наво', 'Tong' -> 'Тонг', while tog' is
    тоғ and the initial O'. is Ў.); between other letters it is the tutuq belgisi ъ (Ъ between
    capitals: MAʼNO -> МАЪНО), except in ``sʼh``, which separates с from ҳ (Isʼhoq -> Исҳоқ).
    ``sh``/``ch`` are ш/ч; ``yo yu ya ye`` are ё ю я е (but ``yoʻ`` is йў); ``e`` is э at the
    start of a word and after a vowel. ``ts`` stays тс: the Cyrillic ц of loanwords cannot be
    recovered.
    """
    pieces: list[str] = []
    start = 0
    for match in _WORD_FINAL_QUOTE.finditer(text):
        if _closes_a_quote(text, match.start()):
            pieces += [_latin_words_to_cyrillic(text[start : match.start()]), match[0]]
            start = match.end()
    pieces.append(_latin_words_to_cyrillic(text[start:]))
    return "".join(pieces)


def _latin_words_to_cyrillic(text: str) -> str:
    """:func:`latin_to_cyrillic` of ``text`` holding no closing quote after an o or g."""
    table = _tables()["latin_to_cyrillic"]

    def replace(match: re.Match[str]) -> str:
        token = match[0]
        key = token.lower().translate(_TO_TUTUQ)
        start = match.start()
        if key == TUTUQ:
            return "Ъ" if _tutuq_in_capitals(text, start) else "ъ"
        previous = text[start - 1].lower() if start > 0 else ""
        if key == "e" and (not previous.isalpha() or previous in _LAT_VOWELS):
            cyr = "э"
        else:
            cyr = table[key]
        if not token[0].isupper():
            return cyr
        letters = [c for c in token if c.isalpha()]
        all_caps = (len(letters) > 1 and all(c.isupper() for c in letters)) or (
            _all_caps_context(text, match.end() - 1)
        )
        return cyr.upper() if all_caps else cyr[0].upper() + cyr[1:]

    return _LATIN_TOKEN.sub(replace, text)


@cache
def _alalc_table(language: str) -> dict[str, str]:
    letters = dict(_tables()["alalc_rus"])
    if language == "uzb":
        letters.update(_tables()["alalc_uzb_extra"])
    return letters


def romanize_alalc(text: str, language: Literal["uzb", "rus"] = "uzb") -> str:
    """ALA-LC romanization of Uzbek or Russian Cyrillic ``text`` (Library of Congress tables).

    й -> ĭ, ы -> y, э -> ė, ю -> i͡u, я -> i͡a, ц -> t͡s, ъ -> ʺ, ь -> ʹ, and for Uzbek also
    ў -> ŭ, ғ -> gh, қ -> q, ҳ -> ḣ. A capital gives a capital first letter (Я -> I͡a), or all
    capitals inside an all-capitals word (ШАҲАР -> SHAḢAR). Other characters are unchanged.
    """
    if language not in ("uzb", "rus"):
        raise ValueError(f"no ALA-LC table for language {language!r}")
    table = _alalc_table(language)
    out: list[str] = []
    for index, char in enumerate(text):
        lower = char.lower()
        latin = table.get(lower)
        if latin is None:
            out.append(char)
        else:
            out.append(_cased(latin, char != lower, _all_caps_context(text, index)))
    return unicodedata.normalize("NFC", "".join(out))


@cache
def _fold_tables() -> tuple[dict[int, str | None], tuple[tuple[str, str], ...]]:
    letters: dict[int, str | None] = {ord(k): v for k, v in _tables()["fold_letters"].items()}
    for char in APOSTROPHES:
        letters[ord(char)] = None
    for mark in range(0x0300, 0x0370):  # combining diacritical marks, incl. the tie bar U+0361
        letters[mark] = None
    for code in range(128):
        # ASCII kept as it is, said explicitly: str.translate pays for a lookup that misses
        # (an exception inside) at each distinct character, which made it half of fold's time.
        letters.setdefault(code, chr(code))
    return letters, tuple(_tables()["fold_digraphs"].items())


_NON_WORD = re.compile(r"[\W_]+")
_ASCII_SPACES = {code: chr(code) if chr(code).isalnum() else " " for code in range(128)}
"""For ASCII text: what ``_NON_WORD`` matches made a space, the rest kept (every code has an
entry, so that str.translate never misses); splitting on spaces then gives the words."""

FOLD_CACHE_SIZE = 16384
FOLD_CACHE_MAX_CHARS = 200
"""The fold keys of the last FOLD_CACHE_SIZE distinct texts of up to FOLD_CACHE_MAX_CHARS
characters are remembered. Indexing one record folds about fifty texts, fewer than half of
them distinct (a title is an ``any`` term too, a name recurs as a subject), and names, places,
publishers and subjects recur across a catalogue: the cache halves the cost of the search
terms on import. Long texts (notes, contents) seldom recur and are not kept, so that the cache
holds a few megabytes at most (16,384 entries of 200 characters and their keys)."""


def fold(text: str) -> str:
    """The search key of ``text``: Cyrillic, 1995 Latin and ALA-LC forms of a word are equal.

    NFC, case folding, apostrophes removed, every other run of punctuation or space made one
    space, letters mapped to one Latin skeleton (Cyrillic and ALA-LC letters by table, combining
    marks stripped), then the digraph rules (kh -> x, ts -> s, ye -> e, then every other
    y -> i) applied until nothing changes. Idempotent: ``fold(fold(t)) == fold(t)``.
    """
    if len(text) <= FOLD_CACHE_MAX_CHARS:
        return _remembered_fold(text)
    return _fold(text)


def _fold(text: str) -> str:
    """:func:`fold`, worked out."""
    letters, digraphs = _fold_tables()
    key = unicodedata.normalize("NFC", text).casefold().translate(letters)
    if not key.isascii():  # precomposed letters with marks (é), other scripts
        key = unicodedata.normalize("NFD", key).translate(letters)
        if not key.isascii():  # marks outside U+0300-U+036F
            key = "".join(c for c in key if not unicodedata.combining(c))
            key = unicodedata.normalize("NFC", key).casefold()
    if key.isascii():  # most text: the same words as _NON_WORD gives, four times faster
        key = " ".join(key.translate(_ASCII_SPACES).split())
    else:
        key = _NON_WORD.sub(" ", key).strip()
    if _any_rule().search(key) is None:  # most words: nothing more to do
        return key
    return _replace_digraphs(key, digraphs)


_remembered_fold = lru_cache(maxsize=FOLD_CACHE_SIZE)(_fold)


@cache
def _any_rule() -> re.Pattern[str]:
    """Matches where a digraph rule of :func:`fold` would apply."""
    return re.compile("|".join(re.escape(old) for old, _ in _fold_tables()[1]))


def _replace_digraphs(key: str, digraphs: tuple[tuple[str, str], ...]) -> str:
    """``key`` with the digraph rules applied in order, again until nothing changes."""
    while True:
        before = key
        for old, new in digraphs:
            if old in key:
                key = key.replace(old, new)
        if key == before:
            return key


_CUT_DIGRAPHS = {"k": "x", "z": "j"}
"""The first letters of the digraphs :func:`fold` makes one letter of (kh -> x, zh -> j), with
that letter: a word typed up to its k or z may have been cut inside kh or zh. (ts -> s is left
out: a word cut after its t would then find every word with an s there.)"""


def cut_keys(typed: str, key: str) -> list[str]:
    """``key``, the fold key of the right-truncated term ``typed`` (or of its last word), and
    the other keys that the words it was cut from may begin with.

    When ``typed`` ends in a Latin k or z, ``key`` ending in x or j too: ``Mik*`` may be cut
    from Mikhail (ALA-LC), whose key is ``mixail`` as Михаил's and Mixail's are.

    >>> cut_keys("Mik", "mik")
    ['mik', 'mix']
    """
    end = typed.rstrip()[-1:].lower()
    last = _CUT_DIGRAPHS.get(end)
    if last is None or not key.endswith(end):
        return [key]
    return [key, key[:-1] + last]


# --- linked 880 fields ------------------------------------------------------------------------

_LINKED_TAGS = re.compile(r"^(1..|245|250|260|264|490|5..|6..|7..)$")
_KEEP_CODES = frozenset("0123456789uw")
"""Subfields of codes and links, copied unchanged into an 880 ($0-$9, $u URI, $w control
number); :func:`_kept` adds the numbers some fields hold in $x and $z."""
_LINKING_ENTRY = re.compile(r"^7[6-8].$")
_SCRIPT_CYRILLIC = "(N"
_SCRIPT_LATIN = "(B"
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_UZBEK_LETTERS = re.compile("[ўғқҳЎҒҚҲ]")
"""Letters of Uzbek Cyrillic that Russian has not: text holding one is Uzbek."""
_LATIN_LETTER = re.compile("[A-Za-z]")


def _kept(tag: str, code: str) -> bool:
    """Whether subfield ``code`` of ``tag`` is copied unchanged into an 880: a code, a link, or
    an ISSN ($x but in 6XX, where it is a subject subdivision, text) or ISBN ($z of 534 and the
    linking entries 760-787, whose check character X must not become Cyrillic Х)."""
    if code in _KEEP_CODES:
        return True
    if code == "x":
        return not tag.startswith("6")
    return code == "z" and (tag == "534" or _LINKING_ENTRY.match(tag) is not None)


def _next_occurrence(record: pymarc.Record) -> int:
    used = [0]
    for field in record.get_fields():
        if field.is_control_field():
            continue
        for value in field.get_subfields("6"):
            match = re.match(r"\d{3}-(\d{2})", value)
            if match:
                used.append(int(match[1]))
    return max(used) + 1


def add_script_880(record: pymarc.Record, language: str | None = None) -> pymarc.Record:
    """Add the other script of each Cyrillic or Uzbek-Latin heading as a linked 880 field.

    For the fields 1XX, 245, 250, 260, 264, 490, 5XX, 6XX and 7XX without a ``$6`` yet: a field
    holding Cyrillic gets an 880 in Latin, with ``$6 245-01/(B``: the 1995 alphabet when the
    language is Uzbek or the field holds a letter only Uzbek has (ў ғ қ ҳ: Uzbek whatever
    008 says), else ALA-LC (the Russian table, with the Uzbek table's letters); a field with
    Cyrillic letters that neither converts (Ukrainian і, Kazakh ә...) gets no 880, so that no
    Cyrillic is left in a romanized one; a Latin field of an Uzbek record gets an 880 in
    Cyrillic with ``$6 245-01/(N``. The original field gets ``$6 880-01`` as its first
    subfield. Codes and numbers are copied unchanged (:func:`_kept`). ``language`` defaults to
    008/35-37. A record not flagged UTF-8 (leader/09) gets 066 $c (N when Cyrillic is present.
    Returns ``record``, changed in place.
    """
    if language is None:
        control = record.get("008")
        data = control.data if control is not None and control.data else ""
        language = data[35:38] if len(data) >= 38 else ""
    occurrence = _next_occurrence(record)
    added: list[pymarc.Field] = []
    for field in record.get_fields():
        if field.is_control_field() or not _LINKED_TAGS.match(field.tag):
            continue
        if field.get_subfields("6"):
            continue
        text = " ".join(sf.value for sf in field.subfields if not _kept(field.tag, sf.code))
        if _CYRILLIC.search(text):
            if language == "uzb" or _UZBEK_LETTERS.search(text):
                convert, script = cyrillic_to_latin, _SCRIPT_LATIN
            else:
                convert, script = _romanize_other, _SCRIPT_LATIN
            if _CYRILLIC.search(convert(text)):  # letters of no table we have (і, ә, ҷ...)
                continue
        elif language == "uzb" and _LATIN_LETTER.search(text):
            convert, script = latin_to_cyrillic, _SCRIPT_CYRILLIC
        else:
            continue
        number = f"{occurrence:02d}"
        occurrence += 1
        subfields = [pymarc.Subfield("6", f"{field.tag}-{number}/{script}")]
        subfields += [
            sf if _kept(field.tag, sf.code) else pymarc.Subfield(sf.code, convert(sf.value))
            for sf in field.subfields
        ]
        field.subfields.insert(0, pymarc.Subfield("6", f"880-{number}"))
        added.append(pymarc.Field(tag="880", indicators=field.indicators, subfields=subfields))
    record.add_ordered_field(*added)
    if (
        added
        and record.leader[9] != "a"
        and any(
            _CYRILLIC.search(sf.value)
            for f in record.get_fields()
            if not f.is_control_field()
            for sf in f.subfields
        )
    ):
        _mark_cyrillic_g1(record)
    return record


def _romanize_other(text: str) -> str:
    """ALA-LC with the Uzbek table's letters (Russian, plus ў ғ қ ҳ), for Cyrillic that is
    not Uzbek."""
    return romanize_alalc(text, "uzb")


def _mark_cyrillic_g1(record: pymarc.Record) -> None:
    present = record.get("066")
    if present is None:
        record.add_ordered_field(
            pymarc.Field(tag="066", indicators=pymarc.Indicators(" ", " "),
                         subfields=[pymarc.Subfield("c", "(N")])
        )
    elif "(N" not in present.get_subfields("c"):
        present.add_subfield("c", "(N")

"""Character sets of MARC data: decide per record what the bytes are, decode, encode MARC-8.

Declarations are not trusted (leader/09 in MARC21, 100$a/26-29 in UNIMARC are often wrong),
and neither is mere validity: CP1251 "Чўлпон" holds byte pairs that are valid UTF-8, and
CP1251, KOI8-R, CP866 and ISO 8859-5 all decode any byte. So :func:`decide` reads the record
in every candidate (:data:`CANDIDATES`) and weighs what the text would be: letters of the
Russian, Uzbek (both scripts) and English alphabets, weighted by how often they occur;
words in one script and one case pattern (CP1251 read as KOI8-R gives "бНИМЮ"); accented
Latin letters beside plain ones (Latin-1 read from Cyrillic gives words of accents only);
MARC-8 marks that compose with their letter; no box drawing, C1 controls or punctuation inside
words. The best reading wins; equal readings go to the first in :data:`CANDIDATES`.

Escape sequences are decisive: no legacy code page holds ESC, so data with MARC-8 escapes
is MARC-8 (and rejected when they are invalid) unless the record says UTF-8 and holds valid
non-ASCII UTF-8 too. Valid UTF-8 is taken at once when leader/09 says UTF-8 (the common
case; by chance a legacy record is valid UTF-8 only when it is short) or when nothing in it
looks wrong. Invalid UTF-8 is :data:`BROKEN_UTF8`, reported rather than guessed at, when its good
multi-byte sequences are at least as many as its bad bytes or no other reading is plausible;
that is how a CP1251 record with a few UTF-8-looking pairs ("Чў") is still read as CP1251.

ISO 5426 (:mod:`crosswalks.iso5426`) is weighed only for a UNIMARC record whose 100 $a/26-29
declares it (code 03), in MARC-8's place (UNIMARC never uses MARC-8, and ISO 5426 "Æ" reads
as MARC-8 "À"); it wins ties with all but UTF-8. Undeclared, its text is too like Latin-1's
and ANSEL's to be told from them by its bytes. ISO 5427 (:mod:`crosswalks.iso5427`, code 02,
basic Cyrillic) likewise: its letters are KOI8-R's (0xC0-0xFE), which it differs from only in
0xA1-0xBF (its digits and signs, KOI8-R's box drawing), 0xA3 and 0xB3 (KOI8-R's ё, Ё) and 0xFF,
so undeclared it is read as KOI8-R, as it always was.
"""

from __future__ import annotations

import codecs
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from pymarc import Indicators, Record, Subfield
from pymarc.field import RawField

from crosswalks import iso5426, iso5427, marc8
from crosswalks.marc8 import Marc8Error

UTF8 = "utf-8"
MARC8 = "marc-8"
CP1251 = "cp1251"
KOI8R = "koi8-r"
CP866 = "cp866"
ISO8859_5 = "iso-8859-5"
LATIN1 = "iso-8859-1"
ISO5426 = "iso-5426"
ISO5427 = "iso-5427"
BROKEN_UTF8 = "broken-utf-8"

CANDIDATES = (UTF8, MARC8, CP1251, KOI8R, CP866, ISO8859_5, LATIN1)
"""Every charset a record may be read in, in the order that breaks a tie."""
NAMED = (*CANDIDATES, ISO5426, ISO5427)
"""Every charset that may be named (``--charset``): ISO 5426 and ISO 5427 too, which are never
guessed."""
CODECS = {UTF8: "utf-8", CP1251: "cp1251", KOI8R: "koi8_r", CP866: "cp866",
          ISO8859_5: "iso8859_5", LATIN1: "latin-1"}
"""Python codecs of the charsets decoded byte by byte (all but MARC-8, ISO 5426, ISO 5427)."""
_ALIASES = {"marc8": MARC8, "marc-8": MARC8, "ansel": MARC8, "iso5426": ISO5426,
            "iso-5426": ISO5426, "iso_5426": ISO5426, "iso5427": ISO5427, "iso-5427": ISO5427,
            "iso_5427": ISO5427}
UNIMARC_DECLARED = {"03": ISO5426, "02": ISO5427}
"""The charsets weighed only when UNIMARC 100 $a/26-29 declares them (G0 set in 26-27, G1 set
in 28-29), by their code there."""
_UNIMARC_OTHERS = tuple(charset for charset in CANDIDATES[1:] if charset != MARC8)
"""The candidates of a UNIMARC record that declares one of those, after UTF-8 and it."""

ESC = 0x1B
_SET_DESIGNATORS = frozenset(b"()$,-bgsp")
VALUE_BOUNDARIES = re.compile(rb"[\x1e\x1f]")
"""What separates the values (control fields, subfields) in a record's field data."""
VALUE_DECODERS: dict[str, tuple[Callable[[bytes], str], type[ValueError]]] = {
    MARC8: (marc8.decode, Marc8Error),
    ISO5426: (iso5426.decode, iso5426.Iso5426Error),
    ISO5427: (iso5427.decode, iso5427.Iso5427Error),
}
"""The charsets decoded value by value, as each value starts in the sets' initial state
(MARC-8) and holds its own marks: ``{charset: (decoder, the error it raises)}``; the others
are Python codecs (:data:`CODECS`)."""

# Letter frequencies of Russian and Uzbek Cyrillic text (per cent, rounded; Uzbek letters
# at their share in Uzbek text), which tell a right reading from a permuted one.
_CYRILLIC_PERCENT = {
    "о": 10.9, "е": 8.5, "а": 8.0, "и": 7.4, "н": 6.7, "т": 6.3, "с": 5.5, "р": 4.7, "в": 4.5,
    "л": 4.4, "к": 3.5, "м": 3.2, "д": 3.0, "п": 2.8, "у": 2.6, "я": 2.0, "ы": 1.9, "ь": 1.7,
    "г": 1.7, "з": 1.6, "б": 1.6, "ч": 1.4, "й": 1.2, "х": 1.0, "ж": 0.9, "ш": 0.7, "ю": 0.6,
    "ц": 0.5, "щ": 0.4, "э": 0.3, "ф": 0.3, "ъ": 0.4, "ё": 0.3, "ў": 1.5, "қ": 1.5, "ғ": 1.0,
    "ҳ": 1.2,
}
_CYRILLIC_WEIGHT = {
    letter: max(-0.5, min(1.5, math.log2(percent / 0.75) / 2))
    for letter, percent in _CYRILLIC_PERCENT.items()
}
"""A letter's weight: positive above 0.75 per cent, the rarest (ъ, э, ё) slightly negative;
at most 1.5, so that a few Cyrillic letters do not outweigh a word gone wrong."""
_MODIFIERS = frozenset("ʻʼʹʺʾʿ")
"""Uzbek Latin oʻ gʻ and the tutuq belgisi; ALA-LC soft and hard signs, alif and ayn (MARC-8
AE and B0: Arabic, Hebrew, the Armenian aspirate ``tʿ``)."""
_MARKS = frozenset(("Mn", "Mc"))
"""Marks, part of the word they stand in: the spacing vowel signs of Indic scripts (Mc) too,
which are neither letters nor combining in Python's sense."""
_DOUBLE_MARKS = frozenset("\u0360\u0361")
"""The double tilde and double inverted breve, which join two letters in ALA-LC romanization
(``t͡s``, ``i͡a``): not loose, standing on a letter by design. No byte of a legacy code page
reads as one (MARC-8 writes them as ``&#x0361;``)."""
_HALF_MARKS = {"\ufe20": "\ufe21", "\ufe21": "\ufe20", "\ufe22": "\ufe23", "\ufe23": "\ufe22"}
"""MARC-8's halves of those marks (EB/EC, FA/FB), each with its other half: not loose when
both stand in the word, as they do in ALA-LC (``t︠s︡``). Alone they are Latin-1's ë ì ú û read
as MARC-8 (``Raúl``, ``Noël``), which must count against that reading."""
_APOSTROPHES = frozenset("‘’")
"""Quotation marks written as apostrophes inside Latin words (English, Uzbek Latin)."""
_CATALOGUE_SIGNS = frozenset("«»„“”‘’‚–—…№©℗°·±×§¿¡£€\u00a0")
"""Signs that occur in catalogue text, fine between words (not inside one)."""
_NON_SORT = frozenset("\u0088\u0089\u0098\u009c")
"""Non-sort marks (ISO 6630 in UNIMARC, MARC-8's in MARC21), fine anywhere."""

LOOSE_MARK = -3.0
MIXED_SCRIPTS = -4.0
BAD_CASE = -3.0
SIGN_IN_WORD = -2.0
STRANGE_SIGN = -4.0
REPLACEMENT = -6.0
OTHER_CYRILLIC = -2.0
ACCENTS_ALONE = -1.5
COMPOSED_MARK = 1.0
PAIRED_HALF = 2.0
"""For each MARC-8 ligature or double tilde half whose other half is in the same word: strong
evidence (Latin-1 text would need ë and ì, or ú and û, in one word)."""
CHARACTER_REFERENCE = 1.0
"""For each ``&#xHHHH;`` naming a character: the MARC-8 lossless convention's way of writing
a character MARC-8 lacks, which no legacy code page's or UTF-8 text uses; the characters
named are left out of the MARC-8 reading's weighing (an emoji, a right-to-left mark)."""
FAULT = -2.0
"""Added for each thing that looks wrong, on top of its own penalty."""


@dataclass(frozen=True)
class Decision:
    """The charset chosen for one record, and how clearly (for the report)."""

    charset: str
    reason: str

    def __str__(self) -> str:
        return f"{self.charset} ({self.reason})"


def charset_name(text: str) -> str:
    """The charset label of a name as people write it (``UTF-8``, ``utf8``, ``MARC-8``,
    ``windows-1251``, ``KOI8-R``, ``cp866``, ``ISO-8859-5``, ``latin1``...).

    Raises :class:`ValueError` naming the supported sets for anything else.
    """
    key = text.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        codec = codecs.lookup(key).name
    except LookupError:
        codec = ""
    for label, name in CODECS.items():
        if codecs.lookup(name).name == codec:
            return label
    raise ValueError(f"unknown character set {text!r}; one of {', '.join(NAMED)}")


def has_marc8_escapes(data: bytes) -> bool:
    """True when ``data`` holds an ESC followed by a MARC-8 character-set designator."""
    start = data.find(ESC)
    while start != -1:
        if start + 1 < len(data) and data[start + 1] in _SET_DESIGNATORS:
            return True
        start = data.find(ESC, start + 1)
    return False


def reading(data: bytes, charset: str) -> str | None:
    """The record's field data (delimiters kept) read in ``charset``; None when invalid."""
    if charset in VALUE_DECODERS:
        decode, error_class = VALUE_DECODERS[charset]
        try:
            return "\x1f".join(decode(piece) for piece in VALUE_BOUNDARIES.split(data))
        except error_class:
            return None
    try:
        return data.decode(CODECS[charset])
    except UnicodeDecodeError:
        return None


def detect_charset(
    data: bytes, *, declared_utf8: bool = False, unimarc_sets: str = ""
) -> str:
    """The charset of ``data`` (the field data of one record); see :func:`decide`."""
    return decide(data, declared_utf8=declared_utf8, unimarc_sets=unimarc_sets).charset


def declared_charsets(unimarc_sets: str) -> list[str]:
    """The charsets of :data:`UNIMARC_DECLARED` that UNIMARC 100 $a/26-29 (``unimarc_sets``)
    names as its G0 or G1 set (``0103``: ISO 5426; ``0102``: ISO 5427)."""
    codes = (unimarc_sets[0:2], unimarc_sets[2:4])
    return [charset for code, charset in UNIMARC_DECLARED.items() if code in codes]


def _candidates(unimarc_sets: str) -> tuple[str, ...]:
    """What a record is read in, in the order that breaks a tie: a charset its UNIMARC 100
    declares (:func:`declared_charsets`) after UTF-8 and in MARC-8's place."""
    declared = declared_charsets(unimarc_sets)
    return (UTF8, *declared, *_UNIMARC_OTHERS) if declared else CANDIDATES


def decide(data: bytes, *, declared_utf8: bool = False, unimarc_sets: str = "") -> Decision:
    """The most plausible reading of ``data`` (one record's field data), with the reason.

    ``declared_utf8`` is the record's own claim (leader/09 = 'a'): valid UTF-8 is then taken
    at once, and MARC-8 escapes beside valid non-ASCII UTF-8 are not taken as MARC-8.
    ``unimarc_sets`` is a UNIMARC record's 100 $a/26-29: when it declares ISO 5426 or ISO 5427,
    that set is weighed in MARC-8's place. Returns one of :data:`CANDIDATES`, :data:`ISO5426`,
    :data:`ISO5427` or :data:`BROKEN_UTF8`.
    """
    candidates = _candidates(unimarc_sets)
    references = _character_references(data)
    if data.isascii() and not has_marc8_escapes(data):
        if references and not declared_utf8:
            return Decision(MARC8, "MARC-8 character references (&#xHHHH;)")
        return Decision(UTF8, "ASCII only")
    utf8 = reading(data, UTF8)
    utf8_claim_holds = declared_utf8 and utf8 is not None and not utf8.isascii()
    if MARC8 in candidates and has_marc8_escapes(data) and not utf8_claim_holds:
        return Decision(MARC8, "MARC-8 escape sequences")
    if utf8 is not None and declared_utf8:
        return Decision(UTF8, "valid UTF-8, as leader/09 says")
    if utf8 is not None and plausibility(utf8)[1] == 0:
        return Decision(UTF8, "valid UTF-8")
    scores = {}
    for charset in candidates:
        read = data
        if charset == MARC8 and references:  # (what they name is no guess: not weighed)
            read = marc8.CHARACTER_REFERENCE.sub(_unless_named, data)
        text = utf8 if charset == UTF8 else reading(read, charset)
        if text is None:
            continue
        score, faults = plausibility(text)
        if utf8 is not None and charset != UTF8 and faults:
            continue  # valid UTF-8 gives way only to a reading in which nothing looks wrong
        scores[charset] = score
        if charset == MARC8:
            scores[charset] += (COMPOSED_MARK * _composed_marks(read, text)
                                + CHARACTER_REFERENCE * references)  # fmt: skip
    best = max(scores, key=lambda charset: scores[charset])  # first of equals wins
    if utf8 is None:
        valid, invalid = _utf8_sequences(data)
        # (a record that says UTF-8 need not have a good sequence for its claim to count when
        # no other reading is plausible: "Caf\xc3 \xff\xfe ok" was read as KOI8-R, "Cafц ЪЧ")
        if (valid or declared_utf8) and (valid >= invalid or scores[best] < 0):
            return Decision(BROKEN_UTF8, f"invalid UTF-8 ({invalid} bad bytes beside {valid} "
                            f"good sequences; best other reading {best} {scores[best]:.0f})")
    others = sorted((score, name) for name, score in scores.items() if name != best)
    if not others:
        return Decision(best, "the only valid reading")
    score, name = others[-1]
    return Decision(best, f"plausibility {scores[best]:.0f}, next {name} {score:.0f}")


def _character_references(data: bytes) -> int:
    """How many ``&#xHHHH;`` in ``data`` name a character (:mod:`crosswalks.marc8`)."""
    if b"&#x" not in data:
        return 0
    return sum(1 for match in marc8.CHARACTER_REFERENCE.finditer(data)
               if marc8.names_a_character(match))  # fmt: skip


def _unless_named(reference: re.Match[bytes]) -> bytes:
    """A character reference left out if it names a character, kept as text if not."""
    return b"" if marc8.names_a_character(reference) else reference.group()


def _utf8_sequences(data: bytes) -> tuple[int, int]:
    """(well-formed multi-byte UTF-8 sequences, bytes that are not UTF-8) in ``data``."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    return sum(1 for char in text if ord(char) >= 0x80) - bad, bad


def _composed_marks(data: bytes, text: str) -> int:
    """MARC-8 combining marks (ANSEL 0xE0-0xFE) that fused with their letter into one
    precomposed character: evidence, since marks misread from Latin-1 letters land on
    arbitrary letters and stay loose."""
    marks = sum(1 for byte in data if 0xE0 <= byte <= 0xFE)
    loose = sum(1 for char in text if unicodedata.combining(char))
    return max(0, marks - loose)


def plausibility(text: str) -> tuple[float, int]:
    """(score, faults): how much ``text`` looks like Russian, Uzbek or English catalogue text
    (ASCII adds 0), and how many things in it look wrong.

    Positive for common Cyrillic letters and accented Latin letters inside plain words,
    negative for rare letters; each fault (a loose combining mark, a mixed-script or wrongly
    cased word, a sign inside a word, a symbol, a control, a replacement character) costs
    its own penalty and :data:`FAULT` more.
    """
    total = 0.0
    penalties = 0
    for piece in text.split("\x1f"):
        for token in piece[1:].split():  # the subfield code left out; 0x1E splits too
            if not token.isascii():
                score, faults = _token_score(unicodedata.normalize("NFC", token))
                total += score
                penalties += faults
    return total + FAULT * penalties, penalties


@lru_cache(maxsize=1 << 16)
def _token_score(token: str) -> tuple[float, int]:
    """(score, faults) of one space-delimited token holding non-ASCII characters."""
    total = 0.0
    faults = 0
    word: list[str] = []
    previous_letter = False
    for index, char in enumerate(token):
        if char.isalpha() or unicodedata.category(char) in _MARKS:
            word.append(char)
            previous_letter = True
            continue
        following = token[index + 1 : index + 2]
        if char in _APOSTROPHES and word and word[-1].isascii() and _latin_letter(following):
            continue  # an apostrophe between Latin letters: ``Gorskii’s``, ``o‘zbek``
        if word:
            score, fault = _word_score(word)
            total, faults, word = total + score, faults + fault, []
        if ord(char) >= 0x80 and not char.isspace():
            penalty = _sign_penalty(char, previous_letter, following)
            total += penalty
            faults += penalty < 0
        previous_letter = False
    if word:
        score, fault = _word_score(word)
        total, faults = total + score, faults + fault
    return total, faults


def _latin_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _sign_penalty(char: str, after_letter: bool, following: str) -> float:
    if char in _NON_SORT:
        return 0.0
    if char == "\ufffd":
        return REPLACEMENT
    if char in _CATALOGUE_SIGNS:
        return SIGN_IN_WORD if after_letter and following.isalpha() else 0.0
    return STRANGE_SIGN


def _word_score(word: list[str]) -> tuple[float, int]:
    """(score, faults) of one run of letters."""
    total = 0.0
    faults = 0
    scripts = set()
    plain_latin = accented_latin = 0
    lower_seen = bad_case = False
    base_script = ""
    for char in word:
        if unicodedata.combining(char):
            if char in _DOUBLE_MARKS:
                continue
            if base_script and _HALF_MARKS.get(char, "") in word:  # on a letter
                total += PAIRED_HALF
                continue
            if base_script in ("", "LATIN", "CYRILLIC"):  # Indic viramas are no fault
                total, faults = total + LOOSE_MARK, faults + 1
            continue
        if char in _MODIFIERS:
            total += 0.5
            continue
        if char.islower():
            lower_seen = True
        elif char.isupper() and lower_seen:
            bad_case = True
        if char.isascii():
            plain_latin += 1
            scripts.add("LATIN")
            base_script = "LATIN"
            continue
        script = base_script = unicodedata.name(char, "UNKNOWN").split(" ")[0]
        if unicodedata.category(char) != "Mc":  # Indic vowel signs are of their script
            scripts.add(script)
        if script == "CYRILLIC":
            weight = _CYRILLIC_WEIGHT.get(char.lower())
            total += OTHER_CYRILLIC if weight is None else weight
            faults += weight is None
        elif script == "LATIN":
            accented_latin += 1
    if accented_latin:
        alone = 2 * plain_latin < accented_latin and len(word) > 1
        total += accented_latin * (ACCENTS_ALONE if alone else 1.0)
        faults += alone
    if len(scripts) > 1:
        total, faults = total + MIXED_SCRIPTS, faults + 1
    if bad_case:
        total, faults = total + BAD_CASE, faults + 1
    return total, faults


# --- MARC-8 output -----------------------------------------------------------------------------


def record_to_iso2709_marc8(record: Record) -> bytes:
    """``record`` (Unicode) as ISO 2709 in MARC-8, leader/09 blank, with field 066 naming the
    character sets other than ASCII and ANSEL it uses (:func:`crosswalks.marc8.character_sets`).

    Lengths and base address are computed by pymarc from the encoded bytes; the record given
    is not changed. :class:`crosswalks.iso2709.TooLong` when a field or the record is longer
    than ISO 2709 can hold.
    """
    from crosswalks.iso2709 import checked_length  # iso2709 imports this module

    leader = str(record.leader)
    encoded = Record(leader=leader[:9] + " " + leader[10:], to_unicode=False)
    texts: list[bytes] = []
    for field in record.fields:
        if field.tag == marc8.CHARACTER_SETS_TAG:  # the record's own, of another encoding
            continue
        if field.is_control_field():
            texts.append(marc8.encode(field.data or ""))
            encoded.add_field(RawField(tag=field.tag, data=texts[-1]))
        else:
            values = [marc8.encode(sub.value) for sub in field.subfields]
            texts.extend(values)
            encoded.add_field(
                RawField(
                    tag=field.tag,
                    indicators=Indicators(*(field.indicators or (" ", " "))),
                    subfields=[
                        Subfield(code=sub.code, value=value)  # type: ignore[arg-type]
                        for sub, value in zip(field.subfields, values, strict=True)
                    ],
                )
            )
    sets = marc8.character_sets(b"".join(texts))
    if sets:
        at = next((i for i, field in enumerate(encoded.fields)
                   if field.tag > marc8.CHARACTER_SETS_TAG), len(encoded.fields))  # fmt: skip
        encoded.fields.insert(at, RawField(
            tag=marc8.CHARACTER_SETS_TAG, indicators=Indicators(" ", " "),
            subfields=[Subfield(code="c", value=designation)  # type: ignore[arg-type]
                       for designation in sets],
        ))
    return checked_length(encoded.as_marc(), encoded)

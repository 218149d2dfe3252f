"""The search index: normalized word, phrase and sort terms of every live record, per index.

A record's terms are ``(field, term)`` pairs: one index's word terms (kind ``w``) or its
whole-field phrases (``p``), numbered by :data:`FIELDS`; its sort keys (kind ``s``, one per
sortable index) are a row of ``sort_keys``. Terms are script folded with
:func:`crosswalks.uzbek.fold` (NFC, case folded, apostrophes removed, punctuation made one space,
Cyrillic, 1995 Latin and ALA-LC letters made one Latin skeleton), so ``Навоий``, ``Navoiy`` and
``Navoiĭ`` are one term. ISBNs are keyed without hyphens in both their ISBN-10 and ISBN-13
forms, ISSNs without the hyphen.

Index ``any`` has every term of every other index of its kind and the terms of every text
subfield of every data field, but stores only what no other index of the kind has for the
record: it is answered from the terms of every field of the kind (:data:`ANSWERING`). Storing
the other indexes' terms again was a third of the index, and writing the index is most of what
storing a record costs the writing process.

Where the pairs are kept depends on the engine; either answers an exact term, a right-truncated
term, a relation and a Scan (the terms of one field in code-point order):

- PostgreSQL: a row of ``terms`` a pair, keyed ``(field, term, record_id)`` (``COLLATE "C"``):
  an exact or right-truncated term (a range ``prefix <= term < prefix + U+10FFFF``) is an index
  seek. The index by record id removes a record's rows whatever rules (or Unicode tables, or
  MARC reader) made them: finding them again by making them anew from the stored record drifts
  from what was written when any of those change, leaving false hits no one can remove.
- SQLite: an FTS5 table, one document a record whose tokens are its pairs (:func:`token`: the
  field and the term's UTF-8 in hex, so a term is one token and a truncated term a token
  prefix), read by :mod:`catalog.fts_query`. A B-tree row a pair cost SQLite 272 µs of CPU and
  2.1 kB a record of a harvest (48 pairs); a document costs about 27 µs and 0.8 kB, its pairs
  in ``search_docs`` included. The FTS5 table keeps no content: each record's pairs are kept in
  ``search_docs``, and a record is taken out of the index with exactly those, whatever made
  them.

>>> terms_of(record)                  # {(index, kind, term), ...}
>>> entries = entries_of(record)       # as stored: (field, term) pairs (any's residue), sort keys
>>> write_entries(connection, [(record_id, entries)])   # replaces what the record had
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache, partial
from itertools import chain, repeat
from typing import Any, NamedTuple

from pymarc import Field, Record
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    select,
)

from catalog import models
from catalog.db import execute_in, insert_rows
from catalog.models import ENGINES, metadata
from catalog.transactions import transaction
from crosswalks.dublin_core import marc_languages
from crosswalks.iso2709 import read_plain, read_utf8
from crosswalks.standard_numbers import number_text
from crosswalks.uzbek import fold

MAX_TERM_CHARS = 200
"""Longest term kept (longer phrases are cut there, on the record and the query side alike)."""

WORD, PHRASE, SORT = "w", "p", "s"

TITLE = "title"
AUTHOR = "author"
SUBJECT = "subject"
ISBN = "isbn"
ISSN = "issn"
DATE = "date"
PUBLISHER = "publisher"
LANGUAGE = "language"
LOCAL_NUMBER = "local"
IDENTIFIER = "identifier"
ANY = "any"

INDEXES = (TITLE, AUTHOR, SUBJECT, ISBN, ISSN, DATE, PUBLISHER, LANGUAGE, LOCAL_NUMBER,
           IDENTIFIER, ANY)  # fmt: skip
SORTABLE = (TITLE, AUTHOR, DATE)

KEYED = frozenset({ISBN, ISSN, DATE, LANGUAGE, LOCAL_NUMBER})
"""Indexes whose terms are whole keys: they have word terms only, and a query term is one key."""

FIELDS: dict[tuple[str, str], int] = {
    (TITLE, WORD): 1, (TITLE, PHRASE): 2,
    (AUTHOR, WORD): 3, (AUTHOR, PHRASE): 4,
    (SUBJECT, WORD): 5, (SUBJECT, PHRASE): 6,
    (ISBN, WORD): 7, (ISBN, PHRASE): 8,
    (ISSN, WORD): 9, (ISSN, PHRASE): 10,
    (DATE, WORD): 11, (DATE, PHRASE): 12,
    (PUBLISHER, WORD): 13, (PUBLISHER, PHRASE): 14,
    (LANGUAGE, WORD): 15, (LANGUAGE, PHRASE): 16,
    (LOCAL_NUMBER, WORD): 17, (LOCAL_NUMBER, PHRASE): 18,
    (IDENTIFIER, WORD): 19, (IDENTIFIER, PHRASE): 20,
    (ANY, WORD): 21, (ANY, PHRASE): 22,
}  # fmt: skip
"""The ``field`` number of each index's word and phrase terms. Stored in every row: a number
is never changed or reused (schema revision 0007 wrote them)."""

_TERM = String(MAX_TERM_CHARS).with_variant(String(MAX_TERM_CHARS, collation="C"), "postgresql")

terms = Table(
    "terms",
    metadata,
    Column("field", SmallInteger, primary_key=True, autoincrement=False),
    Column("term", _TERM, primary_key=True),
    Column("record_id", Integer, primary_key=True, autoincrement=False),
    Index("ix_terms_record", "record_id"),
    sqlite_with_rowid=False,
    info={ENGINES: ("postgresql",)},
)
# No foreign key to records: a record row is never removed (deletions are persistent), and the
# terms of a deleted record are removed in the same transaction (write_entries).

search_docs = Table(
    "search_docs",
    metadata,
    Column("record_id", Integer, primary_key=True, autoincrement=False),
    Column("fields", LargeBinary, nullable=False),
    Column("terms", Text, nullable=False),
    info={ENGINES: ("sqlite",)},
)
"""SQLite: each indexed record's pairs as :data:`FTS` was given them, as :class:`IndexEntries`
holds them: a field number a byte of ``fields``, the terms joined by line feeds (a term has
none: :func:`crosswalks.uzbek.fold` makes every run of spaces one space, keys are letters and
digits). A record is taken out of the FTS5 index with exactly these (:func:`tokens_of`)."""

FTS = "search_fts"
VOCABULARY = "search_vocab"
_FTS_DDL = (
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(tokens, content='', tokenize='ascii', "
    "detail='none', columnsize=0)",
    f"CREATE VIRTUAL TABLE {VOCABULARY} USING fts5vocab({FTS}, 'row')",
)


def create_fts(connection: Connection) -> None:
    """Create the SQLite search index's FTS5 tables (over an existing ``search_docs``)."""
    for statement in _FTS_DDL:
        connection.exec_driver_sql(statement)


def is_fts_table(name: str) -> bool:
    """Whether ``name`` is one of the FTS5 tables (or the shadow tables SQLite keeps for them),
    which SQLAlchemy's models do not describe."""
    return name in (VOCABULARY, FTS) or name.startswith(FTS + "_")


def token(field: int, term: str) -> str:
    """The FTS5 token of ``term`` in ``field``: the field number in two hex digits, then the
    term's UTF-8 in hex. Hex survives FTS5's ``ascii`` tokenizer unchanged whatever the term
    holds (spaces of a phrase, any script), keeps the terms of a field together, and sorts as
    the terms do (UTF-8 byte order is code-point order): a right-truncated term is a prefix."""
    return _PREFIXES[field] + term.encode().hex()


def field_prefix(field: int) -> str:
    """What every token of ``field`` starts with."""
    return _PREFIXES[field]


def term_of(token_text: str) -> str:
    """The term a token of :func:`token` holds."""
    return bytes.fromhex(token_text[2:]).decode()


def tokens_of(fields: bytes, terms: Sequence[str]) -> str:
    """The FTS5 document of the pairs ``fields`` and ``terms`` (as :class:`IndexEntries` and
    ``search_docs`` hold them): their tokens, space separated."""
    pairs = zip(fields, terms, strict=True)
    return " ".join([_PREFIXES[field] + term.encode().hex() for field, term in pairs])


_PREFIXES = tuple(f"{field:02x}" for field in range(256))
"""Each field number in two hex digits. Compiled, formatting it with an f-string for every pair
made a record's document in 69 µs (measured while the machine was busy); with this table, 11."""

sort_keys = Table(
    "sort_keys",
    metadata,
    Column("record_id", Integer, primary_key=True, autoincrement=False),
    *(Column(index, _TERM) for index in SORTABLE),
)
"""Each indexed record's sort keys, one column per sortable index (NULL: the record has none)."""

# Subfields indexed per tag (alphabetic codes only: $6 linkage, $0-$9 control data never are).
_TITLE_FIELDS = {"245": "abfgknps", "246": "abfgnp", "130": "adfgklmnoprst",
                 "240": "adfgklmnoprs", "440": "anpv", "490": "av"}  # fmt: skip
_AUTHOR_FIELDS = {"100": "abcdq", "110": "abcdn", "111": "acdenq", "700": "abcdq",
                  "710": "abcdn", "711": "acdenq"}  # fmt: skip
_SUBJECT_CODES = "abcdfghklmnopqrstvxyz"
_PUBLISHER_FIELDS = {"260": "b", "264": "b"}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
"""Every text subfield: what ``any`` takes from every data field (and 880)."""
_NONFILING = {"245": 2, "240": 2, "440": 2, "130": 1}  # tag -> indicator giving nonfiling chars

_YEAR = re.compile(r"(?<![0-9])([0-9]{4})(?![0-9])")
"""Four ASCII digits (``\\d`` would take ٢٠٠٣ too, which sorts after every ASCII year)."""
_ISBN_CANDIDATE = re.compile(r"[0-9][0-9\- ]{8,16}[0-9Xx]")
_ISSN_CANDIDATE = re.compile(r"\b(\d{4})-?(\d{3}[\dXx])\b")


def _clip(term: str) -> str:
    return term[:MAX_TERM_CHARS].rstrip()


def words_of(text: str) -> list[str]:
    """The folded word terms of ``text`` (query side and record side alike).

    A word holds no space, so cutting it to length leaves nothing for :func:`_clip` to strip.
    """
    return [word[:MAX_TERM_CHARS] for word in fold(text).split()]


def phrase_of(text: str) -> str:
    """The folded phrase term of ``text`` ("" when nothing searchable is left)."""
    return _clip(fold(text))


def isbn_keys(text: str) -> list[str]:
    """The ISBN keys in ``text``: hyphens and spaces removed, ISBN-10 and ISBN-13 both given.

    >>> isbn_keys("978-0-306-40615-7 (pbk.)")
    ['9780306406157', '0306406152']
    """
    keys: list[str] = []
    for candidate in _ISBN_CANDIDATE.findall(number_text(text)):
        digits = candidate.replace("-", "").replace(" ", "").lower()
        if not digits.isascii():
            continue
        if len(digits) == 10 and digits[:9].isdigit():
            keys += [digits, _isbn13_of(digits)]
        elif len(digits) == 13 and digits.isdigit():
            keys.append(digits)
            if digits.startswith("978"):
                keys.append(_isbn10_of(digits))
    return list(dict.fromkeys(keys))


def _isbn13_of(isbn10: str) -> str:
    body = "978" + isbn10[:9]
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _isbn10_of(isbn13: str) -> str:
    body = isbn13[3:12]
    check = (11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11) % 11
    return body + ("x" if check == 10 else str(check))


def issn_keys(text: str) -> list[str]:
    """The ISSN keys in ``text``, without the hyphen (``0317-8471`` -> ``03178471``)."""
    return [(a + b).lower() for a, b in _ISSN_CANDIDATE.findall(number_text(text))]


def query_keys(index: str, text: str) -> list[str]:
    """What a query term for a keyed index looks for: ISBN and ISSN keys, or folded words.

    A query ISBN or ISSN that does not parse as one is looked up by its digits, so that a
    truncated ``978994300`` still works as a prefix.
    """
    if index == ISBN:
        found = isbn_keys(text)
        return found[:1] or [re.sub(r"[^0-9x]", "", text.lower())]
    if index == ISSN:
        found = issn_keys(text)
        return found[:1] or [re.sub(r"[^0-9x]", "", text.lower())]
    if index == LOCAL_NUMBER:
        return ["".join(words_of(text))]
    return words_of(text)


def _linked_tag(field: Field) -> str:
    """The tag an 880 field stands for (from ``$6 245-01``), or the field's own tag."""
    if field.tag != "880":
        return field.tag
    link = field.get("6") or ""
    return link[:3]


def _text(field: Field, codes: str) -> tuple[str, ...]:
    """The field's text from ``codes`` subfields, then the texts it is a phrase as: the whole
    text and its first such subfield, with and without nonfiling characters (an article)."""
    values = [sf.value for sf in field.subfields if sf.code in codes and sf.value]
    whole = " ".join(values)
    if not values:
        return (whole,)
    texts = [whole, whole, values[0]]
    skip = nonfiling(field)
    if skip:
        texts += [whole[skip:], values[0][skip:]]
    return tuple(texts)


def nonfiling(field: Field) -> int:
    """How many leading characters a title field says to skip in filing (an initial article)."""
    position = _NONFILING.get(_linked_tag(field))
    if position is None:
        return 0
    indicator = field.indicator1 if position == 1 else field.indicator2
    return int(indicator) if indicator.isascii() and indicator.isdigit() else 0


def _data_fields(record: Record, specs: Callable[[str], str | None]) -> Iterator[tuple[str, ...]]:
    """(text, phrase texts...) of each data field whose (linked) tag ``specs`` takes."""
    for field in record.get_fields():
        if field.is_control_field():
            continue
        codes = specs(_linked_tag(field))
        if codes:
            yield _text(field, codes)


ANSWERING: dict[tuple[str, str], tuple[int, ...]] = {
    (index, kind): (number, *(n for (i, k), n in FIELDS.items() if k == kind and i != ANY))
    if index == ANY else (number,)
    for (index, kind), number in FIELDS.items()
}  # fmt: skip
"""The fields whose rows answer each ``(index, kind)``: its own first, then for ``any`` every
other field of the kind. ``any`` stores only what no other index of the kind has for the record,
so no record has a term both in ``any``'s own field and in another (a count adds them up)."""

Found = dict[int, set[str]]
"""A record's terms by field number (:data:`FIELDS`), each field's set made beforehand."""


def _add_text_terms(found: Found, index: str, texts: tuple[str, ...]) -> None:
    """Add to ``found`` the word terms of ``texts[0]`` and the phrase terms of the rest, in
    ``index``."""
    found[FIELDS[index, WORD]].update(words_of(texts[0]))
    found[FIELDS[index, PHRASE]].update([p for t in texts[1:] if (p := phrase_of(t))])


def _add_keys(found: Found, index: str, keys: Iterable[str]) -> None:
    """Add ``keys`` to ``found`` as word terms of ``index`` (none empty)."""
    found[FIELDS[index, WORD]].update(filter(None, keys))


_KEYED_FIELDS: dict[str, str] = {
    "001": "001", "008": "008", "020": "020", "022": "022", "245": "245",
    "024": "024 035", "035": "024 035", "856": "856", "260": "260 264", "264": "260 264",
    **dict.fromkeys(_AUTHOR_FIELDS, "names"),
}  # fmt: skip
"""The fields the keyed indexes and the sort keys read, by the group they are read in (its
fields in record order, as ``Record.get_fields`` gives them): gathered in the one pass over
the fields that finds the text terms, instead of a scan of every field for each."""

Grouped = dict[str, list[Field]]
"""Fields by their group of :data:`_KEYED_FIELDS`."""


def _control(fields: Grouped, group: str) -> str:
    """The data of the group's first field, as ``Record.get`` finds it ("" for none)."""
    found = fields.get(group)
    return (found[0].data or "") if found else ""


def _subfield_values(fields: Grouped, group: str, code: str) -> list[str]:
    return [v for f in fields.get(group, ()) for v in f.get_subfields(code) if v]


def is_year(key: str) -> bool:
    """Whether a query key is a year, as the date index holds them (four ASCII digits)."""
    return _YEAR.fullmatch(key) is not None


def _years(fields: Grouped) -> list[str]:
    years: list[str] = []
    fixed = _control(fields, "008")[7:11]
    if fixed.isascii() and fixed.isdigit():
        years.append(fixed)
    for text in _subfield_values(fields, "260 264", "c"):
        years += _YEAR.findall(text)
    return list(dict.fromkeys(years))


def _sort_keys(fields: Grouped, years: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    titles = fields.get("245")
    if titles:
        title = titles[0]
        key = phrase_of(_text(title, "abnp")[0][nonfiling(title) :])
        if key:
            keys[TITLE] = key
    for field in fields.get("names", ()):
        key = phrase_of(_text(field, _AUTHOR_FIELDS[field.tag])[0])
        if key:
            keys[AUTHOR] = key
            break
    if years:
        keys[DATE] = years[0]
    return keys


def _subject_codes(tag: str) -> str | None:
    return _SUBJECT_CODES if tag.startswith("6") else None


def _every_text(tag: str) -> str:
    return _LETTERS


TEXT_FIELDS: dict[str, Callable[[str], str | None]] = {
    TITLE: _TITLE_FIELDS.get,
    AUTHOR: _AUTHOR_FIELDS.get,
    SUBJECT: _subject_codes,
    PUBLISHER: _PUBLISHER_FIELDS.get,
    ANY: _every_text,
}
"""The text indexes: which subfields of which (linked) tags each takes. ``any`` takes every
letter subfield of every data field, 880 included (place of publication, notes, series,
contents...), besides the terms of every other index."""


@lru_cache(maxsize=1024)
def _text_indexes(tag: str) -> tuple[tuple[str, str], ...]:
    """``(index, codes)`` of each text index that takes fields tagged ``tag`` (tags are few,
    the question is asked for every field of every record)."""
    return tuple((index, codes) for index, specs in TEXT_FIELDS.items() if (codes := specs(tag)))


def terms_of(record: Record) -> set[tuple[str, str, str]]:
    """Every ``(index, kind, term)`` of ``record``; ``any`` has every text field's terms and
    the other indexes' terms (ISBN and ISSN keys, years, language codes...), what a search of
    ``any`` finds (:func:`entries_of` stores only the rest of it)."""
    found, sorts = _entries(record)
    for kind in (WORD, PHRASE):
        any_field, *others = ANSWERING[ANY, kind]
        found[any_field].update(*(found[field] for field in others))
    named = {(*_NAMES[field], term) for field, terms in found.items() for term in terms}
    named.update((index, SORT, key) for index, key in sorts.items())
    return named


_NAMES = {number: pair for pair, number in FIELDS.items()}


class IndexEntries(NamedTuple):
    """What a record puts in the index: ``(field, term)`` pairs and its sort keys (one per
    :data:`SORTABLE` index, None for none). The stored form of :func:`terms_of`, made where the
    record is derived, so that the writing process only writes.

    The pairs travel as two columns, each field number a byte of ``fields`` beside its term in
    ``terms``: the writing process receives them from a worker and makes its rows with
    :meth:`rows` without a Python step per row (a frozenset of pairs cost it 17-37 µs a record
    to unpickle and turn into rows, against about 7)."""

    fields: bytes
    terms: tuple[str, ...]
    sorts: tuple[str | None, ...]

    @property
    def pairs(self) -> frozenset[tuple[int, str]]:
        """The ``(field, term)`` pairs."""
        return frozenset(zip(self.fields, self.terms, strict=True))

    def rows(self, record_id: int) -> Iterator[tuple[int, str, int]]:
        """The pairs as rows of the terms table for record ``record_id``."""
        return zip(self.fields, self.terms, repeat(record_id))


NO_ENTRIES = IndexEntries(b"", (), (None,) * len(SORTABLE))


def entries_of(record: Record, *, language_codes: Sequence[str] | None = None) -> IndexEntries:
    """The index entries of ``record``: its :func:`terms_of`, numbered by :data:`FIELDS`, but
    for ``any`` only the terms no other index of the same kind has (the others' rows answer
    for the rest, see :data:`ANSWERING`). ``language_codes``: the record's
    :func:`~crosswalks.dublin_core.marc_languages`, when the caller has them already (None:
    worked out here)."""
    found, sorts = _entries(record, language_codes)
    for kind in (WORD, PHRASE):
        any_field, *others = ANSWERING[ANY, kind]
        found[any_field].difference_update(*(found[field] for field in others))
    fields = bytes(chain.from_iterable(repeat(field, len(terms)) for field, terms in found.items()))
    terms = tuple(chain.from_iterable(found.values()))
    return IndexEntries(fields, terms, tuple(sorts.get(index) for index in SORTABLE))


def _entries(
    record: Record, language_codes: Sequence[str] | None = None
) -> tuple[Found, dict[str, str]]:
    """The terms of ``record`` by field, and its sort keys; ``any`` has the terms of the fields
    that no other index takes as they are (the other indexes' fields of its kind have the rest).

    They are gathered in one pass over the fields, into one set per field (this runs for every
    record stored): what ``any`` stores and what it finds are then set operations, and the pairs
    are made once at the end. Numbering each term as it was found, then taking ``any``'s
    repeats out pair by pair, cost a tenth more. The same pass keeps the fields the keyed
    indexes and sort keys read (:data:`_KEYED_FIELDS`)."""
    found: Found = {field: set() for field in FIELDS.values()}
    keyed: Grouped = {}
    for field in record.fields:
        group = _KEYED_FIELDS.get(field.tag)
        if group is not None:
            keyed.setdefault(group, []).append(field)
        if field.control_field:
            continue
        taken = None
        for index, codes in _text_indexes(_linked_tag(field)):
            texts = _text(field, codes)
            if index != ANY or texts != taken:  # else any has these terms as that index's
                _add_text_terms(found, index, texts)
            taken = texts
    isbns = [k for v in _subfield_values(keyed, "020", "a") for k in isbn_keys(v)]
    issns = [k for v in _subfield_values(keyed, "022", "a") for k in issn_keys(v)]
    years = _years(keyed)
    local_key = "".join(words_of(_control(keyed, "001").strip()))
    _add_keys(found, ISBN, isbns)
    _add_keys(found, ISSN, issns)
    _add_keys(found, DATE, years)
    _add_keys(found, LANGUAGE, marc_languages(record) if language_codes is None else language_codes)
    _add_keys(found, LOCAL_NUMBER, (local_key,))
    _add_keys(found, IDENTIFIER, (*isbns, *issns, local_key))
    others = _subfield_values(keyed, "024 035", "a") + _subfield_values(keyed, "856", "u")
    for value in others:
        _add_text_terms(found, IDENTIFIER, (value, value))
    return found, _sort_keys(keyed, years)


_EDGE_PUNCTUATION = " \t.,:;/=+[](){}\"'«»„“”‘’`"
_BRACKETS = {"(": ")", "[": "]", "{": "}"}
_OPENERS = {close: open_ for open_, close in _BRACKETS.items()}


def _unpaired(text: str) -> tuple[list[str], list[str]]:
    """The brackets ``text`` opens and does not close (innermost last), and those it closes
    without opening them (leftmost first)."""
    opened: list[str] = []
    unopened: list[str] = []
    for char in text:
        if char in _BRACKETS:
            opened.append(char)
        elif char in _OPENERS:
            if opened and opened[-1] == _OPENERS[char]:
                opened.pop()
            else:
                unopened.append(char)
    return opened, unopened


def display_form(text: str) -> str:
    """``text`` without the punctuation around it (ISBD ``:`` ``/``, a closing ``,``...), but
    for a bracket that pairs with one inside what is kept: ``Амшоков, Х. Х. (Хасанби
    Хажбеталович),`` keeps its ``)``, ``[Тошкент]`` loses both."""
    start = len(text) - len(text.lstrip(_EDGE_PUNCTUATION))
    end = len(text.rstrip(_EDGE_PUNCTUATION))
    while start < end:  # text[:start] and text[end:] hold nothing but edge punctuation
        opened, unopened = _unpaired(text[start:end])
        close = text.find(_BRACKETS[opened[-1]], end) if opened else -1
        if close >= 0:
            end = close + 1
            continue
        open_ = text.rfind(_OPENERS[unopened[0]], 0, start) if unopened else -1
        if open_ < 0:
            break
        start = open_
    return text[start:end]


def forms_of(record: Record, index: str, kind: str) -> dict[str, str]:
    """Each term ``record`` has in ``index`` (of ``kind``) with the form it was catalogued in:
    the word or phrase as written, without the punctuation around it (ISBD ``:`` ``/``...;
    :func:`display_form`).
    The first form met wins. Keyed indexes (ISBN, date...) have no forms: {} for them."""
    specs = TEXT_FIELDS.get(index)
    forms: dict[str, str] = {}
    if specs is None:
        return forms
    for whole, *phrases in _data_fields(record, specs):
        if kind == PHRASE:
            for text in phrases:
                form = display_form(text)
                key = phrase_of(text)
                if key and form:
                    forms.setdefault(key, form)
            continue
        for token in whole.split():
            form = display_form(token)
            keys = words_of(form)
            if len(keys) == 1 and form:
                forms.setdefault(keys[0], form)
    return forms


_TERM_COLUMNS = ("field", "term", "record_id")
_SORT_COLUMNS = ("record_id", *SORTABLE)


def read_canonical(marc: bytes, *, plain: bool = False) -> Record:
    """A record read from its canonical MARC, as everything derived from it is read. ``plain``:
    the bytes are those of a :class:`~crosswalks.iso2709.Canonical` just made (not read back
    from the catalogue or elsewhere), and are not checked again
    (:func:`~crosswalks.iso2709.read_plain`)."""
    return read_plain(marc) if plain else read_utf8(marc)


def write_entries(
    connection: Connection,
    changes: Sequence[tuple[int, Record | IndexEntries | None]],
    *,
    fresh: AbstractSet[int] = frozenset(),
) -> None:
    """Replace the index entries of records, in the caller's transaction.

    Each change names a record and what it now puts in the index: the record itself, its
    entries made by :func:`entries_of` (elsewhere, in parallel), or ``None`` (nothing any more:
    deleted, or joined a union record). What a record had is removed by its id, whatever made
    it; ids in ``fresh`` are records inserted in this transaction, which have nothing yet.
    """
    old = [record_id for record_id, _ in changes if record_id not in fresh]
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _forget_documents(connection, old)
    else:
        execute_in(connection, "DELETE FROM terms WHERE record_id IN ({values})", old)
    execute_in(connection, "DELETE FROM sort_keys WHERE record_id IN ({values})", old)
    made = [
        (record_id, entries_of(change) if isinstance(change, Record) else change or NO_ENTRIES)
        for record_id, change in changes
    ]
    if sqlite:
        indexed = [(record_id, entries) for record_id, entries in made if entries.terms]
        if indexed:
            insert_rows(connection, search_docs, _DOCUMENT_COLUMNS, [
                (record_id, entries.fields, "\n".join(entries.terms))
                for record_id, entries in indexed
            ])  # fmt: skip
            documents = [(record_id, tokens_of(entries.fields, entries.terms))
                         for record_id, entries in indexed]  # fmt: skip
            connection.exec_driver_sql(_ADD_DOCUMENT, documents)  # type: ignore[arg-type]
    else:
        rows = list(chain.from_iterable(entries.rows(record_id) for record_id, entries in made))
        insert_rows(connection, terms, _TERM_COLUMNS, rows)
    sorts = [(record_id, *entries.sorts) for record_id, entries in made
             if entries.sorts != NO_ENTRIES.sorts]  # fmt: skip
    insert_rows(connection, sort_keys, _SORT_COLUMNS, sorts)


_DOCUMENT_COLUMNS = ("record_id", "fields", "terms")
_ADD_DOCUMENT = f"INSERT INTO {FTS} (rowid, tokens) VALUES (?, ?)"
_DROP_DOCUMENT = f"INSERT INTO {FTS} ({FTS}, rowid, tokens) VALUES ('delete', ?, ?)"


def _forget_documents(connection: Connection, record_ids: Sequence[int]) -> None:
    """Take the records ``record_ids`` out of SQLite's FTS5 index: each with the tokens it was
    given (a contentless FTS5 table removes what it is told to, and is damaged when told other
    tokens), then out of ``search_docs``."""
    if not record_ids:
        return
    # Rows as Any: compiled, a Row (no tuple) would be checked as the tuple its type says.
    rows: list[Any] = execute_in(
        connection,
        "SELECT record_id, fields, terms FROM search_docs WHERE record_id IN ({values})",
        record_ids,
    )
    if rows:
        dropped = [(row[0], _document(row[1], row[2])) for row in rows]
        connection.exec_driver_sql(_DROP_DOCUMENT, dropped)  # type: ignore[arg-type]
        execute_in(connection, "DELETE FROM search_docs WHERE record_id IN ({values})",
                   [row[0] for row in rows])  # fmt: skip


def _document(fields: bytes, texts: str) -> str:
    """The FTS5 document of a row of ``search_docs``."""
    return tokens_of(fields, texts.split("\n"))


def stored_terms(
    connection: Connection, record_ids: Sequence[int] | None = None
) -> set[tuple[int, str, int]]:
    """``(field, term, record_id)`` of every term the index holds (of ``record_ids`` only, when
    given), on either engine: for checks and tests, not for searching."""
    if connection.dialect.name != "sqlite":
        rows = select(terms.c.field, terms.c.term, terms.c.record_id)
        if record_ids is not None:
            rows = rows.where(terms.c.record_id.in_(record_ids))
        held: Sequence[Any] = connection.execute(rows).all()
        return {(row[0], row[1], row[2]) for row in held}
    documents = select(search_docs.c.record_id, search_docs.c.fields, search_docs.c.terms)
    if record_ids is not None:
        documents = documents.where(search_docs.c.record_id.in_(record_ids))
    found: set[tuple[int, str, int]] = set()
    read: Sequence[Any] = connection.execute(documents).all()
    for row in read:
        record_id: int = row[0]
        fields: bytes = row[1]
        texts: str = row[2]
        found.update((field, term, record_id)
                     for field, term in zip(fields, texts.split("\n"), strict=True))  # fmt: skip
    return found


def phrase_terms(
    connection: Connection, fields: tuple[int, ...], record_ids: Sequence[int]
) -> list[tuple[int, str]]:
    """``(record_id, term)`` of the terms the records ``record_ids`` have in ``fields``, on
    either engine (each record's own entries: an index lookup by record)."""
    if connection.dialect.name != "sqlite":
        numbers = ", ".join([str(number) for number in fields])
        rows: Sequence[Any] = execute_in(
            connection,
            f"SELECT record_id, term FROM terms WHERE field IN ({numbers}) "
            "AND record_id IN ({values})",
            record_ids,
        )
        return [(row[0], row[1]) for row in rows]
    wanted = frozenset(fields)
    found: list[tuple[int, str]] = []
    documents: Sequence[Any] = execute_in(
        connection,
        "SELECT record_id, fields, terms FROM search_docs WHERE record_id IN ({values})",
        record_ids,
    )
    for document in documents:
        record_id: int = document[0]
        codes: bytes = document[1]
        texts: str = document[2]
        found.extend((record_id, term) for code, term in zip(codes, texts.split("\n"), strict=True)
                     if code in wanted)  # fmt: skip
    return found


def check_fts(connection: Connection) -> None:
    """Raise if SQLite's FTS5 index is damaged (its own integrity check), or does not hold the
    documents of ``search_docs``, token for token; nothing to check on other engines."""
    if connection.dialect.name != "sqlite":
        return
    connection.exec_driver_sql(f"INSERT INTO {FTS} ({FTS}) VALUES ('integrity-check')")
    held: dict[str, int] = {}
    pairs = select(search_docs.c.fields, search_docs.c.terms)
    documents: Sequence[Any] = connection.execute(pairs).all()
    for row in documents:
        for text in _document(row[0], row[1]).split():
            held[text] = held.get(text, 0) + 1
    counted: Sequence[Any] = connection.exec_driver_sql(f"SELECT term, doc FROM {VOCABULARY}").all()
    indexed: dict[str, int] = {row[0]: row[1] for row in counted}
    if indexed != held:
        raise AssertionError(f"{FTS} holds other tokens than search_docs")


def rebuild(
    engine: Engine, *, batch: int = 1000, progress: Callable[[int], None] | None = None
) -> int:
    """Make the entries of every live record again, ``batch`` records per transaction (each
    record's replaced as it goes: searches go on meanwhile); returns how many records. For a
    catalogue whose terms were made by other rules, or other Unicode tables (another Python).
    A record whose stored MARC cannot be read is left with none. ``progress`` is told the
    records done so far after each batch."""
    done, after = 0, 0
    while True:
        ids = transaction(engine, partial(_rebuild_after, after=after, batch=batch),
                          "making the search entries again")
        if not ids:
            return done
        done += len(ids)
        after = ids[-1]
        if progress is not None:
            progress(done)


def rebuild_in(
    connection: Connection, *, batch: int = 1000, progress: Callable[[int], None] | None = None
) -> int:
    """:func:`rebuild` in the caller's transaction (a schema revision's), ``batch`` records at
    a time; returns how many records. ``progress`` is told the records done after each batch."""
    done, after = 0, 0
    while ids := _rebuild_after(connection, after, batch):
        done += len(ids)
        after = ids[-1]
        if progress is not None:
            progress(done)
    return done


def rebuild_records(connection: Connection, record_ids: Sequence[int]) -> int:
    """Make the entries of the live records among ``record_ids`` again, in the caller's
    transaction (a schema revision's, for the records a change of the rules concerns); returns
    how many records."""
    r = models.records
    rows = connection.execute(
        select(r.c.id, r.c.marc).where(
            r.c.id.in_(list(record_ids)), ~models.hidden(), r.c.marc.is_not(None)
        )
    ).all()
    write_entries(connection, [(row.id, _readable(row.marc)) for row in rows])
    return len(rows)


def _rebuild_after(connection: Connection, after: int, batch: int) -> list[int]:
    """Make the entries of the next ``batch`` live records after id ``after`` again; their
    ids, in order (none: no record is left)."""
    r = models.records
    rows = connection.execute(
        select(r.c.id, r.c.marc)
        .where(r.c.id > after, ~models.hidden(), r.c.marc.is_not(None))
        .order_by(r.c.id)
        .limit(batch)
    ).all()
    write_entries(connection, [(row.id, _readable(row.marc)) for row in rows])
    return [row.id for row in rows]


def _readable(marc: bytes) -> Record | None:
    try:
        return read_canonical(marc)
    except Exception:  # pymarc raises many kinds on a record it cannot read
        return None

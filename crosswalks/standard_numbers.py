"""ISBNs and ISSNs checked by python-stdnum, once per distinct value in a process.

The validator (:mod:`crosswalks.lint_content`) and the match keys (:mod:`catalog.match_keys`)
check the same 020 and 022 values of every record stored, at about 10 µs a check; a value
already found valid is not checked again. Deduplication and the union records compare ISBNs
in their ISBN-13 form (:func:`valid_isbn13`). An invalid one raises each time (``lru_cache`` keeps
no exceptions), with stdnum's reason.
"""

from __future__ import annotations

import re
from functools import lru_cache

from stdnum import isbn, issn

CACHED = 4096
"""Distinct valid numbers kept per process (a batch's worth, and then some)."""

_TYPOGRAPHIC_HYPHENS = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-"))
"""Hyphen, non-breaking hyphen, figure dash, en dash, em dash, minus: what a word processor
makes of the hyphen, and a record copied from it holds."""
_CYRILLIC_CHECK_X = re.compile(r"(?<=[0-9-])[Хх](?![^\W\d_])")


def number_text(value: str) -> str:
    """An ISBN's or ISSN's text (020 $a, 022 $a, a search term) with what was typed for the
    number's own characters read as them: a typographic hyphen or dash
    (:data:`_TYPOGRAPHIC_HYPHENS`) as the hyphen, and the Cyrillic Х of a Cyrillic keyboard
    ending the digits as the check digit X (``9943-01-234-Х``). Such a number was kept aside
    as malformed, or not read at all: it matched no copy that bears it, and was not found by
    a search for it."""
    return _CYRILLIC_CHECK_X.sub("X", value.translate(_TYPOGRAPHIC_HYPHENS))


@lru_cache(maxsize=CACHED)
def valid_isbn(number: str) -> str:
    """``number`` as a valid ISBN in compact form; raises ``stdnum.exceptions.ValidationError``."""
    return isbn.validate(number)


@lru_cache(maxsize=CACHED)
def valid_isbn13(number: str) -> str:
    """``number`` as a valid ISBN in its ISBN-13 form; raises
    ``stdnum.exceptions.ValidationError``."""
    return isbn.to_isbn13(valid_isbn(number))


@lru_cache(maxsize=CACHED)
def valid_issn(number: str) -> str:
    """``number`` as a valid ISSN in compact form; raises ``stdnum.exceptions.ValidationError``."""
    return issn.validate(number)

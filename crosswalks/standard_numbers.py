"""ISBNs and ISSNs checked by python-stdnum, once per distinct value in a process.

The validator (:mod:`crosswalks.lint_content`) and the match keys (:mod:`catalog.match_keys`)
check the same 020 and 022 values of every record stored, at about 10 µs a check; a value
already found valid is not checked again. Deduplication and the union records compare ISBNs
in their ISBN-13 form (:func:`valid_isbn13`). An invalid one raises each time (``lru_cache`` keeps
no exceptions), with stdnum's reason.
"""

from __future__ import annotations

from functools import lru_cache

from stdnum import isbn, issn

CACHED = 4096
"""Distinct valid numbers kept per process (a batch's worth, and then some)."""


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

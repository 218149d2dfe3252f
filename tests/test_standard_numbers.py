"""ISBN and ISSN checks, made once per valid value in a process."""

from __future__ import annotations

import pytest
from stdnum.exceptions import InvalidChecksum, ValidationError

from crosswalks.standard_numbers import valid_isbn, valid_issn


def test_a_valid_number_is_compact_and_checked_once() -> None:
    valid_isbn.cache_clear()
    assert valid_isbn("978-9943-00-001-8") == "9789943000018"
    assert valid_isbn("978-9943-00-001-8") == "9789943000018"
    assert valid_isbn.cache_info().hits == 1
    assert valid_issn("0378-5955") == "03785955"


def test_an_invalid_number_raises_its_reason_every_time() -> None:
    for _ in range(2):
        with pytest.raises(InvalidChecksum):
            valid_isbn("978-9943-00-001-9")
    with pytest.raises(ValidationError):
        valid_issn("0378-5954")

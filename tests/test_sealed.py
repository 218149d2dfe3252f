"""Sealed values: what one secret closes it opens again; anything else is refused, saying whether
it was forged or is no sealed value at all."""

import pytest

from protocols.sealed import Forged, Malformed, Seal


def test_a_sealed_value_opens_to_itself_and_only_with_its_secret():
    seal = Seal(b"secret")
    value = [1, "ListRecords", None, 500, "Навоий"]
    for ascii_only in (True, False):
        text = seal.close(value, ascii_only=ascii_only)
        assert seal.open(text) == value
        assert "=" not in text and "+" not in text and "/" not in text
        with pytest.raises(Forged):
            Seal(b"another").open(text)
    assert len(seal.close(value)) > len(seal.close(value, ascii_only=False))


def test_changed_or_odd_text_is_refused():
    seal = Seal(b"secret")
    text = seal.close([1, 2])
    payload, signature = text.split(".")
    other = seal.close([1, 3]).split(".")[0]
    with pytest.raises(Forged):
        seal.open(f"{other}.{signature}")
    for odd in ("", ".", text + "=", f".{signature}", "no dot", f"{payload}.%%%", text + "A"):
        with pytest.raises((Malformed, Forged)):
            seal.open(odd)
    with pytest.raises(ValueError):
        Seal(b"")

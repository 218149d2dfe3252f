"""Signed, stateless resumption tokens: round trip, tampering, expiry, verb binding."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.oaipmh import BadResumptionToken, ListPosition, TokenCodec

NOW = 1_700_000_000
CODEC = TokenCodec(b"a secret", lifetime=3600)

positions = st.builds(
    ListPosition,
    verb=st.sampled_from(["ListRecords", "ListIdentifiers"]),
    prefix=st.sampled_from(["oai_dc", "marc21", "mods"]),
    set_spec=st.none() | st.from_regex(r"[a-z]{1,8}(:[a-z]{1,8})?", fullmatch=True),
    from_=st.none() | st.integers(0, 2**40),
    until=st.none() | st.integers(0, 2**40),
    after=st.tuples(st.integers(0, 2**40), st.integers(1, 2**31)),
    cursor=st.integers(0, 10**9),
    complete_list_size=st.none() | st.integers(1, 10**9),
)


@given(positions)
def test_round_trip(position: ListPosition) -> None:
    token = CODEC.encode(position, NOW)
    assert token.expires == NOW + 3600
    assert CODEC.decode(token.text, position.verb, NOW + 3600) == position


@given(positions, st.data())
def test_any_change_to_a_token_is_refused(position: ListPosition, data: st.DataObject) -> None:
    text = CODEC.encode(position, NOW).text
    index = data.draw(st.integers(0, len(text) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
        .filter(lambda c: c != text[index])
    )
    tampered = text[:index] + replacement + text[index + 1 :]
    with pytest.raises(BadResumptionToken):
        CODEC.decode(tampered, position.verb, NOW)


@given(st.text(max_size=200))
def test_arbitrary_text_is_refused(text: str) -> None:
    with pytest.raises(BadResumptionToken):
        CODEC.decode(text, "ListRecords", NOW)


def test_expired_token_is_refused() -> None:
    position = ListPosition("ListRecords", "oai_dc", None, None, None, (NOW, 7), 10, 100)
    text = CODEC.encode(position, NOW).text
    CODEC.decode(text, "ListRecords", NOW + 3600)
    with pytest.raises(BadResumptionToken, match="expired"):
        CODEC.decode(text, "ListRecords", NOW + 3601)


def test_token_of_another_verb_or_key_is_refused() -> None:
    position = ListPosition("ListIdentifiers", "oai_dc", "lang", 1, 2, (NOW, 7), 10, 100)
    text = CODEC.encode(position, NOW).text
    with pytest.raises(BadResumptionToken):
        CODEC.decode(text, "ListRecords", NOW)
    with pytest.raises(BadResumptionToken):
        TokenCodec(b"another secret", 3600).decode(text, "ListIdentifiers", NOW)


def test_signed_but_ill_typed_payload_is_refused() -> None:
    position = ListPosition("ListRecords", "oai_dc", None, None, None, (NOW, 7), 10, 100)
    bad = dataclasses.replace(position, cursor="10")  # type: ignore[arg-type]
    with pytest.raises(BadResumptionToken):
        CODEC.decode(CODEC.encode(bad, NOW).text, "ListRecords", NOW)


def test_tokens_are_url_safe() -> None:
    position = ListPosition("ListRecords", "oai_dc", "lang:uzb", 0, NOW, (NOW, 123456), 500, 9999)
    text = CODEC.encode(position, NOW).text
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")

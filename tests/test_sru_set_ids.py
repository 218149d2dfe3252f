"""provider/sru/set_ids.py: a result set id says what the set is, signed; anything else about
it (tampered, another key's, expired, malformed, too long) is refused, never a traceback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from provider.sru.set_ids import MAX_ID_CHARS, SetQuery, SignedSetIds, UnknownSet

MADE = SetQuery("dc.title = Навоий sortBy dc.date", "", bound=812, count=40)


def test_an_id_stands_for_its_set_until_it_expires() -> None:
    ids = SignedSetIds(b"key")
    text = ids.encode(MADE, expires=1000)
    assert text is not None and len(text) < 200
    assert ids.decode(text, now=1000) == MADE
    with pytest.raises(UnknownSet, match="expired"):
        ids.decode(text, now=1001)
    assert ids.decode(text, now=5000, expired_too=True) == MADE  # named inside a valid set's id


def test_an_id_signed_with_another_key_or_altered_is_refused() -> None:
    text = SignedSetIds(b"key").encode(MADE, expires=1000)
    assert text is not None
    with pytest.raises(UnknownSet, match="not issued here"):
        SignedSetIds(b"another key").decode(text, now=0)
    payload, _, signature = text.partition(".")
    counterfeit = SignedSetIds(b"key").encode(SetQuery(MADE.query, "", 812, 41), expires=1000)
    assert counterfeit is not None
    for forged in (counterfeit.partition(".")[0] + "." + signature,
                   payload + "." + counterfeit.partition(".")[2]):  # fmt: skip
        with pytest.raises(UnknownSet, match="not issued here"):
            SignedSetIds(b"key").decode(forged, now=0)


@pytest.mark.parametrize(
    "text", ["", ".", "abc", "abc.", ".abc", "a.b.c", "!!.??", "x" * (MAX_ID_CHARS + 1), "é.é"]
)
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(UnknownSet):
        SignedSetIds(b"key").decode(text, now=0)


@pytest.mark.parametrize(
    "fields", [[1, "q"], [2, "q", "", 1, 1, 9], [1, "q", "", True, 1, 9], [1, 5, "", 1, 1, 9]]
)
def test_a_well_signed_payload_of_the_wrong_shape_is_refused(fields: list[object]) -> None:
    """Signed with the right key (as only a leaked key or an older Koprik could) yet not an id
    of this version: still 51, not a traceback."""
    payload = _b64(json.dumps(fields).encode())
    digest = hmac.new(b"key", payload.encode(), hashlib.sha256).digest()[:16]
    with pytest.raises(UnknownSet, match="malformed"):
        SignedSetIds(b"key").decode(f"{payload}.{_b64(digest)}", now=0)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_query_too_long_for_an_id_gets_none() -> None:
    long_query = " or ".join(f"dc.title = word{n}" for n in range(200))
    assert SignedSetIds(b"key").encode(SetQuery(long_query, "", 1, 1), expires=0) is None

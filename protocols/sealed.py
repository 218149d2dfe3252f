"""Signed JSON in URL-safe text: what a server hands a client to give back unchanged (OAI-PMH
resumption tokens, SRU result set ids), so that any process holding the secret can read it and
nobody without the secret can forge it.

The text is ``PAYLOAD.SIGNATURE``: the JSON, then the first bytes of its HMAC-SHA256, both in
unpadded URL-safe Base64.

>>> seal = Seal(secret)
>>> text = seal.close([1, "ListRecords", 500])
>>> seal.open(text)                      # [1, 'ListRecords', 500]; raises Malformed or Forged
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

SIGNATURE_BYTES = 16


class Malformed(ValueError):
    """Text that is not a sealed value at all."""


class Forged(ValueError):
    """A sealed value this secret did not seal (or sealed, then changed)."""


class Seal:
    """Seals and opens values with one secret."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("a secret must not be empty")
        self._secret = secret

    def close(self, value: object, *, ascii_only: bool = True) -> str:
        """``value`` (JSON-serializable) sealed; ``ascii_only`` escapes non-ASCII text in the
        JSON (longer, as it was in the first tokens)."""
        text = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))
        payload = _b64(text.encode())
        return f"{payload}.{_b64(self._sign(payload))}"

    def open(self, text: str) -> object:
        """The value sealed in ``text``; raises :class:`Malformed` or :class:`Forged`."""
        payload, _, signature = text.rpartition(".")
        try:
            given = _unb64(signature)
        except ValueError:
            raise Malformed("not a sealed value") from None
        # Base64 text has several spellings of the same bytes; only the canonical one is ours.
        if not payload or _b64(given) != signature:
            raise Malformed("not a sealed value")
        if not hmac.compare_digest(given, self._sign(payload)):
            raise Forged("not sealed here")
        try:
            return json.loads(_unb64(payload))
        except ValueError:
            raise Malformed("not a sealed value") from None

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError) as error:
        raise ValueError(str(error)) from None

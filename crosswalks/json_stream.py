"""Stream JSON objects from a byte stream: one object, an array of them, or one per line.

Objects are decoded one at a time with :meth:`json.JSONDecoder.raw_decode` over a sliding text
buffer, so a file of a million records never sits in memory whole. Text is UTF-8 (a BOM is
skipped).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import BinaryIO

BLOCK = 64 * 1024
MAX_OBJECT_CHARS = 16 * 1024 * 1024
"""A single object larger than this is refused (it would otherwise be buffered whole)."""
_SEPARATORS = " \t\r\n,[]"


class JsonStreamError(ValueError):
    """The text is not JSON (or an object is too large); reading cannot go on past it."""


def iter_json_objects(stream: BinaryIO) -> Iterator[tuple[object, str]]:
    """Yield ``(decoded value, its source text)`` for each top-level object of ``stream``.

    Raises :class:`JsonStreamError` at the first place that is not JSON.
    """
    decoder = json.JSONDecoder(strict=False)
    reader = _TextReader(stream)
    buffer, position = "", 0
    while True:
        while position < len(buffer) and buffer[position] in _SEPARATORS:
            position += 1
        if position >= len(buffer):
            buffer, position = reader.read(), 0
            if not buffer:
                return
            continue
        try:
            value, end = decoder.raw_decode(buffer, position)
        except json.JSONDecodeError as error:
            more = reader.read()
            if not more or len(buffer) - position > MAX_OBJECT_CHARS:
                raise JsonStreamError(f"not JSON at char {error.pos}: {error.msg}") from None
            buffer, position = buffer[position:] + more, 0
            continue
        yield value, buffer[position:end]
        position = end


class _TextReader:
    """UTF-8 text of a byte stream, a block at a time; ``""`` at the end."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        self.done = False

    def read(self) -> str:
        while not self.done:
            block = self.stream.read(BLOCK)
            self.done = not block
            try:
                text = self.decoder.decode(block, final=self.done)
            except UnicodeDecodeError as error:
                raise JsonStreamError(f"not UTF-8: {error.reason}") from None
            if text:
                return text
        return ""

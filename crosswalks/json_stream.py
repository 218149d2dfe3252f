"""Stream JSON objects from a byte stream: one object, an array of them, or one per line.

Objects are framed on the text before any is decoded: a scan (by regular expressions, never by
recursion) follows strings and brackets to the brace that closes each top-level object. So an
object larger than the limit or nested deeper than :data:`MAX_DEPTH` is refused while it is
read, without being held or decoded, and a malformed object costs only itself: reading resumes
after its closing brace. Text is UTF-8 (a BOM is skipped); a byte that is not UTF-8 costs only
the object holding it, which is refused with its bytes as they were.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import BinaryIO

from crosswalks.framing import SAMPLE_BYTES, too_large

BLOCK = 64 * 1024
MAX_DEPTH = 64
"""Nesting allowed in one object (MARC-in-JSON needs 5); well below Python's recursion limit."""
_TOP = re.compile(r"[^ \t\r\n,\[\]]")
"""At the top level: what is not white space, a comma or the brackets of an array."""
_STRUCTURE = re.compile(r'[{}\[\]"]')
_STRING_END = re.compile(r'["\\]')
_NOT_UTF8 = re.compile(r"[\udc80-\udcff]")
"""A byte that is not UTF-8, as the ``surrogateescape`` decoder keeps it: one lone surrogate,
which no UTF-8 text decodes to, and which encodes back to that byte."""


def iter_json_objects(
    stream: BinaryIO, max_bytes: int
) -> Iterator[tuple[object | None, str, str | None]]:
    """Yield ``(value, its text, None)`` for each top-level object of ``stream``, or
    ``(None, a sample of its text, reason)`` for one that is too large, too deep, not UTF-8 or
    not JSON, and for a run of top-level text that is no object at all.

    A byte that is not UTF-8 is kept in the text as a lone surrogate:
    ``text.encode("utf-8", "surrogateescape")`` gives back the bytes as read.
    """
    scanner = _Scanner(max_bytes)
    reader = _TextReader(stream)
    while text := reader.read():
        yield from scanner.feed(text)
    yield from scanner.end()


class _Scanner:
    """Frames top-level objects in text given a block at a time."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.decoder = json.JSONDecoder(strict=False)
        self.offset = 0  # characters before the current block
        self.depth = 0
        self.in_string = False
        self.escaped = False  # a backslash ended the last block inside a string
        self.parts: list[str] = []
        self.size = 0
        self.deepest = 0
        self.start = 0  # character where the current object (or junk) began
        self.junk = False

    def feed(self, text: str) -> Iterator[tuple[object | None, str, str | None]]:
        i, first = 0, 0  # first: where the current object's text begins in this block
        if self.escaped:
            i, self.escaped = 1, False
        while i < len(text):
            if self.depth == 0:
                found = _TOP.search(text, i)
                if found is None:
                    break
                i = found.start()
                if text[i] != "{":
                    if not self.junk:
                        self.junk, self.start = True, self.offset + i
                    i = text.find("{", i)
                    if i == -1:
                        break
                if self.junk:
                    self.junk = False
                    yield None, "", f"text that is not a JSON object, from char {self.start}"
                self._begin(self.offset + i)
                first = i
                i += 1
            elif self.in_string:
                found = _STRING_END.search(text, i)
                if found is None:
                    break
                if found.group() == "\\":
                    i = found.end() + 1
                    self.escaped = i > len(text)
                else:
                    self.in_string, i = False, found.end()
            else:
                found = _STRUCTURE.search(text, i)
                if found is None:
                    break
                i = found.end()
                char = found.group()
                if char == '"':
                    self.in_string = True
                elif char in "{[":
                    self.depth += 1
                    self.deepest = max(self.deepest, self.depth)
                else:
                    self.depth -= 1
                    if self.depth == 0:
                        yield self._finish(text[first:i])
        if self.depth:
            self._keep(text[first:])
        self.offset += len(text)

    def end(self) -> Iterator[tuple[object | None, str, str | None]]:
        if self.depth:
            sample = "".join(self.parts)[:SAMPLE_BYTES]
            yield None, sample, f"JSON object from char {self.start} not closed at the end"
        elif self.junk:
            yield None, "", f"text that is not a JSON object, from char {self.start}"

    def _begin(self, start: int) -> None:
        self.depth = self.deepest = 1
        self.start = start
        self.parts, self.size = [], 0

    def _keep(self, text: str) -> None:
        """Hold ``text`` of the current object while it is within the limit; count it always."""
        self.size += len(text.encode("utf-8", "surrogateescape"))
        if self.size <= self.max_bytes:
            self.parts.append(text)
        elif self.parts and sum(map(len, self.parts)) > SAMPLE_BYTES:
            self.parts = ["".join(self.parts)[:SAMPLE_BYTES]]

    def _finish(self, tail: str) -> tuple[object | None, str, str | None]:
        self._keep(tail)
        text = "".join(self.parts)
        where = f"JSON object from char {self.start}"
        if self.size > self.max_bytes:
            return None, text, f"{too_large(self.max_bytes, self.size)} ({where})"
        if self.deepest > MAX_DEPTH:
            return None, text[:SAMPLE_BYTES], f"{where} nests {self.deepest} deep, over {MAX_DEPTH}"
        undecoded = _NOT_UTF8.search(text)
        if undecoded is not None:
            byte = ord(undecoded.group()) - 0xDC00
            at = len(text[: undecoded.start()].encode("utf-8", "surrogateescape"))
            return None, text, f"{where} is not UTF-8: byte 0x{byte:02X} at byte {at} of it"
        try:
            return self.decoder.decode(text), text, None
        except json.JSONDecodeError as error:
            return None, text, f"{where} is not JSON: {error.msg} at char {error.pos} of it"
        except ValueError:  # int() refuses a number of over 4,300 digits, no JSONDecodeError
            return None, text[:SAMPLE_BYTES], f"{where} has a number of more than 4,300 digits"


class _TextReader:
    """UTF-8 text of a byte stream, a block at a time; ``""`` at the end.

    A byte that is not UTF-8 becomes a lone surrogate (``surrogateescape``) for the scanner to
    find in the object holding it: a strict decoder failed the whole block, so the objects
    before the byte in that block were lost with it, and reading stopped there.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
        self.done = False

    def read(self) -> str:
        while not self.done:
            block = self.stream.read(BLOCK)
            self.done = not block
            text = self.decoder.decode(block, final=self.done)
            if text:
                return text
        return ""

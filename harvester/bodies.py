"""Response bodies read with bounds on the bytes that arrive and on the bytes they unpack to.

aiohttp would unpack gzip and deflate by itself, one network read at a time and without a
bound: a 64 KiB read of a deflate bomb unpacks to about 64 MiB at once. So bodies are read raw
here and unpacked by :class:`zlib.decompressobj` in steps of :data:`STEP` bytes, each counted
against the bound before the next is made. A body past a bound raises
:class:`~harvester.faults.ResponseTooLarge` at once; the bytes read so far are then garbage.

Content-Encoding ``gzip`` and ``deflate`` (zlib-wrapped, or raw deflate as some servers send
it) are unpacked, and so is a gzip body sent without Content-Encoding (reported as an
:class:`~harvester.faults.Event`). A gzip body is unpacked member after member (RFC 1952 lets
members follow one another, as ``cat a.gz b.gz`` makes them; the first alone was kept before),
all counted against the one bound. A compressed body that ends before its compressed stream
does raises :class:`TruncatedBody`, a fault worth asking again for. Bytes after the end of the
stream that do not begin a gzip member (zeros padding it, a server's stray newline) are
ignored, as ``gzip -d`` ignores them, and reported as an event when they are not zeros.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import AsyncIterable
from dataclasses import dataclass

from harvester.faults import Event, HarvestError, ResponseTooLarge

STEP = 1024 * 1024
"""Most bytes unpacked in one step before they are counted."""
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class TruncatedBody(HarvestError):
    """A compressed body whose stream ended early (the connection was cut)."""


@dataclass(frozen=True)
class BodyLimits:
    """Bounds on one response body: as sent, and once unpacked."""

    max_bytes: int
    """Bytes on the wire (``[harvest] max_response_bytes``)."""
    max_decompressed_bytes: int
    """Bytes once unpacked (``[harvest] max_decompressed_bytes``); an uncompressed body is
    bounded by the smaller of the two."""


async def read_body(
    chunks: AsyncIterable[bytes], encoding: str, limits: BodyLimits, events: list[Event]
) -> bytes:
    """The body whose raw ``chunks`` arrive with Content-Encoding ``encoding``, unpacked.

    Raises :class:`ResponseTooLarge`, :class:`TruncatedBody`, or :class:`HarvestError` for an
    encoding that is not gzip or deflate or a stream that cannot be unpacked.
    """
    encoding = encoding.strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
        raise HarvestError(f"Content-Encoding {encoding!r} was not asked for")
    out = io.BytesIO()
    try:
        wire = 0
        unpacker: _Unpacker | None = None
        first = True
        async for chunk in chunks:
            wire += len(chunk)
            if wire > limits.max_bytes:
                raise ResponseTooLarge(f"response body past max_response_bytes "
                                       f"({limits.max_bytes} bytes on the wire)")
            if first and chunk:
                first = False
                unpacker = _unpacker(encoding, chunk, events)
            if unpacker is None:
                out.write(chunk)
                if out.tell() > limits.max_decompressed_bytes:
                    raise _bomb(limits)
                continue
            unpacker.feed(chunk, out, limits)
        if unpacker is not None:
            unpacker.finish(wire, events)
    except BaseException:
        out.close()  # what was read must not live on in a traceback
        raise
    return out.getvalue()


def _unpacker(encoding: str, first: bytes, events: list[Event]) -> _Unpacker | None:
    """The unpacker the body needs, judged by its encoding and its first bytes."""
    if encoding in ("gzip", "x-gzip"):
        return _Unpacker(_GZIP_WBITS)
    if encoding == "deflate":
        zlib_wrapped = (
            len(first) > 1 and first[0] & 0x0F == 8 and (first[0] * 256 + first[1]) % 31 == 0
        )
        return _Unpacker(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
    if first.startswith(_GZIP_MAGIC):
        events.append(Event("unannounced-gzip", "gzip body without Content-Encoding"))
        return _Unpacker(_GZIP_WBITS)
    return None


class _Unpacker:
    """A compressed stream unpacked as its chunks arrive, step by step, each step counted
    against the bound; a gzip stream member after member."""

    def __init__(self, wbits: int) -> None:
        self.wbits = wbits
        self.inflater = zlib.decompressobj(wbits)
        self.rest = b""
        """Bytes after a member's end too few to say whether another member begins."""
        self.ended = False
        """Whether the stream has ended: what follows is a trailer, not unpacked."""
        self.trailer = 0
        self.garbage = False
        """Whether the trailer holds anything but zeros."""

    def feed(self, data: bytes, out: io.BytesIO, limits: BodyLimits) -> None:
        """Unpack ``data`` into ``out``."""
        data, self.rest = self.rest + data, b""
        while data:
            if self.ended:
                self._trail(data)
                return
            if self.inflater.eof:  # another member, or the trailer
                gzip = self.wbits == _GZIP_WBITS
                if gzip and len(data) < len(_GZIP_MAGIC):
                    self.rest = data
                    return
                if gzip and data.startswith(_GZIP_MAGIC):
                    self.inflater = zlib.decompressobj(self.wbits)
                else:
                    self.ended = True
                    continue
            try:
                piece = self.inflater.decompress(data, STEP)
            except zlib.error as error:
                raise HarvestError(f"compressed body that cannot be unpacked: {error}") from None
            out.write(piece)
            if out.tell() > limits.max_decompressed_bytes:
                raise _bomb(limits)
            data = self.inflater.unused_data if self.inflater.eof else self.inflater.unconsumed_tail

    def _trail(self, data: bytes) -> None:
        self.trailer += len(data)
        self.garbage = self.garbage or bool(data.strip(b"\0"))

    def finish(self, wire: int, events: list[Event]) -> None:
        """Check the end of the body, ``wire`` bytes in all."""
        if not self.inflater.eof:
            raise TruncatedBody(f"compressed body ended early after {wire} bytes")
        self._trail(self.rest)
        if self.garbage:
            events.append(Event("compressed-trailer", f"{self.trailer} bytes after the end of "
                                "a compressed body were ignored"))


def _bomb(limits: BodyLimits) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"response body past max_decompressed_bytes ({limits.max_decompressed_bytes} bytes "
        "unpacked)"
    )

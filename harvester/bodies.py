"""Response bodies read with bounds on the bytes that arrive and on the bytes they unpack to.

aiohttp would unpack gzip and deflate by itself, one network read at a time and without a
bound: a 64 KiB read of a deflate bomb unpacks to about 64 MiB at once. So bodies are read raw
here and unpacked by :class:`zlib.decompressobj` in steps of :data:`STEP` bytes, each counted
against the bound before the next is made. A body past a bound raises
:class:`~harvester.faults.ResponseTooLarge` at once; the bytes read so far are then garbage.

Content-Encoding ``gzip`` and ``deflate`` (zlib-wrapped, or raw deflate as some servers send
it) are unpacked, and so is a gzip body sent without Content-Encoding (reported as an
:class:`~harvester.faults.Event`). A compressed body that ends before its compressed stream
does raises :class:`TruncatedBody`, a fault worth asking again for.
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
        inflater: zlib._Decompress | None = None
        first = True
        async for chunk in chunks:
            wire += len(chunk)
            if wire > limits.max_bytes:
                raise ResponseTooLarge(f"response body past max_response_bytes "
                                       f"({limits.max_bytes} bytes on the wire)")
            if first and chunk:
                first = False
                inflater = _inflater(encoding, chunk, events)
            if inflater is None:
                out.write(chunk)
                if out.tell() > limits.max_decompressed_bytes:
                    raise _bomb(limits)
                continue
            _inflate(inflater, chunk, out, limits)
        if inflater is not None:
            if not inflater.eof:
                raise TruncatedBody(f"compressed body ended early after {wire} bytes")
            if inflater.unused_data.strip(b"\0"):
                events.append(Event("compressed-trailer", f"{len(inflater.unused_data)} bytes "
                                    "after the end of a compressed body were ignored"))
    except BaseException:
        out.close()  # what was read must not live on in a traceback
        raise
    return out.getvalue()


def _inflater(encoding: str, first: bytes, events: list[Event]) -> zlib._Decompress | None:
    """The unpacker the body needs, judged by its encoding and its first bytes."""
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        zlib_wrapped = (
            len(first) > 1 and first[0] & 0x0F == 8 and (first[0] * 256 + first[1]) % 31 == 0
        )
        return zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
    if first.startswith(_GZIP_MAGIC):
        events.append(Event("unannounced-gzip", "gzip body without Content-Encoding"))
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    return None


def _inflate(inflater: zlib._Decompress, chunk: bytes, out: io.BytesIO, limits: BodyLimits) -> None:
    """Unpack ``chunk`` into ``out`` step by step, counting each step against the bound."""
    data = chunk
    while data and not inflater.eof:
        try:
            piece = inflater.decompress(data, STEP)
        except zlib.error as error:
            raise HarvestError(f"compressed body that cannot be unpacked: {error}") from None
        out.write(piece)
        if out.tell() > limits.max_decompressed_bytes:
            raise _bomb(limits)
        data = inflater.unconsumed_tail


def _bomb(limits: BodyLimits) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"response body past max_decompressed_bytes ({limits.max_decompressed_bytes} bytes "
        "unpacked)"
    )

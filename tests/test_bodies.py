"""harvester.bodies: bodies counted while they stream, on the wire and unpacked; and
``koprik harvest`` against bombs and an endless body, with its peak RSS measured on the
process alone (:mod:`tests.peak_rss`; the issue measured 3.2 to 3.8 GB before the bounds)."""

from __future__ import annotations

import gzip
import os
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs
from config import HarvestSource, load_settings
from harvester.bodies import BodyLimits, TruncatedBody, read_body
from harvester.faults import Event, HarvestError, ResponseTooLarge
from harvester.runs import SUCCEEDED
from tests.conftest import ROOT
from tests.fault_provider import (
    FaultProvider,
    bomb,
    catalogue_of,
    gzip_members,
    harvest_with_errors,
    serve,
)
from tests.peak_rss import run_measured

RSS_BOUND_MB = 256
"""Peak RSS allowed to ``koprik harvest`` meeting three bombs and an endless body with the
default bounds (64 MiB unpacked, 32 MiB on the wire); a clean run of the same 45 records
peaks near 85 MB, this one near 150 MB."""
LIMITS = BodyLimits(max_bytes=1000, max_decompressed_bytes=5000)


async def _chunks(data: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(data: bytes, encoding: str = "", limits: BodyLimits = LIMITS) -> bytes:
    return await read_body(_chunks(data), encoding, limits, [])


async def test_plain_gzip_and_both_deflates_are_unpacked() -> None:
    text = b"<x>" + b"a" * 3000 + b"</x>"
    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    assert await _read(text[:900]) == text[:900]
    assert await _read(gzip.compress(text), "gzip") == text
    assert await _read(zlib.compress(text), "deflate") == text
    assert await _read(raw_deflate.compress(text) + raw_deflate.flush(), "deflate") == text
    events: list[Event] = []
    assert await read_body(_chunks(gzip.compress(text)), "", LIMITS, events) == text
    assert [e.kind for e in events] == ["unannounced-gzip"]


async def test_each_bound_is_counted_while_the_body_streams() -> None:
    with pytest.raises(ResponseTooLarge, match="max_response_bytes"):
        await _read(b"a" * 1001)
    with pytest.raises(ResponseTooLarge, match="max_decompressed_bytes"):
        await _read(gzip.compress(b"a" * 5001), "gzip")
    # an uncompressed body is held to the smaller bound
    with pytest.raises(ResponseTooLarge, match="max_decompressed_bytes"):
        await _read(b"a" * 600, limits=BodyLimits(max_bytes=1000, max_decompressed_bytes=500))
    head, segment, _tail, _size = bomb("gzip")
    seen = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal seen
        for chunk in (head, *[segment] * 1000):
            seen += len(chunk)
            yield chunk

    big = BodyLimits(max_bytes=10**9, max_decompressed_bytes=3 * 1024 * 1024)
    with pytest.raises(ResponseTooLarge):
        await read_body(counted(), "gzip", big, [])
    assert seen < 5 * len(segment)  # stopped within the fourth MiB unpacked, not at the end


async def test_every_member_of_a_gzip_body_is_unpacked_within_the_bound() -> None:
    """RFC 1952 lets gzip members follow one another (``cat a.gz b.gz``): each is unpacked,
    whatever chunks split them, and all count against the one bound (a bomb of many small
    members is refused at it)."""
    text = b"<x>" + os.urandom(1500).hex().encode() + b"</x>"
    members = gzip_members(text, 5)
    roomy = BodyLimits(10**6, 10**6)
    for size in (1, 2, 100, len(members)):
        assert await read_body(_chunks(members, size), "gzip", roomy, []) == text
    events: list[Event] = []
    assert await read_body(_chunks(members), "", roomy, events) == text
    assert [e.kind for e in events] == ["unannounced-gzip"]
    small = gzip.compress(b"\0" * 1000)
    with pytest.raises(ResponseTooLarge, match="max_decompressed_bytes"):
        await read_body(_chunks(small * 100), "gzip", BodyLimits(10**6, 50_000), [])
    assert len(await read_body(_chunks(small * 50), "gzip", BodyLimits(10**6, 50_000), [])) \
        == 50_000


def test_a_partner_gzipping_in_several_members_is_harvested_whole(catalog: Catalog) -> None:
    provider = FaultProvider(list(demo_records(25)))
    provider.gzip_members = 3
    report, errors = harvest_with_errors(
        catalog, provider, lambda url: HarvestSource(name="partner", url=url))
    assert (report.status, errors, report.counts.added) == (SUCCEEDED, "", 25)
    assert len(catalogue_of(catalog, "partner")) == 25


async def test_what_follows_the_last_gzip_member() -> None:
    """Zeros after the last member are padding; other bytes that begin no member are ignored,
    as ``gzip -d`` ignores them, and reported; a member begun and broken is a fault."""
    packed = gzip.compress(b"<x>text</x>")
    roomy = BodyLimits(10**6, 10**6)
    for trailer, kinds in ((b"\0" * 512, []), (b"\r\n", ["compressed-trailer"]),
                           (b"\x1f", ["compressed-trailer"])):
        for size in (1, 100):
            events: list[Event] = []
            body = await read_body(_chunks(packed + trailer, size), "gzip", roomy, events)
            assert (body, [e.kind for e in events]) == (b"<x>text</x>", kinds)
    events = []
    await read_body(_chunks(packed + b"junk" * 100, 7), "gzip", roomy, events)
    assert [e.detail for e in events] == [
        "400 bytes after the end of a compressed body were ignored"]
    with pytest.raises(HarvestError, match="cannot be unpacked"):
        await _read(packed + b"\x1f\x8b\x08" + b"\xff" * 40, "gzip", roomy)
    with pytest.raises(TruncatedBody):
        await _read(packed + packed[:20], "gzip", roomy)


async def test_a_cut_compressed_body_and_a_foreign_encoding_are_errors() -> None:
    packed = gzip.compress(b"<x>" + os.urandom(2000).hex().encode() + b"</x>")
    with pytest.raises(TruncatedBody):
        await _read(packed[: len(packed) // 2], "gzip", BodyLimits(10**6, 10**6))
    with pytest.raises(HarvestError, match="'br' was not asked for"):
        await _read(b"x", "br")


def _harvest_command(tmp_path: Path, url: str, name: str) -> tuple[int, int, str]:
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / name}.sqlite3"\n'
        f'[[sources]]\nname = "partner"\nurl = "{url}"\ndelay = 0\nretries = 2\ntimeout = 60\n'
    )
    with open(tmp_path / f"{name}.out", "w") as out:
        code, peak = run_measured(
            [sys.executable, "-m", "koprik", "--config", str(config), "harvest", "partner"],
            tmp_path / f"{name}.rss", cwd=ROOT, stdout=out, stderr=out,
        )  # fmt: skip
    return code, peak, (tmp_path / f"{name}.out").read_text()


def test_bombs_and_an_endless_body_keep_koprik_harvest_small(tmp_path: Path) -> None:
    records = list(demo_records(45))
    clean = FaultProvider(records)
    with serve(clean.app()) as url:
        code, clean_peak, output = _harvest_command(tmp_path, url, "clean")
    assert code == 0, output
    hostile = FaultProvider(records)
    for page, kind in enumerate(("gzip-bomb", "deflate-bomb", "hidden-bomb", "endless")):
        hostile.arm(kind, page=page)
    with serve(hostile.app()) as url:
        code, peak, output = _harvest_command(tmp_path, url, "hostile")
    assert [kind for kind, _page in hostile.fired] == [
        "gzip-bomb", "deflate-bomb", "hidden-bomb", "endless"]
    print(f"peak RSS: clean {clean_peak} MB, hostile {peak} MB")
    assert peak < RSS_BOUND_MB, output
    assert code == 0, output
    settings = load_settings(tmp_path / "hostile.toml")
    catalog = Catalog.open(settings)
    try:
        with catalog.engine.connect() as connection:
            errors = connection.execute(select(harvest_runs.c.errors)).scalar_one()
        assert errors.count("response-too-large: response body past max_decompressed_bytes") == 3
        assert "unannounced-gzip" in errors
        assert "response-too-large: response body past max_response_bytes" in errors
        clean_catalog = Catalog.open(load_settings(tmp_path / "clean.toml"))
        try:
            assert catalogue_of(catalog, "partner") == catalogue_of(clean_catalog, "partner")
        finally:
            clean_catalog.close()
    finally:
        catalog.close()

"""``koprik import``: load MARC21 files into the catalogue.

Formats (ISO 2709, MARCXML, MARC-in-JSON, MarcEdit .mrk) and character sets are detected per
file and per record. Each batch of records is one transaction. A record that cannot be read or
stored is written to the rejects file with its position and the reason, and the run goes on.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from catalog import Catalog, CatalogWriter, RecordError
from catalog.store import Incoming
from config import load_settings
from crosswalks.marc_io import (
    HEAD_BYTES,
    NoRecords,
    ReadItem,
    detect_format,
    iter_records,
    peekable,
)
from koprik.errors import UserError
from koprik.progress import Progress

BATCH = 500
IMPORTABLE = ("marc21", "marcxml", "marcjson", "mrk")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("import", help="load MARC21 files into the catalogue")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--format", choices=IMPORTABLE, help="skip detection"
    )
    parser.add_argument(
        "--rejects", type=Path, help="where rejected records go (default: var/import-rejects.txt)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    for path in args.files:
        if not path.is_file():
            raise UserError(f"{path}: no such file")
    settings = load_settings(args.config)
    rejects_path = args.rejects or Path("var/import-rejects.txt")
    if args.rejects is None:
        rejects_path.parent.mkdir(parents=True, exist_ok=True)
    catalog = Catalog.open(settings)
    counts: Counter[str] = Counter()
    try:
        with rejects_path.open("w", encoding="utf-8") as rejects:
            for path in args.files:
                counts += import_file(
                    catalog, path, args.format, rejects, settings.limits.max_record_bytes
                )
    finally:
        catalog.close()
    summary = ", ".join(
        f"{counts[k]} {k}" for k in ("added", "updated", "unchanged", "rejected")
    )
    print(f"import: {summary}")
    if counts["rejected"]:
        print(f"import: rejected records and reasons in {rejects_path}", file=sys.stderr)
    return 1 if counts["rejected"] else 0


def import_file(
    catalog: Catalog, path: Path, fmt: str | None, rejects: TextIO, max_record_bytes: int
) -> Counter[str]:
    """Import one file; rejected records are described on ``rejects``.

    Raises :class:`UserError` for a file in which nothing looks like a record.
    """
    counts: Counter[str] = Counter()
    with path.open("rb") as raw, Progress(f"import {path.name}") as progress:
        stream = peekable(raw)
        fmt = fmt or _detected_format(path, stream.peek(HEAD_BYTES))
        items = iter_records(stream, fmt, max_record_bytes=max_record_bytes)
        while batch := _next_batch(path, items):
            with catalog.writer() as writer:
                for item, (outcome, reason) in zip(batch, _store(writer, batch), strict=True):
                    counts[outcome] += 1
                    if reason is not None:
                        _write_reject(rejects, path, item, reason)
            progress.advance(len(batch))
    return counts


def _next_batch(path: Path, items: Iterator[ReadItem]) -> list[ReadItem]:
    try:
        return list(itertools.islice(items, BATCH))
    except NoRecords as error:
        raise UserError(f"{path}: {error}") from None


def _detected_format(path: Path, head: bytes) -> str:
    try:
        fmt = detect_format(head)
    except ValueError as error:
        raise UserError(f"{path}: {error}; say which with --format") from None
    if fmt not in IMPORTABLE:
        raise UserError(
            f"{path}: {fmt} records, not MARC21; convert them first: "
            f"koprik crosswalk --to marc21 {path} -o FILE.mrc"
        )
    return fmt


def _store(writer: CatalogWriter, batch: list[ReadItem]) -> list[tuple[str, str | None]]:
    """For each item, in order: ``(outcome, None)``, or ``("rejected", reason)``.

    The readable records go to :meth:`CatalogWriter.put_many` together.
    """
    readable = [item.record for item in batch if item.record is not None]
    stored = iter(writer.put_many([Incoming(record) for record in readable]))
    results: list[tuple[str, str | None]] = []
    for item in batch:
        if item.record is None:
            results.append(("rejected", item.error or "unreadable record"))
            continue
        outcome = next(stored)
        if isinstance(outcome, RecordError):
            results.append(("rejected", str(outcome)))
        else:
            results.append((outcome.value, None))
    return results


def _write_reject(rejects: TextIO, path: Path, item: ReadItem, reason: str) -> None:
    rejects.write(f"{path}\trecord {item.index + 1}\t{reason}\n")
    rejects.write(f"\traw: {item.raw[:2000]!r}\n")

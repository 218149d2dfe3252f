"""``koprik import``: load MARC21 files into the catalogue.

Formats (ISO 2709, MARCXML, MARC-in-JSON, MarcEdit .mrk) are detected per file, character
sets per record unless ``--charset`` names one. ISO 2709 UNIMARC/RUSMARC, detected by content
(:mod:`crosswalks.unimarc_sniff`) or named with ``--format unimarc`` (``rusmarc``), is converted
to MARC21 by the UNIMARC crosswalk, as ``koprik crosswalk --from unimarc`` converts it.
Records are stored as the repository's own, or with ``--source NAME`` as those of a file source
(a ``[[file_sources]]`` entry naming its institution), keyed by ``(source, 001)``: a regional
centre's 001 never overwrites one of ours; a record whose leader/05 is ``d`` (deleted), as
library systems export their deletions, deletes the record stored under that key (and takes it
out of its union record) rather than being stored; deduplication runs at the end. Each batch of
records is one transaction. A record that cannot be read or stored is written to the rejects
file, a tab-separated line with the file, its position, the reason and its raw bytes in base64
(as ``koprik crosswalk`` writes them), and the run goes on. The charset decision for each
record not read as UTF-8 and the validator's warnings (:mod:`crosswalks.check`; they do not
stop a record) are written to the report file (``--report``), one tab-separated line each. The
file is named in both as :func:`koprik.output_files.escaped_name` writes it (``caf\\xe9.mrc``).
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import os
import sys
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import DBAPIError

from catalog import Catalog, CatalogWriter, RecordError
from catalog.replace import delete_unmet, latest_change
from catalog.store import Batch, Outcome
from catalog.written_ids import WrittenIds
from config import load_settings
from crosswalks import charsets, unimarc_sniff
from crosswalks.marc_io import HEAD_BYTES, NothingToRead, ReadItem, detect_format
from koprik.commands.dedup import deduplicated
from koprik.errors import UserError
from koprik.file_reading import Read, ReadAhead, ReadSpec
from koprik.option_checks import checked_charset
from koprik.output_files import (
    STDIO,
    escaped_name,
    no_folder,
    opened_for_writing,
    option_named,
    refuse_overwriting,
    refuse_own_files,
    refuse_shared_outputs,
)
from koprik.parsers.import_ import FORMAT_ALIASES, IMPORTABLE
from koprik.progress import Progress

BATCH = 2000
"""Records read, derived and written (one transaction) together. A transaction's pages are
written once however many of its records change them: storing the demo records took the
writing process 237 µs a record in batches of 500, 216 in 1,000, 198-209 in 2,000, 194-199 in
5,000; its peak memory was 159 MB with batches of 500, 198 MB with 2,000."""

BATCH_BYTES = 2 << 20
"""A batch ends before :data:`BATCH` records once they hold this many bytes as read, so that
the memory an import takes is bounded whatever its records' sizes: at most about three batches
are held by the process reading the file and two by the importing one and its workers
(:class:`koprik.file_reading.ReadAhead`). 2,000 records under ``limits.max_record_bytes``
(1 MiB) each took 1.69 GB in the reading process; 2,000 ordinary records hold about 1.2 MB, and
are batched as before."""


def run(args: argparse.Namespace) -> int:
    for path in args.files:
        if os.fspath(path) == STDIO and not path.exists():
            raise UserError("-: koprik import reads files, not standard input; save the "
                            "records to a file and name it")
        if path.is_dir():
            raise UserError(f"{path}: a folder, not a file of records")
        try:
            path.stat()
        except FileNotFoundError:
            raise UserError(f"{path}: no such file") from None
        except OSError as error:  # a loop of symbolic links, a folder that cannot be entered
            raise UserError(f"{path}: cannot be read ({error.strerror})") from None
        if not path.is_file():  # a device or a pipe: its size is not known to read it
            raise UserError(f"{path}: not a regular file")
    _refuse_named_twice(args.files)
    charset = checked_charset(args.charset)
    settings = load_settings(args.config)
    if args.source is not None and args.source not in {s.name for s in settings.file_sources}:
        raise UserError(
            f"--source {args.source!r}: no such file source; define it in {settings.file} as "
            f'[[file_sources]] name = "{args.source}" with its institution_code and name'
        )
    if args.replace and args.source is None:
        raise UserError("--replace needs --source NAME: it deletes that file source's records "
                        "the files do not hold")
    given = FORMAT_ALIASES.get(args.format, args.format)
    formats = [_format_of(path, given, charset, args.format) for path in args.files]  # first
    rejects_path = Path(args.rejects or "var/import-rejects.txt")
    report_path = Path(args.report or "var/import-report.txt")
    refuse_overwriting(args.files, [rejects_path, report_path])
    refuse_own_files([rejects_path, report_path], args.config, settings.database.url)
    refuse_shared_outputs({
        option_named("--rejects", args.rejects): rejects_path,
        option_named("--report", args.report): report_path,
    })
    counts: Counter[str] = Counter()
    step = "storing"  # then "grouping", then "done": what a run stopped midway kept (_kept)
    try:
        with (
            _open_output(rejects_path, "--rejects", args.rejects is None) as rejects,
            _open_output(report_path, "--report", args.report is None) as report,
        ):
            catalog = Catalog.open(settings)
            once = WrittenIds()  # a record met twice (one 001 for two books) is stored once
            began = latest_change(catalog) if args.replace else 0
            try:
                for path, fmt in zip(args.files, formats, strict=True):
                    if fmt == "unimarc" and given is None:
                        print(f"import: {path}: {unimarc_sniff.detected('--format unimarc')}",
                              file=sys.stderr)
                    import_file(catalog, path, fmt, rejects, settings.limits.max_record_bytes,
                                counts, charset, report, repair=args.repair, source=args.source,
                                once=once)
                replaced = (_replace(catalog, args.source, once, began, counts)
                            if args.replace else "")  # fmt: skip
                step = "grouping"
                grouped = deduplicated(catalog)
                step = "done"
            except (KeyboardInterrupt, DBAPIError, BrokenProcessPool) as stop:  # (Terminated)
                # what was stored stays (a transaction a batch), and its deduplication queued;
                # said on the one line koprik.stopping.interrupted writes, or, for the catalogue
                # failing (a full disk) or a worker process killed, koprik.cli.failure
                stop.add_note(_kept(counts, step))
                raise
            finally:
                catalog.close()
    except OSError as error:  # a write to --rejects or --report, midway or as it is closed
        failed = _unwritten_output(error, [
            (rejects_path, _named(rejects_path, "--rejects", args.rejects is None)),
            (report_path, _named(report_path, "--report", args.report is None)),
        ])
        if failed is None:
            raise
        raise UserError(f"{failed}: cannot be written ({error.strerror}); "
                        f"{_kept(counts, step)}") from None
    summary = _summary(counts)
    read_in = ", ".join(
        f"{key.removeprefix('charset ')} {n}" for key, n in counts.items()
        if key.startswith("charset ")
    )
    warned = f"; validator warnings {counts['warnings']}" if counts["warnings"] else ""
    if counts["repaired"]:
        warned += f"; repaired {counts['repaired']}"
    unimarc = f"; UNIMARC converted to MARC21 {counts['unimarc']}" if counts["unimarc"] else ""
    print(
        f"import: {summary}" + unimarc + (f"; charsets: {read_in}" if read_in else "") + warned
    )
    if replaced:
        print(f"replace: {replaced}")
    print(f"dedup: {grouped.summary()}")
    if read_in or warned:
        print(f"import: charset decisions and warnings in {report_path}", file=sys.stderr)
    if counts["rejected"]:
        print(f"import: rejected records and reasons in {rejects_path}", file=sys.stderr)
    return 1 if counts["rejected"] else 0


def _refuse_named_twice(paths: list[Path]) -> None:
    """A UserError naming a file named twice (``a.mrc a.mrc``, ``a.mrc ./a.mrc``, a link to
    it: the same device and inode), before any work. Read twice, each of its records was
    rejected the second time as having the id of one stored earlier in the run, and the run
    ended with status 1. It is refused rather than read once: a file named twice is most
    often a slip for another file, which reading it once would leave unimported unsaid."""
    seen: dict[tuple[int, int], Path] = {}
    for path in paths:
        status = path.stat()
        first = seen.setdefault((status.st_dev, status.st_ino), path)
        if first is not path:
            also = "" if os.fspath(first) == os.fspath(path) else f" (as {first} too)"
            raise UserError(f"{path}: named twice{also}; name each file once")


def _replace(
    catalog: Catalog, source: str, met: WrittenIds, began: int, counts: Counter[str]
) -> str:
    """Delete the records of ``source`` the run did not meet and nothing changed since the
    change ``began`` (:func:`catalog.replace.delete_unmet`), unless it rejected a record, which
    may be one of those; says what was done. ``counts["replaced"]`` counts the deletions as
    they are committed."""
    if counts["rejected"]:
        return (f"nothing deleted: the run rejected records ({counts['rejected']}), and a "
                "rejected record may be one the source still holds; mend them and import "
                "again")  # fmt: skip
    with Progress(f"replace {source}") as progress:

        def advance(looked_at: int, deleted: int) -> None:
            progress.advance(looked_at)
            counts["replaced"] += deleted

        delete_unmet(catalog, source, met, began, advance)
    return f"records of {source} that the files do not hold: {counts['replaced']} deleted"


def _kept(counts: Counter[str], step: str) -> str:
    """What an import stopped midway kept (each batch committed: ``counts``), and what to do:
    the note its last line ends with; ``step`` is the one it stopped in (``storing``,
    ``grouping``, or ``done``: only its rejects or report file was left to be written). A
    catalogue that failed (a full disk) said "cannot be used" without a word of the records
    stored before it did, and a rejects file that could not be written a bare "No space left
    on device"."""
    kept = f"after {_summary(counts)}{_replaced_so_far(counts)}: those stay stored"
    if step == "grouping":  # the union records lack them (duplicates served) until it is done
        return (f"{kept}, but grouping them into union records was interrupted: `koprik dedup` "
                "finishes it")  # fmt: skip
    if step == "done":
        return (f"{kept}, deduplicated; import the files again with a file that can be "
                "written to have it written (the records are found unchanged)")
    return f"{kept}; import the files again to go on (they are found unchanged)"


def _named(path: Path, option: str, default: bool) -> str:
    """How a message names the output ``path`` of ``option`` (its ``default``, when not given)."""
    return f"{path} (the default of {option})" if default else f"{option} {path}"


def _unwritten_output(error: OSError, outputs: list[tuple[Path, str]]) -> str | None:
    """How a message names the output (of ``outputs``: path and its name, :func:`_named`) that
    ``error`` failed to write, by the file it names (:func:`_open_output`): both, as ``A or
    B``, when they are one device (``/dev/full`` for both); None when it names neither (an
    input that cannot be read)."""
    names = [named for path, named in outputs if os.fspath(path) == error.filename]
    return " or ".join(names) if names else None


def _replaced_so_far(counts: Counter[str]) -> str:
    """What an interrupted ``--replace`` had deleted, for the line saying it stopped."""
    if not counts["replaced"]:
        return ""
    return (f", and deleted {counts['replaced']} of the source's records the files do not "
            "hold (`koprik dedup` takes them out of their union records)")


def _summary(counts: Counter[str]) -> str:
    """``N added, N updated, N unchanged, N rejected``, with ``N deleted, N deletions of
    records not held`` before the rejected when the files had deletions."""
    said = [f"{counts[k]} {k}" for k in ("added", "updated", "unchanged")]
    if counts["deleted"] or counts["gone"]:
        said.append(f"{counts['deleted']} deleted")
    if counts["gone"]:
        said.append(f"{counts['gone']} deletions of records not held")
    return ", ".join([*said, f"{counts['rejected']} rejected"])


def import_file(
    catalog: Catalog,
    path: Path,
    fmt: str,
    rejects: TextIO,
    max_record_bytes: int,
    counts: Counter[str],
    charset: str | None = None,
    report: TextIO | None = None,
    *,
    repair: bool = False,
    source: str | None = None,
    once: WrittenIds | None = None,
) -> None:
    """Import one file in format ``fmt`` (:func:`_format_of`), adding what became of each
    batch's records to ``counts`` as it commits (:func:`_write`), so that a run interrupted
    can say all it kept; rejected records are described on ``rejects``, charset decisions
    other than UTF-8, repairs and warnings on ``report`` (counted as ``charset NAME``,
    ``repaired`` and ``warnings``). With ``repair``, a damaged ISO 2709 record is repaired
    (:func:`crosswalks.repair.repair_item`) rather than rejected when it can be. The records
    belong to file source ``source`` (None: the repository's own). A record under the key of
    one stored earlier in the run ``once`` (:mod:`catalog.written_ids`) is rejected.
    """
    spec = ReadSpec(path, fmt, charset, max_record_bytes, repair, source, BATCH, BATCH_BYTES)
    # Each batch is read (in a process of its own for a large file), then validated and
    # derived in the worker processes while the one before it is written.
    with (
        ReadAhead(spec, catalog.preparer()) as batches,
        Progress(f"import {path.name}") as progress,
    ):
        pending: tuple[list[Read], Batch] | None = None
        for batch in itertools.chain(batches, [None]):
            prepared = None if batch is None else catalog.prepare_made(
                [ready for _, ready in batch if ready is not None]
            )
            if pending is not None:
                read, ready = pending
                _write(catalog, path, read, ready, rejects, report, counts,
                       unimarc=fmt == "unimarc", once=once)  # fmt: skip
                progress.advance(len(read))
            if batch is None or prepared is None:  # (the second: for the type checker)
                break
            pending = (batch, prepared)


def _write(
    catalog: Catalog,
    path: Path,
    batch: list[Read],
    prepared: Batch,
    rejects: TextIO,
    report: TextIO | None,
    counts: Counter[str],
    *,
    unimarc: bool,
    once: WrittenIds | None = None,
) -> None:
    """Report and store one batch, in one transaction. What became of each record (and, when
    ``unimarc``, how many were converted) is added to ``counts``, and the rejects written, in
    the step the transaction commits in (:meth:`catalog.Catalog.write`): a ^C then is raised
    after them, so the line saying what an interrupted import kept counts the batch."""
    reported: Counter[str] = Counter()
    readable = iter(range(len(prepared.items)))
    for item, ready in batch:
        problems = prepared.problems(next(readable)) if ready is not None else []
        _report(report, path, item, problems, reported)

    def store(writer: CatalogWriter) -> None:
        stored = _stored(batch, writer.put_prepared(prepared, once))

        def kept() -> None:
            written = reported + Counter(outcome for outcome, _ in stored)
            if unimarc:
                written["unimarc"] = sum(written[k] for k in ("added", "updated", "unchanged",
                                                              "deleted", "gone"))
            counts.update(written)
            for (item, _), (_, reason) in zip(batch, stored, strict=True):
                if reason is not None:
                    _write_reject(rejects, path, item, reason)

        writer.after_commit(kept)

    catalog.write(store, "import")


def _report(
    report: TextIO | None, path: Path, item: ReadItem, problems: list[str],
    counts: Counter[str],
) -> None:
    """Write the charset decision (when not UTF-8) and the validator's warnings ``problems``
    of one record; count them in ``counts`` as ``charset NAME``, ``repaired`` and
    ``warnings``."""
    lines = []
    decision = item.decision
    if decision is not None and decision.charset != charsets.UTF8:
        counts[f"charset {decision.charset}"] += 1
        lines.append(f"read as {decision}")
    lines.extend(item.notes)
    if item.repairs:
        counts["repaired"] += 1
        lines.extend(f"repaired: {repair}" for repair in item.repairs)
    if problems:
        counts["warnings"] += len(problems)
        lines.extend(f"warning: {problem}" for problem in problems)
    if report is not None and lines:
        name = escaped_name(path)
        report.writelines(f"{name}\trecord {item.index + 1}\t{line}\n" for line in lines)


def _open_output(path: Path, option: str, default: bool) -> TextIO:
    """``path`` opened for writing and held while it is (the folder of a ``default`` one made
    first); a UserError naming ``option`` and ``path`` if it cannot be, or if another run is
    writing it (two imports started in one folder wrote their rejects into one file at once)."""
    named = _named(path, option, default)
    try:
        if default:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            raise UserError(f"{named}: {no_folder(path.parent)}")
        return io.TextIOWrapper(opened_for_writing(path, claim=named), encoding="utf-8")
    except OSError as error:
        raise UserError(f"{named}: cannot be written ({error.strerror})") from None


def _format_of(path: Path, given: str | None, charset: str | None, option: str | None) -> str:
    """The format ``path`` is read in: ``given`` (named ``--format option``), else the one
    detected from its head; a UserError naming the file when it cannot be imported so (nothing
    in it looks like a record, a format that is not MARC21, MARC21 records named UNIMARC, a
    ``charset`` the format does not take). Every file's is settled before any is imported: a
    run refused half-way would leave the files before stored and not deduplicated, and no
    summary said."""
    fmt = given
    if fmt is None or fmt == "unimarc":
        try:
            with path.open("rb") as raw:
                head = raw.read(HEAD_BYTES)
        except OSError as error:
            raise UserError(f"{path}: cannot be read ({error.strerror})") from None
        if fmt is None:
            fmt = _detected_format(path, head)
        elif unimarc_sniff.looks_marc21(head):
            # converted, they would replace the stored records with ones without a title
            raise UserError(f"{path}: {unimarc_sniff.named_but_marc21(f'--format {option}')}")
    if charset is not None and fmt not in ("marc21", "mrk", "unimarc"):
        raise UserError(f"{path}: {fmt} declares its own encoding; drop --charset")
    if charset == charsets.MARC8 and fmt == "mrk":
        raise UserError(f"{path}: .mrk text is read as UTF-8 or a code page, not MARC-8")
    return fmt


def _detected_format(path: Path, head: bytes) -> str:
    try:
        fmt = detect_format(head)
    except NothingToRead as error:
        raise UserError(f"{path}: {error}") from None
    except ValueError as error:
        raise UserError(f"{path}: {error}; say which with --format") from None
    if fmt not in IMPORTABLE:
        raise UserError(
            f"{path}: {fmt} records, not MARC21; convert them first: "
            f"koprik crosswalk --to marc21 {path} -o FILE.mrc"
        )
    return fmt


def _stored(
    batch: list[Read], outcomes: list[Outcome | RecordError]
) -> list[tuple[str, str | None]]:
    """For each item, in order: ``(outcome, None)``, or ``("rejected", reason)``; ``outcomes``
    are those of its readable records."""
    stored = iter(outcomes)
    results: list[tuple[str, str | None]] = []
    for item, ready in batch:
        if ready is None:
            results.append(("rejected", item.error or "unreadable record"))
            continue
        outcome = next(stored)
        if isinstance(outcome, RecordError):
            results.append(("rejected", str(outcome)))
        else:
            results.append((outcome.value, None))
    return results


def _write_reject(rejects: TextIO, path: Path, item: ReadItem, reason: str) -> None:
    """One tab-separated line: file, ``record N``, reason, and the record's raw bytes in base64
    (as ``koprik crosswalk`` writes them: ``cut -f4 | base64 -d`` gives them back exactly)."""
    reason = reason.replace("\t", " ").replace("\n", " ")
    raw = base64.b64encode(item.raw).decode("ascii")
    rejects.write(f"{escaped_name(path)}\trecord {item.index + 1}\t{reason}\t{raw}\n")

"""``koprik crosswalk``: convert record files between formats, or check them (what it does,
as its ``--help`` says it: :mod:`koprik.parsers.crosswalk`)."""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import io
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from pymarc import Record

from config import load_settings
from crosswalks import charsets, iso2709, marc_io, registry, unimarc_sniff
from crosswalks.check import Problem, check_record
from crosswalks.marc_io import ReadItem
from crosswalks.repair import repair_item
from koprik.errors import UserError, one_line
from koprik.option_checks import checked_charset
from koprik.output_files import (
    STDIO,
    escaped_name,
    is_regular_output,
    left_when_stopped,
    option_named,
    refuse_overwriting,
    refuse_own_files,
    refuse_shared_outputs,
    refuse_unwritable,
    written_whole,
)
from koprik.progress import Progress
from koprik.stopping import noted_when_stopped

SHOWN_ON_STDERR = 5
"""Rejects described on stderr when there is no reject file."""


def run(args: argparse.Namespace) -> int:
    if args.list:
        _print_formats(sys.stdout)
        return 0
    inputs = args.inputs or [STDIO]
    if args.from_format is not None:
        _input_format(args.from_format)
    charset = checked_charset(args.charset)
    if args.check:
        max_bytes = load_settings(args.config).limits.max_record_bytes
        return _check(inputs, args.from_format, max_bytes, charset, args.repair)
    if not args.to_format:
        raise UserError("say which format to write with --to (see --list)")
    try:
        output = registry.output_format(args.to_format)
    except KeyError:
        raise UserError(f"unknown output format {args.to_format!r} (see --list)") from None
    steps = [_script_880_step()] if args.add_script_880 else []
    beside_output = is_regular_output(args.output)  # not stdout, not a device like /dev/null
    rejects_path = args.rejects or (f"{args.output}.rejects.txt" if beside_output else None)
    report_path = args.report or (f"{args.output}.report.txt" if beside_output else None)
    refuse_overwriting(inputs, [args.output, rejects_path, report_path])
    settings = load_settings(args.config)
    refuse_own_files([args.output, rejects_path, report_path], args.config,
                     settings.database.url)
    refuse_shared_outputs({
        option_named("-o", args.output): args.output or STDIO,
        option_named("--rejects", args.rejects): rejects_path,
        option_named("--report", args.report): report_path,
    })
    for option, path in (("-o", args.output), ("--rejects", rejects_path),
                         ("--report", report_path)):  # fmt: skip
        if path is not None and path != STDIO:  # (its working copy's name was said)
            refuse_unwritable(path, option)
    # what a stop midway leaves of each file (asked now: whether one of that name is there)
    sides = [path for path in (rejects_path, report_path) if is_regular_output(path)]
    left = "; ".join(left_when_stopped(path, "a crosswalk") for path in [args.output, *sides])
    stats = _Stats()
    with (
        noted_when_stopped(
            lambda: f"after {stats.read} records read, {stats.converted} converted: {left}"
        ),
        contextlib.ExitStack() as stack,
    ):
        # put in place as it closes; none when nothing was converted (an earlier one removed)
        out = stack.enter_context(written_whole(args.output, kept=lambda: stats.converted > 0))
        try:
            writer = output.open(out)
        except registry.CrosswalkUnavailable as error:
            raise UserError(str(error)) from None
        rejects = _Rejects(stack, rejects_path)
        report = _Report(stack, report_path)
        progress = stack.enter_context(Progress("crosswalk", unit="records"))

        def input_failed(failure: _Unreadable) -> None:  # said on stderr and in the reject file
            stats.input_failed(failure)
            rejects.add_input(failure)

        items = _read_all(
            stack, inputs, args.from_format, settings.limits.max_record_bytes, charset, input_failed
        )
        for name, fmt, item in items:
            item = stats.repaired_if_asked(args.repair, fmt, item, charset)
            stats.read += 1
            progress.advance()
            stats.count_charset(item)
            report.add(name, item)
            if item.record is None:
                rejects.add(name, item, item.error or "unreadable")
                continue
            try:
                writer.write(_apply(output.declared(item.record), steps))
            except OSError:
                raise  # the output is gone (a closed pipe, a full disk): not this record's fault
            except Exception as error:  # one record's failure must not end the batch
                rejects.add(name, item, f"conversion failed: {iso2709.describe(error)}")
                continue
            stats.converted += 1
            stats.notes += len(item.notes)
        writer.close()
        stats.rejected = rejects.count
        rejects.finish()
        report.finish()
    _print_summary(stats, args.output, rejects_path if rejects.lines else None)
    if stats.converted == 0:
        return 2
    return 1 if stats.rejected or stats.unreadable_inputs else 0


@dataclass
class _Stats:
    read: int = 0
    converted: int = 0
    rejected: int = 0
    notes: int = 0
    problems: int = 0
    bad_records: set[tuple[str, int]] = field(default_factory=set)
    charsets: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    repaired: int = 0
    unreadable_inputs: int = 0

    def input_failed(self, failure: _Unreadable) -> None:
        """One input that could not be read at all: said in one line, counted, and the run
        goes on with the next."""
        self.unreadable_inputs += 1
        print(f"koprik: {one_line(str(failure))}", file=sys.stderr)

    def repaired_if_asked(
        self, repair: bool, fmt: str, item: ReadItem, charset: str | None
    ) -> ReadItem:
        """``item``, or with ``repair`` a rejected ISO 2709 record repaired and read again
        (:func:`crosswalks.repair.repair_item`, which lists its ``repairs``)."""
        if not (repair and item.record is None and item.raw and fmt == "marc21"):
            return item
        repaired = repair_item(item, charset)
        self.repaired += bool(repaired.repairs)
        return repaired

    def count_charset(self, item: ReadItem) -> None:
        if item.decision is not None:
            self.charsets[item.decision.charset] += 1

    def charset_summary(self) -> str:
        """``charsets: cp1251 160, utf-8 140`` when any record was not UTF-8, else ''."""
        if set(self.charsets) <= {charsets.UTF8}:
            return ""
        counts = ", ".join(f"{name} {count}" for name, count in self.charsets.most_common())
        return f"charsets: {counts}"


def _print_formats(stream: TextIO) -> None:
    stream.write("input formats (--from):\n")
    for fmt in registry.INPUTS.values():
        stream.write(f"  {fmt.name:<10} {fmt.description}\n")
    for alias, name in registry.INPUT_ALIASES.items():
        stream.write(f"  {alias:<10} same as {name}\n")
    stream.write("output formats (--to):\n")
    for out in registry.OUTPUTS.values():
        stream.write(f"  {out.name:<10} {out.description}\n")


def _input_format(name: str) -> registry.InputFormat:
    try:
        return registry.input_format(name)
    except KeyError:
        raise UserError(f"unknown input format {name!r} (see --list)") from None


def _script_880_step() -> Callable[[Record], Record]:
    try:
        from crosswalks.uzbek import add_script_880
    except ImportError as error:
        raise UserError(f"--add-script-880 is not available: {error}") from None
    return add_script_880


def _apply(record: Record, steps: list[Callable[[Record], Record]]) -> Record:
    for step in steps:
        record = step(record)
    return record


def _open_input(stack: contextlib.ExitStack, name: str) -> BinaryIO:
    if name == STDIO:
        return sys.stdin.buffer
    try:
        return stack.enter_context(open(name, "rb"))
    except OSError as error:
        raise _Unreadable(
            name, f"cannot be read: {error.strerror}", f"cannot read {name}: {error.strerror}"
        ) from None


class _Unreadable(UserError):
    """An input that cannot be read at all: its ``name``, and the ``reason`` in words (for the
    reject file, beside the name); ``str()`` is the line said on stderr (by default
    ``NAME: REASON``)."""

    def __init__(self, name: str, reason: str, line: str | None = None) -> None:
        super().__init__(line or f"{name}: {reason}")
        self.name = name
        self.reason = reason


def _read_all(
    stack: contextlib.ExitStack,
    inputs: list[str],
    from_format: str | None,
    max_bytes: int,
    charset: str | None,
    failed: Callable[[_Unreadable], None],
) -> Iterator[tuple[str, str, ReadItem]]:
    """``(input name, format, item)`` for every record of every input.

    The format is detected per input unless given; ``charset`` is passed to the formats that
    take one. An input that cannot be read at all (missing, a folder, empty, of no format
    known, in a format that declares its own encoding when ``charset`` is given) is passed
    to ``failed`` as an :class:`_Unreadable` and the next is read. Should a reader fail in a
    way it did not foresee, the rest of that input is given up as one reject, and the run
    goes on.
    """
    for name in inputs:
        try:
            yield from _read_input(stack, name, from_format, max_bytes, charset)
        except _Unreadable as failure:
            failed(failure)
        except UserError as error:  # none is expected; said as it is, and the run goes on
            failed(_Unreadable(name, str(error), str(error)))
        except OSError as error:  # a read error before any record (EIO, a vanished disk)
            reason = error.strerror or str(error)
            failed(_Unreadable(name, f"cannot be read: {reason}", f"cannot read {name}: {reason}"))


def _read_input(
    stack: contextlib.ExitStack,
    name: str,
    from_format: str | None,
    max_bytes: int,
    charset: str | None,
) -> Iterator[tuple[str, str, ReadItem]]:
    """The records of one input for :func:`_read_all`; :class:`_Unreadable` when it cannot be
    read."""
    stream = marc_io.peekable(_open_input(stack, name))
    fmt_name = from_format
    if fmt_name is None:
        try:
            fmt_name = marc_io.detect_format(stream.peek(marc_io.HEAD_BYTES))
        except marc_io.NothingToRead as error:
            raise _Unreadable(name, str(error)) from None
        except ValueError as error:
            raise _Unreadable(name, f"{error}; say which with --from") from None
        if fmt_name == "unimarc":
            print(f"koprik: {one_line(name)}: {unimarc_sniff.detected('--from unimarc')}",
                  file=sys.stderr)
    elif registry.input_name(fmt_name) == "unimarc" and unimarc_sniff.looks_marc21(
        stream.peek(marc_io.HEAD_BYTES)
    ):
        raise _Unreadable(name, unimarc_sniff.named_but_marc21(f"--from {fmt_name}"))
    index = 0
    fmt = _input_format(fmt_name)
    if charset is not None and not fmt.takes_charset:
        raise _Unreadable(name, f"{fmt_name} declares its own encoding; drop --charset")
    if charset == charsets.MARC8 and fmt_name == "mrk":
        raise _Unreadable(name, ".mrk text is read as UTF-8 or a code page, not MARC-8")
    options = {"charset": charset} if charset is not None else {}
    try:
        for item in fmt.read(stream, max_bytes, **options):
            index = item.index + 1
            yield name, fmt_name, item
    except (registry.CrosswalkUnavailable, marc_io.NoRecords) as error:
        raise _Unreadable(name, str(error)) from None
    except Exception as error:  # the safety net: a report, never a traceback
        reason = f"reading stopped: {iso2709.describe(error)}"
        yield name, fmt_name, ReadItem(index, None, b"", reason)


class _SideFile:
    """A tab-separated side file, or when none is named the first few lines on stderr and a
    count of the rest. The file is written whole when the run ends, as OUT is (a run stopped
    leaves the one before it), and removed when it has no line."""

    more = ""  # what the count of lines not shown names, and the option that keeps them

    def __init__(self, stack: contextlib.ExitStack, path: str | None) -> None:
        self.count = 0
        self.lines = 0
        """Lines written to the side file (``count`` and any not counted)."""
        self.stream: TextIO | None = None
        if path is not None:
            written = stack.enter_context(written_whole(path, kept=lambda: self.lines > 0))
            self.stream = stack.enter_context(io.TextIOWrapper(written, encoding="utf-8"))

    def _write(self, line: str, shown: str) -> None:
        self.count += 1
        if self.stream is not None:
            self._write_line(line)
        elif self.count <= SHOWN_ON_STDERR:
            print(f"koprik: {one_line(shown)}", file=sys.stderr)

    def _write_line(self, line: str) -> None:
        assert self.stream is not None
        self.stream.write(line + "\n")
        self.lines += 1

    def finish(self) -> None:
        if self.stream is not None:
            self.stream.close()
        elif self.count > SHOWN_ON_STDERR:
            print(
                f"koprik: ... and {self.count - SHOWN_ON_STDERR} more {self.more}",
                file=sys.stderr,
            )


class _Rejects(_SideFile):
    """The reject file (tab-separated, raw bytes in base64), or a short report on stderr."""

    more = "rejects (use --rejects FILE to keep them)"

    def add(self, name: str, item: ReadItem, reason: str) -> None:
        name = escaped_name(name)
        reason = reason.replace("\t", " ").replace("\n", " ")
        raw = "" if self.stream is None else base64.b64encode(item.raw).decode("ascii")
        position = _position(item)
        self._write(
            f"{name}\t{position}\t{reason}\t{raw}",
            f"rejected {name} record {position}: {reason}",
        )

    def add_input(self, failure: _Unreadable) -> None:
        """An input that could not be read at all, in the reject file: its name and reason,
        no record number and no bytes. Not counted as a rejected record, and not repeated on
        stderr (:meth:`_Stats.input_failed` said it)."""
        if self.stream is not None:
            reason = failure.reason.replace("\t", " ").replace("\n", " ")
            self._write_line(f"{escaped_name(failure.name)}\t\t{reason}\t")


class _Report(_SideFile):
    """Charset decisions of the records not read as UTF-8, the notes of conversions and the
    repairs (tab-separated: input, record, charset, ``note`` or ``repaired``, then what), or a
    few on stderr."""

    more = "charset decisions and notes (use --report FILE to keep them)"

    def add(self, name: str, item: ReadItem) -> None:
        name = escaped_name(name)
        decision = item.decision
        lines = [f"note\t{note}" for note in item.notes]
        lines += [f"repaired\t{repair}" for repair in item.repairs]
        if decision is not None and decision.charset != charsets.UTF8:
            lines.insert(0, f"{decision.charset}\t{decision.reason}")
        position = _position(item)
        for line in lines:
            text = line.replace("\t", ": ", 1)
            self._write(f"{name}\t{position}\t{line}", f"{name} record {position}: {text}")


def _print_summary(stats: _Stats, output: str | None, rejects_path: str | None) -> None:
    parts = [f"read {stats.read}", f"converted {stats.converted}", f"rejected {stats.rejected}"]
    if stats.notes:
        parts.append(f"unmapped notes {stats.notes}")
    if stats.repaired:
        parts.append(f"repaired {stats.repaired}")
    if stats.unreadable_inputs:
        parts.append(f"unreadable inputs {stats.unreadable_inputs}")
    if stats.charset_summary():
        parts.append(stats.charset_summary())
    line = "crosswalk: " + ", ".join(parts)
    if output and output != STDIO:
        line += f" -> {output}" if stats.converted else f", {output} not written"
    if rejects_path:
        line += f" (rejects: {rejects_path})"
    print(line, file=sys.stderr)


def _check(
    inputs: list[str], from_format: str | None, max_bytes: int, charset: str | None,
    repair: bool,
) -> int:
    """Report each problem of each record on stdout; a summary on stderr."""
    stats = _Stats()
    with contextlib.ExitStack() as stack:
        progress = stack.enter_context(Progress("check", unit="records"))
        items = _read_all(stack, inputs, from_format, max_bytes, charset, stats.input_failed)
        for name, fmt_name, item in items:
            item = stats.repaired_if_asked(repair, fmt_name, item, charset)
            stats.read += 1
            progress.advance()
            stats.count_charset(item)
            if item.decision is not None and item.decision.charset != charsets.UTF8:
                print(f"{name}: record {_position(item)}: read as {item.decision}")
            problems = [
                *(Problem(_position(item), None, note, "note") for note in item.notes),
                *(Problem(_position(item), None, fix, "repaired") for fix in item.repairs),
                *_problems(fmt_name, item, charset, repaired=bool(item.repairs)),
            ]
            for problem in problems:
                print(f"{name}: {problem}")
                stats.rules[problem.rule] += 1
            if problems:
                stats.problems += len(problems)
                stats.bad_records.add((name, item.index))
    by_rule = ", ".join(f"{rule} {count}" for rule, count in sorted(stats.rules.items()))
    print(
        f"check: read {stats.read}, records with problems {len(stats.bad_records)}, "
        f"problems {stats.problems}" + (f" ({by_rule})" if by_rule else "")
        + (f", {stats.charset_summary()}" if stats.charset_summary() else "")
        + (f", unreadable inputs {stats.unreadable_inputs}" if stats.unreadable_inputs else ""),
        file=sys.stderr,
    )
    if stats.read == 0:
        return 2
    return 1 if stats.bad_records or stats.unreadable_inputs else 0


def _position(item: ReadItem) -> int:
    """The record's position in its input as reported to the operator: 1-based, as in
    ``koprik import`` (the readers' ``ReadItem.index`` is 0-based)."""
    return item.index + 1


def _problems(
    fmt_name: str, item: ReadItem, charset: str | None, *, repaired: bool = False
) -> list[Problem]:
    """Problems of one record, numbered from 1 as ``koprik import`` counts: MARC21 ISO 2709
    is checked on its bytes (once repaired, as read), others once read (a record that could
    not be read has one)."""
    if fmt_name == "marc21" and item.raw and not repaired:
        problems = check_record(item.raw, item.index, charset=charset)
    elif item.record is None:
        problems = [Problem(item.index, None, item.error or "unreadable", "unreadable")]
    else:
        problems = check_record(item.record, item.index)
    return [dataclasses.replace(problem, index=_position(item)) for problem in problems]

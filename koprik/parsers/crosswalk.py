"""``koprik crosswalk``: convert record files between formats, or check them.

    koprik crosswalk --to FORMAT [--from FORMAT] [--charset NAME] [--repair] [IN ...]
                     [-o OUT] [--rejects FILE] [--report FILE] [--add-script-880]
    koprik crosswalk --check [--from FORMAT] [--charset NAME] [--repair] [IN ...]
    koprik crosswalk --list

Reads each IN (standard input when none, or ``-``), detecting its format unless ``--from`` says
(ISO 2709 that looks UNIMARC/RUSMARC is converted as ``--from unimarc``, and said so on
stderr), and writes one OUT (standard output when none; a file, as each side file below, is
written as ``FILE.part`` and renamed when complete: a run stopped leaves those before it). A
record that cannot be read or converted is rejected and the run goes on. Rejects go to
``--rejects FILE`` (default ``OUT.rejects.txt`` next to OUT; with output on stdout or a device
such as ``/dev/null``, only a count and the first reasons on stderr): one line per reject,
tab-separated ``input`` (its name escaped, as in the report: a byte that is not UTF-8 or a
control as ``\\xNN``, a tab ``\\t``, a newline ``\\n``, a backslash ``\\\\``), ``record number``
(1-based, as ``koprik import`` counts), ``reason`` and the record's raw bytes in base64, so the
bytes can be recovered exactly (``cut -f4 | base64 -d``); an input that cannot be read at all
has a line there too, with its reason, no record number and no bytes. ISO 2709 and .mrk
records are read in the charset ``--charset`` names, or else in the one judged most plausible
for each record; each record not read as UTF-8 is listed with the decision and its reason in
``--report FILE`` (default ``OUT.report.txt``; with output on stdout or a device, the first few
on stderr), tab-separated ``input``, ``record number``, ``charset``, ``reason``; so is each
note of a conversion (``note`` in place of the charset: unmapped UNIMARC data, unknown .mrk
mnemonics) and, with ``--repair``, each repair that let a damaged ISO 2709 record be read
(``repaired``). A summary line ends the run on stderr, with the count of records read in each
charset. An input that cannot be read at all (missing, a folder, empty, of no known format) is
said in one line and counted, and the others are read; the output is a complete file, or
none when nothing was converted.
Two outputs of one file (``-o`` and ``--rejects``, say; by any name or link) are refused before
anything is read.

Exit status: 0 every record converted (or, with ``--check``, no problem found); 1 some
records rejected or some inputs unreadable (problems found); 2 nothing converted, or bad
usage.
"""

from __future__ import annotations

import argparse

from koprik.arguments import file_to_write


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "crosswalk",
        help="convert or check record files (MARC21, MARCXML, MARC-in-JSON, mrk, DC, MODS...)",
        description=__doc__.split("\n\n")[2],
        epilog=__doc__.split("\n\n")[3],
    )
    parser.add_argument("inputs", nargs="*", metavar="IN", help="input files (default: stdin)")
    parser.add_argument("--to", dest="to_format", metavar="FORMAT", help="output format")
    parser.add_argument(
        "--from",
        dest="from_format",
        metavar="FORMAT",
        help="input format (default: detected per file)",
    )
    parser.add_argument(
        "-o", "--output", metavar="OUT", type=file_to_write, help="output file (default: stdout)"
    )
    parser.add_argument(
        "--rejects",
        metavar="FILE",
        type=file_to_write,
        help="reject file (default: OUT.rejects.txt when OUT is a file, else a summary on stderr)",
    )
    parser.add_argument(
        "--charset",
        metavar="NAME",
        help="what ISO 2709 or .mrk input is in: utf-8, marc-8, cp1251, koi8-r, cp866, "
        "iso-8859-5, iso-8859-1 (default: judged per record)",
    )
    parser.add_argument(
        "--repair",
        action="store_true",
        help="read damaged ISO 2709 records as yaz-marcdump would, listing each repair",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        type=file_to_write,
        help="charset decisions, notes and repairs per record (default: OUT.report.txt when OUT "
        "is a file, else the first few on stderr)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate MARC21 records and report problems; convert nothing",
    )
    parser.add_argument("--list", action="store_true", help="list the formats and exit")
    parser.add_argument(
        "--add-script-880",
        action="store_true",
        help="add 880 fields with the Uzbek text in the other script",
    )
    parser.set_defaults(handler="run")

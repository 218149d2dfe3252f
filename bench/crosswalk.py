"""Crosswalk throughput beside yaz-marcdump, and the memory of a streaming conversion.

    python bench/crosswalk.py [--records 10000] [--repeat 3] [--memory 100000]

Prints a table of records/s for ISO 2709 -> MARCXML (ours, yaz-marcdump, and the lxml-tree
serializer we did not keep), then one row per other crosswalk found importable (MARC -> DC,
MARC -> MODS, UNIMARC -> MARC21). Each figure is the best of ``--repeat`` runs, so that
other work on a shared machine disturbs it less. With ``--memory N`` it also converts N
generated records with ``koprik crosswalk`` in a child process, and a tenth of them, and
prints both peak RSS figures: streaming means they are about equal. Asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib
import io
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree
from pymarc import Record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crosswalks.marc_io import iter_records, open_writer  # noqa: E402
from crosswalks.namespaces import MARCXML_NS  # noqa: E402

DATA = ROOT / "tests" / "data"
SAMPLES = [
    DATA / "marc21" / "yaz" / "marccol1.u8.marc",
    DATA / "marc21" / "marc.dat",
    DATA / "marc21" / "1251.dat",
]


def sample_file(count: int, directory: Path) -> Path:
    """A file of ``count`` ISO 2709 records cycling through the real sample records."""
    raws = [item.raw for path in SAMPLES for item in iter_records(path) if item.record]
    path = directory / f"sample-{count}.mrc"
    with path.open("wb") as out:
        for index in range(count):
            out.write(raws[index % len(raws)])
    return path


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (yaz-marcdump), user + system."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def rate(count: int, action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Records per second of wall-clock and of CPU time, each the best of ``repeat`` runs.

    On a machine shared with other work the CPU figure is the steadier of the two.
    """
    wall = cpu = float("inf")
    for _ in range(repeat):
        started, used = time.perf_counter(), cpu_seconds()
        action()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, cpu_seconds() - used)
    return count / wall, count / cpu


def ours_to_marcxml(path: Path) -> None:
    writer = open_writer("marcxml", io.BytesIO())
    for item in iter_records(path):
        if item.record is not None:
            writer.write(item.record)
    writer.close()


def lxml_marcxml(record: Record) -> bytes:
    """The alternative to crosswalks.marcxml: build an lxml tree, serialize it."""
    root = etree.Element(f"{{{MARCXML_NS}}}record", nsmap={None: MARCXML_NS})
    etree.SubElement(root, f"{{{MARCXML_NS}}}leader").text = str(record.leader)
    for field in record.fields:
        if field.is_control_field():
            element = etree.SubElement(root, f"{{{MARCXML_NS}}}controlfield", tag=field.tag)
            element.text = field.data
            continue
        first, second = field.indicators or (" ", " ")
        element = etree.SubElement(
            root, f"{{{MARCXML_NS}}}datafield", tag=field.tag, ind1=first, ind2=second
        )
        for subfield in field.subfields:
            etree.SubElement(
                element, f"{{{MARCXML_NS}}}subfield", code=subfield.code
            ).text = subfield.value
    return etree.tostring(root, encoding="utf-8")


def serializer_rate(
    records: list[Record], serialize: Callable[[Record], bytes], repeat: int
) -> tuple[float, float]:
    return rate(len(records), lambda: [serialize(record) for record in records], repeat)


def optional(module: str, name: str) -> Callable[..., object] | None:
    try:
        return getattr(importlib.import_module(f"crosswalks.{module}"), name)
    except (ImportError, AttributeError):
        return None


def throughput_rows(
    count: int, directory: Path, repeat: int
) -> list[tuple[str, str, tuple[float, float]]]:
    path = sample_file(count, directory)
    records = [item.record for item in iter_records(path) if item.record is not None]
    rows = [
        (
            "ISO 2709 -> MARCXML",
            "koprik (read + write)",
            rate(count, lambda: ours_to_marcxml(path), repeat),
        ),
        (
            "ISO 2709 -> MARCXML",
            "yaz-marcdump",
            rate(
                count,
                lambda: subprocess.run(
                    ["yaz-marcdump", "-i", "marc", "-o", "marcxml", str(path)],
                    stdout=subprocess.DEVNULL,
                    check=True,
                ),
                repeat,
            ),
        ),
    ]
    from crosswalks.marcxml import record_to_marcxml

    rows.append(
        (
            "Record -> MARCXML",
            "koprik string building",
            serializer_rate(records, record_to_marcxml, repeat),
        )
    )
    rows.append(
        (
            "Record -> MARCXML",
            "lxml tree + tostring",
            serializer_rate(records, lxml_marcxml, repeat),
        )
    )
    for label, module, name in [
        ("MARC -> DC", "dublin_core", "marc_to_dc"),
        ("MARC -> MODS", "mods", "marc_to_mods"),
    ]:
        convert = optional(module, name)
        if convert is not None:
            rows.append((label, f"crosswalks.{module}", serializer_rate(records, convert, repeat)))  # type: ignore[arg-type]
    unimarc = optional("unimarc", "unimarc_to_marc21")
    if unimarc is not None:
        source = [
            i.record
            for i in iter_records(DATA / "unimarc" / "TEST1.ISO", "unimarc")
            if i.record is not None
        ]
        batch = (source * (count // max(len(source), 1) + 1))[:count]
        rows.append(
            (
                "UNIMARC -> MARC21",
                "crosswalks.unimarc",
                rate(len(batch), lambda: [unimarc(record) for record in batch], repeat),
            )
        )
    return rows


def peak_rss_mib(path: Path) -> float:
    """Peak RSS (VmHWM) of a child ``koprik crosswalk --to marcxml`` over ``path``.

    VmHWM belongs to the child's own address space; ``ru_maxrss`` would also count the
    parent's pages the child had before exec.
    """
    code = (
        "import re, sys; from koprik.cli import main; rc = main(sys.argv[1:]); "
        "status = open('/proc/self/status').read(); "
        "print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr); sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "crosswalk", "--to", "marcxml", str(path), "-o", "/dev/null"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return int(result.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best counts)")
    parser.add_argument("--memory", type=int, default=0, metavar="N")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        rows = throughput_rows(args.records, directory, max(args.repeat, 1))
        print(
            f"{'conversion':<22} {'implementation':<24} {'records/s':>10} {'per CPU s':>10}"
            f"   ({args.records:,})"
        )
        for label, implementation, (wall, cpu) in rows:
            print(f"{label:<22} {implementation:<24} {wall:>10,.0f} {cpu:>10,.0f}")
        if args.memory:
            small, large = args.memory // 10, args.memory
            small_rss = peak_rss_mib(sample_file(small, directory))
            large_rss = peak_rss_mib(sample_file(large, directory))
            print(
                f"\npeak RSS, koprik crosswalk --to marcxml: "
                f"{small:,} records {small_rss:.0f} MiB, {large:,} records {large_rss:.0f} MiB"
            )


if __name__ == "__main__":
    main()

"""Records/s of Koprik's MARC21 -> DC and MARC21 -> MODS crosswalks against the LoC stylesheets.

Usage: python bench/crosswalk_dc_mods.py [--records 10000]

The records are the LoC bibliographic samples (tests/data/marc21/loc), repeated. Each side
starts from what it naturally reads (a pymarc record for Koprik; a parsed MARCXML document of
one record for the stylesheets under lxml; a MARCXML collection file for xsltproc) and ends
with serialized bytes. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pymarc
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.peers, which knows how the LoC stylesheets unpack

from crosswalks.dublin_core import marc_to_dc  # noqa: E402
from crosswalks.mods import marc_to_mods  # noqa: E402
from crosswalks.xmltext import safe_parser, xml_safe  # noqa: E402
from tests.conftest import DATA  # noqa: E402
from tests.peers import unpack_loc_mods  # noqa: E402

LOC = DATA / "marc21" / "loc"
DC_XSL = Path("/usr/share/yaz/etc/MARC21slim2DC.xsl")


def loc_records() -> list[pymarc.Record]:
    records: list[pymarc.Record] = []
    for name in ("collection-2.xml", "collection-sandburg-1.xml"):
        records += pymarc.parse_xml_to_array(str(LOC / name), strict=True)
    with (LOC / "sample-marc.mrc").open("rb") as fh:
        records += [r for r in pymarc.MARCReader(fh, permissive=True) if r is not None]
    return records


def marcxml(record: pymarc.Record) -> bytes:
    return xml_safe(pymarc.record_to_xml(record, namespace=True).decode("utf-8")).encode("utf-8")


def stylesheet(path: Path) -> etree.XSLT:
    access = etree.XSLTAccessControl(read_network=False, write_network=False)
    return etree.XSLT(etree.parse(str(path), safe_parser()),
                      access_control=access)


def mods_stylesheet(folder: Path) -> etree.XSLT:
    return stylesheet(unpack_loc_mods(folder))


def rate(count: int, work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def per_record(
    transform: etree.XSLT, documents: Sequence[etree._ElementTree]
) -> Callable[[], None]:
    def run() -> None:
        for document in documents:
            bytes(transform(document))
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--mods-records", type=int, default=None,
                        help="records for the LoC MODS stylesheet (default: --records)")
    args = parser.parse_args()
    samples = loc_records()
    records = [samples[i % len(samples)] for i in range(args.records)]
    sample_docs = [etree.ElementTree(etree.fromstring(marcxml(r))) for r in samples]
    documents = [copy.deepcopy(sample_docs[i % len(samples)]) for i in range(args.records)]
    mods_count = args.mods_records or args.records

    rows: list[tuple[str, float]] = []
    rows.append(("marc_to_dc (Koprik)", rate(len(records), lambda: [marc_to_dc(r)
                                                                       for r in records])))
    rows.append(("MARC21slim2DC.xsl, lxml per record",
                 rate(len(documents), per_record(stylesheet(DC_XSL), documents))))
    with tempfile.TemporaryDirectory() as tmp:
        collection = Path(tmp) / "collection.xml"
        body = b"".join(etree.tostring(d.getroot()) for d in documents)
        collection.write_bytes(b'<collection xmlns="http://www.loc.gov/MARC21/slim">' + body
                               + b"</collection>")
        rows.append(("MARC21slim2DC.xsl, xsltproc over one collection",
                     rate(len(documents), lambda: subprocess.run(
                         ["xsltproc", "--nonet", str(DC_XSL), str(collection)],
                         stdout=subprocess.DEVNULL, check=True))))
        rows.append(("marc_to_mods (Koprik)", rate(len(records), lambda: [marc_to_mods(r)
                                                                             for r in records])))
        rows.append(("MARC21slim2MODS3-7.xsl, lxml per record",
                     rate(mods_count, per_record(mods_stylesheet(Path(tmp)),
                                                 documents[:mods_count]))))
    print(f"{'crosswalk':<50} {'records/s':>10}   ({args.records} records)")
    for name, value in rows:
        print(f"{name:<50} {value:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

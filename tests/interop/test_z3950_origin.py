"""The Z39.50 origin against real targets: Zebra (indexing yaz's marccol1 records) and
yaz-ztest (synthetic records, OPAC holdings, indefinite-length BER, closes on Scan); and the
``koprik z3950`` command against Zebra."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pymarc
import pytest
from lxml import etree

from catalog.demo import demo_records
from crosswalks.marc_io import record_to_iso2709
from harvester.z3950_origin import Z3950Client, Z3950Closed, Z3950Diagnostic, Z3950Error
from harvester.z3950_records import decode_usmarc
from koprik.cli import build_parser, handler_of
from protocols.z3950 import oids
from protocols.z3950.ber import to_definite
from protocols.z3950.charset import proposal_other_info
from protocols.z3950.codec import (
    OPTION_BITS,
    bit_string,
    decode_external,
    decode_pdu,
    encode_pdu,
)
from protocols.z3950.framing import read_pdu
from protocols.z3950.pqf import Term, parse_pqf, rpn_to_pdu
from tests.conftest import DATA, free_port
from tests.peers import running_zebra, wait_for_port

pytestmark = pytest.mark.interop

MARCCOL = DATA / "marc21" / "yaz" / "marccol1.u8.marc"
MARCXML = "{http://www.loc.gov/MARC21/slim}"
SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def source_titles() -> dict[str, str]:
    """245 $a of each marccol1 record, by its 001."""
    with MARCCOL.open("rb") as stream:
        reader = pymarc.MARCReader(stream, to_unicode=True, force_utf8=True)
        return {record["001"].data: record["245"]["a"] for record in reader}


@pytest.fixture(scope="module")
def zebra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    base = tmp_path_factory.mktemp("zebra")
    records = base / "records"
    records.mkdir()
    shutil.copy(MARCCOL, records / MARCCOL.name)
    with running_zebra(records, base / "work") as port:
        yield port


@pytest.fixture(scope="module")
def cyrillic_zebra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Zebra indexing the demo records (Uzbek and Russian, in Cyrillic and Latin)."""
    base = tmp_path_factory.mktemp("zebra-cyrillic")
    records = base / "records"
    records.mkdir()
    demo = b"".join(record_to_iso2709(record) for record in demo_records(40))
    (records / "demo.mrc").write_bytes(demo)
    with running_zebra(records, base / "work") as port:
        yield port


@pytest.fixture(scope="module")
def ztest() -> Iterator[int]:
    if shutil.which("yaz-ztest") is None:
        pytest.skip("yaz-ztest not installed")
    port = free_port()
    process = subprocess.Popen(
        ["yaz-ztest", f"tcp:127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- Zebra ----------------------------------------------------------------------------------


async def test_zebra_usmarc_titles_match_the_source(zebra: int) -> None:
    titles = source_titles()
    async with await Z3950Client.connect("127.0.0.1", zebra, "Default") as client:
        assert client.charset is not None and client.charset.charset == "UTF-8"
        hits = await client.search("@attr 1=1016 @attr 5=1 a")
        assert hits > 3
        records = await client.present(1, hits, syntax="usmarc")
    assert [record.position for record in records] == list(range(1, hits + 1))
    for retrieved in records:
        assert retrieved.syntax == oids.USMARC
        record = pymarc.Record(retrieved.data, force_utf8=True)
        assert record["245"]["a"] == titles[record["001"].data]


@pytest.mark.parametrize("charset", ["UTF-8", "iso-8859-1"])
async def test_terms_are_sent_in_the_character_set_agreed(zebra: int, charset: str) -> None:
    """A target that agreed to a character set reads query and scan terms in it: under
    ISO 8859-1 Zebra found nothing for ``hsüan`` sent in UTF-8 (2 under UTF-8). It sends its
    Scan answer's display terms in it too: the codec, reading every InternationalString as
    UTF-8, refused the whole answer ("undecodable answer to scanRequest")."""
    async with await Z3950Client.connect("127.0.0.1", zebra, "Default", charset) as client:
        assert client.charset is not None and client.charset.charset == charset
        assert await client.search("@attr 1=4 hsüan") == 2
        entries = await client.scan("@attr 1=4 hsüan", count=3)
        display = unicodedata.normalize("NFC", entries[0].display_term or "")
        term = unicodedata.normalize("NFC", entries[0].term)
        assert (term, display, entries[0].occurrences) == ("hsüan", "hsüan", 2)
        if charset != "UTF-8":  # a term the set cannot carry is refused, not sent mangled
            with pytest.raises(Z3950Error, match="'Ч', which the character set agreed with "
                               f"the target \\({charset}\\) lacks"):
                await client.search("@attr 1=4 Чўлпон")


@pytest.mark.parametrize(("charset", "start", "term"), [
    ("CP1251", "наказание", "наказание"), ("KOI8-R", "наказание", "наказание"),
    ("ISO-8859-5", "ўзбек", "Ўзбек"), ("CP1251", "ўзбек", "Ўзбек")])  # fmt: skip
async def test_scan_terms_are_read_as_the_target_sends_them(
    cyrillic_zebra: int, charset: str, start: str, term: str
) -> None:
    """A Scan answer's terms are OCTET STRINGs in the target's own form, which Zebra (its ICU
    index) sends in UTF-8 whatever the set agreed, its display terms in the set: read in the
    set agreed, ``наказание`` was ``РЅР°РєР°Р·Р°РЅРёРµ`` under CP1251 (and ``hsüan`` was
    ``hsuÌ\x88an`` under ISO 8859-1). YAZ leaves them as they came (yaz-client shows the display
    term, and scans on from the term's bytes)."""
    async with await Z3950Client.connect("127.0.0.1", cyrillic_zebra, "Default", charset) as client:
        assert client.charset is not None and client.charset.charset == charset
        entries = await client.scan(f"@attr 1=4 {start}", count=3)
    assert (entries[0].term, entries[0].display_term) == (term, term)
    assert all(entry.term == entry.display_term for entry in entries)


async def test_zebra_title_search_finds_the_record(zebra: int) -> None:
    async with await Z3950Client.connect("127.0.0.1", zebra, "Default") as client:
        assert await client.search('@attr 1=4 @attr 4=1 "Handa shishi"') == 1
        (retrieved,) = await client.present(1, 1)
        record = pymarc.Record(retrieved.data, force_utf8=True)
        assert record["245"]["a"] == "Handa shishi."
        assert await client.search("@and @attr 1=4 handa @attr 1=4 shishi", "two") == 1
        assert await client.search("@not @attr 1=4 handa @attr 1=4 shishi", "three") == 0


async def test_zebra_xml_and_sutrs(zebra: int) -> None:
    titles = source_titles()
    async with await Z3950Client.connect("127.0.0.1", zebra, "Default") as client:
        hits = await client.search("@attr 1=1016 @attr 5=1 a")
        xml_records = await client.present(1, hits, syntax="xml")
        sutrs_records = await client.present(1, hits, syntax="sutrs")
    for retrieved in xml_records:
        assert retrieved.syntax == oids.XML and retrieved.text is not None
        root = etree.fromstring(retrieved.data, SAFE_XML)
        control = root.find(f"{MARCXML}controlfield[@tag='001']").text
        title = root.find(f"{MARCXML}datafield[@tag='245']/{MARCXML}subfield[@code='a']").text
        assert title == titles[control]
    for retrieved, xml in zip(sutrs_records, xml_records, strict=True):
        assert retrieved.syntax == oids.SUTRS
        root = etree.fromstring(xml.data, SAFE_XML)
        title = root.find(f"{MARCXML}datafield[@tag='245']/{MARCXML}subfield[@code='a']").text
        assert title[:40] in retrieved.text  # Zebra wraps long SUTRS lines


async def test_zebra_scan(zebra: int) -> None:
    async with await Z3950Client.connect("127.0.0.1", zebra, "Default") as client:
        entries = await client.scan("@attr 1=4 shi", count=5)
        again = await client.scan(Term({1: 4}, "shi"), count=5)
    assert 1 <= len(entries) <= 5 and entries == again
    assert entries[0].term.lower() >= "shi"
    assert all(entry.occurrences and entry.occurrences > 0 for entry in entries)


async def test_zebra_diagnostics(zebra: int) -> None:
    async with await Z3950Client.connect("127.0.0.1", zebra, "Default") as client:
        with pytest.raises(Z3950Diagnostic) as unsupported:
            await client.search("@attr 1=9999 x")
        assert unsupported.value.code == 114 and unsupported.value.addinfo == "9999"
        hits = await client.search("@attr 1=4 handa")
        with pytest.raises(Z3950Diagnostic) as out_of_range:
            await client.present(hits + 5, 1)
        assert out_of_range.value.code == 13
        with pytest.raises(Z3950Diagnostic) as syntax:
            await client.present(1, 1, syntax="opac")
        assert syntax.value.code == 239
    async with await Z3950Client.connect("127.0.0.1", zebra, "NoSuchDb") as client:
        with pytest.raises(Z3950Diagnostic) as database:
            await client.search("x")
        assert database.value.code in (109, 235)


async def test_zebra_marc8_is_asked_for_without_negotiation(zebra: int) -> None:
    """Zebra selects a proposed MARC-8 and then cannot encode its Init response (its
    implementationId "81" is too short for YAZ's MARC-8 encoder): it closed with
    '1Unknown Error'. MARC-8 is not proposed; the records are read as they come."""
    titles = source_titles()
    async with await Z3950Client.connect("127.0.0.1", zebra, "Default", "marc-8") as client:
        assert client.charset is None
        hits = await client.search("@attr 1=1016 @attr 5=1 a")
        assert hits > 3
        records = await client.present(1, hits, syntax="usmarc")
    for retrieved in records:
        record = decode_usmarc(retrieved.data, "marc-8")
        assert record["245"]["a"] == titles[record["001"].data]


async def test_zebra_close_names_its_reason_apart_from_its_text(zebra: int) -> None:
    """What Zebra answers a MARC-8 proposal (yaz-client's proposal, byte for byte): a Close whose
    text starts with the "1" of "81" left in its MARC-8 encoder; its reason is said apart."""
    reader, writer = await asyncio.open_connection("127.0.0.1", zebra)
    client = Z3950Client(reader, writer, "Default", 10.0)
    init = {
        "protocolVersion": bit_string([0, 1, 2]),
        "options": bit_string([OPTION_BITS["search"], OPTION_BITS["negotiationModel"]]),
        "preferredMessageSize": 1 << 20,
        "exceptionalRecordSize": 1 << 20,
        "otherInfo": proposal_other_info("marc-8"),
    }
    with pytest.raises(Z3950Closed) as closed:
        await client._request("initRequest", init, "initResponse")
    said = str(closed.value)
    assert said.startswith('target closed the association: system problem (reason 2), saying "')
    assert said.endswith('Unknown Error"')
    await client.close()


def run_command(*argv: str) -> int:
    args = build_parser().parse_args(["z3950", *argv])
    return int(handler_of(args)(args))


def test_command_writes_iso2709_and_prints_mrk(
    zebra: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.mrc"
    target = f"127.0.0.1:{zebra}/Default"
    assert run_command(target, "@attr 1=1016 @attr 5=1 a", "--max", "3", "-o", str(output)) == 0
    dumped = subprocess.run(
        ["yaz-marcdump", str(output)], check=True, capture_output=True, text=True
    ).stdout
    assert dumped.count("\n245 ") == 3
    assert run_command(target, '@attr 1=4 "Handa shishi"') == 0
    printed = capsys.readouterr().out
    assert "=245  10$aHanda shishi." in printed or "$aHanda shishi." in printed
    assert printed.startswith("=LDR  ")


def test_command_with_marc8_prints_the_records(
    zebra: int, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"127.0.0.1:{zebra}/Default"
    assert run_command(target, '@attr 1=4 "Handa shishi"', "--charset", "marc-8") == 0
    captured = capsys.readouterr()
    assert "$aHanda shishi." in captured.out
    assert captured.err.startswith("z3950: 1 hits, 1 records retrieved")


# --- yaz-ztest ------------------------------------------------------------------------------


async def test_ztest_usmarc_sutrs_opac(ztest: int) -> None:
    async with await Z3950Client.connect("127.0.0.1", ztest, "Default") as client:
        hits = await client.search("@attr 1=4 computer")
        assert hits > 3
        (sutrs,) = await client.present(2, 1, syntax="sutrs")
        assert sutrs.text == "This is dummy SUTRS record number 2\n"
        (marc,) = await client.present(1, 1, syntax="usmarc")
        (opac,) = await client.present(1, 1, syntax="opac")
    usmarc = pymarc.Record(marc.data)
    assert usmarc["245"]["a"] == "How to program a computer"
    assert opac.syntax == oids.OPAC and opac.bibliographic_syntax == oids.USMARC
    assert opac.data == marc.data
    holding = opac.holdings[0]
    assert holding["callNumber"] == "MLCM 89/00602 (N)"
    assert holding["circulationData"][0]["availableNow"] is True


async def test_ztest_xml_is_the_same_record_as_usmarc(ztest: int) -> None:
    async with await Z3950Client.connect("127.0.0.1", ztest, "Default") as client:
        await client.search("@attr 1=4 computer")
        # yaz-ztest has XML only for its default element set
        (xml,) = await client.present(3, 1, syntax="xml", element_set=None)
        (marc,) = await client.present(3, 1, syntax="usmarc", element_set=None)
    root = etree.fromstring(xml.data, SAFE_XML)
    title = root.find(f"{MARCXML}datafield[@tag='245']/{MARCXML}subfield[@code='a']").text
    assert pymarc.Record(marc.data)["245"]["a"] == title


async def test_ztest_closes_on_scan(ztest: int) -> None:
    client = await Z3950Client.connect("127.0.0.1", ztest, "Default")
    with pytest.raises(Z3950Closed):
        await client.scan("@attr 1=4 a")
    await client.close()  # harmless after the target closed


async def test_ztest_sends_indefinite_lengths_that_decode(ztest: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", ztest)
    init = {
        "protocolVersion": bit_string([0, 1, 2]),
        "options": bit_string([0, 1]),
        "preferredMessageSize": 1 << 20,
        "exceptionalRecordSize": 1 << 20,
    }
    search = {
        "smallSetUpperBound": 0,
        "largeSetLowerBound": 1,
        "mediumSetPresentNumber": 0,
        "replaceIndicator": True,
        "resultSetName": "default",
        "databaseNames": ["Default"],
        "query": ("type-1", rpn_to_pdu(parse_pqf("@attr 1=4 computer"))),
    }
    present = {
        "resultSetId": "default",
        "resultSetStartPoint": 1,
        "numberOfRecordsRequested": 2,
        "preferredRecordSyntax": oids.OPAC,
    }
    raw = []
    try:
        for name, value in (("initRequest", init), ("searchRequest", search),
                            ("presentRequest", present)):  # fmt: skip
            writer.write(encode_pdu(name, value))
            raw.append(await read_pdu(reader, 1 << 20))
    finally:
        writer.close()
    assert to_definite(raw[2]) != raw[2]  # the OPAC answer really uses indefinite lengths
    name, response = decode_pdu(raw[2])
    assert name == "presentResponse" and response["numberOfRecordsReturned"] == 2
    opac = decode_external(response["records"][1][0]["record"][1])
    assert opac["holdingsData"][0][1]["nucCode"] == "s-FM/GC"


def test_command_with_a_term_the_agreed_set_lacks_is_one_line(
    zebra: int, tmp_path: Path
) -> None:
    """The refusal came after the association was open, where neither the command nor a
    harvest expected it: a traceback."""
    config = tmp_path / "k.toml"
    config.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "koprik", "--config", str(config), "z3950",
         f"127.0.0.1:{zebra}/Default", "@attr 1=4 Чўлпон", "--charset", "iso-8859-1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"koprik: 127.0.0.1:{zebra}/Default: the term 'Чўлпон' has 'Ч', which the character "
        "set agreed with the target (iso-8859-1) lacks"], done.stderr

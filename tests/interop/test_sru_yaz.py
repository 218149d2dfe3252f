"""SRU of a real ``koprik serve`` as yaz-client sees it (``sru get 1.2``, ``sru post 1.1``,
``sru get 2.0``: find, show, scan, and sorting with CQL ``sortBy``), and the same searches over
Z39.50 (PQF, yaz-client) and SRU (CQL) finding the same records.

The catalogue holds the hand-made records of ``tests.z3950_target_fixtures``; each pair names
exactly the 001s both protocols must find.
"""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from tests.servers import RunningKoprik, koprik_serve
from tests.z3950_target_fixtures import (
    ISBN_KHAMSA,
    ISSN_UZB_HISTORY,
    NAVOIY,
    OZBEKISTON,
    SHARQ,
    TOSHKENT,
    catalog_holding,
    handmade_records,
    sqlite_settings,
    yaz_client,
)

pytestmark = pytest.mark.interop

HYPHENATED_KHAMSA = f"{ISBN_KHAMSA[:3]}-{ISBN_KHAMSA[3:7]}-{ISBN_KHAMSA[7:12]}-{ISBN_KHAMSA[12]}"

# (PQF over Z39.50, CQL over SRU, the 001s both find)
PAIRS: list[tuple[str, str, set[str]]] = [
    ("@attr 1=4 xamsa", "dc.title = xamsa", NAVOIY),
    ("@attr 1=1003 navoiy", "dc.creator = navoiy", NAVOIY),
    ("@attr 1=1003 навоий", "dc.creator = навоий", NAVOIY),
    ("@attr 1=1003 navoiĭ", "bath.name = navoiĭ", NAVOIY),
    (f"@attr 1=7 {ISBN_KHAMSA}", f"bath.isbn = {ISBN_KHAMSA}", {"uz-nav-cyr"}),
    (f"@attr 1=8 {ISSN_UZB_HISTORY}", f"bath.issn = {ISSN_UZB_HISTORY}", {"uz-history-cyr"}),
    ("@attr 1=21 adabiyoti", "dc.subject = adabiyoti", {"uz-nav-cyr", "uz-nav-lat"}),
    ("@attr 1=31 1996", "dc.date = 1996", {"en-heritage"}),
    ("@attr 1=31 @attr 2=1 1991", "dc.date < 1991", {"us-nav-alalc", "ru-tolstoy"}),
    ("@attr 1=31 @attr 2=4 2010", "dc.date >= 2010", {"uz-ovozi", "uz-nav-lat"}),
    ("@attr 1=12 uz-ovozi", "rec.identifier = uz-ovozi", {"uz-ovozi"}),
    ('@attr 1=1007 "(OCoLC)123456789"', 'dc.identifier = "(OCoLC)123456789"',
     {"uz-history-lat"}),
    # an ISBN or ISSN written with hyphens, as catalogued, in the identifier and any indexes
    # (which hold it without them): the groups were sought as words, and nothing was found
    (f"@attr 1=1007 {HYPHENATED_KHAMSA}", f"dc.identifier = {HYPHENATED_KHAMSA}",
     {"uz-nav-cyr"}),
    (f"@attr 1=1016 {ISSN_UZB_HISTORY}", ISSN_UZB_HISTORY, {"uz-history-cyr"}),
    (f"@attr 1=1016 {HYPHENATED_KHAMSA}", f'"xamsa {HYPHENATED_KHAMSA}"', {"uz-nav-cyr"}),
    ("@attr 1=1016 sharq", "cql.anywhere = sharq", SHARQ),
    ("@attr 1=1016 toshkent", "cql.anywhere = toshkent", TOSHKENT),
    ("тошкент", "тошкент", TOSHKENT),
    ("@attr 1=1018 sharq", "dc.publisher = sharq", SHARQ),
    ("@attr 1=54 eng", "dc.language = eng", {"en-heritage"}),
    ("@and @attr 1=1003 navoiy @attr 1=31 1991", "dc.creator = navoiy and dc.date = 1991",
     {"uz-nav-cyr"}),
    ("@or @attr 1=4 voyna @attr 1=1003 frye", "dc.title = voyna or dc.creator = frye",
     {"ru-tolstoy", "en-heritage"}),
    ("@not @attr 1=1003 navoiy @attr 1=31 1991", "dc.creator = navoiy not dc.date = 1991",
     {"uz-nav-lat", "us-nav-alalc"}),
    ('@attr 1=4 @attr 4=1 @attr 6=3 "ozbekiston tarixi"', 'dc.title exact "ozbekiston tarixi"',
     {"uz-history-cyr", "uz-history-lat"}),
    ("@attr 1=4 @attr 4=1 @attr 6=3 tarixi", "dc.title exact tarixi", set()),
    ('@attr 1=4 @attr 4=1 "besh doston"', 'dc.title adj "besh doston"',
     {"uz-nav-cyr", "uz-nav-lat"}),
    ('@attr 1=4 @attr 4=1 "doston besh"', 'dc.title adj "doston besh"', set()),
    ("@attr 1=4 @attr 5=1 ozbek", "dc.title = ozbek*", OZBEKISTON),
    ('@attr 1=4 @attr 4=1 @attr 5=1 "ozbekiston o"', 'dc.title exact "ozbekiston o*"',
     {"uz-ovozi"}),
    ('@attr 1=4 "heritage central"', 'dc.title all "heritage central"', {"en-heritage"}),
    ("@or @attr 1=4 heritage @attr 1=4 xamsa", 'dc.title any "heritage xamsa"',
     NAVOIY | {"en-heritage"}),
    ("@attr 1=4 o'zbekiston", "dc.title = o'zbekiston", OZBEKISTON),
]  # fmt: skip


@pytest.fixture(scope="module")
def koprik(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningKoprik]:
    folder = tmp_path_factory.mktemp("sru-serve")
    catalog_holding(sqlite_settings(folder), handmade_records()).close()
    with koprik_serve(folder) as running:
        yield running


def sru_locals(koprik: RunningKoprik, query: str) -> set[str]:
    params = urllib.parse.urlencode({"query": query, "maximumRecords": "100"})
    with urllib.request.urlopen(f"http://127.0.0.1:{koprik.http_port}/sru?{params}",
                                timeout=60) as response:  # fmt: skip
        root = etree.fromstring(response.read())
    assert root.find(".//{*}diagnostic") is None, etree.tostring(root)
    return set(root.xpath("//m:controlfield[@tag='001']/text()",
                          namespaces={"m": "http://www.loc.gov/MARC21/slim"}))  # fmt: skip


def z3950_locals(koprik: RunningKoprik, queries: list[str], folder: Path) -> list[set[str]]:
    commands = ["format sutrs", "elements B"]
    for query in queries:
        commands += [f"find {query}", "show 1+20"]
    output = yaz_client(koprik.z3950_port, commands, folder=folder)
    segments = output.split("Sent searchRequest.")[1:]
    return [set(re.findall(r"^=001  (\S+)", segment, re.M)) for segment in segments]


def test_z3950_and_sru_find_the_same_records(koprik: RunningKoprik, tmp_path: Path) -> None:
    assert len(PAIRS) >= 20
    over_z3950 = z3950_locals(koprik, [pqf for pqf, _, _ in PAIRS], tmp_path)
    assert len(over_z3950) == len(PAIRS)
    for (pqf, cql, expected), found in zip(PAIRS, over_z3950, strict=True):
        assert found == expected, pqf
        assert sru_locals(koprik, cql) == expected, cql


def yaz_sru(koprik: RunningKoprik, mode: str, commands: list[str], folder: Path) -> str:
    path = folder / "sru.cmd"
    lines = [f"sru {mode}", f"open http://127.0.0.1:{koprik.http_port}/sru", *commands, "quit"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(["yaz-client", "-f", str(path)], capture_output=True, timeout=120,
                          check=False)  # fmt: skip
    return done.stdout.decode("utf-8", errors="replace")


@pytest.mark.parametrize("mode", ["get 1.2", "post 1.1", "get 2.0"])
def test_yaz_client_in_sru_mode(koprik: RunningKoprik, tmp_path: Path, mode: str) -> None:
    output = yaz_sru(koprik, mode, [
        "find dc.creator=navoiy sortBy dc.date/sort.descending",
        "show 1+3",
        "scan dc.title=ozbek",
        "find cql.anywhere=toshkent",
        "find dc.title=",
    ], tmp_path)  # fmt: skip
    assert "Received SRW SearchRetrieve Response" in output
    assert re.findall(r"Number of hits: (\d+)", output)[:3] == ["3", "3", "5"]
    shown = re.findall(r'<controlfield tag="001">([^<]+)</controlfield>', output)
    assert shown == ["uz-nav-lat", "uz-nav-cyr", "us-nav-alalc"]  # 2015, 1991, 1970
    assert "Received SRW Scan Response" in output
    # the key, shown as the first record with it catalogued it, with its count
    assert re.search(r"^Ўзбекистон: 4 \w+ ozbekiston$", output, re.M), output
    assert "SRW diagnostic info:srw/diagnostic/1/10" in output
    assert "Details: position 10: unexpected end of query" in output


@pytest.mark.parametrize("mode", ["get 1.2", "get 2.0"])
def test_yaz_client_gets_srw_dc_for_schema_dc(koprik: RunningKoprik, tmp_path: Path,
                                             mode: str) -> None:  # fmt: skip
    """yaz-client asking for ``schema dc`` is sent SRU's Dublin Core (``srw_dc:dc``); it
    was sent OAI-PMH's ``oai_dc:dc``."""
    output = yaz_sru(koprik, mode, ["schema dc", "find dc.creator=navoiy", "show 1+3"], tmp_path)
    assert set(re.findall(r"Number of hits: (\d+)", output)) == {"3"}, output
    roots = re.findall(r"<(\w+:dc) xmlns:\1?\w*=\"([^\"]+)\"", output)
    assert roots == [("srw_dc:dc", "info:srw/schema/1/dc-schema")] * 3, output
    assert output.count("<dc:creator>") >= 3, output


@pytest.mark.parametrize("port", ["http", "z3950"])
def test_a_soap_request_gets_a_soap_fault(koprik: RunningKoprik, tmp_path: Path, port: str) -> None:
    """SRU's SOAP binding is not served: yaz-client's ``sru soap`` got an SRU 2.0 explain
    record where it waited for its search; now a SOAP fault saying how to ask."""
    where = {"http": f"{koprik.http_port}/sru", "z3950": f"{koprik.z3950_port}/Default"}[port]
    path = tmp_path / "soap.cmd"
    path.write_text(f"sru soap 1.2\nopen http://127.0.0.1:{where}\nfind dc.creator=navoiy\n"
                    "quit\n", encoding="utf-8")  # fmt: skip
    done = subprocess.run(["yaz-client", "-f", str(path)], capture_output=True, timeout=120,
                          check=False)  # fmt: skip
    output = done.stdout.decode("utf-8", errors="replace")
    assert "SRU over SOAP is not served here" in output, output
    assert "explain" not in output.lower()


@pytest.mark.parametrize("port", ["http", "z3950"])
def test_a_soap_12_request_gets_a_soap_12_fault(koprik: RunningKoprik, port: str) -> None:
    """A SOAP 1.2 client reads a 1.1 envelope as a version mismatch: its fault is in 1.2."""
    where = {"http": f"{koprik.http_port}/sru", "z3950": f"{koprik.z3950_port}/Default"}[port]
    request = urllib.request.Request(
        f"http://127.0.0.1:{where}", method="POST",
        data=b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"/>',
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=60)
    assert answer.value.code == 400
    assert answer.value.headers["Content-Type"].startswith("application/soap+xml")
    envelope = etree.fromstring(answer.value.read())
    assert envelope.tag == "{http://www.w3.org/2003/05/soap-envelope}Envelope"
    assert "not served here" in "".join(envelope.itertext())


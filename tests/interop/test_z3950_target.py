"""Our Z39.50 target as yaz-client sees it: command files run with ``yaz-client -f``.

The catalogue holds the hand-made records of ``tests.z3950_target_fixtures``; every search names
exactly the 001s it must find. Records are shown as SUTRS with element set B, whose text keeps
the 001, so the test reads which records came back from what yaz-client printed.
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree
from pymarc import Field, Indicators, Leader, Record, Subfield

from catalog.demo import demo_records
from config import load_settings
from crosswalks.dublin_core import marc_languages
from tests.servers import koprik_serve, write_config
from tests.z3950_target_fixtures import (
    ISBN10_HERITAGE,
    ISBN_KHAMSA,
    ISSN_UZB_HISTORY,
    NAVOIY,
    OZBEKISTON,
    TOSHKENT,
    catalog_holding,
    handmade_records,
    running_target,
    yaz_client,
)

pytestmark = pytest.mark.interop

HYPHENATED_KHAMSA = f"{ISBN_KHAMSA[:3]}-{ISBN_KHAMSA[3:7]}-{ISBN_KHAMSA[7:12]}-{ISBN_KHAMSA[12]}"

# (PQF query, the 001s it must find)
SEARCHES: list[tuple[str, set[str]]] = [
    # Use attributes
    ("@attr 1=4 xamsa", NAVOIY),
    ("@attr 1=4 tarixi", {"uz-history-cyr", "uz-history-lat"}),
    ("@attr 1=1003 frye", {"en-heritage"}),
    ("@attr 1=1003 толстой", {"ru-tolstoy"}),
    (f"@attr 1=7 {HYPHENATED_KHAMSA}", {"uz-nav-cyr"}),
    (f"@attr 1=7 {ISBN10_HERITAGE}", {"en-heritage"}),
    ("@attr 1=7 9780521801652", {"en-heritage"}),
    (f"@attr 1=8 {ISSN_UZB_HISTORY}", {"uz-history-cyr"}),
    (f"@attr 1=8 {ISSN_UZB_HISTORY.replace('-', '')}", {"uz-history-cyr"}),
    ("@attr 1=21 adabiyoti", {"uz-nav-cyr", "uz-nav-lat"}),
    ("@attr 1=21 тарих", {"uz-history-cyr"}),
    ("@attr 1=31 1996", {"en-heritage"}),
    ("@attr 1=12 uz-ovozi", {"uz-ovozi"}),
    ('@attr 1=1007 "(OCoLC)123456789"', {"uz-history-lat"}),
    (f"@attr 1=1007 {ISBN10_HERITAGE}", {"en-heritage"}),
    ("@attr 1=1007 https://example.org/heritage", {"en-heritage"}),
    # an ISBN or ISSN written with hyphens, as catalogued, finds the record in the identifier
    # and any indexes too, which hold it without them, as Zebra finds it (nothing was found)
    (f"@attr 1=1007 {HYPHENATED_KHAMSA}", {"uz-nav-cyr"}),
    (f"@attr 1=1016 {HYPHENATED_KHAMSA}", {"uz-nav-cyr"}),
    (f"@attr 1=1007 {ISSN_UZB_HISTORY}", {"uz-history-cyr"}),
    ("@attr 1=1007 0-521-80165-6", {"en-heritage"}),
    # ... while text that reads like an ISSN is still found as the words it is
    ("@attr 1=1016 1441-1501", NAVOIY),
    ("@attr 1=1016 sharq", {"uz-nav-cyr", "uz-nav-lat", "uz-history-lat"}),
    ("@attr 1=1016 1441", NAVOIY),
    # "any" is every text field: place of publication (260/264 $a) too, in any script
    ("@attr 1=1016 toshkent", TOSHKENT),
    ("@attr 1=1016 тошкент", TOSHKENT),
    ("@attr 1=1016 gazeta", {"uz-ovozi"}),
    # Booleans
    ("@and @attr 1=1003 navoiy @attr 1=31 1991", {"uz-nav-cyr"}),
    ("@or @attr 1=4 voyna @attr 1=1003 frye", {"ru-tolstoy", "en-heritage"}),
    ("@not @attr 1=1003 navoiy @attr 1=31 1991", {"uz-nav-lat", "us-nav-alalc"}),
    # Phrase against word
    ('@attr 1=4 @attr 4=1 "ozbekiston tarixi"', {"uz-history-cyr", "uz-history-lat"}),
    ("@attr 1=4 @attr 4=2 tarixi", {"uz-history-cyr", "uz-history-lat"}),
    ('@attr 1=4 @attr 4=1 "heritage of central asia"', {"en-heritage"}),
    # a phrase stands anywhere in the field, its words next to each other and in order, as in
    # Zebra (it had to be the whole field: "besh doston" found nothing); 6=3: the whole field
    ("@attr 1=4 @attr 4=1 tarixi", {"uz-history-cyr", "uz-history-lat"}),
    ('@attr 1=4 @attr 4=1 "besh doston"', {"uz-nav-cyr", "uz-nav-lat"}),
    ('@attr 1=4 @attr 4=1 "of central"', {"en-heritage"}),
    ('@attr 1=4 @attr 4=1 "central of"', set()),
    ('@attr 1=4 @attr 4=1 "heritage central"', set()),
    ('@attr 1=4 @attr 4=1 "asia from"', {"en-heritage"}),
    ("@attr 1=4 @attr 4=1 @attr 6=3 tarixi", set()),
    # First in field: the title begins with the words (it was the whole title), 6=3 the whole
    ("@attr 1=4 @attr 3=1 voyna", {"ru-tolstoy"}),
    ('@attr 1=4 @attr 3=1 @attr 4=1 "voyna i"', {"ru-tolstoy"}),
    ("@attr 1=4 @attr 3=1 @attr 6=3 voyna", set()),
    ("@attr 1=4 @attr 3=1 voyn", set()),
    # Right truncation
    ("@attr 1=4 @attr 5=1 ozbek", OZBEKISTON),
    ("@attr 1=4 @attr 5=100 ozbek", set()),
    ('@attr 1=4 @attr 4=1 @attr 5=1 "ozbekiston o"', {"uz-ovozi"}),
    # Date relations on 1=31
    ("@attr 1=31 @attr 2=1 1991", {"us-nav-alalc", "ru-tolstoy"}),
    ("@attr 1=31 @attr 2=2 1991", {"us-nav-alalc", "ru-tolstoy", "uz-nav-cyr"}),
    ("@attr 1=31 @attr 2=3 1991", {"uz-nav-cyr"}),
    ("@attr 1=31 @attr 2=4 2010", {"uz-ovozi", "uz-nav-lat"}),
    ("@attr 1=31 @attr 2=5 2010", {"uz-nav-lat"}),
    # Structure year: the year as the date index reads it, as a relation takes it (it was
    # judged as typed, so "[1991]" was 126); truncated, the beginning of a year
    ("@attr 1=31 @attr 4=4 [1991]", {"uz-nav-cyr"}),
    ("@attr 1=31 @attr 4=4 @attr 5=1 201", {"uz-ovozi", "uz-nav-lat"}),
    ("@attr 1=31 @attr 4=5 1991", {"uz-nav-cyr"}),  # structure date (normalized): a year too
    # Script-blind search
    ("@attr 1=1003 navoiy", NAVOIY),
    ("@attr 1=1003 навоий", NAVOIY),
    ("@attr 1=1003 navoiĭ", NAVOIY),
    ("@attr 1=4 o'zbekiston", OZBEKISTON),
    ("@attr 1=4 o‘zbekiston", OZBEKISTON),
    ("@attr 1=4 oʻzbekiston", OZBEKISTON),
    ("@attr 1=4 ўзбекистон", OZBEKISTON),
    ("@attr 1=4 Ŭzbekiston", OZBEKISTON),
    # ALA-LC ĭ typed as i, without its breve, as é is typed e; truncation where a y stands
    ("@attr 1=4 voina", {"ru-tolstoy"}),
    ('@attr 1=4 @attr 4=1 "voina i mir"', {"ru-tolstoy"}),
    ("@attr 1=1003 tolstoi", {"ru-tolstoy"}),
    ("@attr 1=4 @attr 5=1 voi", {"ru-tolstoy"}),
    ("@attr 1=4 @attr 5=1 adabiy", {"us-adabiyoti"}),
    # truncation inside ALA-LC's kh (1995 x, Cyrillic х)
    ("@attr 1=4 @attr 5=1 tarik", {"uz-history-cyr", "uz-history-lat"}),
    ("@attr 1=4 @attr 5=1 k", NAVOIY),
    ('@attr 1=4 @attr 4=1 @attr 5=1 "ozbekiston tarik"', {"uz-history-cyr", "uz-history-lat"}),
    # a truncated phrase at any position stands anywhere in the field (it had to begin it)
    ('@attr 1=4 @attr 4=1 @attr 5=1 "central asi"', {"en-heritage"}),
    ('@attr 1=4 @attr 4=1 @attr 5=1 "heritage centr"', set()),
]  # fmt: skip


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running_target(tmp_path_factory.mktemp("z3950"), handmade_records()) as running:
        yield running.port


@pytest.fixture
def yaz(target: int, tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(*commands: str, utf8: bool = True) -> str:
        return yaz_client(target, list(commands), folder=tmp_path, utf8=utf8)

    return run


def found_ids(output: str) -> list[set[str]]:
    """The 001s shown after each search of a yaz-client run (SUTRS, element set B)."""
    segments = output.split("Sent searchRequest.")[1:]
    return [set(re.findall(r"^=001  (\S+)", segment, re.M)) for segment in segments]


def unescape(output: str) -> str:
    """yaz-client prints the non-ASCII bytes of a SUTRS record as ``\\XHH``; undo that."""
    return re.sub(
        r"(?:\\X[0-9A-F]{2})+",
        lambda m: bytes.fromhex(m[0].replace("\\X", "")).decode("utf-8", "replace"),
        output,
    )


def hits(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"Number of hits: (\d+)", output)]


def test_charset_utf8_is_accepted(yaz) -> None:  # type: ignore[no-untyped-def]
    output = yaz()
    assert "Connection accepted by v3 target." in output
    assert "Accepted character set : UTF-8" in output


@pytest.mark.parametrize("start", range(0, len(SEARCHES), 20))
def test_every_search_finds_exactly_its_records(yaz, start: int) -> None:  # type: ignore[no-untyped-def]
    searches = SEARCHES[start : start + 20]
    commands = ["format sutrs", "elements B"]
    for query, _ in searches:
        commands += [f"find {query}", "show 1+20"]
    output = yaz(*commands)
    found = found_ids(output)
    counts = hits(output)
    assert len(found) == len(searches) == len(counts), output
    for (query, expected), ids, count in zip(searches, found, counts, strict=True):
        assert (ids, count) == (expected, len(expected)), query


def test_forty_searches_in_one_session_all_answer(yaz) -> None:  # type: ignore[no-untyped-def]
    """yaz-client names every result set (1, 2, ...); beyond the session's 32 sets the least
    recently used is evicted instead of refusing the search (diagnostic 112)."""
    output = yaz(*["find @attr 1=4 xamsa"] * 40, "find @set 1", "find @set 40")
    assert hits(output) == [3] * 40 + [0, 3]
    assert "[112]" not in output
    assert "[30] Specified result set does not exist -- v2 addinfo '1'" in output


def test_present_usmarc_in_utf8_and_brief(yaz) -> None:  # type: ignore[no-untyped-def]
    output = yaz("format usmarc", "find @attr 1=12 uz-nav-cyr", "elements F", "show 1+1",
                 "elements B", "show 1+1")  # fmt: skip
    full, brief = output.split("Sent presentRequest")[1:]
    assert "001 uz-nav-cyr" in full and "Навоий, Алишер" in full and "650" in full
    assert re.search(r"^\d{5}nam a", full, re.M)  # leader/09 a: UTF-8
    assert "245 10 $a Хамса : $b беш достон" in brief
    assert "650" not in brief and "020" in brief and "260" in brief
    # every syntax's brief record has the leader of the brief record: in XML and SUTRS it was
    # the full record's (its length and base address)
    usmarc_leader = re.search(r"^(\d{5}nam a\d{7}.{7})$", brief, re.M)
    assert usmarc_leader is not None, brief
    others = yaz("find @attr 1=12 uz-nav-cyr", "elements B", "format xml", "show 1+1",
                 "format sutrs", "show 1+1")  # fmt: skip
    xml, sutrs = others.split("Sent presentRequest")[1:]
    assert f"<leader>{usmarc_leader[1]}</leader>" in xml
    assert f"=LDR  {usmarc_leader[1]}" in sutrs


def test_present_usmarc_in_marc8(yaz) -> None:  # type: ignore[no-untyped-def]
    output = yaz("format usmarc", "elements marc8", "find @attr 1=12 uz-nav-cyr", "show 1+1")
    record = output.split("Sent presentRequest")[1]
    assert "\x1b(N" in record  # Cyrillic through the MARC-8 escape to basic Cyrillic
    assert re.search(r"^\d{5}nam  ", record, re.M)  # leader/09 blank: MARC-8


def test_marc8_when_utf8_was_not_negotiated(yaz) -> None:  # type: ignore[no-untyped-def]
    output = yaz("format usmarc", "find @attr 1=12 uz-nav-cyr", "show 1+1", utf8=False)
    assert "\x1b(N" in output.split("Sent presentRequest")[1]


@pytest.mark.parametrize(
    ("element_set", "expected"),
    [
        ("marcxml", '<controlfield tag="001">uz-nav-cyr</controlfield>'),
        ("F", '<controlfield tag="001">uz-nav-cyr</controlfield>'),
        ("dc", "<dc:title>Хамса : беш достон</dc:title>"),
        ("mods", "<title>Хамса</title>"),
        ("B", '<datafield tag="020" ind1=" " ind2=" ">'),
    ],
)
def test_present_xml(yaz, element_set: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    output = yaz("format xml", f"elements {element_set}", "find @attr 1=12 uz-nav-cyr",
                 "show 1+1")  # fmt: skip
    record = output.split("Sent presentRequest")[1]
    assert "Record type: XML" in record
    assert expected in record


def test_application_xml_is_xml_and_html_is_refused(yaz) -> None:  # type: ignore[no-untyped-def]
    """application-xml (1.2.840.10003.5.109.11) is XML as text-xml (.10) is; html (.109.3) is
    a syntax we do not have (.109.3 was taken for application-xml: html got MARCXML, and
    application-xml 239)."""
    output = yaz("find @attr 1=12 uz-nav-cyr", "format application-xml", "show 1+1",
                 "format html", "show 1+1")  # fmt: skip
    as_xml, as_html = output.split("Sent presentRequest")[1:]
    assert '<controlfield tag="001">uz-nav-cyr</controlfield>' in as_xml
    assert ("[239] Record syntax not supported -- v2 addinfo '1.2.840.10003.5.109.3'"
            in as_html)  # fmt: skip


def test_present_sutrs(yaz) -> None:  # type: ignore[no-untyped-def]
    output = yaz("format sutrs", "find @attr 1=12 ru-tolstoy", "show 1+1")
    record = unescape(output.split("Sent presentRequest")[1])
    assert "Record type: SUTRS" in record
    assert "=245  10$aВойна и мир" in record


def test_scan_shows_catalogued_forms_with_counts(yaz) -> None:  # type: ignore[no-untyped-def]
    """One entry per index key, shown (displayTerm) as the first record with it catalogued it."""
    output = yaz("scansize 3", "scanpos 2", "scan @attr 1=4 tarixi")
    assert "3 entries, position=2" in output
    lines = re.findall(r"^[* ] (\S.*) \((\d+)\)$", output, re.M)
    assert lines == [("Ўзбекистон", "4"), ("тарихи", "2"), ("The", "1")]
    phrases = yaz("scan @attr 1=4 @attr 4=1 ozbekiston")
    assert ("Ўзбекистон тарихи", "2") in re.findall(r"^[* ] (\S.*) \((\d+)\)$", phrases, re.M)
    places = yaz("scansize 1", "scan @attr 1=1016 toshkent")
    assert re.findall(r"^[* ] (\S.*) \((\d+)\)$", places, re.M) == [("Тошкент", "5")]
    # an ISBN written with hyphens starts the scan at its key (it started at the key of "978")
    numbers = yaz("scansize 1", f"scan @attr 1=1007 {HYPHENATED_KHAMSA}")
    assert re.findall(r"^[* ] (\S.*) \((\d+)\)$", numbers, re.M) == [(ISBN_KHAMSA, "1")]


def test_scan_keeps_the_parenthesis_a_display_term_closes(tmp_path: Path) -> None:
    """A name whose 700 $q closes its parenthesis before the field's comma is shown with it,
    in Z39.50 (yaz-client) and SRU scans alike: the ``)`` went with the ``,``."""
    record = Record(force_utf8=True)
    record.leader = Leader("00000nam a2200000 i 4500")
    record.add_field(Field(tag="001", data="ru-amshokov"))
    for tag, codes in (("245", ["a", "Сборник"]),
                       ("700", ["a", "Амшоков, Х. Х.", "q", "(Хасанби Хажбеталович),"])):
        record.add_field(Field(tag=tag, indicators=Indicators("1", " "),
                               subfields=[Subfield(c, v) for c, v in zip(codes[::2], codes[1::2],
                                                                       strict=True)]))
    shown = "Амшоков, Х. Х. (Хасанби Хажбеталович)"
    with running_target(tmp_path, [record]) as running:
        output = yaz_client(running.port, ["scan @attr 1=1003 @attr 4=1 а"], folder=tmp_path)
        query = urllib.parse.urlencode({"version": "1.2", "operation": "scan",
                                        "scanClause": 'dc.creator adj "а"'})
        url = f"http://127.0.0.1:{running.port}/Default?{query}"
        with urllib.request.urlopen(url, timeout=60) as response:
            sru = etree.fromstring(response.read())
    assert (shown, "1") in re.findall(r"^[* ] (\S.*) \((\d+)\)$", output, re.M)
    assert shown in sru.xpath("//*[local-name()='displayTerm']/text()")


def test_scan_takes_the_attributes_it_honours(yaz) -> None:  # type: ignore[no-untyped-def]
    """Equality (3, and relevance 102 as a search reads it), no truncation (100), any position
    and incomplete subfield are what a scan does anyway; complete field (6=3) reads phrases."""
    def listed(*commands: str) -> list[list[tuple[str, str]]]:
        output = yaz("scansize 2", *commands)
        return [re.findall(r"^[* ] (\S.*) \((\d+)\)$", part, re.M)
                for part in output.split("query: ")[1:]]  # fmt: skip

    words = [("тарихи", "2"), ("The", "1")]
    assert listed("scan @attr 1=4 tarixi",
                  "scan @attr 1=4 @attr 2=3 @attr 3=3 @attr 5=100 @attr 6=1 tarixi",
                  "scan @attr 1=4 @attr 2=102 tarixi") == [words] * 3  # fmt: skip
    complete, phrases, plain = listed("scan @attr 1=4 @attr 6=3 ozbekiston",
                                      "scan @attr 1=4 @attr 4=1 ozbekiston",
                                      "scan @attr 1=4 ozbekiston")  # fmt: skip
    assert complete == phrases != plain


def test_scan_at_position_0_starts_after_the_term(yaz) -> None:  # type: ignore[no-untyped-def]
    """preferredPositionInResponse 0 puts the start term just before the entries (LoC's Scan
    clarification); it was refused with 233."""
    output = yaz("scansize 2", "scanpos 0", "scan @attr 1=4 tarixi", "scan @attr 1=4 tarix")
    after_term, after_gap = output.split("query: ")[1:]
    assert "2 entries, position=0" in after_term
    assert re.findall(r"^[* ] (\S.*) \((\d+)\)$", after_term, re.M) == [("The", "1"),
                                                                      ("Война", "1")]
    assert [term for term, _ in re.findall(r"^[* ] (\S.*) \((\d+)\)$", after_gap, re.M)] == [
        "тарихи", "The"]


def test_sort_by_date_and_title(yaz) -> None:  # type: ignore[no-untyped-def]
    output = yaz("format sutrs", "elements B", "find @attr 1=1003 navoiy",
                 "sort 1=31 <", "show 1+3", "sort 1=31 >", "show 1+3",
                 "find @attr 1=1016 1996", "find @or @set 1 @set 2", "sort 1=4 <",
                 "show 1+4")  # fmt: skip
    assert output.count("Received SortResponse: status=success") == 3
    ascending, descending, by_title = [
        re.findall(r"^=001  (\S+)", part, re.M) for part in output.split("Sent presentRequest")[1:]
    ]
    assert ascending == ["us-nav-alalc", "uz-nav-cyr", "uz-nav-lat"]
    assert descending == list(reversed(ascending))
    # "The heritage..." files under h (nonfiling 4), after Khamsa and the Xamsas? No: k < x.
    assert by_title[0] == "en-heritage" and set(by_title[1:]) == NAVOIY


def test_second_named_result_set(yaz) -> None:  # type: ignore[no-untyped-def]
    output = yaz("format sutrs", "elements B", "find @attr 1=1003 navoiy", "find @attr 1=4 voyna",
                 "find @and @set 1 @attr 1=31 2015", "show 1+5", "find @set 2", "show 1+5",
                 "find @set 99")  # fmt: skip
    assert hits(output) == [3, 1, 1, 1, 0]
    assert found_ids(output)[2:4] == [{"uz-nav-lat"}, {"ru-tolstoy"}]
    assert "[30] Specified result set does not exist -- v2 addinfo '99'" in output


def test_a_second_init_reinitializes_the_association(yaz) -> None:  # type: ignore[no-untyped-def]
    """As YAZ's own server does: an Init on an initialised association is answered, and the
    association starts anew, without the result sets of before."""
    output = yaz("find @attr 1=1003 navoiy", "init", "find @set 1", "find @attr 1=4 voyna",
                 "format sutrs", "elements B", "show 1+1")  # fmt: skip
    assert output.count("Connection accepted by v3 target.") == 2
    assert "[30] Specified result set does not exist -- v2 addinfo '1'" in output
    assert hits(output) == [3, 0, 1]
    assert found_ids(output)[2] == {"ru-tolstoy"}
    assert "Target closed connection" not in output


@pytest.mark.parametrize(
    ("commands", "printed"),
    [
        (["find @attr 1=9 x"], "[114] Unsupported Use attribute -- v2 addinfo '9'"),
        (["find @attr 2=6 @attr 1=4 x"], "[117] Unsupported Relation attribute -- v2 addinfo '6'"),
        (["find @attr 1=31 @attr 2=1 abc"],
         "[126] Illegal term value for attribute -- v2 addinfo 'not a year: abc'"),
        (["find @attr 1=31 @attr 4=4 abc"],
         "[126] Illegal term value for attribute -- v2 addinfo 'not a year: abc'"),
        # structure date (normalized): the date index holds years; a whole date found nothing
        (["find @attr 1=31 @attr 4=5 1991-05-12"],
         "[126] Illegal term value for attribute -- v2 addinfo 'not a year: 1991-05-12'"),
        # truncated, it begins no year (it found nothing and said nothing)
        (["find @attr 1=31 @attr 4=4 @attr 5=1 abc"],
         "[126] Illegal term value for attribute -- v2 addinfo 'not a year: abc'"),
        (["find @attr 1=30 @attr 2=5 @attr 4=4 19x5"],
         "[126] Illegal term value for attribute -- v2 addinfo 'not a year: 19x5'"),
        (["find @attr 1=31 @attr 2=2 \u0661\u0669\u0669\u0661"],  # 1991, Arabic-Indic digits
         "[126] Illegal term value for attribute -- v2 addinfo "
         "'not a year: \u0661\u0669\u0669\u0661'"),
        (["find @attr 1=4 @attr 4=105 x"], "[118] Unsupported Structure attribute"),
        # past the 64 terms a search takes, however deeply nested (97 closed the association)
        (["find " + "@and " * 64 + "a " * 65],
         "[6] Too many boolean operators -- v2 addinfo 'more than 64 terms'"),
        (["find " + "@and " * 139 + "a " * 140],
         "[6] Too many boolean operators -- v2 addinfo 'more than 64 terms'"),
        # An empty term is refused as SRU refuses it (27), not answered with no records
        (['find ""'], "[125] Malformed search term -- v2 addinfo 'empty term on any'"),
        (['find @attr 1=4 @attr 4=1 " "'],
         "[125] Malformed search term -- v2 addinfo 'empty term on title'"),
        (['find @attr 1=31 @attr 4=4 ""'],  # was 126, 'not a year: '
         "[125] Malformed search term -- v2 addinfo 'empty term on date'"),
        (["find @attr 1=4 @attr 5=2 x"], "[120] Unsupported Truncation attribute"),
        (["find @attr 8=1 x"], "[113] Unsupported attribute type -- v2 addinfo '8'"),
        # another attribute set, for the query or for one attribute, as Zebra answers both
        (["find @attrset gils @attr 1=4 x"], "[121] Unsupported Attribute Set"),
        (["find @attr gils 1=4 x"],
         "[121] Unsupported Attribute Set -- v2 addinfo '1.2.840.10003.3.5'"),
        (["find @attr 1=4 xamsa", "format opac", "show 1+1"],
         "[239] Record syntax not supported -- v2 addinfo 'opac'"),
        (["find @attr 1=4 xamsa", "format usmarc", "elements dc", "show 1+1"],
         "[25] Specified element set name not valid for specified database"),
        (["find @attr 1=4 xamsa", "show 4+1"], "[13] Present request out of range"),
        (["scan @attr 1=9 a"], "[114] Unsupported Use attribute"),
        # A scan reads on from its start term: other relations and truncation are refused,
        # not ignored (they were), as are the values a search refuses
        (["scan @attr 1=4 @attr 2=1 a"], "[117] Unsupported Relation attribute -- v2 addinfo '1'"),
        (["scan @attr 1=4 @attr 2=5 a"], "[117] Unsupported Relation attribute -- v2 addinfo '5'"),
        (["scan @attr 1=4 @attr 5=1 a"],
         "[120] Unsupported Truncation attribute -- v2 addinfo '1'"),
        (["scan @attr 1=4 @attr 5=2 a"],
         "[120] Unsupported Truncation attribute -- v2 addinfo '2'"),
        (["scan @attr 1=4 @attr 6=9 a"],
         "[122] Unsupported Completeness attribute -- v2 addinfo '9'"),
        (["scan @attr 1=4 @attr 3=9 a"], "[119] Unsupported Position attribute -- v2 addinfo '9'"),
        (["scan @attr 1=4 @attr 8=1 a"], "[113] Unsupported attribute type -- v2 addinfo '8'"),
        # a negative number of terms is no request at all, not too many terms (1029)
        (["scansize -1", "scan @attr 1=4 a"],
         "[228] Scan: malformed scan -- v2 addinfo '-1 terms requested'"),
        (["find @attr 1=4 xamsa", "sort 1=9999 <"],
         "[207] Cannot sort according to sequence -- v2 addinfo '1=9999'"),
        (["find @attr 1=4 xamsa", "sort 7=1 <"],  # was '1=None'
         "[207] Cannot sort according to sequence -- v2 addinfo 'no Use attribute'"),
    ],
)  # fmt: skip
def test_diagnostics_as_yaz_prints_them(yaz, commands: list[str], printed: str) -> None:  # type: ignore[no-untyped-def]
    output = yaz(*commands)
    assert printed in output
    assert "Target has closed the association" not in output


def test_fifty_sessions_at_once(target: int, tmp_path: Path) -> None:
    commands = ["format sutrs", "elements B", "find @attr 1=1003 navoiy", "show 1+5",
                "find @attr 1=4 ўзбекистон", "show 1+5", "close"]  # fmt: skip

    def session(number: int) -> list[set[str]]:
        folder = tmp_path / str(number)
        folder.mkdir()
        return found_ids(yaz_client(target, commands, folder=folder))

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(session, range(50)))
    assert results == [[NAVOIY, OZBEKISTON]] * 50


def test_koprik_serve_answers_yaz_client(tmp_path: Path) -> None:
    """The same target as started by ``koprik serve`` (the CLI's wiring, port from koprik.toml)."""
    catalog_holding(load_settings(write_config(tmp_path).config), handmade_records()).close()
    with koprik_serve(tmp_path) as running:
        output = yaz_client(running.z3950_port, ["format sutrs", "elements B",
                                                 "find @attr 1=1003 навоий", "show 1+5"],
                            folder=tmp_path)  # fmt: skip
    assert found_ids(output) == [NAVOIY]


@pytest.fixture(scope="module")
def demo_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running_target(tmp_path_factory.mktemp("z3950-demo"), list(demo_records(400))) as running:
        yield running.port


def test_large_sets_are_read_on_as_presents_sort_and_references_need(
    demo_target: int, tmp_path: Path
) -> None:
    """One-term results are read in windows: far Presents, Sort and @set still see every id."""
    count = sum("uzb" in marc_languages(record) for record in demo_records(400))
    assert count > 250
    output = yaz_client(demo_target, ["format sutrs", "elements B",
                                      "find @attr 1=54 uzb", "show 250+3",
                                      "find @and @set 1 @attr 1=54 uzb", "show 250+3",
                                      "sort 1=31 >", f"show {count}+1", f"show {count + 1}+1"],
                        folder=tmp_path)  # fmt: skip
    assert hits(output) == [count, count]
    far, again, last_sorted, _ = [
        re.findall(r"^=001  (\S+)", part, re.M) for part in output.split("Sent presentRequest")[1:]
    ]
    assert far == again and len(far) == 3
    assert len(last_sorted) == 1
    assert "[13] Present request out of range" in output.split("Sent presentRequest")[-1]


def test_brief_records_keep_the_880s_of_the_fields_they_keep(tmp_path: Path) -> None:
    """B keeps 100 and 245 with their 880s (the other script), drops 650 with its 880: no
    ``$6 880-NN`` of a kept field links to nothing."""
    from crosswalks.uzbek import add_script_880

    record = next(r for r in handmade_records() if r["001"].data == "uz-nav-cyr")
    add_script_880(record)
    assert len(record.get_fields("880")) == 4  # 100, 245, 260 and 650
    tmp_path.joinpath("t").mkdir()
    with running_target(tmp_path / "t", [record]) as running:
        commands = ["format usmarc", "elements B", "find @attr 1=12 uz-nav-cyr", "show 1+1"]
        brief = yaz_client(running.port, commands, folder=tmp_path).split("Sent presentRequest")[1]
    links = re.findall(r"\$6 (880-\d\d)", brief)
    assert len(links) == 3  # 100, 245, 260
    for link in links:
        assert re.search(rf"^880 .*\$6 \d{{3}}-{link[4:6]}/", brief, re.M), brief
    # (a field or a link, not yaz-client's "Elapsed: 0.006502", which failed this once)
    assert not re.search(r"^650 |\$6 650-", brief, re.M), brief
    assert "Navoiy, Alisher" in brief and "Xamsa :" in brief


def test_scan_past_the_end_of_the_index_is_partial_5(yaz) -> None:  # type: ignore[no-untyped-def]
    """Fewer terms than asked for, the title index having run out, is scanStatus partial-5 as
    YAZ's server says it; it was success. As many as asked for is success."""
    output = yaz("scansize 50", "scan @attr 1=4 tarixi", "scansize 2", "scan @attr 1=4 tarixi")
    short, full = output.split("query: ")[1:]
    assert "4 entries, position=1\nScan returned code 5\n" in short
    assert "2 entries, position=1\n" in full and "Scan returned code" not in full

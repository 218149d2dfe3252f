"""provider/z3950/session.py: one database job per request, and the first page of a search
answering a Present from memory (same records as the database path)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path
from string import ascii_lowercase
from typing import Any, TypeVar

import pytest
from pymarc import Record
from sqlalchemy import Connection

from catalog import Catalog
from catalog import query as q
from config import SearchSettings, ServerSettings
from protocols.z3950 import oids
from protocols.z3950.charset import proposal_other_info
from protocols.z3950.codec import OPTION_BITS, bit_string, set_bits
from protocols.z3950.pqf import parse_pqf, rpn_to_pdu
from provider.search import SearchService
from provider.search.threads import DatabaseThreads
from provider.z3950.backend import Backend
from provider.z3950.session import Session
from tests.test_sru_front_end import get as sru_get
from tests.z3950_target_fixtures import (
    catalog_holding,
    handmade_records,
    running_target,
    sqlite_settings,
    yaz_client,
)

T = TypeVar("T")
NAVOIY = "@attr 1=1003 navoiy"  # three records: Cyrillic, 1995 Latin and ALA-LC
NAVOIY_IDS = {"uz-nav-cyr", "uz-nav-lat", "us-nav-alalc"}


class CountingThreads(DatabaseThreads):
    """Database threads that count the jobs they are given."""

    jobs = 0

    async def run(self, job: Callable[[Connection], T]) -> T:
        self.jobs += 1
        return await super().run(job)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    folder: Path = tmp_path_factory.mktemp("session")
    catalog = catalog_holding(sqlite_settings(folder), handmade_records())
    yield catalog
    catalog.close()


def _session(catalog: Catalog, utf8: bool = True) -> tuple[Session, CountingThreads]:
    service = SearchService(catalog)
    threads = service.threads = CountingThreads(catalog.engine)
    backend = Backend(service)
    session = Session(backend, ServerSettings())
    init: dict[str, Any] = {
        "protocolVersion": bit_string({0, 1, 2}),
        "options": bit_string(OPTION_BITS.values()),
        "preferredMessageSize": 1 << 20,
        "exceptionalRecordSize": 1 << 20,
    }
    if utf8:
        init["otherInfo"] = proposal_other_info("UTF-8")
    [(name, _)], _ = asyncio.run(session.handle("initRequest", init))
    assert name == "initResponse" and session.utf8 is utf8
    return session, threads


def _search(
    session: Session, query: str, name: str = "default", replace: bool = True,
    database: str = "Default",
) -> dict[str, Any]:  # fmt: skip
    request = {"smallSetUpperBound": 0, "largeSetLowerBound": 1, "mediumSetPresentNumber": 0,
               "replaceIndicator": replace, "resultSetName": name, "databaseNames": [database],
               "query": ("type-1", rpn_to_pdu(parse_pqf(query)))}  # fmt: skip
    [(name, response)], _ = asyncio.run(session.handle("searchRequest", request))
    assert name == "searchResponse"
    return response


def _present(
    session: Session, start: int, number: int, element_set: str = "F", name: str = "default"
) -> dict[str, Any]:
    request = {"resultSetId": name, "resultSetStartPoint": start,
               "numberOfRecordsRequested": number, "preferredRecordSyntax": oids.USMARC,
               "recordComposition": ("simple", ("genericElementSetName", element_set))}  # fmt: skip
    [(name, response)], _ = asyncio.run(session.handle("presentRequest", request))
    assert name == "presentResponse"
    return response


def _records(response: dict[str, Any]) -> list[Record]:
    kind, records = response["records"]
    assert kind == "responseRecords"
    out = []
    for item in records:
        _, external = item["record"]
        _, content = external["encoding"]
        out.append(Record(data=content, to_unicode=True))  # leader/09 says UTF-8 or MARC-8
    return out


def test_an_init_proposing_version_1_alone_is_accepted_as_version_1(catalog: Catalog) -> None:
    """Version 1 is version 2 (Z39.50-1995 and -2003, 1.2 note 2: for compatibility with
    ISO 10163, "implementations which support version 2 automatically support version 1"),
    so it is no reason to refuse; YAZ's generic frontend server answers it so too."""
    session = Session(Backend(SearchService(catalog)), ServerSettings())
    init = {"protocolVersion": bit_string({0}), "options": bit_string(OPTION_BITS.values()),
            "preferredMessageSize": 1 << 20, "exceptionalRecordSize": 1 << 20}  # fmt: skip
    [(name, response)], ended = asyncio.run(session.handle("initRequest", init))
    assert name == "initResponse" and not ended
    assert response["result"] is True and set_bits(response["protocolVersion"]) == {0}


def test_a_present_in_the_first_page_is_answered_without_a_database_job(catalog: Catalog) -> None:
    session, threads = _session(catalog)
    assert _search(session, NAVOIY)["resultCount"] == 3
    assert threads.jobs == 1
    response = _present(session, 1, 3)
    assert threads.jobs == 1  # from the first page read with the search
    assert response["presentStatus"] == 0 and response["nextResultSetPosition"] == 4
    assert {r["001"].data for r in _records(response)} == NAVOIY_IDS

    # The same Present through a database thread gives the same response.
    session.first_page = None
    assert _present(session, 1, 3) == response
    assert threads.jobs == 2


def test_other_presents_go_to_a_database_thread(catalog: Catalog) -> None:
    session, threads = _session(catalog)
    _search(session, NAVOIY)
    brief = _present(session, 2, 2, element_set="B")  # parsed and cut: not verbatim
    assert threads.jobs == 2
    full = _records(_present(session, 2, 2))  # verbatim: from memory
    assert threads.jobs == 2
    assert [r["001"].data for r in _records(brief)] == [r["001"].data for r in full]
    assert all(r.get_fields("245") and not r.get_fields("650") for r in _records(brief))
    out_of_range = _present(session, 4, 1)
    assert out_of_range["presentStatus"] == 5  # diagnostic 13, found by the database path
    assert threads.jobs == 3


def test_without_utf8_no_first_page_is_read(catalog: Catalog) -> None:
    session, threads = _session(catalog, utf8=False)
    _search(session, NAVOIY)
    assert session.first_page is not None and session.first_page.records == {}
    marc8 = _present(session, 1, 3)  # MARC-8 is made from the stored record, on a thread
    assert threads.jobs == 2
    assert len(_records(marc8)) == 3


def test_a_new_search_replaces_the_first_page(catalog: Catalog) -> None:
    session, threads = _session(catalog)
    _search(session, NAVOIY)
    assert _search(session, "@attr 1=4 heritage")["resultCount"] == 1
    [record] = _records(_present(session, 1, 1))
    assert record["001"].data == "en-heritage"
    assert threads.jobs == 2


def _diagnostic(response: dict[str, Any]) -> int:
    kind, diagnostic = response["records"]
    assert kind == "nonSurrogateDiagnostic" and response["searchStatus"] is False
    return int(diagnostic["condition"])


def test_a_search_refused_because_the_set_exists_leaves_that_set(catalog: Catalog) -> None:
    session, _ = _session(catalog)
    assert _search(session, NAVOIY, name="a")["resultCount"] == 3
    assert _diagnostic(_search(session, "@attr 1=4 heritage", name="a", replace=False)) == 21
    assert _diagnostic(_search(session, NAVOIY, name="a", replace=False)) == 21
    assert _diagnostic(_search(session, NAVOIY, name="a", database="Nowhere")) == 235
    session.first_page = None  # through a database thread, from the stored set
    kept = _present(session, 1, 3, name="a")
    assert kept["presentStatus"] == 0
    assert {r["001"].data for r in _records(kept)} == NAVOIY_IDS


def test_a_failed_search_allowed_to_replace_a_set_drops_it(catalog: Catalog) -> None:
    session, _ = _session(catalog)
    _search(session, NAVOIY, name="a")
    assert _diagnostic(_search(session, "@attr 1=4 @attr 5=1 '", name="a")) == 9  # too short
    gone = _present(session, 1, 1, name="a")
    kind, diagnostic = gone["records"]
    assert kind == "nonSurrogateDiagnostic" and diagnostic["condition"] == 30  # no such set


def test_a_query_over_the_total_id_cap_is_diagnostic_234(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, _ = _session(catalog)
    monkeypatch.setattr(q, "MAX_QUERY_IDS", 5)
    broad = "@or @attr 1=1003 navoiy @attr 1=4 @attr 5=1 xams"  # 3 + 3 ids
    assert _diagnostic(_search(session, broad)) == 234  # too many index terms processed
    assert _search(session, "@or @attr 1=1003 navoiy @attr 1=1003 frye")["resultCount"] == 4


def test_a_present_cut_at_the_most_one_returns_is_partial_4(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fewer records than asked for because of :data:`MAX_PRESENT` is presentStatus partial-4
    (the target ended the request, resource control), not success: a client asking for more
    learns why it got fewer, and goes on from nextResultSetPosition."""
    monkeypatch.setattr("provider.z3950.session.MAX_PRESENT", 2)
    session, threads = _session(catalog)
    _search(session, NAVOIY)
    from_memory = _present(session, 1, 3)
    assert threads.jobs == 1
    assert from_memory["presentStatus"] == 4 and from_memory["numberOfRecordsReturned"] == 2
    assert from_memory["nextResultSetPosition"] == 3
    session.first_page = None
    assert _present(session, 1, 3) == from_memory  # the database path says the same
    assert _present(session, 1, 2)["presentStatus"] == 0
    request = {"smallSetUpperBound": 5, "largeSetLowerBound": 6, "mediumSetPresentNumber": 0,
               "replaceIndicator": True, "resultSetName": "small", "databaseNames": ["Default"],
               "query": ("type-1", rpn_to_pdu(parse_pqf(NAVOIY))),
               "smallSetElementSetNames": ("genericElementSetName", "F"),
               "preferredRecordSyntax": oids.USMARC}  # fmt: skip
    [(_, piggybacked)], _ = asyncio.run(session.handle("searchRequest", request))
    assert piggybacked["presentStatus"] == 4 and piggybacked["numberOfRecordsReturned"] == 2


def test_a_present_reaching_past_the_end_has_a_surrogate_13_for_each_position_past_it(
    catalog: Catalog,
) -> None:
    """2+5 of three records: the two there are came back alone with present status success,
    which says every record asked for did; now the three positions past the end follow, each a
    surrogate diagnostic 13 naming its position."""
    session, _ = _session(catalog)
    _search(session, NAVOIY)
    past = _present(session, 2, 5)
    assert past["presentStatus"] == 0 and past["numberOfRecordsReturned"] == 5
    kind, entries = past["records"]
    assert kind == "responseRecords"
    kinds = [e["record"][0] for e in entries]
    assert kinds == ["retrievalRecord"] * 2 + ["surrogateDiagnostic"] * 3
    diagnostics = [e["record"][1][1] for e in entries[2:]]
    assert [(d["condition"], d["addinfo"]) for d in diagnostics] == [
        (13, ("v2Addinfo", str(position))) for position in (4, 5, 6)
    ]
    assert _present(session, 4, 1)["presentStatus"] == 5  # from past the end: non-surrogate


def test_a_present_reaching_past_the_end_says_the_position_after_the_last_record(
    tmp_path: Path,
) -> None:
    """yaz-client's ``show 1+1200`` of three hits: the three records, then a surrogate 13 for
    each position past them up to the 1,000 a request returns. Its nextResultSetPosition was
    start + entries (1001), a position the set does not reach; it is the one after the last
    record the set has, 4, as for ``show 1+3`` (and as Zebra answers ``show 1+3``)."""
    with running_target(tmp_path, handmade_records()) as target:
        printed = yaz_client(
            target.port, [f"find {NAVOIY}", "format usmarc", "show 1+1200", "show 1+3",
                          "show 2+1"],
            folder=tmp_path,
        )  # fmt: skip
    assert "Number of hits: 3" in printed, printed
    assert printed.count("[13] Present request out of range") == 997
    assert re.findall(r"nextResultSetPosition = (\d+)", printed) == ["4", "4", "3"]


def test_a_set_stays_as_it_was_searched_a_record_deleted_since_being_1028_in_its_slot(
    tmp_path: Path,
) -> None:
    """A set of more than 100 records had only its first 100 ids read at search time and the
    rest read as presents came, from the catalogue as it was then: a record deleted after the
    search vanished, the positions after it shifted, the last ones answered 13 inside the hit
    count. The set's ids are now read at search time (up to ``search.snapshot_ids``)."""
    from catalog.demo import demo_records

    catalog = catalog_holding(sqlite_settings(tmp_path), demo_records(300))
    try:
        session, _ = _session(catalog)
        count = _search(session, "@attr 1=54 uzb")["resultCount"]
        assert count > 150
        assert _records(_present(session, 1, 1, "B"))  # the set is not read further
        reader, _ = _session(catalog)  # the records at positions 101.. as searched
        _search(reader, "@attr 1=54 uzb")
        before = [r["001"].data for r in _records(_present(reader, 101, count - 100, "B"))]
        with catalog.writer() as writer:
            writer.delete(before[10])  # position 111
            later = list(demo_records(400))[300:]  # a record entering the set: not in it
            writer.put(next(r for r in later if r["008"].data[35:38] == "uzb"))
        after = _present(session, 101, count - 100, "B")
        assert after["numberOfRecordsReturned"] == count - 100
        _, entries = after["records"]
        kinds = [e["record"][0] for e in entries]
        assert kinds == ["retrievalRecord"] * 10 + ["surrogateDiagnostic"] + [
            "retrievalRecord"] * (count - 111)
        assert entries[10]["record"][1][1]["condition"] == 1028
        shown = [r["001"].data for r in _records({"records": ("responseRecords",
                 [e for e in entries if e["record"][0] == "retrievalRecord"])})]
        assert shown == before[:10] + before[11:]
    finally:
        catalog.close()


def _every_word_before(letters: str) -> str:
    """A query of one leaf for each of ``letters``: the words of ``any`` before it, OR-ed."""
    leaves = [f"@attr 1=1016 @attr 2=1 {letter}" for letter in letters]

    def joined(part: list[str]) -> str:
        if len(part) == 1:
            return part[0]
        middle = len(part) // 2
        return f"@or {joined(part[:middle])} {joined(part[middle:])}"

    return joined(leaves)


def test_a_search_running_past_search_max_seconds_is_31_and_the_next_one_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """64 leaves each walking much of the index held a search thread for 14 s on 2,000
    records; four such searches held every thread, and every other client waited 30 s to be
    told the database was unavailable. Stopped at ``search.max_seconds``, the search is Bib-1
    31 (resources exhausted), and the session's next search is answered. SRU says 60."""
    from catalog.demo import demo_records

    heavy = _every_word_before("abcdefghijklmnopqrstuvwxyz0123456789абвгдежзиклмнопрстуфхцчшщ")
    records = list(demo_records(500))
    with running_target(tmp_path, records, SearchSettings(max_seconds=0.1)) as target:
        printed = yaz_client(target.port, [f"find {heavy}", f"find {NAVOIY}"], folder=tmp_path)
        sru = sru_get(target.port, version="1.2", operation="searchRetrieve",
                      query=" or ".join(f"cql.anywhere < {c}" for c in ascii_lowercase))
    assert "[31] Resources exhausted - no results available" in printed, printed
    assert "v2 addinfo 'stopped after 0.1 s'" in printed
    assert re.search(r"Number of hits: [1-9]", printed), printed
    (diagnostic,) = sru.iter("{http://www.loc.gov/zing/srw/diagnostic/}uri")
    assert diagnostic.text == "info:srw/diagnostic/1/60"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]

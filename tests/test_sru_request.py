"""provider/sru/request.py: SRU parameters checked declaratively, each refusal its diagnostic."""

from __future__ import annotations

import pytest

from config import SearchSettings
from provider.search import SearchError
from provider.sru.request import (
    Explain,
    Scan,
    SearchRetrieve,
    operation_of,
    parameters,
    request_of,
    version_of,
)

LIMITS = SearchSettings(sru_default_records=10, sru_max_records=50, sru_result_set_ttl=600)


def test_a_bare_request_is_a_2_0_explain_and_2_0_infers_the_operation() -> None:
    assert request_of({}, LIMITS) == Explain("2.0")
    search = request_of({"query": "fish"}, LIMITS)
    assert isinstance(search, SearchRetrieve) and search.version == "2.0"
    assert (search.start, search.maximum, search.schema.name, search.packing, search.ttl) == (
        1, 10, "marcxml", "xml", 600)  # fmt: skip
    scan = request_of({"scanClause": "dc.title=a"}, LIMITS)
    assert scan == Scan("2.0", "dc.title=a", 1, 20)


def test_limits_lower_what_a_client_asks_for() -> None:
    search = request_of({"version": "1.2", "operation": "searchRetrieve", "query": "x",
                         "maximumRecords": "500", "resultSetTTL": "99999"}, LIMITS)  # fmt: skip
    assert isinstance(search, SearchRetrieve) and (search.maximum, search.ttl) == (50, 600)


@pytest.mark.parametrize(
    ("params", "sru", "details"),
    [
        ({"version": "1.2", "query": "x"}, 7, "operation"),
        ({"version": "1.1", "operation": "searchRetrieve"}, 7, "query"),
        ({"version": "0.9"}, 5, "2.0"),
        ({"version": "1.2", "operation": "update"}, 4, "update"),
        ({"operation": "scan"}, 7, "scanClause"),
        ({"query": "x", "recordXMLEscaping": "json"}, 71, "json"),
        ({"recordXMLEscaping": "json"}, 71, "json"),  # explain's record too
        # 2.0's recordPacking is packed or unpacked: 1.x's values are no values of it (6)
        ({"query": "x", "recordPacking": "xml"}, 6, "recordPacking"),
        ({"query": "x", "recordPacking": "json"}, 6, "recordPacking"),
        ({"recordPacking": "string"}, 6, "recordPacking"),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x",
          "recordPacking": "unpacked"}, 71, "unpacked"),
        ({"query": "x", "queryType": "pqf"}, 6, "queryType"),
        # SRU 2.0's own parameters are no parameters of 1.1 and 1.2
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x",
          "recordXMLEscaping": "xml"}, 8, "recordXMLEscaping"),
        ({"version": "1.1", "operation": "searchRetrieve", "query": "x", "queryType": "cql"},
         8, "queryType"),
        ({"version": "1.2", "operation": "explain", "httpAccept": "text/xml"}, 8, "httpAccept"),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x",
          "recordPacking": "json"}, 71, "json"),
        ({"query": "x", "recordSchema": "onix"}, 66, "onix"),
        ({"query": "x", "startRecord": "-1"}, 6, "startRecord"),
        ({"query": "x", "startRecord": "9" * 19}, 6, "startRecord"),
        ({"scanClause": "a", "maximumTerms": "0"}, 6, "maximumTerms"),
        ({"query": "x", "sortKeys": "dc.title"}, 8, "sortKeys"),
        ({"query": "x", "scanClause": "y"}, 8, "scanClause"),
        # stylesheet is a parameter of every operation in every version (not 8), returned
        # in the response unless it cannot be (6)
        ({"query": "x", "stylesheet": "a\n.xsl"}, 6, "stylesheet"),
        ({"version": "1.2", "operation": "explain", "stylesheet": "a" * 2001}, 6, "stylesheet"),
        ({"version": "1.1", "operation": "scan", "scanClause": "a", "stylesheet": "\x00"},
         6, "stylesheet"),
        # recordXPath is SRU 1.1's alone (72, not 8); 1.2 and 2.0 have no such parameter
        ({"version": "1.1", "operation": "searchRetrieve", "query": "x", "recordXPath": "/a"},
         72, "/a"),
        ({"version": "1.2", "operation": "searchRetrieve", "query": "x", "recordXPath": "/a"},
         8, "recordXPath"),
        ({"query": "x", "recordXPath": "/a"}, 8, "recordXPath"),
        ({"version": "1.1", "operation": "scan", "scanClause": "a", "recordXPath": "/a"},
         8, "recordXPath"),
    ],
)  # fmt: skip
def test_refusals(params: dict[str, str], sru: int, details: str) -> None:
    with pytest.raises(SearchError) as raised:
        request_of(params, LIMITS)
    assert (raised.value.sru, raised.value.detail) == (sru, details)


@pytest.mark.parametrize("packing", ["packed", "unpacked"])
@pytest.mark.parametrize("escaping", ["xml", "string"])
def test_sru_2_0_takes_either_record_packing_and_escapes_as_record_xml_escaping_asks(
    packing: str, escaping: str
) -> None:
    """SRU 2.0's recordPacking (packed, the default, or unpacked) says whether the records must
    be exactly of the schema asked for; unpacked lets the server choose, and Koprik's records,
    always of that schema, are what either asks for. It was 71 for unpacked, the diagnostic of
    recordXMLEscaping, which carries 1.x recordPacking's xml and string in 2.0."""
    params = {"recordPacking": packing, "recordXMLEscaping": escaping}
    search = request_of({"query": "x", **params}, LIMITS)
    assert isinstance(search, SearchRetrieve) and search.packing == escaping
    assert request_of(params, LIMITS) == Explain("2.0", escaping)
    assert request_of({"scanClause": "a", "recordPacking": packing}, LIMITS) == Scan(
        "2.0", "a", 1, 20)  # fmt: skip


def test_a_stylesheet_is_taken_in_every_operation() -> None:
    for params in ({"query": "x"}, {"version": "1.2", "operation": "explain"},
                   {"version": "1.1", "operation": "scan", "scanClause": "a"}):
        for sheet in ("a.xsl", "", "a" * 2000):
            request_of({**params, "stylesheet": sheet}, LIMITS)


def test_extension_parameters_are_accepted_and_sort_keys_belong_to_1_1() -> None:
    search = request_of({"version": "1.1", "operation": "searchRetrieve", "query": "x",
                         "x-info-5-restrictorSummary": "true", "sortKeys": "dc.date,,0"},
                        LIMITS)  # fmt: skip
    assert isinstance(search, SearchRetrieve) and search.sort_keys == "dc.date,,0"


def test_what_a_refusal_is_answered_in_and_repeated_parameters() -> None:
    assert version_of({"version": "1.0"}) == "1.2" and version_of({"version": "3"}) == "2.0"
    assert operation_of({"operation": "nonsense", "query": "x"}) == "searchRetrieve"
    with pytest.raises(SearchError) as raised:
        parameters([("query", "a"), ("query", "b")])
    assert raised.value.sru == 6


@pytest.mark.parametrize(
    "huge", ["99999999999999999999", "1" + "0" * 5000, "0000000000051", "51"]
)
def test_a_very_large_maximum_is_lowered_like_any_above_the_maximum(huge: str) -> None:
    search = request_of({"query": "x", "maximumRecords": huge, "resultSetTTL": huge}, LIMITS)
    asked = int(huge[:14])
    assert isinstance(search, SearchRetrieve)
    assert (search.maximum, search.ttl) == (50, min(asked, 600))
    scan = request_of({"scanClause": "a", "maximumTerms": huge}, LIMITS)
    assert isinstance(scan, Scan) and scan.maximum == min(asked, LIMITS.max_scan_terms)
    assert request_of({"query": "x", "maximumRecords": "0000000007"}, LIMITS).maximum == 7

"""Koprik's search service beside Zebra on the same records, where the standards leave a choice.

Both targets serve the hand-made records of ``tests.z3950_target_fixtures`` (Zebra indexes them
with its own rules, so the two need not count the same hits for a query: each is compared with
itself on the query that means the same). Queries no YAZ client can write (an attribute type
listed twice: yaz-client's PQF keeps one) are sent as BER from a blocking socket.
"""

from __future__ import annotations

import re
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from protocols.z3950 import oids
from protocols.z3950.codec import PduError, decode_pdu
from tests.hostile import INIT, search_pdu
from tests.peers import running_zebra
from tests.z3950_target_fixtures import handmade_records, running_target, yaz_client

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def koprik(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running_target(tmp_path_factory.mktemp("koprik"), handmade_records()) as running:
        yield running.port


@pytest.fixture(scope="module")
def zebra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    base = tmp_path_factory.mktemp("zebra")
    records = base / "records"
    records.mkdir()
    Path(records / "handmade.mrc").write_bytes(b"".join(r.as_marc() for r in handmade_records()))
    with running_zebra(records, base / "work") as port:
        yield port


def _receive(sock: socket.socket) -> dict[str, Any]:
    """The value of the next whole PDU (Zebra's lengths may be indefinite: decoded when whole)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the target closed the connection")
        data += chunk
        try:
            return decode_pdu(data)[1]
        except PduError:
            continue


def searched(port: int, attributes: list[tuple[int, int]], term: str) -> tuple[int, int | None]:
    """The hits of a search of ``term`` with the attribute list ``attributes`` as given (types
    repeated if they are), and the Bib-1 diagnostic answered (None for none)."""
    rpn = {"attributeSet": oids.BIB1_ATTRIBUTE_SET, "rpn": ("op", ("attrTerm", {
        "attributes": [{"attributeType": t, "attributeValue": ("numeric", v)}
                       for t, v in attributes],
        "term": ("general", term.encode()),
    }))}  # fmt: skip
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(INIT)
        _receive(sock)
        sock.sendall(search_pdu(rpn))
        response = _receive(sock)
    kind, value = response.get("records") or ("", None)
    return response["resultCount"], value["condition"] if kind == "nonSurrogateDiagnostic" else None


@pytest.mark.parametrize("server", ["koprik", "zebra"])
def test_an_attribute_type_given_twice_counts_as_given_first(
    server: str, request: pytest.FixtureRequest
) -> None:
    """Koprik refused such a list with 123; Zebra (and Koprik now) take the first value."""
    port = request.getfixturevalue(server)
    author, title = (1, 1003), (1, 4)
    by_author, by_title = searched(port, [author], "navoiy"), searched(port, [title], "navoiy")
    assert by_author[0] > by_title[0] == 0
    assert searched(port, [author, title], "navoiy") == by_author
    assert searched(port, [title, author], "navoiy") == by_title
    assert searched(port, [title, title], "xamsa") == searched(port, [title], "xamsa")


def sru_search(port: int, query: str, start: int, maximum: int) -> tuple[int, list[str]]:
    """numberOfRecords of an SRU 1.2 searchRetrieve and the diagnostic URIs it answered."""
    params = {"version": "1.2", "operation": "searchRetrieve", "query": query,
              "startRecord": str(start), "maximumRecords": str(maximum)}  # fmt: skip
    url = f"http://127.0.0.1:{port}/Default?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        root = etree.fromstring(response.read())
    count = root.find("{*}numberOfRecords")
    assert count is not None and count.text is not None, etree.tostring(root)
    return int(count.text), [uri.text or "" for uri in root.iter("{*}uri")]


@pytest.mark.parametrize("server", ["koprik", "zebra"])
def test_a_start_record_past_the_hits_is_diagnostic_61_whatever_is_asked_for(
    server: str, request: pytest.FixtureRequest
) -> None:
    """Koprik answered maximumRecords=0 past the end, and startRecord 2 of no hits, with no
    diagnostic; Zebra (YAZ's front end) answers 61 unless startRecord is 1."""
    port = request.getfixturevalue(server)
    out_of_range = ["info:srw/diagnostic/1/61"]
    count, _ = sru_search(port, "toshkent", 1, 0)
    assert count > 0
    for maximum in (0, 5):
        assert sru_search(port, "toshkent", count, maximum)[1] == []
        assert sru_search(port, "toshkent", count + 1, maximum) == (count, out_of_range)
        assert sru_search(port, "nosuchword", 1, maximum) == (0, [])
        assert sru_search(port, "nosuchword", 2, maximum) == (0, out_of_range)


@pytest.mark.parametrize("server", ["koprik", "zebra"])
def test_a_present_reaching_past_the_end_says_so_for_the_positions_past_it(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """``show 2+10`` of a set of a few records: Koprik returned the records there were alone,
    with present status success. The ZIG's clarification of 1996 allows one non-surrogate 13
    (Zebra's answer: no records) or the records followed by a surrogate 13 for each position
    past the end (Koprik's, so that ``show 1+20`` still shows a small set). A start past the
    end is non-surrogate 13 on both."""
    port = request.getfixturevalue(server)
    output = yaz_client(port, ["format sutrs", "find @attr 1=1016 toshkent",
                               "show 2+10", "show 2+1", "show 9+1"], folder=tmp_path)  # fmt: skip
    found = re.search(r"Number of hits: (\d+)", output)
    assert found is not None and 2 < int(found[1]) < 9, output
    hits = int(found[1])
    past, within, beyond = output.split("Sent presentRequest")[1:]
    out_of_range = "[13] Present request out of range"
    if server == "zebra":
        assert out_of_range in past and "Record type" not in past, past
    else:
        assert past.count("Record type") == hits - 1, past
        assert past.count(out_of_range) == 10 - (hits - 1), past
    assert within.count("Record type") == 1 and out_of_range not in within, within
    assert out_of_range in beyond and "Record type" not in beyond, beyond


@pytest.mark.parametrize("server", ["koprik", "zebra"])
def test_complete_subfield_is_answered_as_complete_field(
    server: str, request: pytest.FixtureRequest
) -> None:
    """Bib-1 6=2 (complete subfield) and 6=3 (complete field) find the same records on both:
    Zebra maps 2 to 3 (its documentation calls 2 deprecated) and indexes each subfield of a
    MARC field as a phrase of its own, so that its complete field is any one subfield; Koprik
    keeps the whole field and its first subfield as phrases under one field number. Telling
    the two apart would leave a title proper searched as a complete field (as clients do for
    an exact title) with no hits on Koprik where Zebra finds it."""
    port = request.getfixturevalue(server)
    for term in ("Xamsa :", "Xamsa : besh doston", "besh doston", "O'zbekiston tarixi"):
        phrase = [(1, 4), (4, 1)]
        assert searched(port, [*phrase, (6, 2)], term) == searched(port, [*phrase, (6, 3)], term)
    assert searched(port, [(1, 4), (4, 1), (6, 3)], "O'zbekiston tarixi")[0] > 0

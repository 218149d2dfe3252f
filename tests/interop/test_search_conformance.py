"""Koprik's search service beside Zebra on the same records, where the standards leave a choice.

Both targets serve the hand-made records of ``tests.z3950_target_fixtures`` (Zebra indexes them
with its own rules, so the two need not count the same hits for a query: each is compared with
itself on the query that means the same). Queries no YAZ client can write (an attribute type
listed twice: yaz-client's PQF keeps one) are sent as BER from a blocking socket.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocols.z3950 import oids
from protocols.z3950.codec import PduError, decode_pdu
from tests.hostile import INIT, search_pdu
from tests.peers import running_zebra
from tests.z3950_target_fixtures import handmade_records, running_target

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

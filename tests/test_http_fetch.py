"""harvester/http_fetch.py against HTTP servers that break HTTP itself: a body short of its
Content-Length, a broken chunked encoding, a status line that is none, a header line too long.
Each fault is said in words of what the server did, never in aiohttp's (its class names and
the repr of its exceptions reached ``koprik sru`` and the runs' records)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from config import HarvestSource
from harvester.runs import FAILED, harvest
from koprik.cli import main
from tests.fault_provider import sqlite_catalog

RESET = None
"""The answer of a server that resets the connection (RST) once it has read the request."""


@contextmanager
def hostile_http_server(answer: bytes | None) -> Iterator[int]:
    """A server on 127.0.0.1 (its port, given by the system, yielded) that answers each
    connection's request with ``answer`` as it is, then ends the connection (resets it when
    ``answer`` is :data:`RESET`, None)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                try:
                    connection.recv(65536)
                    if answer is None:
                        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                              struct.pack("ii", 1, 0))  # fmt: skip
                    else:  # the answer, then the end of it, read as the client ends
                        connection.sendall(answer)
                        connection.shutdown(socket.SHUT_WR)
                        while connection.recv(65536):  # (what is left unread is a reset)
                            pass
                except OSError:  # the client gave up first
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
HOSTILE = {
    "short body": (
        OK + b"Content-Length: 100\r\n\r\n<explainResponse>",
        "truncated-body: the server at {url} ended the response before its declared length "
        "(Content-Length 100)"),
    "chunked body cut": (
        OK + b"Transfer-Encoding: chunked\r\n\r\n10\r\n<explain",
        "truncated-body: the server at {url} broke the chunked encoding of the response (a "
        "chunk cut short or malformed)"),
    "bad chunk size": (
        OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n<a/>\r\n0\r\n\r\n",
        "malformed-http: the server at {url} answered what is not HTTP: Invalid character in "
        "chunk size"),
    "garbage status line": (
        b"GARBAGE LINE\r\n\r\n",
        "malformed-http: the server at {url} answered without an HTTP status line"),
    "bad status code": (
        b"HTTP/1.1 abc OK\r\n\r\n",
        "malformed-http: the server at {url} answered without an HTTP status line"),
    "header too long": (
        OK + b"X-Long: " + b"a" * 20_000 + b"\r\nContent-Length: 4\r\n\r\n<a/>",
        "malformed-http: the server at {url} sent a status or header line too long to read"),
    "too many headers": (
        OK + b"X-A: b\r\n" * 40_000 + b"Content-Length: 4\r\n\r\n<a/>",
        "malformed-http: the server at {url} answered what is not HTTP: Too many headers "
        "received"),
    "header without colon": (
        OK + b"NoColonHere\r\nContent-Length: 4\r\n\r\n<a/>",
        "malformed-http: the server at {url} answered what is not HTTP: Invalid header token"),
    "two lengths": (
        OK + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\n<a/>",
        "malformed-http: the server at {url} answered what is not HTTP: Duplicate "
        "Content-Length"),
    "nothing": (
        b"",
        "connection: the server at {url} closed the connection before the head of its "
        "response (status line and headers) ended"),
    "head cut": (
        b"HTTP/1.1 200 OK\r\nContent-Le",
        "connection: the server at {url} closed the connection before the head of its "
        "response (status line and headers) ended"),
    "reset": (
        RESET,
        "connection: the connection with the server at {url} failed: Connection reset by "
        "peer"),
}  # fmt: skip
"""What each hostile server answers, and the event said of it ({url}: the server's)."""


@pytest.mark.parametrize("case", HOSTILE)
def test_koprik_sru_says_what_the_server_did_wrong_in_one_line(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was, for a short body, "gave up after 1 attempt: connection: ClientPayloadError:
    Response payload is not completed: <ContentLengthError: 400, message='Not enough data to
    satisfy content length header (received 17 of 100 bytes).'>"; for a bad status line the
    repr of aiohttp's request (a RequestInfo and its headers) over several lines."""
    answer, said = HOSTILE[case]
    with hostile_http_server(answer) as port:
        url = f"http://127.0.0.1:{port}/sru"
        status = main(["sru", url, "cql.allRecords=1", "--timeout", "5"])
    assert status == 2
    assert capsys.readouterr().err == (
        f"koprik: {url}: gave up after 1 attempt: {said.format(url=url)}\n"
    )


def test_a_harvest_says_what_the_server_did_wrong_in_its_record(tmp_path: Path) -> None:
    """The run's record said "connection: ClientPayloadError: ..." after each attempt."""
    answer, said = HOSTILE["short body"]
    catalog = sqlite_catalog(tmp_path, "partner")
    with hostile_http_server(answer) as port:
        url = f"http://127.0.0.1:{port}/oai"
        report = harvest(catalog, HarvestSource(name="partner", url=url, retries=0))
    catalog.close()
    assert report.status == FAILED
    assert report.errors[-1] == (
        f"run failed: gave up after 1 attempt: {said.format(url=url)}"
    )

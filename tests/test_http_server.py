"""The HTTP limits of provider/http_server.py, against the real OAI-PMH application on a socket:
connection caps, request and write timeouts, 414/431 for overlong requests, quiet resets."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import logging
import socket
import struct
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from catalog import Catalog
from catalog.demo import demo_records
from config import DatabaseSettings, OaiSettings, SearchSettings, ServerSettings, Settings
from provider import damped_log
from provider.app import init_app
from provider.background import serve_in_thread
from provider.oai import LIST_GATE
from provider.sru.request import FORM


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("http-limits")
    settings = Settings(database=DatabaseSettings(url=f"sqlite:///{folder / 'catalog.sqlite3'}"))
    catalog = Catalog.open(settings)
    with catalog.writer() as writer:
        for record in demo_records(300):
            writer.put(record)
    catalog.close()
    return folder / "catalog.sqlite3"


def running(catalogue: Path, **server: object) -> tuple[object, Settings]:
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{catalogue}"),
        server=dataclasses.replace(ServerSettings(), **server),
        oai=OaiSettings(max_concurrent_lists=2),
    )
    app = init_app(settings, Catalog.open(settings))
    return app, settings


@pytest.fixture
def server(catalogue: Path) -> Iterator[tuple[str, object]]:
    app, _ = running(catalogue, http_max_connections_per_address=3, http_request_timeout=1.0,
                     http_write_timeout=1.0)  # fmt: skip
    with serve_in_thread(app) as base:
        yield base, app


def connect(base: str, source: str = "127.0.0.1") -> socket.socket:
    port = int(base.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def response_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def answer_to(base: str, request: bytes) -> bytes:
    """The server's answer to ``request`` sent on a connection of its own."""
    with connect(base) as sock:
        sock.sendall(request)
        return response_of(sock)


def identify(base: str) -> str:
    with urllib.request.urlopen(f"{base}/oai?verb=Identify", timeout=10) as response:
        return response.read().decode()


def kept_alive(base: str, source: str) -> http.client.HTTPConnection:
    """A connection from ``source`` that has had a request answered, kept open (idle)."""
    port = int(base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                            source_address=(source, 0))  # fmt: skip
    connection.request("GET", "/oai?verb=Identify")
    assert connection.getresponse().read().count(b"<Identify>") == 1
    return connection


def test_connections_beyond_the_per_address_cap_get_503(server) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    held = [kept_alive(base, "127.0.0.2") for _ in range(3)]
    extra = connect(base, "127.0.0.2")
    answer = response_of(extra)
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"Retry-After: 10" in answer and b"from one address" in answer
    assert "<Identify>" in identify(base)  # another address is served
    extra.close()
    for connection in held:
        connection.close()


def test_a_connection_that_has_sent_nothing_makes_room_for_a_new_one(
    server, caplog  # type: ignore[no-untyped-def]
) -> None:
    """A flood of connections that send nothing kept every slot until each timed out, and
    real clients were answered 503 meanwhile. At a cap, the oldest connection that has sent
    nothing (of the new one's address when that address is at its cap) is closed for the new
    one, told why; a connection that is sending its request, or kept alive between requests,
    is not."""
    caplog.set_level(logging.INFO, logger="provider.http_server")
    base, _ = server
    idle = kept_alive(base, "127.0.0.2")
    silent = [connect(base, "127.0.0.2") for _ in range(2)]
    other = connect(base, "127.0.0.3")  # another address: its connection makes no room here
    time.sleep(0.2)  # (each accepted in turn)
    newcomer = connect(base, "127.0.0.2")
    newcomer.sendall(b"GET /oai?verb=Identify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = response_of(newcomer)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"<Identify>" in answer
    told = response_of(silent[0])  # the oldest of those that sent nothing
    assert told.startswith(b"HTTP/1.1 503 ") and b"as it sent nothing" in told
    assert any(m.getMessage().startswith("http 127.0.0.2: ") and
               m.getMessage().endswith("closing one that has sent nothing for one from "
                                       "127.0.0.2") for m in caplog.records)  # fmt: skip
    silent[1].settimeout(0.5)
    with pytest.raises(TimeoutError):  # still open, and still waited for
        silent[1].recv(1)
    idle.request("GET", "/oai?verb=Identify")  # the kept-alive connection goes on
    assert idle.getresponse().read().count(b"<Identify>") == 1
    for sock in [*silent, other, newcomer]:
        sock.close()
    idle.close()


def logged_refusals(caplog: pytest.LogCaptureFixture, what: str) -> tuple[int, list[int]]:
    """The refusal lines logged one by one, and the counts the damped lines said (in the
    words of :class:`provider.damped_log.Damped`)."""
    one_by_one = sum(r.getMessage().endswith("; refused") for r in caplog.records)
    held = [int(r.getMessage().split(": ")[1].split()[0]) for r in caplog.records
            if r.getMessage().startswith(f"{what}: ")]
    return one_by_one, held


def test_a_flood_of_refused_connections_is_logged_in_a_bounded_number_of_lines(
    server, caplog, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    """Each refusal was a line: a flood wrote them as fast as the kernel accepted connections.
    The first few of a window are logged, the rest counted in one line as it ends."""
    monkeypatch.setattr(damped_log, "WINDOW", 1.0)  # read as the window opens
    monkeypatch.setattr(damped_log, "BURST", 5)
    caplog.set_level(logging.INFO, logger="provider.http_server")
    base, _ = server
    held = [kept_alive(base, "127.0.0.2") for _ in range(3)]
    flood = 200
    for _ in range(flood):
        with connect(base, "127.0.0.2") as extra:
            assert response_of(extra).startswith(b"HTTP/1.1 503 ")
    deadline = time.monotonic() + 10  # the last window's count is said as it ends
    one_by_one, counted = logged_refusals(caplog, "http connections refused")
    while one_by_one + sum(counted) < flood:
        assert time.monotonic() < deadline, (one_by_one, counted)
        time.sleep(0.1)
        one_by_one, counted = logged_refusals(caplog, "http connections refused")
    for connection in held:
        connection.close()
    assert one_by_one + sum(counted) == flood
    assert one_by_one <= 5 * (len(counted) + 1) and counted


def test_a_request_head_sent_too_slowly_is_dropped(server) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    sock = connect(base)
    sock.sendall(b"GET /oai?verb=Identify HTTP/1.1\r\n")
    started = time.monotonic()
    for _ in range(30):  # a header line every 0.2 s: never done within the 1 s limit
        try:
            sock.sendall(b"X-Slow: yes\r\n")
        except OSError:
            break
        time.sleep(0.2)
    assert response_of(sock) == b""
    assert time.monotonic() - started < 6  # dropped, not served after the 6 s of drip
    sock.close()
    assert "<Identify>" in identify(base)


def test_a_request_head_still_arriving_is_bounded_by_the_request_timeout_not_keep_alive(
    catalogue: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp took a connection through which a head was arriving for idle, and closed it at
    ``http_keepalive_timeout`` (15 s by default, before the 30 s of ``http_request_timeout``),
    without a word: a slow but honest client was cut, and the log said nothing."""
    caplog.set_level(logging.INFO, logger="provider.http_server")
    app, _ = running(catalogue, http_request_timeout=4.0, http_keepalive_timeout=1.0)
    with serve_in_thread(app) as base:
        with connect(base) as sock:  # 2 s to send its head: past keep-alive, within the limit
            for part in (b"GET /oai?verb=Identify HTTP/1.1\r\n", b"Host: x\r\n",
                         b"X-Slow: yes\r\n", b"Connection: close\r\n", b"\r\n"):
                sock.sendall(part)
                time.sleep(0.5)
            assert response_of(sock).startswith(b"HTTP/1.1 200 ")
        with connect(base) as sock:  # one slower than the limit is dropped at it, and said
            sock.sendall(b"GET /oai?verb=Identify HTTP/1.1\r\n")
            started = time.monotonic()
            sock.settimeout(0.25)
            with contextlib.suppress(OSError):
                while time.monotonic() - started < 10 and not _closed(sock):
                    sock.sendall(b"X-Slow: yes\r\n")
            assert 3.5 < time.monotonic() - started < 8
    assert any("request not sent in time; connection dropped" in r.getMessage()
               for r in caplog.records)


def test_a_keep_alive_connection_after_a_chunked_post_closes_as_idle(
    catalogue: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A chunked body's bytes, read while its request was answered, were taken for the next
    request's: the idle connection was kept to the request timeout, then dropped as a request
    "not sent in time"."""
    caplog.set_level(logging.INFO, logger="provider.http_server")
    app, _ = running(catalogue, http_request_timeout=6.0, http_keepalive_timeout=1.0)
    with serve_in_thread(app) as base, connect(base) as sock:
        body = b"verb=Identify"
        sock.sendall(b"POST /oai HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
        time.sleep(0.3)  # the body comes while the request is being answered
        sock.sendall(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        started = time.monotonic()
        answer = response_of(sock)  # until the server closes the connection
        closed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 200 ") and b"<Identify>" in answer
    assert closed < 4, closed  # at the keep-alive timeout (1 s), not the request one (6 s)
    assert not any("not sent in time" in r.getMessage() for r in caplog.records)


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (waiting up to its timeout for a sign of it)."""
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def test_a_keep_alive_connection_after_a_post_is_not_timed_out(server) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    sock = connect(base)
    body = b"verb=Identify"
    sock.sendall(b"POST /oai HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
                 b"\r\nContent-Length: %d\r\n\r\n" % len(body))  # fmt: skip
    time.sleep(0.2)
    sock.sendall(body)  # the body in a packet of its own, read while the request is handled
    first = sock.recv(65536)
    time.sleep(2)  # longer than the 1 s request timeout, shorter than keep-alive
    sock.sendall(b"GET /oai?verb=Identify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    second = first + response_of(sock)
    sock.close()
    assert second.count(b"HTTP/1.1 200 OK") == 2


def test_a_client_that_never_reads_loses_its_connection_and_its_list_slot(server) -> None:  # type: ignore[no-untyped-def]
    base, app = server
    gate = app[LIST_GATE]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", int(base.rsplit(":", 1)[1])))
    sock.sendall(b"GET /oai?verb=ListRecords&metadataPrefix=marc21 HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 20
    while gate.active and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gate.active == 0  # held while the page was unread, then the write timeout freed it
    with pytest.raises(OSError):  # the server has dropped the connection
        while sock.recv(65536):
            pass
    sock.close()


async def _unread_tail(request: web.Request) -> web.Response:
    """40 KB with Connection: close, over a socket whose send buffer is made small: what the
    kernel does not take stays with the transport, under its high-water mark (no pause)."""
    sock = request.transport.get_extra_info("socket")  # type: ignore[union-attr]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    response = web.Response(body=b"x" * 40_000)
    response.force_close()
    return response


def test_a_closed_connection_whose_last_bytes_are_never_read_is_dropped(catalogue: Path) -> None:
    """aiohttp closes a connection after its last response (Connection: close, the keep-alive
    timeout) by closing the transport, which waits for its buffer to be read: a client that
    never read kept the connection, and its slot, for ever (only a paused write was timed)."""
    app, _ = running(catalogue, http_write_timeout=1.0)
    app.router.add_get("/unread-tail", _unread_tail)
    with serve_in_thread(app) as base:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(base.rsplit(":", 1)[1])))
        sock.sendall(b"GET /unread-tail HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(5)  # the write timeout is 1 s
        sock.settimeout(10)
        received = response_of(sock)  # what the kernel held; the transport's part was dropped
        sock.close()
    assert received.startswith(b"HTTP/1.1 200 OK") and len(received) < 40_000


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /oai?verb=Identify&x=" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", b"414 "),
        (b"GET /oai HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
         b"431 "),
        (b"GET /oai HTTP/1.1\r\nHost: x\r\nBad header\r\n\r\n", b"400 Bad Request"),
    ],
)  # fmt: skip
def test_malformed_requests_get_a_short_answer_and_no_traceback(
    server, request_bytes: bytes, status: bytes, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    base, _ = server
    caplog.set_level(logging.INFO)
    answer = answer_to(base, request_bytes)
    assert answer.split(b" ", 1)[1].startswith(status)  # HTTP/1.0 or 1.1: aiohttp chooses
    _, _, body = answer.partition(b"\r\n\r\n")
    assert len(body) < 64 and b"aaaa" not in body
    assert not [record for record in caplog.records if record.exc_info]


def post(path: str, body: bytes, *headers: str, kind: str = FORM) -> bytes:
    """A POST of a ``kind`` body (a form) with ``headers`` added (each ``"Name: value"``)."""
    head = "".join(f"{header}\r\n" for header in headers)
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: {kind}\r\n{head}\r\n").encode() + body


@pytest.mark.parametrize("path", ["/oai", "/sru"])
@pytest.mark.parametrize("encoding", ["deflate", "gzip"])
def test_a_body_its_content_encoding_does_not_decode_is_400(
    server, path: str, encoding: str, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    base, _ = server
    caplog.set_level(logging.INFO)
    request = post(path, b"garbage", f"Content-Encoding: {encoding}", "Content-Length: 7")
    answer = answer_to(base, request)
    assert answer.split(b" ", 1)[1].startswith(b"400 Bad Request")
    assert answer.partition(b"\r\n\r\n")[2] == b"Bad Request\n"
    assert not [record for record in caplog.records if record.exc_info]
    assert "<Identify>" in identify(base)


@pytest.mark.parametrize("path", ["/oai", "/sru"])
def test_a_content_length_of_more_digits_than_int_reads_is_400(
    server, path: str, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    """aiohttp's parser takes 5,001 digits of leading zeros and a 5; int() refuses them."""
    base, _ = server
    caplog.set_level(logging.INFO)
    answer = answer_to(base, post(path, b"verb=", "Content-Length: " + "0" * 5000 + "5"))
    assert answer.split(b" ", 1)[1].startswith(b"400 Bad Request")
    assert not [record for record in caplog.records if record.exc_info]
    assert "<Identify>" in identify(base)


def test_a_client_resetting_mid_response_logs_no_traceback(
    server, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    base, app = server
    for _ in range(3):
        sock = connect(base)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(b"GET /oai?verb=ListRecords&metadataPrefix=marc21 HTTP/1.1\r\n"
                     b"Host: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200 ")  # (not a 400 for the request)
        sock.close()  # linger 0: a reset
    deadline = time.monotonic() + 20
    while app[LIST_GATE].active and time.monotonic() < deadline:
        time.sleep(0.1)
    assert app[LIST_GATE].active == 0
    assert "<Identify>" in identify(base)
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.parametrize(
    ("path", "answered"),
    [("/sru", b"info:srw/diagnostic/1/12"), ("/oai", b"HTTP/1.1 413 Request Entity Too Large")],
)
def test_a_body_over_the_limit_is_left_unread_and_its_connection_closed(
    catalogue: Path, path: str, answered: bytes
) -> None:
    """A POST body over ``search.sru_max_request_bytes`` (SRU diagnostic 12) or
    ``oai.max_request_bytes`` (413) is answered before it is all read, and the connection is
    closed then, the rest unread: aiohttp read on and threw the body away for up to 10 s to keep
    the connection alive (268 MB of a 256 MiB body in 0.4 s on loopback)."""
    app, _ = running(catalogue, http_request_timeout=30.0)
    head = (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), 1 << 30))  # fmt: skip
    with serve_in_thread(app) as base, connect(base) as sock:
        sock.sendall(head + b"query=" + b"a" * 128 * 1024)
        answer = sock.recv(65536)
        began = time.monotonic()
        answer += response_of(sock)
        closed_after = time.monotonic() - began
    assert answered in answer and b"Connection: close" in answer
    assert closed_after < 3, f"closed {closed_after:.1f} s after the answer"


def test_a_body_past_1_mib_within_its_limit_is_read(catalogue: Path) -> None:
    """``oai.max_request_bytes`` and ``search.sru_max_request_bytes`` go past 1 MiB (to 64 and
    16 MiB): a POST within them is answered, not refused at aiohttp's own 1 MiB
    (``client_max_size``), as an OAI-PMH one was (413 "Maximum request body size 1048576
    exceeded" for 2 MiB with a limit of 4 MiB)."""
    limit = 4 << 20
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{catalogue}"),
        oai=OaiSettings(max_request_bytes=limit),
        search=SearchSettings(sru_max_request_bytes=limit),
    )
    app = init_app(settings, Catalog.open(settings))
    padding = b"a" * (2 << 20)
    with serve_in_thread(app) as base:
        for path, body, answered in (
            ("/oai", b"verb=Identify&padding=" + padding, b'<error code="badArgument">'),
            ("/sru", b"operation=explain&version=1.2&x-padding=" + padding, b"<zs:explainResp"),
        ):
            answer = answer_to(base, post(path, body, f"Content-Length: {len(body)}",
                                          "Connection: close"))  # fmt: skip
            assert answer.startswith(b"HTTP/1.1 200") and answered in answer, answer[:300]


def head_of(sock: socket.socket) -> bytes:
    """What the server sends up to the end of its first status line and headers."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(1)):
        data += chunk
    return data


@pytest.mark.parametrize(
    ("path", "answered"),
    [("/sru", b"info:srw/diagnostic/1/12"), ("/oai", b"HTTP/1.1 413 Request Entity Too Large")],
)
def test_expect_100_continue_with_a_body_over_the_limit_is_refused_before_the_body(
    server, path: str, answered: bytes  # type: ignore[no-untyped-def]
) -> None:
    """``Expect: 100-continue`` with a Content-Length over the limit is refused at once, with no
    100 (Continue) first and the connection closed, the body never sent: aiohttp answered 100,
    and the client sent its whole body to be refused."""
    base, _ = server
    with connect(base) as sock:
        sock.sendall(post(path, b"", "Expect: 100-continue", f"Content-Length: {1 << 30}"))
        first = head_of(sock)
        answer = first + response_of(sock)
    assert not first.startswith(b"HTTP/1.1 100"), first
    assert answered in answer and b"Connection: close" in answer
    assert "<Identify>" in identify(base)


@pytest.mark.parametrize(
    ("path", "body", "answered"),
    [("/sru", b"operation=explain&version=1.2", b"<zs:explainResponse"),
     ("/oai", b"verb=Identify", b"<Identify>")],
)  # fmt: skip
def test_expect_100_continue_with_a_body_within_the_limit_gets_100_then_its_answer(
    server, path: str, body: bytes, answered: bytes  # type: ignore[no-untyped-def]
) -> None:
    base, _ = server
    with connect(base) as sock:
        sock.sendall(post(path, b"", "Expect: 100-continue", f"Content-Length: {len(body)}",
                          "Connection: close"))  # fmt: skip
        assert head_of(sock) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = response_of(sock)
    assert answer.startswith(b"HTTP/1.1 200") and answered in answer, answer[:300]


@pytest.mark.parametrize("path", ["/oai", "/sru"])
def test_an_expectation_other_than_100_continue_is_417(server, path: str) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    request = post(path, b"", "Expect: 200-ok", "Content-Length: 13", "Connection: close")
    assert answer_to(base, request).startswith(b"HTTP/1.1 417")


@pytest.mark.parametrize("shared", [True, False], ids=["port shared", "port alone"])
def test_a_keep_alive_connection_to_a_shared_port_closes_after_its_requests(
    catalogue: Path, shared: bool
) -> None:
    """Where processes share the port (``koprik serve --workers``), the answer to a
    connection's ``http_keepalive_requests``-th request says ``Connection: close`` (a streamed
    list page too, before its headers go) and the client reconnects, to be placed again by the
    kernel; a process serving alone keeps the connection."""
    app, _ = running(catalogue, http_keepalive_requests=3)
    said, ports = [], set()
    with serve_in_thread(app, reuse_port=shared) as base:
        client = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=10)
        for verb in ("Identify", "ListSets", "ListRecords&metadataPrefix=marc21") * 2:
            client.request("GET", f"/oai?verb={verb}")
            assert client.sock is not None
            ports.add(client.sock.getsockname()[1])  # the connection's own end
            answer = client.getresponse()
            assert answer.status == 200 and b"</OAI-PMH>" in answer.read()
            said.append(answer.getheader("Connection"))
        client.close()
    if shared:
        assert said == [None, None, "close"] * 2 and len(ports) == 2
    else:
        assert said == [None] * 6 and len(ports) == 1


@pytest.mark.parametrize("path", ["/oai?verb=Identify", "/sru?query=dc.title%3Dx",
                                  "/oai?verb=ListRecords&metadataPrefix=marc21"])
def test_a_head_request_is_answered_without_content(server, path: str) -> None:  # type: ignore[no-untyped-def]
    """HEAD gets GET's headers and no content (RFC 9110 9.3.2), and the connection goes on
    with the next request. Before, /oai sent the page after the headers: a client read it as
    the status line of its next answer (http.client: BadStatusLine)."""
    base, _ = server
    request = f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    head, _, content = answer_to(base, request).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and content == b""
    _, _, got = answer_to(base, request.replace(b"HEAD", b"GET", 1)).partition(b"\r\n\r\n")
    assert f"\r\nContent-Length: {len(got)}\r\n".encode() in head + b"\r\n"
    port = int(base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("HEAD", path)
        assert connection.getresponse().read() == b""
        connection.request("GET", "/oai?verb=Identify")
        assert connection.getresponse().read().count(b"<Identify>") == 1
    finally:
        connection.close()

"""Hostile clients of a running ``koprik serve``, and the bystander who must still be answered.

Used by tests/interop/test_hostile_serve.py (which asserts) and bench/hostile_serve.py (which
measures). Attackers connect from loopback addresses other than 127.0.0.1 (Linux routes all of
127.0.0.0/8 to the loopback interface), one address each where the attack is meant to come from
many hosts, so that limits per client address do not make an attack look harmless that a
botnet would still mount; the bystander always comes from 127.0.0.1.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from protocols.z3950.ber import TooManyValues, read_length, tag_end, to_definite
from protocols.z3950.codec import OPTION_BITS, bit_string, encode_pdu
from protocols.z3950.pqf import parse_pqf, rpn_to_pdu

INIT = encode_pdu("initRequest", {
    "protocolVersion": bit_string({0, 1, 2}),
    "options": bit_string(OPTION_BITS.values()),
    "preferredMessageSize": 1_000_000,
    "exceptionalRecordSize": 1_000_000,
})  # fmt: skip


def attacker_address(index: int) -> str:
    """The ``index``-th loopback address an attacker connects from (never 127.0.0.1)."""
    return f"127.0.{1 + index // 250}.{2 + index % 250}"


def connect(port: int, source: str, *, receive_buffer: int | None = None) -> socket.socket:
    """A TCP connection to ``127.0.0.1:port`` from ``source``."""
    sock = socket.socket()
    if receive_buffer is not None:  # set before connecting, so the window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind((source, 0))
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    return sock


def search_pdu(rpn: dict[str, object]) -> bytes:
    return encode_pdu("searchRequest", {
        "smallSetUpperBound": 0, "largeSetLowerBound": 1, "mediumSetPresentNumber": 0,
        "replaceIndicator": True, "resultSetName": "default", "databaseNames": ["Default"],
        "query": ("type-1", rpn),
    })  # fmt: skip


def maximal_search_pdu(max_bytes: int, max_values: int) -> bytes:
    """The costliest search PDU to decode of at most ``max_bytes`` and ``max_values`` values.

    A balanced tree of OR operators over short terms has the most BER values per byte, which is
    what decoding time goes with (a single 1 MB term decodes in milliseconds): the largest such
    tree within both bounds, with one term padded so that the PDU is within a few bytes of
    ``max_bytes``.
    """
    depth = 1
    while _fits(_or_tree(depth + 1, ""), max_bytes, max_values):
        depth += 1
    padding = max_bytes - len(_or_tree(depth, ""))
    while not _fits(_or_tree(depth, "x" * padding), max_bytes, max_values):
        padding -= 1 + len(_or_tree(depth, "x" * padding)) - max_bytes
    return _or_tree(depth, "x" * padding)


def densest_search_pdu(max_bytes: int) -> bytes:
    """The search PDU with the most BER values in at most ``max_bytes``: a balanced OR tree
    (a target must refuse it without decoding it: 1 MiB holds 330,000 values)."""
    size, depth = len(_or_tree(8, "")), 8
    while size * 2 <= max_bytes:  # each level doubles the tree, less a few length bytes
        size, depth = size * 2, depth + 1
    pdu = _or_tree(depth, "")
    return pdu if len(pdu) <= max_bytes else _or_tree(depth - 1, "")


def _fits(pdu: bytes, max_bytes: int, max_values: int) -> bool:
    if len(pdu) > max_bytes:
        return False
    try:
        to_definite(pdu, max_values)
    except TooManyValues:
        return False
    return True


def _or_tree(depth: int, padding: str) -> bytes:
    leaf = rpn_to_pdu(parse_pqf("@attr 1=4 ab"))
    padded = rpn_to_pdu(parse_pqf(f"@attr 1=4 ab{padding}"))
    return search_pdu({**leaf, "rpn": _balanced(depth, padded["rpn"], leaf["rpn"])})


def _balanced(depth: int, first: object, other: object) -> object:
    """An OR tree ``depth`` deep whose leftmost operand is ``first`` and every other ``other``."""
    if depth == 0:
        return first
    left, right = _balanced(depth - 1, first, other), _balanced(depth - 1, other, other)
    return ("rpnRpnOp", {"rpn1": left, "rpn2": right, "op": ("or", None)})


def read_pdu(sock: socket.socket) -> bytes:
    """One whole BER PDU from a blocking socket (definite lengths, as Koprik sends)."""
    data = b""
    while True:
        try:
            end = tag_end(data, 0)
            length, offset = read_length(data, end)
        except Exception:  # not enough bytes yet for the header
            length = None
        if length is not None and len(data) >= offset + length:
            return data[: offset + length]
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the target closed the connection")
        data += chunk


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid`` (VmRSS in /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class PeakRss:
    """Samples a process's RSS every ``interval`` seconds in a thread; ``peak`` is the largest."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(self.pid))


@dataclass(frozen=True)
class Answer:
    seconds: float
    text: str


def identify(oai_url: str, timeout: float) -> Answer:
    """An OAI-PMH Identify from 127.0.0.1; raises if it takes longer than ``timeout``."""
    started = time.monotonic()
    with urllib.request.urlopen(f"{oai_url}?verb=Identify", timeout=timeout) as response:
        body = response.read().decode()
    return Answer(time.monotonic() - started, body)


def yaz_search(port: int, timeout: float, query: str = "@attr 1=4 @attr 5=1 a") -> Answer:
    """A search by yaz-client from 127.0.0.1; raises if it takes longer than ``timeout``."""
    started = time.monotonic()
    result = subprocess.run(
        ["yaz-client", f"tcp:127.0.0.1:{port}/Default"],
        input=f"find {query}\nquit\n", capture_output=True, text=True, timeout=timeout,
    )
    return Answer(time.monotonic() - started, result.stdout)


class PduAttack:
    """Sends each of ``pdus`` again and again, each on a new initialised association from an
    attacker's address, waiting (up to 30 s) for the answer (a response or a Close) before the
    next; ``answered`` counts the PDUs sent so far."""

    def __init__(self, port: int, pdus: list[bytes]) -> None:
        self.port = port
        self.pdus = pdus
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._attack, daemon=True)

    def __enter__(self) -> PduAttack:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _attack(self) -> None:
        while not self._stop.is_set():
            for pdu in self.pdus:
                try:
                    with connect(self.port, attacker_address(0)) as sock:
                        sock.sendall(INIT)
                        read_pdu(sock)
                        sock.sendall(pdu)
                        read_pdu(sock)
                except OSError:
                    pass  # closed by the target, or no answer in 30 s: the attack goes on
                self.answered += 1


@contextmanager
def unread_list_clients(
    http_port: int, count: int, query: str, seconds: float
) -> Iterator[list[socket.socket]]:
    """``count`` clients from as many addresses asking for ``/oai?query`` and reading nothing of
    a response but its status line (a receive window of a few kilobytes, so the server must
    keep what it cannot send). Like harvesters, each asks again after a 503, for ``seconds``;
    yields the connections holding a 200 response, unread."""
    request = f"GET /oai?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    deadline = time.monotonic() + seconds
    with ExitStack() as stack:
        held: list[socket.socket] = []
        waiting = list(range(count))
        while waiting and time.monotonic() < deadline:
            refused = []
            for index in waiting:
                if time.monotonic() > deadline:
                    break
                sock = connect(http_port, attacker_address(index), receive_buffer=4096)
                try:
                    sock.sendall(request)
                    status = sock.recv(12)  # "HTTP/1.1 200": the rest stays in the socket
                except OSError:
                    status = b""
                if status.endswith(b" 200"):
                    stack.callback(sock.close)
                    held.append(sock)
                else:
                    sock.close()
                    refused.append(index)
            waiting = refused
        yield held


@contextmanager
def idle_sockets(port: int, count: int, *, addresses: int = 1) -> Iterator[list[socket.socket]]:
    """``count`` connections to ``port`` from ``addresses`` attacker addresses, sending nothing."""
    with ExitStack() as stack:
        sockets = []
        for index in range(count):
            try:
                sock = connect(port, attacker_address(index % addresses))
            except OSError:
                continue
            stack.callback(sock.close)
            sockets.append(sock)
        yield sockets

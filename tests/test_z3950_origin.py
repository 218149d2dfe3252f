"""harvester/z3950_origin.py against targets that answer what no target should (the real
targets, Zebra and yaz-ztest, are in tests/interop/test_z3950_origin.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from koprik.cli import main


@pytest.fixture
def lying_target() -> Iterator[int]:
    """A target answering every connection's first request with the header of a 3 GiB PDU,
    then keeping the connection open."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)
            connection.recv(65536)
            connection.sendall(bytes.fromhex("bf3584") + (3 << 30).to_bytes(4, "big") + b"\0" * 64)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in held:
            connection.close()


def test_an_answer_too_large_to_read_is_a_one_line_error(
    lying_target: int, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["z3950", f"127.0.0.1:{lying_target}/Default", "war", "--timeout", "5"])
    assert status == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"koprik: 127.0.0.1:{lying_target}/Default: unreadable answer to ")
    assert "PDU larger than" in line

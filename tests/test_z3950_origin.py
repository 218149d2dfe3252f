"""harvester/z3950_origin.py against targets that answer what no target should (the real
targets, Zebra and yaz-ztest, are in tests/interop/test_z3950_origin.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from koprik.cli import main


def _target(answer: bytes) -> Iterator[int]:
    """A target answering every connection's first request with ``answer``, then keeping the
    connection open."""
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
            connection.sendall(answer)

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


@pytest.fixture
def lying_target() -> Iterator[int]:
    """Its answer starts a PDU of 3 GiB."""
    yield from _target(bytes.fromhex("bf3584") + (3 << 30).to_bytes(4, "big") + b"\0" * 64)


@pytest.fixture
def silent_target() -> Iterator[int]:
    yield from _target(b"")


def test_a_target_that_never_answers_is_a_one_line_error_with_the_time_waited(
    silent_target: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["z3950", f"127.0.0.1:{silent_target}/Default", "war", "--timeout", "0.5"]) == 2
    assert capsys.readouterr().err == (
        f"koprik: cannot talk to 127.0.0.1:{silent_target}: no answer within 0.5 s\n"
    )


@pytest.mark.parametrize("command", ["z3950", "sru"])
@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "soon"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(
    command: str, timeout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = "127.0.0.1:9/Default" if command == "z3950" else "http://127.0.0.1:9/sru"
    with pytest.raises(SystemExit) as stopped:
        main([command, target, "x", "--timeout", timeout])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f"argument --timeout: expected a positive number of seconds, got {timeout!r}"
        if timeout != "soon" else "argument --timeout: 'soon' is not a number of seconds"
    )


def test_an_answer_too_large_to_read_is_a_one_line_error(
    lying_target: int, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["z3950", f"127.0.0.1:{lying_target}/Default", "war", "--timeout", "5"])
    assert status == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"koprik: 127.0.0.1:{lying_target}/Default: unreadable answer to ")
    assert "PDU larger than" in line

"""``koprik demo --if-empty`` and ``koprik serve`` as ``make serve`` runs them."""

import asyncio
import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from catalog.schema import head
from protocols.z3950.codec import decode_pdu
from protocols.z3950.framing import read_pdu
from provider.damped_log import BURST
from tests.conftest import ROOT
from tests.hostile import INIT
from tests.servers import (
    INJECTED_FAULT,
    RunningKoprik,
    koprik_serve,
    stderr_after,
    with_a_fault,
    write_config,
)


def test_demo_loads_only_into_an_empty_catalogue(tmp_path):
    koprik = write_config(tmp_path)
    loaded = subprocess.run(koprik.command("demo", "--records", "40", "--if-empty"),
                            capture_output=True, text=True, timeout=120)
    assert loaded.stdout.strip() == "demo: 40 added"
    again = subprocess.run(koprik.command("demo", "--records", "40", "--if-empty"),
                           capture_output=True, text=True, timeout=120)
    assert "already has records" in again.stdout


def test_serve_answers_over_http(tmp_path):
    with koprik_serve(tmp_path, demo_records=40) as koprik:
        url = f"{koprik.oai_url}?verb=ListIdentifiers&metadataPrefix=oai_dc"
        body = urllib.request.urlopen(url, timeout=10).read().decode()
        assert body.count("<identifier>") == 40


def test_serve_exits_zero_on_sigterm(tmp_path):
    koprik = write_config(tmp_path)
    server = subprocess.Popen(koprik.command("serve"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    assert f"http://127.0.0.1:{koprik.http_port}/oai" in line
    err = stderr_after(server, signal.SIGTERM, 20)
    assert server.returncode == 0
    assert "Traceback" not in err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_stop_ends_an_idle_z3950_session_with_a_close_saying_shutdown(tmp_path, workers):
    """SIGTERM with a Z39.50 client between requests: the client was dropped without a Close,
    and Python 3.11 logged the session's cancelled task as an asyncio ERROR with a traceback.
    Now the client is told (Close, shutdown) and the server stops cleanly."""
    koprik = write_config(tmp_path)
    server = subprocess.Popen(koprik.command("serve", "--workers", workers),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    async def session() -> tuple[str, dict]:
        reader, writer = await asyncio.open_connection("127.0.0.1", koprik.z3950_port)
        writer.write(INIT)
        assert decode_pdu(await read_pdu(reader, 1 << 20))[0] == "initResponse"
        server.send_signal(signal.SIGTERM)
        told = decode_pdu(await asyncio.wait_for(read_pdu(reader, 1 << 20), 20))
        writer.close()
        return told

    try:
        assert "/oai" in server.stdout.readline()
        name, close = asyncio.run(session())
        _, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert (name, close["closeReason"]) == ("close", 1)  # shutdown
    assert server.returncode == 0, err
    assert "Traceback" not in err and "ERROR" not in err, err
    assert "close (shutdown) after 1 requests" in err, err


def _serving_a_closed_port(folder: Path, extra: str = "") -> tuple[RunningKoprik, int]:
    """Settings (with the tables of ``extra``) whose catalogue is a PostgreSQL server that is
    not running (nothing listens on its port), and that port."""
    from tests.conftest import free_port

    port = free_port()
    koprik = write_config(folder, extra)
    koprik.config.write_text(koprik.config.read_text().replace(
        f'url = "sqlite:///{folder / "catalog.sqlite3"}"',
        f'url = "postgresql+psycopg://koprik:secret@127.0.0.1:{port}/x"'))
    return koprik, port


@pytest.mark.parametrize("command", [["serve", "--workers", "1"], ["serve", "--workers", "2"],
                                     ["scheduler"]])
def test_a_database_that_does_not_answer_stops_serve_and_the_scheduler_with_status_1(
    tmp_path, command
):
    """Status 1, which systemd starts again (PostgreSQL starting after Koprik); it was 2,
    never retried, as for a setting at fault (koprik scheduler's was still 2)."""
    koprik, port = _serving_a_closed_port(tmp_path)
    result = subprocess.run(koprik.command(*command), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(
        f"koprik: the catalogue database postgresql+psycopg://koprik:***@127.0.0.1:{port}/x "
        "cannot be used:"), result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_database_that_does_not_answer_is_said_in_the_log_file_too(tmp_path, workers):
    """serve run as a service, logging to a file: why it stopped was said on standard error
    only, and the operator reading its log found nothing there. Now the log file has the line
    too, standard error still the one line."""
    log = tmp_path / "koprik.log"
    koprik, _ = _serving_a_closed_port(tmp_path, f'[log]\nfile = "{log}"\n')
    result = subprocess.run(koprik.command("serve", "--workers", workers), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    (said,) = result.stderr.splitlines()
    assert said.startswith("koprik: the catalogue database "), said
    (logged,) = log.read_text().splitlines()
    assert logged.endswith(f" ERROR koprik: {said.removeprefix('koprik: ')}"), logged


@pytest.mark.parametrize("command", [["serve"], ["serve", "--workers", "2"], ["scheduler"]])
def test_a_sigterm_while_waiting_for_the_database_is_said_in_the_log_file_too(tmp_path, command):
    """A service stopped by SIGTERM as it started, its PostgreSQL server not answering yet
    (here a port that takes the connection and says nothing): "koprik: terminated" was said on
    standard error only, and its log file had nothing of why it stopped."""
    import socket

    log = tmp_path / "koprik.log"
    koprik, port = _serving_a_closed_port(tmp_path, f'[log]\nfile = "{log}"\n')
    with socket.create_server(("127.0.0.1", port)) as silent:
        server = subprocess.Popen(koprik.command(*command), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        silent.settimeout(60)
        try:
            connection, _ = silent.accept()  # the log file is open: the catalogue is opening
            with connection:
                err = stderr_after(server, signal.SIGTERM, 30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    assert (server.returncode, err) == (143, "koprik: terminated\n")
    logged = log.read_text()
    assert logged.endswith(" ERROR koprik: terminated\n"), logged


@pytest.mark.parametrize("command", [["serve"], ["serve", "--workers", "2"], ["scheduler"]])
def test_an_unexpected_error_is_in_the_log_file_with_its_traceback(tmp_path, command):
    """A fault of Koprik's own stopping a service printed its traceback on standard error only:
    the log file had nothing of why it stopped. Now it has a line and the traceback too;
    standard error still has Python's traceback."""
    log = tmp_path / "koprik.log"
    koprik = write_config(tmp_path, f'[log]\nfile = "{log}"\n')
    subprocess.run(koprik.command("demo", "--records", "1"), check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    log.unlink(missing_ok=True)
    (tmp_path / "fault").touch()
    result = subprocess.run(koprik.command(*command), capture_output=True, text=True, timeout=60,
                            env=with_a_fault(tmp_path, tmp_path / "fault"))  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("Traceback (most recent call last):\n"), result.stderr
    assert result.stderr.splitlines()[-1] == INJECTED_FAULT, result.stderr
    logged = log.read_text()
    assert logged.endswith(f"\n{INJECTED_FAULT}\n"), logged
    assert (" ERROR koprik: stopped by an unexpected error (a fault of Koprik's own)\n"
            "Traceback (most recent call last):\n") in logged, logged


def test_a_schema_revision_recorded_as_bytes_stops_each_command_in_one_line(tmp_path):
    """A schema revision SQLite keeps as bytes (a hand edit, a damaged file) ended every
    command opening the catalogue with a TypeError's traceback; now one line, status 2."""
    import sqlite3

    koprik = write_config(tmp_path)
    subprocess.run(koprik.command("demo", "--records", "1"), check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    catalogue = tmp_path / "catalog.sqlite3"
    with contextlib.closing(sqlite3.connect(catalogue)) as database, database:
        database.execute("UPDATE alembic_version SET version_num = CAST(version_num AS BLOB)")
    for command in (["runs"], ["serve"]):
        result = subprocess.run(koprik.command(*command), capture_output=True, text=True,
                                timeout=60)  # fmt: skip
        assert (result.returncode, result.stderr.splitlines()) == (2, [
            f"koprik: sqlite:///{catalogue}: the schema revision its alembic_version table "
            f"records is not text (b'{head()}'): the catalogue is damaged; restore it from a "
            "backup"]), result.stderr


def test_a_catalogue_file_that_is_no_database_stops_serve_with_status_2(tmp_path):
    """Not retried: asking again brings the same (a database that does not answer is, above)."""
    koprik = write_config(tmp_path)
    (tmp_path / "catalog.sqlite3").write_bytes(b"these are not the pages of a database" * 200)
    result = subprocess.run(koprik.command("serve"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("koprik: the catalogue database "), result.stderr
    assert result.stderr.endswith("cannot be used: file is not a database\n"), result.stderr


def test_a_catalogue_made_by_serve_is_said_in_the_log(tmp_path):
    """At a mistyped database.url, serve made a new, empty catalogue and published it without a
    word (/health said "ok", 0 records); the log says so, once: the next start finds it."""
    koprik = write_config(tmp_path)
    made = tmp_path / "catalog.sqlite3"
    said = (f"WARNING koprik.serve: no catalogue was at {made} (database.url): a new, empty "
            "one is made there and served")
    for first in (True, False):
        server = subprocess.Popen(koprik.command("serve", "--workers", "2"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert f"http://127.0.0.1:{koprik.http_port}/oai" in server.stdout.readline()
        err = stderr_after(server, signal.SIGTERM, 30)
        assert server.returncode == 0, err
        assert (said in err) == first, err


@pytest.mark.parametrize("options", [[], ["--workers", "1"], ["--workers", "1", "--port"]])
def test_a_port_in_use_is_one_line_naming_it(tmp_path, options):
    """A single process (--workers 1) said only "[Errno 98] error while attempting to bind on
    address ('127.0.0.1', PORT): address already in use"."""
    import socket

    koprik = write_config(tmp_path)
    named = "--port" if "--port" in options else "server.http_port"
    options = [*options, str(koprik.http_port)] if "--port" in options else options
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", koprik.http_port))
        taken.listen()
        result = subprocess.run([*koprik.command("serve"), *options], capture_output=True,
                                text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1  # may pass (the holder stopping): systemd starts it again
    # the settings file before its key, as the loader's errors name it; an option is in none
    in_file = "" if named == "--port" else f"{koprik.config}: "
    assert result.stderr == (
        f"koprik: {in_file}{named} {koprik.http_port} on 127.0.0.1: Address already in use\n"
    )


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("http_named", ["--port", "server.http_port"])
def test_one_port_for_both_servers_is_refused_in_one_line(tmp_path, workers, http_named):
    """``server.z3950_port`` equal to the HTTP port: with ``--workers 2`` (SO_REUSEPORT) both
    servers took it, and connections went to either at random (an OAI request answered by the
    Z39.50 port's SRU); with one worker the bind's error named no setting. The line names the
    settings file, where server.z3950_port is, as the loader's errors do (it named none)."""
    koprik = write_config(tmp_path)
    options = ["--workers", workers]
    if http_named == "--port":
        options += ["--port", str(koprik.z3950_port)]
    else:
        koprik.config.write_text(koprik.config.read_text().replace(
            f"http_port = {koprik.http_port}\n", f"http_port = {koprik.z3950_port}\n"))
    result = subprocess.run([*koprik.command("serve"), *options], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert (result.returncode, result.stderr) == (
        2, f"koprik: {koprik.config}: {http_named} and server.z3950_port are both "
           f"{koprik.z3950_port}: give each server a port of its own\n")


def test_a_refused_setting_names_no_file_when_none_was_read(tmp_path):
    """With no settings file (the defaults), a refusal of a setting says the key alone, as a
    ``database.url`` refused there does: no koprik.toml that is not there. Nothing is bound:
    the ports are compared before."""
    from config import ServerSettings

    z3950_port = ServerSettings().z3950_port
    environment = {k: v for k, v in os.environ.items() if k != "KOPRIK_CONFIG"}
    environment["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-m", "koprik", "serve", "--port", str(z3950_port)],
                            cwd=tmp_path, env=environment, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert (result.returncode, result.stderr) == (
        2, f"koprik: --port and server.z3950_port are both {z3950_port}: give each server a "
           "port of its own\n")
    assert list(tmp_path.iterdir()) == []


def test_serve_listens_on_ipv6_loopback(tmp_path):
    """``--host ::1`` said "--port N on ::1: Unknown error -9" (its ports were probed as IPv4)
    and did not start; the lines it prints and Identify name it in brackets."""
    import socket

    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")
    koprik = write_config(tmp_path)
    koprik.config.write_text(koprik.config.read_text().replace(
        f'base_url = "http://127.0.0.1:{koprik.http_port}/oai"\n', ""))
    with (tmp_path / "serve.err").open("wb") as errors:
        server = subprocess.Popen([*koprik.command("serve"), "--host", "::1", "--workers", "1"],
                                  stdout=subprocess.PIPE, stderr=errors, text=True)  # fmt: skip
    try:
        first = server.stdout.readline()
        url = f"http://[::1]:{koprik.http_port}/oai"
        assert first == f"koprik: OAI-PMH at {url}\n", (tmp_path / "serve.err").read_text()
        body = urllib.request.urlopen(f"{url}?verb=Identify", timeout=10).read().decode()
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    assert f"<baseURL>{url}</baseURL>" in body


def test_identify_announces_the_served_address_when_base_url_is_not_set(tmp_path):
    from tests.conftest import free_port
    from tests.servers import _wait_for

    port = free_port()
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n'
                      f"[server]\nhttp_port = {port}\nz3950_port = {free_port()}\n")
    output = tmp_path / "serve.out"
    with output.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "koprik", "--config", str(config), "serve", "--no-scheduler"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/oai?verb=Identify"
        _wait_for(url, server, output)
        body = urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert f"<baseURL>http://127.0.0.1:{port}/oai</baseURL>" in body
    assert f'<request verb="Identify">http://127.0.0.1:{port}/oai</request>' in body


def test_served_base_url_names_the_host_and_port():
    import socket

    from koprik.commands.serve import served_base_url

    assert served_base_url("127.0.0.1", 8090) == "http://127.0.0.1:8090/oai"
    assert served_base_url("::1", 8090) == "http://[::1]:8090/oai"
    assert served_base_url("0.0.0.0", 80) == f"http://{socket.getfqdn()}:80/oai"


def test_ports_left_to_the_kernel_serve_in_one_process_unless_workers_are_asked_for(tmp_path):
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n'
                      '[server]\nhttp_port = 0\nz3950_port = 0\n'
                      f'[log]\nfile = "{tmp_path / "koprik.log"}"\nformat = "json"\n')
    koprik = [sys.executable, "-m", "koprik", "--config", str(config), "serve", "--no-scheduler"]
    refused = subprocess.run([*koprik, "--workers", "2"], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"koprik: {config}: --workers needs fixed ports: server.http_port and server.z3950_port "
        "must not be 0 (any free port, which each process would choose apart)"
    ]
    server = subprocess.Popen(koprik, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [server.stdout.readline() for _ in range(4)]
        assert lines[-1].startswith("koprik: Z39.50 at tcp:127.0.0.1:"), lines
        assert "koprik.workers" not in (tmp_path / "koprik.log").read_text()  # no workers
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0


def test_more_workers_than_four_a_core_are_refused_before_any_starts(tmp_path):
    """A mistyped ``--workers 100000`` forked until the machine ran out of memory."""
    from koprik.workers import default_count

    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n')
    most = 4 * default_count()
    for workers in (most + 1, 100000, -1):
        refused = subprocess.run(
            [sys.executable, "-m", "koprik", "--config", str(config), "serve", "--workers",
             str(workers)], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines() == [
            f"koprik: --workers {workers}: a number of processes up to {most} (4 per core), or 0"
            " for one per core"
        ]


def test_workers_do_not_join_another_process_listening_on_their_port(tmp_path):
    """SO_REUSEPORT would let the workers share a port with any socket of the same user that
    set it (another ``koprik serve --workers`` over another catalogue), splitting its clients."""
    import socket

    running = write_config(tmp_path)
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    other.bind(("127.0.0.1", running.z3950_port))
    other.listen()
    try:
        refused = subprocess.run(
            [sys.executable, "-m", "koprik", "--config", str(running.config), "serve",
             "--no-scheduler", "--workers", "2"], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        other.close()
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"koprik: {running.config}: server.z3950_port {running.z3950_port} on 127.0.0.1: Address "
        "already in use"
    ], refused.stderr


def test_the_port_option_is_checked_and_0_is_any_free_port(tmp_path):
    running = write_config(tmp_path)
    koprik = [sys.executable, "-m", "koprik", "--config", str(running.config), "serve",
              "--no-scheduler"]
    refused = subprocess.run([*koprik, "--port", "70000"], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.splitlines() == [
        "koprik serve: argument --port: expected a whole number from 0 to 65535, got 70000 "
        "(see koprik serve --help)"]
    refused = subprocess.run([*koprik, "--port", "0", "--workers", "2"], capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2  # (the Z39.50 port was fixed: it named both settings)
    assert refused.stderr.strip().splitlines() == [
        "koprik: --workers needs fixed ports: --port must not be 0 (any free port, which each "
        "process would choose apart)"
    ]


def test_port_0_announces_the_port_bound(tmp_path):
    """With repository.base_url unset, ``--port 0`` announces the port the kernel chose, in the
    lines printed and in Identify (it said ``http://127.0.0.1:0/oai``)."""
    import re

    from tests.conftest import free_port

    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n'
                      f"[server]\nhttp_port = {free_port()}\nz3950_port = {free_port()}\n")
    with (tmp_path / "serve.err").open("wb") as errors:
        server = subprocess.Popen(
            [sys.executable, "-m", "koprik", "--config", str(config), "serve", "--no-scheduler",
             "--port", "0"],
            stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip
    try:
        lines = [server.stdout.readline() for _ in range(3)]
        found = re.fullmatch(r"koprik: OAI-PMH at http://127\.0\.0\.1:(\d+)/oai\n", lines[0])
        assert found, lines
        port = int(found[1])
        assert port != 0
        assert lines[1] == f"koprik: SRU at http://127.0.0.1:{port}/sru\n"
        assert lines[2] == f"koprik: dashboard at http://127.0.0.1:{port}/\n"
        url = f"http://127.0.0.1:{port}/oai?verb=Identify"
        body = urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    assert f"<baseURL>http://127.0.0.1:{port}/oai</baseURL>" in body


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        # The resolver's own "[Errno -2] Name or service not known" named neither.
        ("999.1.1.1", "not an address to listen on (Name or service not known)"),
        # An address, but not of this machine (TEST-NET-1; nothing is sent to it): the bind's
        # "[Errno 99] Cannot assign requested address" named neither.
        ("192.0.2.1", "not an address of this machine"),
    ],
)
def test_a_host_that_cannot_be_listened_on_is_named_with_its_option_or_setting(
    tmp_path, host, reason
):
    """One line naming the option or the setting and the address, status 2, for one process
    and for several; the setting after its settings file, as the loader's errors name it (it
    named none)."""
    running = write_config(tmp_path)
    koprik = [sys.executable, "-m", "koprik", "--config", str(running.config), "serve",
              "--no-scheduler"]
    refused = subprocess.run([*koprik, "--host", host], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [f"koprik: --host {host!r}: {reason}"]
    running.config.write_text(
        running.config.read_text().replace("[server]\n", f'[server]\nhost = "{host}"\n'))
    for workers in ("1", "2"):
        refused = subprocess.run([*koprik, "--workers", workers], capture_output=True,
                                 text=True, timeout=60)
        assert refused.returncode == 2
        assert refused.stderr.splitlines() == [
            f"koprik: {running.config}: server.host {host!r}: {reason}"]


def test_a_set_spec_defined_twice_stops_serve_in_one_line(tmp_path):
    """Two [[sets]] rules with one spec were both taken: the set had the records of both, and
    ListSets listed it twice."""
    rules = "".join(f'[[sets]]\nspec = "lang"\nname = "{name}"\nrule = "language"\n'
                    for name in ("By language", "Languages"))
    koprik = write_config(tmp_path, rules)
    refused = subprocess.run(koprik.command("serve", "--no-scheduler"), capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr == (
        f"koprik: {koprik.config}: sets[1].spec: the setSpec 'lang' is defined twice\n"
    )


def _sigint_as_in_a_terminal() -> None:
    """In the child: SIGINT taken as a terminal's ^C is (a shell without job control starts
    a command in the background with it ignored, which the child would inherit)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_ctrl_c_as_serve_starts_stops_it_in_one_line(tmp_path, workers):
    """A ^C while serve loads its modules, opens the catalogue or starts its servers: one line
    and status 130 (0 once it serves, as after SIGTERM), never a traceback; a ^C inside code
    made by exec() (a dataclass's methods, as its module is imported) ended it killed by
    SIGINT instead, after the line."""
    koprik = write_config(tmp_path)
    for delay in (0.2, 0.5, 0.8, 1.0, 1.2, 1.5, 2.0):
        started = subprocess.Popen(koprik.command("serve", "--workers", workers),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   preexec_fn=_sigint_as_in_a_terminal)  # fmt: skip
        time.sleep(delay)
        err = stderr_after(started, signal.SIGINT)
        assert b"Traceback" not in err, (delay, err)
        assert started.returncode in (0, 130), (delay, started.returncode, err)
        if started.returncode == 130:
            assert err.endswith(b"koprik: interrupted\n"), (delay, err)


def test_a_ctrl_c_lost_on_its_way_as_serve_starts_stops_it_once_it_serves(tmp_path):
    """A ^C whose KeyboardInterrupt was lost before serve's own handler was in place (Python
    ignores one raised in a ``__del__``, saying so): serve went on serving, its stop never
    set. It stops as on a ^C once its handler is in place (koprik.stopping.raised_before), and
    Python's lines about the exception it dropped (a traceback) are not printed."""
    koprik = write_config(tmp_path)
    (tmp_path / "lost.py").write_text(
        "import os, signal, sys\n"
        "import koprik.commands.serve as serve\n"
        "from koprik.program import run\n"
        "class Lost:\n"
        "    def __del__(self):\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        for _ in range(1000):  # the KeyboardInterrupt is raised here, and ignored\n"
        "            pass\n"
        "opened = serve._open\n"
        "def _open(settings):\n"
        "    catalog = opened(settings)\n"
        "    Lost()\n"
        "    return catalog\n"
        "serve._open = _open\n"
        f"sys.argv = ['koprik', '--config', {str(koprik.config)!r}, 'serve', '--workers', '1']\n"
        "run()\n"
    )
    stopped = subprocess.run([sys.executable, str(tmp_path / "lost.py")], capture_output=True,
                             timeout=60, preexec_fn=_sigint_as_in_a_terminal,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    # Python's "Exception ignored in" and the traceback of the ^C it dropped are not printed
    assert b"Traceback" not in stopped.stderr, stopped.stderr
    assert b"Exception ignored" not in stopped.stderr, stopped.stderr
    assert stopped.returncode == 0, stopped.stderr


def test_a_ctrl_c_lost_as_the_program_loads_stops_it_in_one_line(tmp_path):
    """A ^C whose KeyboardInterrupt Python dropped while ``python -m koprik`` loaded the
    command line's modules (~0.2 s; raised in the callback of an import's module lock: a CI
    run), before the program took the stop signals: serve went on serving, Python's
    "Exception ignored in" and a traceback on standard error. The program takes them before
    it loads anything else (koprik.program), and the dropped ^C is raised again."""
    koprik = write_config(tmp_path)
    (tmp_path / "lost.py").write_text(
        "import os, runpy, signal, sys\n"
        "class Lost:\n"
        "    def __del__(self):\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        for _ in range(1000):  # the KeyboardInterrupt is raised here, and ignored\n"
        "            pass\n"
        "class AsTheCommandLineLoads:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'koprik.cli':\n"
        "            Lost()\n"
        "        return None\n"
        "sys.meta_path.insert(0, AsTheCommandLineLoads())\n"
        f"sys.argv = ['koprik', '--config', {str(koprik.config)!r}, 'serve', '--workers', '1']\n"
        "runpy.run_module('koprik', run_name='__main__', alter_sys=True)\n"
    )
    started = subprocess.Popen([sys.executable, str(tmp_path / "lost.py")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=_sigint_as_in_a_terminal,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        _, err = started.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # serving: the ^C was lost
        started.kill()
        _, err = started.communicate()
    assert b"Traceback" not in err, err
    assert (started.returncode, err) == (130, b"koprik: interrupted\n")


@pytest.mark.parametrize("signum, line", [(signal.SIGINT, b"koprik: interrupted\n"),
                                           (signal.SIGTERM, b"koprik: terminated\n")],
                         ids=["sigint", "sigterm"])
def test_an_error_python_raises_in_place_of_a_ctrl_c_is_said_as_the_ctrl_c(tmp_path, signum,
                                                                         line):
    """CPython can drop a ^C's KeyboardInterrupt raised inside its own C code and raise an
    error of its own instead: a ^C 0.2 s after ``koprik serve`` started, as ``ssl`` was
    imported (its ``from _ssl import RAND_egd`` fails on purpose), ended it with the
    traceback of "TypeError: expected a message argument" (the ImportError's message, being
    made, was the KeyboardInterrupt; 1 CI run in 3). An error raised after a stop signal was
    raised is said as that signal, in its one line and status. Here an import raises that
    error, with nothing chained to it, just after catching the signal's exception."""
    stopped = _serve_whose_import_raises_after(tmp_path, signum, chained=False)
    assert (stopped.returncode, stopped.stderr) == (128 + signum, line)


def test_an_error_raised_as_a_ctrl_c_is_handled_is_shown_with_its_traceback(tmp_path):
    """An error with the ^C's KeyboardInterrupt chained to it (clean-up failing as the ^C is
    handled) is a fault of its own: said as the ^C, it would be hidden."""
    stopped = _serve_whose_import_raises_after(tmp_path, signal.SIGINT, chained=True)
    assert stopped.returncode == 1
    assert b"During handling of the above exception" in stopped.stderr, stopped.stderr
    assert stopped.stderr.endswith(b"TypeError: expected a message argument\n"), stopped.stderr


def _serve_whose_import_raises_after(tmp_path: Path, signum: int,
                                     chained: bool) -> subprocess.CompletedProcess[bytes]:
    """``koprik serve``, whose import of its command sends itself ``signum``, catches the
    exception raised and then raises a TypeError: in the except clause (``chained``: the
    signal's exception is its context) or after it (nothing chained, as CPython's own)."""
    koprik = write_config(tmp_path)
    raised = ("        except KeyboardInterrupt:\n"
              "            raise TypeError('expected a message argument')\n") if chained else (
              "        except KeyboardInterrupt:\n"
              "            dropped = True\n"
              "        if dropped:  # outside the except clause: no context, as CPython's\n"
              "            raise TypeError('expected a message argument')\n")
    (tmp_path / "replaced.py").write_text(
        "import os, runpy, signal, sys\n"
        "class AsServeLoads:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name != 'koprik.commands.serve':\n"
        "            return None\n"
        "        dropped = False\n"
        "        try:\n"
        f"            os.kill(os.getpid(), {int(signum)})\n"
        "            for _ in range(1000):  # its exception is raised here\n"
        "                pass\n"
        + raised +
        "sys.meta_path.insert(0, AsServeLoads())\n"
        f"sys.argv = ['koprik', '--config', {str(koprik.config)!r}, 'serve', '--workers', '1']\n"
        "runpy.run_module('koprik', run_name='__main__', alter_sys=True)\n"
    )
    return subprocess.run([sys.executable, str(tmp_path / "replaced.py")],
                          capture_output=True, timeout=60,
                          preexec_fn=_sigint_as_in_a_terminal,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip


def test_the_line_of_a_ctrl_c_caught_leaves_the_status_130(tmp_path):
    """CPython marks a KeyboardInterrupt that leaves code exec() ran from a string as never
    caught, and a process started as python -m then ends killed by SIGINT, whatever status it
    exits with: koprik.stopping.interrupted clears the mark."""
    (tmp_path / "stopped.py").write_text(
        "import sys\n"
        "from koprik.stopping import interrupted\n"
        "try:\n"
        "    exec('raise KeyboardInterrupt')\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(interrupted())\n"
    )
    stopped = subprocess.run([sys.executable, "-m", "stopped"], capture_output=True,
                             cwd=tmp_path, timeout=60,
                             env={**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}"})  # fmt: skip
    assert (stopped.returncode, stopped.stderr) == (130, b"koprik: interrupted\n")


def _children(pid: int) -> list[int]:
    tasks = f"/proc/{pid}/task"
    return [int(child) for task in os.listdir(tasks)
            for child in open(f"{tasks}/{task}/children").read().split()]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_sighup_is_said_once_and_serving_goes_on(tmp_path, workers):
    """SIGHUP (a logrotate ``postrotate``'s ``kill -HUP``, ``systemctl kill -s HUP``, which
    signals every process of the service) ended serve without a word, which systemd's
    Restart=on-failure takes for a clean stop: the service was down for good."""
    from koprik.stopping import HANGUP_LINE

    with koprik_serve(tmp_path, demo_records=5, options=("--workers", workers)) as koprik:
        signalled = (koprik.pid, *_children(koprik.pid))  # the fork server and resource tracker
        assert len(signalled) >= 3, signalled             # among them (they ended on it)
        for pid in signalled:  # as systemctl kill does
            os.kill(pid, signal.SIGHUP)
        time.sleep(1.0)
        for pid in signalled:
            stat = Path(f"/proc/{pid}/stat").read_text()
            assert stat.rpartition(")")[2].split()[0] != "Z", stat  # (ended, not waited for)
        url = f"{koprik.oai_url}?verb=ListIdentifiers&metadataPrefix=oai_dc"
        for _ in range(4):  # whichever worker answers
            assert urllib.request.urlopen(url, timeout=10).read().count(b"<identifier>") == 5
        if workers == "2":
            assert len(_children(koprik.pid)) == 2  # none ended (to be started again)
    log = (tmp_path / "serve.out").read_text()
    assert log.count(HANGUP_LINE) == 1, log
    assert "Traceback" not in log


def test_a_serve_in_a_terminal_ends_on_its_hang_up(tmp_path):
    """Run from a terminal, serve keeps SIGHUP's default: closing the terminal ends it (it is
    not left serving, writing to a terminal nobody has)."""
    import pty

    koprik = write_config(tmp_path)
    controller, terminal = pty.openpty()
    server = subprocess.Popen(koprik.command("serve", "--workers", "1", "--no-scheduler"),
                              stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    try:
        url = f"{koprik.oai_url}?verb=Identify"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        server.send_signal(signal.SIGHUP)
        assert server.wait(timeout=30) == -signal.SIGHUP
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        os.close(controller)


def test_the_scheduler_says_a_sighup_and_goes_on(tmp_path):
    from koprik.stopping import HANGUP_LINE

    koprik = write_config(tmp_path)
    scheduler = subprocess.Popen(koprik.command("scheduler"), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        # its stop signals' handlers are in place before its schedules start (the catalogue
        # file was waited for, and under load a SIGTERM came before them: status 143)
        assert scheduler.stderr is not None
        while "Scheduler started" not in (line := scheduler.stderr.readline()):
            assert line, "the scheduler ended before its schedules started"
        scheduler.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert scheduler.poll() is None
        err = stderr_after(scheduler, signal.SIGTERM, 30)
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait()
    assert scheduler.returncode == 0, err
    assert err.count(HANGUP_LINE) == 1, err


def test_refusals_counted_but_not_yet_said_are_said_as_serve_stops(tmp_path):
    """Past its first lines in a minute, a refused connection is counted, the count said as
    the minute ends (provider.damped_log). One that had not ended when serve stopped was lost:
    a flood in a server's last minute said only its first lines. Now each count is said as the
    server stops. (One serving process: each counts its own connections against the caps.)"""
    flood = BURST + 10
    caps = "z3950_max_connections_per_address = 1\nhttp_max_connections_per_address = 1\n"
    with koprik_serve(tmp_path, server=caps, options=("--workers", "1")) as koprik:
        held_z3950 = socket.create_connection(("127.0.0.1", koprik.z3950_port), timeout=10)
        held_z3950.sendall(INIT)
        assert held_z3950.recv(65536).startswith(b"\xb5")  # an initResponse
        held_http = http.client.HTTPConnection("127.0.0.1", koprik.http_port, timeout=10)
        held_http.request("GET", "/oai?verb=Identify")
        assert held_http.getresponse().read().count(b"<Identify>") == 1
        refused = ((koprik.z3950_port, b"\xbf\x30"), (koprik.http_port, b"HTTP/1.1 503 "))
        for port, answer in refused:
            for _ in range(flood):  # each refused: a Z39.50 Close, an HTTP 503
                with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
                    received = b""
                    while chunk := extra.recv(65536):
                        received += chunk
                    assert received.startswith(answer), received
        held_http.close()
        held_z3950.close()
    log = koprik.log.read_text(encoding="utf-8")
    for what in ("z39.50 connections refused", "http connections refused"):
        counted = re.findall(
            rf"{re.escape(what)}: (\d+) more in the last [\d.]+ s, not logged one by one", log)
        assert counted == [str(flood - BURST)], (what, log[-3000:])

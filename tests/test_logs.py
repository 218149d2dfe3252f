"""koprik/logs.py: where log lines go and in what form."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

import pytest

from catalog import Catalog
from config import DatabaseSettings, LogSettings, Settings
from harvester.scheduler import start_scheduler
from koprik.errors import UserError
from koprik.logs import JsonFormatter, configure_logging
from tests.servers import logged_events


def test_json_lines_carry_the_fields_of_the_event():
    record = logging.LogRecord("koprik.z3950", logging.INFO, __file__, 1, "%s search", ("peer",),
                               None)
    record.fields = {"hits": 12, "query": "@attr 1=4 \"навоий\""}
    event = json.loads(JsonFormatter().format(record))
    assert event["level"] == "info" and event["logger"] == "koprik.z3950"
    assert event["message"] == "peer search"
    assert event["hits"] == 12 and event["query"] == '@attr 1=4 "навоий"'
    assert event["time"].endswith("Z")


@pytest.mark.parametrize("form", ["plain", "json"])
def test_lines_go_to_the_file_at_the_level_asked(tmp_path: Path, form: str):
    path = tmp_path / "koprik.log"
    configure_logging(LogSettings(file=str(path), level="warning", format=form))
    logging.getLogger("koprik.test").info("not written")
    logging.getLogger("koprik.test").warning("written")
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    if form == "json":
        assert json.loads(lines[0])["message"] == "written"
    else:
        assert lines[0].endswith("WARNING koprik.test: written")


@pytest.mark.parametrize("form", ["plain", "json"])
def test_a_stop_a_library_logs_on_its_way_out_is_not_written(tmp_path: Path, form: str):
    """SQLAlchemy's pool logs a ^C that lands as it closes a connection ("Exception closing
    connection", with its traceback) and raises it again: the command says the stop in one
    line, the traceback was written before it. Other exceptions are written as before."""
    path = tmp_path / "koprik.log"
    configure_logging(LogSettings(file=str(path), level="warning", format=form))
    pool = logging.getLogger("sqlalchemy.pool.impl.QueuePool")
    for error in (KeyboardInterrupt(), ValueError("bad")):
        try:
            raise error
        except BaseException:
            pool.error("Exception closing connection", exc_info=True)
    written = path.read_text()
    assert "KeyboardInterrupt" not in written
    assert written.count("Exception closing connection") == 1 and "ValueError" in written


def test_a_log_file_that_cannot_be_opened_is_named(tmp_path: Path):
    path = tmp_path / "no-such-folder" / "koprik.log"
    with pytest.raises(UserError, match=f"log.file: cannot open {path} for appending"):
        configure_logging(LogSettings(file=str(path)))


def test_serve_stops_with_one_line_naming_the_log_file(tmp_path: Path, capsys):
    from koprik.cli import main

    path = tmp_path / "missing" / "koprik.log"
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n'
                      f'[log]\nfile = "{path}"\n')
    for command in ("serve", "scheduler", "demo"):  # each command that logs to it
        assert main(["--config", str(config), command]) == 2
        # the settings file and the key, as the other settings' errors name them
        assert capsys.readouterr().err == (
            f"koprik: {config}: log.file: cannot open {path} for appending: No such file or "
            "directory\n")


def test_the_settings_file_or_the_catalogue_as_the_log_file_is_refused(tmp_path: Path, capsys):
    """log.file naming the settings file or the SQLite catalogue's file is refused in the line
    of a setting's error, as an export onto them is: lines were appended to them, and the
    next start found the settings no TOML."""
    from koprik.cli import main

    catalogue = tmp_path / "k.sqlite3"
    config = tmp_path / "koprik.toml"
    for log_file, said in ((config, "the settings file (--config)"),
                           (catalogue, f"the catalogue's file {catalogue} (database.url)")):
        settings = f'[database]\nurl = "sqlite:///{catalogue}"\n[log]\nfile = "{log_file}"\n'
        config.write_text(settings)
        for command in ("serve", "scheduler", "demo"):
            assert main(["--config", str(config), command]) == 2
            assert capsys.readouterr().err == (
                f"koprik: {config}: log.file: {log_file}: {said}; name another file to write\n")
        assert config.read_text() == settings


def test_a_log_file_that_cannot_take_a_line_is_said_once_in_one_line(capsys):
    """A log file on a full disk (/dev/full): the first line lost is said on standard error in
    one line, naming the file and why; the lines after it are lost without a word until one
    is written again. Before, logging printed a traceback of some 40 lines for each."""
    configure_logging(LogSettings(file="/dev/full", level="info"))
    for number in range(3):
        logging.getLogger("koprik.test").warning("line %d", number)
    assert capsys.readouterr().err == (
        "koprik: log.file /dev/full: a line could not be written (No space left on device); "
        "lines are lost until one can be\n")


def test_a_log_file_that_cannot_be_opened_again_after_a_rotation_is_said_in_one_line(
    tmp_path: Path, capsys
):
    """The log file's folder moved away (its file cannot be opened again when logrotate has
    moved it): the line is lost, said once on standard error; the code that logged goes on.
    Before, the reopening's error was raised into it (a request handler, a harvest)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    configure_logging(LogSettings(file=str(folder / "koprik.log"), level="info"))
    logging.getLogger("koprik.test").warning("kept")
    folder.rename(tmp_path / "moved")
    for number in range(2):
        logging.getLogger("koprik.test").warning("lost %d", number)
    assert capsys.readouterr().err == (
        f"koprik: log.file {folder / 'koprik.log'}: a line could not be written (No such file "
        "or directory); lines are lost until one can be\n")
    assert (tmp_path / "moved" / "koprik.log").read_text().count("kept") == 1


def test_a_log_call_that_cannot_be_formatted_gets_loggings_traceback(tmp_path: Path, capsys):
    """A line that cannot be formatted is a fault of the call that logged it, not of the file:
    logging's own report, whose traceback points at the call, not the file's line."""
    configure_logging(LogSettings(file=str(tmp_path / "koprik.log"), level="info"))
    logging.getLogger("koprik.test").warning("a number: %d", "not one")
    said = capsys.readouterr().err
    assert "--- Logging error ---" in said and "could not be written" not in said


def test_what_a_worker_process_logs_is_a_line_of_the_configured_log(tmp_path: Path):
    """A record whose derivations fail in a worker process is logged there; the line lands in
    the owner's JSON log file with the worker's process id and the exception written out."""
    import os
    import time

    from catalog.store import _derive, _Options
    from catalog.workers import WorkerPool

    path = tmp_path / "koprik.log"
    configure_logging(LogSettings(file=str(path), level="warning", format="json"))
    pool = WorkerPool(1)
    try:
        work = [(b"00026nam a2200025 a 4500\x1e\x1d", "bad-1", True, True, None, None, False)]
        (derived,) = pool.submit(_derive, work, _Options((), 40, ())).result(timeout=60)
        assert derived[-1] is not None and derived[-1].startswith("its derivations failed")
        deadline = time.monotonic() + 10
        while "bad-1" not in path.read_text(encoding="utf-8") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pool.shutdown()
    (event,) = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert event["message"] == "record bad-1: its derivations failed"
    assert event["logger"] == "catalog.store" and event["level"] == "error"
    assert event["pid"] != os.getpid()
    assert event["exception"].startswith("Traceback") and "NoFieldsFound" in event["exception"]


@pytest.mark.parametrize("form", ["plain", "json"])
def test_a_header_byte_that_is_no_utf8_still_makes_its_access_line(tmp_path: Path, form: str):
    """aiohttp reads a header's bytes above 127 as surrogates (\\udce9 for a Latin-1 é), which
    the log file's strict UTF-8 could not write: the line was lost and stderr had a traceback
    ("--- Logging error ---") for every such request. Written escaped now, as stderr writes it;
    in JSON as the text \\udce9, where it was JSON's escape of a lone surrogate (which jq
    reads as U+FFFD: which byte it was is lost)."""
    from tests.servers import koprik_serve

    log = tmp_path / "koprik.log"
    extra = f'[log]\nfile = "{log}"\nformat = "{form}"\n'
    with koprik_serve(tmp_path, extra=extra) as running:
        with socket.create_connection(("127.0.0.1", running.http_port), timeout=30) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: caf\xe9\r\n"
                         b"Connection: close\r\n\r\n")  # fmt: skip
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 30
        while "/health" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "no access line"
            time.sleep(0.2)
        printed = running.log.read_text()
    (line,) = [line for line in log.read_text().splitlines() if "/health" in line]
    if form == "plain":
        assert "caf\\udce9" in line
    else:  # the text \udce9, not JSON's escape of a lone surrogate
        assert json.loads(line)["user_agent"] == "caf\\udce9"
        assert '"user_agent": "caf\\\\udce9"' in line
    assert "Logging error" not in printed


def test_the_schedulers_jobs_running_are_not_logged_at_info(tmp_path: Path):
    """The deduplication queue's job runs every sync interval: APScheduler logged two lines
    at INFO each time ("Running job", "executed successfully"), every 30 s of a server's life."""
    path = tmp_path / "koprik.log"
    configure_logging(LogSettings(file=str(path), level="info"))
    settings = Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'c.sqlite3'}"))
    catalog = Catalog.open(settings)
    try:
        scheduler = start_scheduler(settings, catalog, sync_seconds=0.1)
        time.sleep(1)
        scheduler.shutdown()
    finally:
        catalog.close()
    logged = path.read_text()
    # of its own runs, none was running (a run started from the dashboard logs its own line)
    assert "harvest scheduler stopped; no scheduled harvest was running" in logged
    assert "Running job" not in logged and "executed successfully" not in logged


def test_a_list_whose_reader_stopped_reading_is_logged_with_what_was_sent(tmp_path: Path):
    """A ListRecords page cut at http_write_timeout (its client stopped reading) was logged
    "500 0": a status aiohttp made up, for a response whose 200 and first bytes were sent."""
    from tests.servers import koprik_serve

    log = tmp_path / "koprik.log"
    # a page large enough that its writing waits for the client (a smaller one is handed
    # to the transport's buffer whole, and logged 200 at once)
    extra = f'[log]\nfile = "{log}"\nformat = "json"\n[oai]\npage_size = 4000\n'
    with (koprik_serve(tmp_path, demo_records=4000, extra=extra,
                       server="http_write_timeout = 1.0\n") as running,
          socket.socket() as sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", running.http_port))
        sock.sendall(b"GET /oai?verb=ListRecords&metadataPrefix=marc21 HTTP/1.1\r\n"
                     b"Host: x\r\n\r\n")  # and never read
        deadline = time.monotonic() + 30
        while "ListRecords" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "no access line"
            time.sleep(0.2)
    (line,) = [event for event in logged_events(log) if "ListRecords" in event.get("path", "")]
    assert line["status"] == 200 and line["bytes"] > 0, line

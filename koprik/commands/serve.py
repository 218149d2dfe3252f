"""``koprik serve``: OAI-PMH (and the other protocols) over the catalogue."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import gc
import logging
import os
import signal
import socket
import sys

from aiohttp import web

from catalog import Catalog
from catalog.db import missing_file
from catalog.set_rules import check, rename
from config import Settings, load_settings
from harvester.leadership import lead_schedules
from koprik.cli import failure
from koprik.dashboard.app import setup_dashboard
from koprik.dashboard.keys import METRICS
from koprik.dashboard.metrics import shared_metrics
from koprik.errors import NotNow, UserError
from koprik.logs import configure_logging, into_log_file
from koprik.services import open_catalog
from koprik.stopping import exit_at_once, noted_only, raised_before, take_hangups
from koprik.workers import default_count, run_workers, signs_of_life
from protocols.z3950.codec import compile_codec
from provider.access_log import LOGGER as ACCESS_LOG
from provider.access_log import AccessLogger
from provider.app import init_app
from provider.health import SCHEDULES
from provider.http_server import bind_http
from provider.keys import SERVICE
from provider.z3950.server import start_target

log = logging.getLogger("koprik.serve")

SHUTDOWN_GRACE = 5.0
"""Seconds open sessions get to end when the server stops."""


WORKERS_PER_CORE = 4
"""The most serving processes ``--workers`` starts per core: more add no throughput, and each
takes ~90 MB (a mistyped 100000 forked until the machine ran out of memory)."""


def run(args: argparse.Namespace) -> int:
    settings = _with_options(load_settings(args.config), args)
    configure_logging(settings.log, args.verbose, args.config, settings.database.url)
    take_hangups()
    noted_only()  # a ^C lost from here on stops serve once it serves (serve: raised_before)
    _check_host(settings.server.host, "--host" if args.host else "server.host")
    most = WORKERS_PER_CORE * default_count()
    if args.workers is not None and not 0 <= args.workers <= most:
        raise UserError(f"--workers {args.workers}: a number of processes up to {most} "
                        f"({WORKERS_PER_CORE} per core), or 0 for one per core")
    workers = args.workers or default_count()
    http_named = "--port" if args.port is not None else "server.http_port"
    if args.workers is None and _free_ports(settings, http_named):
        workers = 1  # a port 0 (any free one) is chosen per process: it cannot be shared
    if workers > 1:
        return _run_workers(settings, args, workers, http_named)
    _refuse_ports_in_use(settings, http_named)  # the bind's own error names neither
    catalog = _open(settings)
    try:
        asyncio.run(
            serve(settings, catalog, scheduler=not args.no_scheduler)
        )
    finally:
        catalog.close()
    return 0


def _open(settings: Settings) -> Catalog:
    """The catalogue, unless its records were placed in sets by other ``[[sets]]`` rules
    (:func:`catalog.set_rules.check`: one line saying to run ``koprik db sets``), its sets
    named as the rules name them now. A SQLite catalogue that was not there is made, and the
    log says so: at a mistyped ``database.url`` the server would otherwise publish an empty
    repository without a word (and harvest into it)."""
    made = missing_file(settings.database.url)
    catalog = open_catalog(settings)
    try:
        check(catalog.engine, settings.sets, settings.file)
        rename(catalog.engine, settings.sets)
    except BaseException:
        catalog.close()
        raise
    if made is not None:
        log.warning("no catalogue was at %s (database.url): a new, empty one is made there and "
                    "served", made)
    return catalog


def _run_workers(
    settings: Settings, args: argparse.Namespace, count: int, http_named: str
) -> int:
    """``count`` processes serving on the same ports (:mod:`koprik.workers`); ``http_named``
    is what set the HTTP port (``--port`` or ``server.http_port``)."""
    if named := _free_ports(settings, http_named):
        raise UserError(f"--workers needs fixed ports: {' and '.join(named)} must not be 0 "
                        "(any free port, which each process would choose apart)",
                        of_settings_file=_of_file(*named))  # fmt: skip
    _refuse_ports_in_use(settings, http_named)
    _open(settings).close()  # a catalogue that cannot be used stops here, in one line

    def work(index: int) -> int:
        try:
            catalog = _reopened(settings)
        except Exception as error:
            said = failure(error, args)
            if said is None:
                raise
            return _said(index, *said)
        try:
            asyncio.run(serve(settings, catalog, scheduler=not args.no_scheduler, worker=index))
        except OSError as error:  # a port in use: statuses as _refuse_ports_in_use's
            return _said(index, 1 if error.errno == errno.EADDRINUSE else 2, str(error))
        finally:
            catalog.close()
        return 0

    # Every worker's request counts go to files here, so that /metrics on any one sums them.
    with shared_metrics():
        return run_workers(count, work, settings.server.worker_timeout,
                           settings.server.worker_start_timeout)


def _reopened(settings: Settings) -> Catalog:
    """The catalogue as a worker opens it, started or started again: one that is no longer
    there is an error, not made anew (a worker started again after the file was removed made an
    empty one and served it, beside workers serving the records of the removed one)."""
    if (gone := missing_file(settings.database.url)) is not None:
        raise UserError(f"no catalogue is at {gone} (database.url) any more; a worker makes "
                        "none: start koprik serve again to have one made")  # fmt: skip
    return open_catalog(settings)


def _said(index: int, status: int, line: str) -> int:
    """Say why worker ``index`` ends, in one write of the whole line (workers failing together
    must not interleave: print writes the text and its newline separately to an unbuffered
    stderr), and in the log file (a worker started again after a crash, its catalogue gone,
    said why on standard error only); ``status``."""
    said = f"worker {index}: {line}"
    sys.stderr.write(f"koprik: {said}\n")
    sys.stderr.flush()
    into_log_file(said)
    return status


def _with_options(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings with ``--host`` and ``--port`` in place of theirs (``--port 0`` too)."""
    server = settings.server
    if args.port is not None:
        server = dataclasses.replace(server, http_port=args.port)
    if args.host:
        server = dataclasses.replace(server, host=args.host)
    return dataclasses.replace(settings, server=server)


def _check_host(host: str, named_by: str) -> None:
    """Raise UserError when ``host`` is neither an address nor a name that resolves, or when
    an address it stands for is not one of this machine's (the resolver's own message, "Name
    or service not known", and the bind's, "[Errno 99] Cannot assign requested address", name
    neither it nor the setting). Each address is bound on a port of the kernel's choosing and
    let go: nothing is sent."""
    try:
        found = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)  # fmt: skip
    except socket.gaierror as error:
        raise UserError(f"{named_by} {host!r}: not an address to listen on "
                        f"({error.strerror})", of_settings_file=_of_file(named_by)) from None
    for family, kind, protocol, _, address in found:
        try:
            with socket.socket(family, kind, protocol) as probe:
                probe.bind(address)
        except OSError as error:
            if error.errno != errno.EADDRNOTAVAIL:
                continue  # not this check's to say: the server's own bind reports it
            named = repr(host) if address[0] == host else f"{host!r} ({address[0]})"
            raise UserError(f"{named_by} {named}: not an address of this machine",
                            of_settings_file=_of_file(named_by)) from None


def _of_file(*named: str) -> bool:
    """Whether a refusal naming ``named`` names a key of the settings file (one at least; an
    option such as ``--port`` is none), which the line is then to name too
    (:attr:`UserError.of_settings_file`)."""
    return any(not name.startswith("--") for name in named)


def _ports(settings: Settings, http_named: str) -> tuple[tuple[str, int], ...]:
    """Each port the server takes, with what set it (``http_named``: ``--port`` or
    ``server.http_port``)."""
    return ((http_named, settings.server.http_port),
            ("server.z3950_port", settings.server.z3950_port))  # fmt: skip


def _free_ports(settings: Settings, http_named: str) -> list[str]:
    """What set each port that is 0 (any free port, which each process would choose apart)."""
    return [name for name, port in _ports(settings, http_named) if port == 0]


def _refuse_ports_in_use(settings: Settings, http_named: str) -> None:
    """Raise UserError naming the setting (or ``http_named``, ``--port``) when another process
    listens on a fixed port the server is to take (port 0, any free one, is not checked): a
    :class:`NotNow` (exit status 1, restarted by systemd) when the port is in use, since the
    process holding it may be on its way out.

    A single process's own bind fails too, but its error ("[Errno 98] error while attempting
    to bind on address ('127.0.0.1', 8080): address already in use") names neither the
    setting nor which of its servers failed. The workers bind with SO_REUSEPORT, which the
    kernel grants beside any other socket bound so by the same user: a second ``koprik serve
    --workers`` on the same ports would start and take half the connections, for its own
    catalogue. A bind without it fails while any socket holds the port; it is made and let go
    before the servers start.
    """
    server = settings.server
    if server.http_port == server.z3950_port != 0:
        raise UserError(f"{http_named} and server.z3950_port are both {server.http_port}: give "
                        "each server a port of its own", of_settings_file=True)  # fmt: skip
    for name, port in _ports(settings, http_named):
        if port == 0:
            continue
        for family, address in _listening_addresses(server.host, port, name):
            try:
                probe = socket.create_server(address, family=family)
            except OSError as error:
                reason = os.strerror(error.errno) if error.errno else str(error)
                refusal = NotNow if error.errno == errno.EADDRINUSE else UserError
                raise refusal(f"{name} {port} on {server.host}: {reason}",
                              of_settings_file=_of_file(name)) from None
            probe.close()


def _listening_addresses(
    host: str, port: int, name: str
) -> list[tuple[socket.AddressFamily, tuple[str, int]]]:
    """The addresses the server listens on for ``host`` (IPv4 and IPv6 alike, as asyncio
    resolves it): probing ``::1`` as IPv4 said "Unknown error -9" and refused to start."""
    try:
        found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)  # fmt: skip
    except socket.gaierror as error:
        raise UserError(f"{name} {port} on {host}: {error.strerror}",
                        of_settings_file=_of_file(name)) from None
    addresses = {(family, (str(address[0]), int(address[1])))
                 for family, _type, _proto, _name, address in found}  # fmt: skip
    return sorted(addresses)


async def serve(
    settings: Settings,
    catalog: Catalog,
    *,
    scheduler: bool = True,
    worker: int | None = None,
) -> None:
    """Run every server, and the harvest scheduler (unless ``scheduler`` is False), until
    SIGINT or SIGTERM; the harvests in progress are then stopped after the pages they are
    writing (recorded ``interrupted``), and a second signal while stopping exits at once
    (:mod:`koprik.stopping`).

    As ``worker`` number N of ``koprik serve --workers``, the ports are bound with
    SO_REUSEPORT, shared with the other workers, and only worker 0 prints where it serves and
    runs the scheduler (each one's ``/health`` speaks of it).
    """
    host, port = settings.server.host, settings.server.http_port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_on(signum: int) -> None:
        if stop.is_set():  # a second signal while stopping
            exit_at_once(signum, quiet=worker is not None)
        stop.set()

    # A worker takes SIGTERM from its parent only: a ^C reaches the whole process group, and
    # the parent relays it (koprik.workers); taken here too it would count as a second signal.
    signums = (signal.SIGTERM,) if worker is not None else (signal.SIGINT, signal.SIGTERM)
    for signum in signums:
        loop.add_signal_handler(signum, stop_on, signum)
    if worker is None and raised_before():  # a ^C raised before, and lost on its way
        stop.set()
    try:
        await _serve_until(stop, settings, catalog, host, port, scheduler, worker)
    finally:
        # Before the loop closes: asyncio closes its wake-up pipe first and forgets its signal
        # handlers after, so a SIGTERM in between (the parent stopping the workers at once)
        # would print a traceback. From here a signal ends the process as by default.
        for signum in signums:
            loop.remove_signal_handler(signum)


async def _serve_until(
    stop: asyncio.Event,
    settings: Settings,
    catalog: Catalog,
    host: str,
    port: int,
    scheduler: bool,
    worker: int | None,
) -> None:
    shared = worker is not None
    # The port is bound before the application is made: with port 0 (any free port) the base
    # URL it announces (Identify, the dashboard, the lines below) names the port the kernel chose.
    bound = await bind_http(settings, host, port, reuse_port=shared,
                            access_log_class=AccessLogger, access_log=ACCESS_LOG)  # fmt: skip
    port = bound.port
    if not settings.repository.base_url:
        repository = dataclasses.replace(settings.repository, base_url=served_base_url(host, port))
        settings = dataclasses.replace(settings, repository=repository)
    app = init_app(settings, catalog)
    app[SCHEDULES] = scheduler
    setup_dashboard(app)
    runner = web.AppRunner(app, access_log_class=AccessLogger, access_log=ACCESS_LOG)
    await runner.setup()
    compile_codec()  # here, not in start_target below: frozen, and made before the ports listen
    # Everything made so far (modules, settings, the application) lives as long as the server:
    # kept out of the collector's sight, it is not traversed again by every collection.
    gc.collect()
    gc.freeze()
    # A worker's signs of life, for its parent (koprik.workers): from the moment its ports
    # listen, and the kernel queues connections for it, so that a worker stopped or stuck from
    # then on is killed; until it has stopped, so that a stop that takes long (a harvest writing
    # its pages) is not taken for a hang. The start before holds no connection, and may be slow
    # without being stuck (with 8 workers starting on 2 cores, the collection above took 2.5 s):
    # it has server.worker_start_timeout, not worker_timeout.
    async with signs_of_life():
        await bound.start(runner)
        target = await start_target(settings, catalog, app[SERVICE], reuse_port=shared,
                                    observe=app[METRICS].observe_z3950,
                                    observe_sru=app[METRICS].observe_sru)
        z3950_port = target.port
        if not worker:
            shown = host_in_url(host)
            base = f"http://{shown}:{port}"
            for name, path in (("OAI-PMH", "/oai"), ("SRU", "/sru"), ("dashboard", "/")):
                print(f"koprik: {name} at {base}{path}", flush=True)
            print(f"koprik: Z39.50 at tcp:{shown}:{z3950_port}/{settings.server.z3950_database}",
                  flush=True)
        harvests = (await asyncio.to_thread(lead_schedules, settings, catalog)
                    if scheduler and not worker else None)  # fmt: skip
        try:
            await stop.wait()
        finally:
            if harvests is not None:
                # Stops a harvest in progress after the pages it is writing (seconds), each
                # committed with its resumption token: its next run resumes it.
                await asyncio.to_thread(harvests.shutdown)
            await target.stop(SHUTDOWN_GRACE)
            bound.close()
            await runner.cleanup()


def served_base_url(host: str, port: int) -> str:
    """The OAI-PMH base URL of this server when ``repository.base_url`` is not set: its host
    (:func:`host_in_url`) and port."""
    return f"http://{host_in_url(host)}:{port}/oai"


def host_in_url(host: str) -> str:
    """The listening ``host`` as a URL names it: this machine's name when it listens on every
    address (``server.host = ""`` printed ``http://:8080/oai``), an IPv6 address in brackets
    (``http://::1:8080/oai`` is not a URL)."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    return f"[{host}]" if ":" in host else host

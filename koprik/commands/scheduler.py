"""``koprik scheduler``: run scheduled harvests alone (without serving) until SIGTERM or ^C."""

from __future__ import annotations

import argparse
import signal
import threading

from catalog import Catalog
from config import load_settings
from harvester.scheduler import start_scheduler
from koprik.logs import configure_logging


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("scheduler", help="run scheduled harvests until stopped")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.log, args.verbose)
    catalog = Catalog.open(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = start_scheduler(settings, catalog)
    try:
        stop.wait()
    finally:
        scheduler.shutdown()
        catalog.close()
    return 0

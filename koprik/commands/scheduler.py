"""``koprik scheduler``: run scheduled harvests alone (without serving) until SIGTERM or ^C.

The first signal stops the harvests in progress after the pages they are writing (recorded
``interrupted``, resumed by their next run) and ends the command with status 0; a second one
exits at once (:mod:`koprik.stopping`). A catalogue database that does not answer as it starts
ends it with status 1, which a service manager starts again, as ``koprik serve``
(:mod:`koprik.services`).
"""

from __future__ import annotations

import argparse

from config import load_settings
from harvester.leadership import lead_schedules
from koprik.logs import configure_logging
from koprik.services import open_catalog
from koprik.stopping import StopSignals, take_hangups


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.log, args.verbose, args.config, settings.database.url)
    take_hangups()
    catalog = open_catalog(settings)
    with StopSignals() as signals:
        scheduler = lead_schedules(settings, catalog)
        try:
            signals.first.wait()
        finally:
            scheduler.shutdown()
            catalog.close()
    return 0

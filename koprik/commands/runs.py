"""``koprik runs [SOURCE] [--limit N] [--errors]``: the recorded harvest runs, newest first.

A run recorded running whose source no live run holds (its ``koprik harvest`` killed, its node
gone) is listed as its source's next run will record it, interrupted with a line saying so, as
the dashboard shows it.

A SOURCE that is not defined and has no runs recorded (a removed source keeps its runs) is
refused in one line, as ``koprik harvest`` refuses it.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from catalog import Catalog
from catalog.db import refuse_missing_file
from catalog.harvest_state import harvest_runs
from config import load_settings
from koprik.errors import UserError
from koprik.output_files import refuse_closed_standard_output


def run(args: argparse.Namespace) -> int:
    refuse_closed_standard_output()  # else nothing listed, and status 0
    settings = load_settings(args.config)
    refuse_missing_file(settings.database.url, "no runs to list")
    catalog = Catalog.open(settings)
    try:
        query = select(harvest_runs).order_by(harvest_runs.c.id.desc()).limit(args.limit)
        if args.source:
            query = query.where(harvest_runs.c.source == args.source)
        with catalog.engine.connect() as connection:
            rows: list[Any] = list(connection.execute(query))  # (some shown otherwise)
            running = {row.source for row in rows if row.status == "running"}
            if running:  # (here: harvester.runs is not light to load)
                from harvester.locks import unheld
                from harvester.runs import ENDED_UNSAID, INTERRUPTED, RUNNING

                ended = unheld(connection, running)
                rows = [SimpleNamespace(**{**row._mapping, "status": INTERRUPTED, "errors": (
                    "\n".join(filter(None, [row.errors, ENDED_UNSAID])))})
                    if row.status == RUNNING and row.source in ended else row for row in rows]
        if args.source and not rows:
            # here, not at the top: harvester.sources adds a fifth of a second to every start
            from harvester.sources import SourceError, find_source

            try:
                find_source(settings, catalog, args.source)
            except SourceError as error:
                raise UserError(str(error)) from None
    finally:
        catalog.close()
    names = max([16, *(len(row.source) for row in rows)])  # each name whole
    print(f"{'run':>5} {'source':<{names}} {'status':<11} {'started (UTC)':<19} {'secs':>6} "
          f"{'new':>6} {'upd':>6} {'del':>5} {'same':>6} {'gone':>5} {'rej':>4} {'reqs':>5}"
          "  errors")
    for row in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row.started))
        seconds = "-" if row.finished is None else str(row.finished - row.started)
        errors = row.errors.splitlines()
        first = f"{len(errors)}: {errors[0][:60]}" if errors else ""
        print(f"{row.id:>5} {row.source:<{names}} {row.status:<11} {started:<19} {seconds:>6} "
              f"{row.added:>6} {row.updated:>6} {row.deleted:>5} {row.unchanged:>6} {row.gone:>5} "
              f"{row.rejected:>4} {row.requests:>5}  {first}")
        if args.errors:
            for line in errors:
                print(f"      ! {line}")
    return 0

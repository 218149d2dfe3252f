"""``koprik sources list|add|edit|remove|enable|disable|forget``: the partners to harvest.

``koprik sources add partner --url http://127.0.0.1:8081/oai --prefix marc21 --set S --every 6h``
checks that the address answers Identify and offers the prefix (and, with sets, that ListSets
does not answer noSetHierarchy), and refuses it with the reason otherwise. ``koprik sources
add lib --protocol sru --url http://127.0.0.1:2100/Default --query 'dc.title=navoiy' [--prefix
marcxml|dc]`` checks that the server answers explain and the search
of the query. ``koprik sources add zebra --protocol z3950 --url z3950://127.0.0.1:2100/Default
--query '@attr 1=4 navoiy' [--charset UTF-8]`` checks that the target accepts a connection and
the search of the query; ``--crosswalk unimarc`` (or ``rusmarc``) says that a source's MARC
records are UNIMARC, converted to MARC21 as they are harvested (Z39.50 asks for them in
UNIMARC). Sources defined in ``koprik.toml`` are listed but changed only in the
file. ``koprik sources list`` ends with a line for each source whose watermark does not cover it
as it is now (a set added, another address or format): what its next run harvests from the start,
and a line for each source no longer configured whose harvest state is kept (a ``[[sources]]``
entry dropped from koprik.toml): a source added again under its name would go on from it;
``koprik sources forget NAME`` forgets it, so that such a source is harvested from the start;
and a line for each group of sources that harvest the same records (written so in koprik.toml,
or added before a second such source was refused): each record is stored under each name.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from sqlalchemy import select

from catalog import Catalog
from catalog.db import missing_file, refuse_missing_file
from catalog.harvest_state import harvest_runs
from config import HarvestSource, Settings, load_settings
from harvester.coverage import NOTHING, Coverage, coverages
from harvester.faults import quoted
from harvester.oai_client import Identity
from harvester.sources import (
    FROM_FILE,
    OAI_PMH,
    SourceEntry,
    SourceError,
    SruCheck,
    add_source,
    alike,
    alike_note,
    all_sources,
    asked_format,
    edit_source,
    forget_state,
    hidden,
    hidden_note,
    remove_source,
    shown,
    shown_origin,
)
from harvester.z3950_harvest import TargetCheck
from koprik.errors import UserError


def _open(args: argparse.Namespace, missing: str | None = None):  # type: ignore[no-untyped-def]
    """The settings and the catalogue; one that is not there is made, unless ``missing`` says
    why a command that only reads or changes what it holds has nothing to do without it."""
    settings = load_settings(args.config)
    if missing is not None:
        refuse_missing_file(settings.database.url, missing)
    return settings, Catalog.open(settings)


def _changes(args: argparse.Namespace) -> dict[str, object]:
    for option, value in (("--every", args.every), ("--cron", args.cron)):
        if value is not None and not value.strip():
            raise UserError(f"{option} is empty: give a schedule (`sources edit NAME "
                            "--no-schedule` removes one)")
    changes: dict[str, object] = {}
    for name in ("url", "prefix", "sets", "query", "charset", "crosswalk", "every", "cron", "delay",
                 "timeout", "retries", "institution_code", "institution_name", "holdings",
                 "tolerated_shortfall"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if "every" in changes:
        changes["cron"] = ""
    if "cron" in changes and "every" not in changes:
        changes["every"] = ""
    return changes


def add_command(args: argparse.Namespace) -> int:
    settings, catalog = _open(args)
    try:
        changes = _changes(args)
        source = HarvestSource(
            name=args.name, url=args.url, protocol=args.protocol, enabled=not args.disabled
        )
        source = dataclasses.replace(source, **changes)  # type: ignore[arg-type]
        stored, found = add_source(settings, catalog, source, check=not args.no_check)
    except SourceError as error:
        raise UserError(f"source {args.name!r} refused: {error}") from None
    finally:
        catalog.close()
    print(f"added source {args.name} ({_described(stored, found)})")
    return 0


def _described(source: HarvestSource, found: Identity | TargetCheck | SruCheck | None) -> str:
    """What the check before adding found, in a few words."""
    if isinstance(found, TargetCheck):
        return f"Z39.50 target {quoted(found.target_name) or 'unnamed'}, {found.hits} hits, " \
            f"character set {found.charset or 'not negotiated'}"
    if isinstance(found, SruCheck):
        return f"SRU {found.version} server {found.title or 'untitled'}, {found.hits} hits, " \
            f"record schema {found.schema}"
    if source.protocol != OAI_PMH:
        return "not checked"
    said = f"{found.repository_name}, granularity {found.granularity}, " if found else ""
    return f"{said}metadataPrefix {source.prefix}"


def edit_command(args: argparse.Namespace) -> int:
    changes = _changes(args)
    if args.no_schedule:
        changes.update(every="", cron="")
    if not changes:
        raise UserError("nothing to change: give --url, --prefix, --set, --query, --every...")
    return _modify(args, lambda s, c: edit_source(s, c, args.name, check=not args.no_check,
                                                  **changes), "changed")


def remove_command(args: argparse.Namespace) -> int:
    return _modify(args, lambda s, c: remove_source(s, c, args.name), "removed")


def forget_command(args: argparse.Namespace) -> int:
    return _modify(args, lambda s, c: forget_state(s, c, args.name),
                   "forgot the harvest state of")


def enable_command(args: argparse.Namespace) -> int:
    return _modify(args, lambda s, c: edit_source(s, c, args.name, check=False, enabled=True),
                   "enabled")


def disable_command(args: argparse.Namespace) -> int:
    return _modify(args, lambda s, c: edit_source(s, c, args.name, check=False, enabled=False),
                   "disabled")


def _modify(args: argparse.Namespace, action, done: str) -> int:  # type: ignore[no-untyped-def]
    settings, catalog = _open(args, f"no source {args.name} added there")
    try:
        action(settings, catalog)
    except SourceError as error:
        raise UserError(str(error)) from None
    finally:
        catalog.close()
    print(f"{done} source {args.name}")
    return 0


def shown_format(source: HarvestSource) -> str:
    """The list's prefix column: the metadataPrefix or record schema asked for
    (:func:`~harvester.sources.asked_format`), then ``+`` and the crosswalk the MARC records go
    through (``marc21+unimarc``; a Z39.50 source's crosswalk alone, ``rusmarc``: it has no
    prefix); ``-`` for neither."""
    return "+".join(part for part in (asked_format(source), source.crosswalk) if part) or "-"


def list_sources(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    entries, saved, last = _listed(settings)
    formats = [shown_format(entry.source) for entry in entries]
    names = max([16, *(len(entry.source.name) for entry in entries)])  # each name whole
    width = max([8, *map(len, formats)])
    origins = [shown_origin(entry, settings) for entry in entries]
    wide = max([11, *map(len, origins)])
    print(f"{'name':<{names}} {'from':<{wide}} {'on':<3} {'prefix':<{width}} {'schedule':<14} "
          f"{'last run':<11} {'watermark':<20} url [sets] or query")
    notes: list[str] = []
    for entry, prefix, origin in zip(entries, formats, origins, strict=True):
        s = entry.source
        coverage = saved.get(s.name, NOTHING)
        schedule = f"every {s.every}" if s.every else (s.cron or "-")
        sets = f" [{' '.join(s.sets)}]" if s.sets else (f" {s.query}" if s.query else "")
        print(f"{s.name:<{names}} {origin:<{wide}} {'yes' if s.enabled else 'no':<3} "
              f"{prefix:<{width}} {schedule[:14]:<14} {last.get(s.name, '-'):<11} "
              f"{coverage.watermark or '-':<20} {shown(s).url}{sets}")
        _, why = coverage.anew(s)
        if why is not None:
            notes.append(f"{s.name}, next run: {why}")
        if s.tolerated_shortfall:
            notes.append(f"{s.name}: a list short of its completeListSize by up to "
                         f"{s.tolerated_shortfall} records is taken as whole "
                         "(tolerated_shortfall)")
    notes += [hidden_note(entry.source.name, settings.file) for entry in hidden(entries)]
    notes += [alike_note(group) for group in alike(entries)]
    configured = {entry.source.name for entry in entries}
    for name in sorted(set(saved) - configured):
        notes.append(
            f"{name}: not configured; its harvest state is kept (watermark "
            f"{saved[name].watermark or 'none'}): added again under this name, its runs go on "
            f"from it (`koprik sources forget {name}` forgets it)"
        )
    for note in notes:
        print(note)
    return 0


def _listed(settings: Settings) -> tuple[list[SourceEntry], dict[str, Coverage], dict[str, str]]:
    """The sources, their harvest state and the status of each one's last run. With no SQLite
    catalogue where ``database.url`` says, the sources of the settings file alone, and a line on
    stderr: none is made there (a mistyped path would be a new, empty catalogue), and with
    none in the file either there is nothing to list (refused in one line)."""
    missing = missing_file(settings.database.url)
    if missing is not None and settings.sources:
        print(f"koprik: no catalogue at {missing} (database.url): the sources of "
              f"{settings.file} alone, never harvested", file=sys.stderr)  # fmt: skip
        return [SourceEntry(source, FROM_FILE) for source in settings.sources], {}, {}
    refuse_missing_file(settings.database.url, "no sources added there, no harvest state "
                        "(koprik sources add makes it with the first)")  # fmt: skip
    catalog = Catalog.open(settings)
    try:
        entries = all_sources(settings, catalog)
        with catalog.engine.connect() as connection:
            saved = coverages(connection)
            runs = select(harvest_runs.c.source, harvest_runs.c.status).order_by(harvest_runs.c.id)
            last: dict[str, str] = {source: status for source, status in connection.execute(runs)}
    finally:
        catalog.close()
    return entries, saved, last

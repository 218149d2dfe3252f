"""``koprik db upgrade|current|reindex|renditions|sets|revision``: the catalogue's schema revision
(Alembic), its search index and its set memberships.

``upgrade`` moves the catalogue named by the settings to this Koprik's revision (a catalogue made
before revisions were kept is recognised and stamped first); ``current`` tells both revisions;
``reindex`` makes every live record's search terms again (after Koprik moved to a Python whose
Unicode tables fold some letters otherwise, or to repair the index), with a progress bar;
``renditions`` makes every live record's served formats (oai_dc, marc21, mods) again after
Koprik's crosswalks changed, and gives the records whose formats changed a new datestamp
(:mod:`catalog.renditions_again`), with a progress bar;
``sets`` places every live record in the sets the ``[[sets]]`` rules say, once they changed
(:mod:`catalog.set_rules`; one node at a time), with a progress bar;
``revision MESSAGE`` is for developers: it writes the next revision file from the difference
between the tables in the code and the latest revision (README.md, "Upgrading").
"""

from __future__ import annotations

import argparse

from alembic import command
from sqlalchemy import Engine, create_engine

from catalog import schema
from catalog.db import open_engine, refuse_missing_file
from catalog.renditions_again import Remade, make_again
from catalog.search_index import rebuild
from catalog.set_rules import place_again
from config import Settings, load_settings
from harvester import advisory
from koprik.errors import UserError
from koprik.progress import Progress
from koprik.stopping import noted_when_stopped

_NOTHING = {"current": "it has no revision", "sets": "no records to place",
            "renditions": "no records to make the formats of"}
"""What ``koprik db ACTION`` says of a catalogue file that is not there, where ``nothing to
ACTION`` is not English."""


def run(args: argparse.Namespace) -> int:
    if args.action == "revision":
        return _revision(args.message)
    settings = load_settings(args.config)
    # an upgrade there would make a new, empty catalogue and say it is current
    said = _NOTHING.get(args.action, f"nothing to {args.action}")
    refuse_missing_file(settings.database.url, said)
    engine = open_engine(settings.database.url)
    try:
        if args.action == "sets":
            schema.ensure_current(engine)
            _place_in_sets(engine, settings)
        elif args.action == "reindex":
            schema.ensure_current(engine)
            with (
                Progress("reindex") as bar,
                noted_when_stopped(lambda: f"after the search terms of {bar.count} records were "
                                   "made again: the others keep their earlier ones; run `koprik "
                                   "db reindex` again (it begins anew)"),
            ):
                done = rebuild(engine, progress=lambda n: bar.advance(n - bar.count))
            print(f"db: {schema.where(engine)}: the search terms of {done} records made again")
        elif args.action == "renditions":
            schema.ensure_current(engine)
            _make_renditions_again(engine)
        elif args.action == "upgrade":
            with Progress("upgrade", unit="steps") as bar:

                def report(done: int, total: int) -> None:
                    bar.total = total
                    bar.advance(done - bar.count)

                before, after = schema.upgrade(engine, settings, report)
            if before == after:
                print(f"db: {schema.where(engine)} is at revision {after}; nothing to do")
            else:
                print(f"db: {schema.where(engine)} upgraded from {before} to revision {after}")
        else:
            found, wanted = schema.current(engine)
            if found == wanted:
                state = "current"
            elif not schema.known(found):
                state = f"newer than this Koprik knows: {schema.NEWER_ADVICE}"
            else:
                state = "run `koprik db upgrade`"
            print(f"db: {schema.where(engine)} is at {found}; this Koprik needs {wanted} ({state})")
            if found != wanted:
                return 1  # a script may check before starting the service (2: no catalogue
                # file there, a database not reached: one line, as from any command)
    finally:
        engine.dispose()
    return 0


def _place_in_sets(engine: Engine, settings: Settings) -> None:
    """``koprik db sets``: :func:`catalog.set_rules.place_again`, by one node at a time on
    PostgreSQL (a second one is refused: the first would do the work twice over)."""
    held = None
    if advisory.supported(engine):
        held = advisory.try_lock(engine, advisory.CATALOG, advisory.key_of("sets"))
        if held is None:
            raise UserError(f"{schema.where(engine)}: another `koprik db sets` is placing its "
                            "records now; wait for it to end")  # fmt: skip
    moved_so_far = 0  # in the batches committed, for the line saying it stopped
    try:
        with Progress("sets") as bar:

            def report(looked: int, moved: int) -> None:
                nonlocal moved_so_far
                moved_so_far = moved
                bar.advance(looked - bar.count, extra=f"{moved:,} in other sets")

            with noted_when_stopped(
                lambda: f"after {bar.count} records were placed by the [[sets]] rules "
                f"({moved_so_far} in other sets than before): the others keep their earlier "
                "sets, and koprik serve starts by neither the earlier rules nor these; run "
                "`koprik db sets` again (it begins anew, finding those placed unchanged)"
            ):
                looked, moved = place_again(engine, settings.sets, progress=report)
    finally:
        if held is not None:
            advisory.unlock(held)
    print(f"db: {schema.where(engine)}: {looked} records placed by the [[sets]] rules, {moved} "
          "of them in other sets than before")  # fmt: skip


def _make_renditions_again(engine: Engine) -> None:
    """``koprik db renditions``: :func:`catalog.renditions_again.make_again`."""
    so_far = Remade(0, 0, 0, 0)  # the batches committed, for the line saying it stopped
    with Progress("renditions") as bar:

        def report(done: Remade) -> None:
            nonlocal so_far
            so_far = done
            bar.advance(done.looked - bar.count, extra=f"{done.changed:,} changed")

        with noted_when_stopped(
            lambda: f"after the formats of {so_far.looked} records were made again "
            f"({so_far.changed} changed): the others keep their earlier ones; run `koprik db "
            "renditions` again (those made are found unchanged)"
        ):
            done = make_again(engine, progress=report)
    if not done.changed:
        changed = "none changed"
    elif not done.members:
        changed = f"{done.changed} changed, given new datestamps (harvesters take them again)"
    else:
        changed = (f"{done.changed} changed: {done.changed - done.members} given new datestamps "
                   f"(harvesters take them again), {done.members} members of a union record "
                   "keeping theirs (the union record is served)")  # fmt: skip
    unreadable = (f"; {done.unreadable} whose stored MARC could not be read left as they were "
                  "(the log names them)") if done.unreadable else ""
    print(f"db: {schema.where(engine)}: the formats of {done.looked} records made again; "
          f"{changed}{unreadable}")


def _revision(message: str) -> int:
    """Autogenerate the next revision against a scratch database upgraded to the head."""
    latest = schema.head()
    number = int(latest) + 1 if latest.isdigit() else None
    if number is None:
        raise UserError(f"the head revision {latest!r} is not a number; name the next one by hand")
    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as connection:
            config = schema.alembic_config(connection)
            command.upgrade(config, "head")
            script = command.revision(
                config, message=message, autogenerate=True, rev_id=f"{number:04d}",
                version_path=str(schema.VERSION_LOCATIONS[0]),
            )
    finally:
        scratch.dispose()
    path = getattr(script, "path", None)
    print(f"db: wrote {path}; review it (it was compared on SQLite) and run "
          "`ruff format` on it")
    return 0

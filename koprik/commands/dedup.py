"""``koprik dedup``: group the same book from different sources into union records.

``koprik dedup`` works through the queue of records written since the last run (``koprik
import`` and every harvest run it themselves); ``--all`` recomputes every record's match keys
(after the ``[dedup]`` key settings changed, or for a catalogue older than match keys) and
queues them all first; ``--all --source NAME`` those of one source (whose ``holdings`` setting
changed: its union records are written again).
``explain ID`` says why a record is where it is; ``review`` lists the pairs waiting for an
operator, ``review accept|reject A B`` answers one; ``merge ID ID...`` and ``split ID...``
regroup by hand, and later runs respect it.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

from sqlalchemy import select

from catalog import Catalog, CatalogWriter, models
from catalog.db import refuse_missing_file
from catalog.dedup import DedupError, DedupReport, queued, run_dedup
from catalog.dedup_operators import explain, merge, review_decide, review_list, split
from config import load_settings
from koprik.errors import UserError
from koprik.progress import Progress
from koprik.stopping import noted_when_stopped

REKEY_BATCH = 1000
"""Records whose match keys ``koprik dedup --all`` works out again in one transaction."""


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    refuse_missing_file(settings.database.url, "nothing to deduplicate")
    catalog = Catalog.open(settings)
    try:
        return _act(catalog, args)
    except DedupError as error:
        raise UserError(str(error)) from None
    finally:
        catalog.close()


def _act(catalog: Catalog, args: argparse.Namespace) -> int:
    if args.action == "explain":
        _print_explanation(catalog, args.id)
        return 0
    if args.action == "review":
        return _review(catalog, args.answer, args.ids)
    if args.source is not None and not args.all:
        raise UserError("--source names the records --all looks at again: give --all too")
    started = time.monotonic()
    done = DedupReport()  # the summary counts what merge or split did, then the queue's run
    if args.action == "merge":
        print(f"dedup: merged into {merge(catalog, args.ids, report=done)}")
    elif args.action == "split":
        made = split(catalog, args.ids, report=done)
        print(f"dedup: split off{' as ' + made if made else ''}")
    elif args.all:
        r = models.records
        chosen = ~r.c.is_union if args.source is None else r.c.source == args.source
        with catalog.engine.connect() as connection:
            ids = list(connection.execute(select(r.c.id).where(chosen)).scalars())
        if not ids and args.source is not None:
            raise UserError(f"--source {args.source}: no records of that source")
        again = "" if args.source is None else f" --source {args.source}"
        with (
            Progress("match keys", total=len(ids)) as progress,
            noted_when_stopped(lambda: f"after the match keys of {progress.count} of {len(ids)} "
                               "records were worked out again: run `koprik dedup "
                               f"--all{again}` again (it begins anew)"),
        ):
            for start in range(0, len(ids), REKEY_BATCH):
                chunk = ids[start : start + REKEY_BATCH]
                catalog.write(partial(_rekeyed, ids=chunk))
                progress.advance(len(chunk))
    done.add(_queue_worked_through(catalog))
    done.seconds = time.monotonic() - started
    print(f"dedup: {done.summary()}")
    return 0


def deduplicated(catalog: Catalog) -> DedupReport:
    """:func:`catalog.dedup.run_dedup` with a progress display on a terminal (the queue's
    length counted for it only then; as other progress, nothing when standard error is not a
    terminal): ``koprik dedup --all`` on 120,000 records, or the deduplication ending an
    import, ran for minutes showing nothing."""
    with Progress("dedup") as progress:
        return _worked_through(catalog, progress)


def _queue_worked_through(catalog: Catalog, before: str = "") -> DedupReport:
    """:func:`deduplicated`, as the last step of a command: a stop (^C, SIGTERM) noted on the
    line :func:`koprik.stopping.interrupted` writes with how far the queue got, after what the
    command did ``before`` it (words ending "and "), and that ``koprik dedup`` goes on."""
    with (
        Progress("dedup") as progress,
        noted_when_stopped(lambda: f"after {before}{progress.count} records of the queue were "
                           "deduplicated: the rest stay queued; run `koprik dedup` again to go "
                           "on"),
    ):
        return _worked_through(catalog, progress)


def _worked_through(catalog: Catalog, progress: Progress) -> DedupReport:
    """:func:`catalog.dedup.run_dedup`, each batch committed counted in ``progress`` (with the
    queue's length as its total when it is shown)."""
    if progress.enabled:
        progress.total = queued(catalog)
    return run_dedup(catalog, advance=progress.advance)


def _rekeyed(writer: CatalogWriter, ids: list[int]) -> None:
    """Work out the match keys of the records ``ids`` again and queue them for deduplication."""
    writer.rekey(ids)
    writer.queue_dedup(ids)


def _review(catalog: Catalog, answer: str, ids: list[str]) -> int:
    if answer == "list":
        pairs = review_list(catalog)
        for a, b, score, reason in pairs:
            print(f"{a}\t{b}\t{score:.3f}\t{reason}")
        print(f"dedup: {len(pairs)} pairs waiting for review")
        return 0
    if len(ids) != 2:
        raise UserError(f"review {answer}: name the two records of the pair")
    a, b = ids
    done = DedupReport()  # what the answer did, then the queue's run
    with noted_when_stopped(lambda: f"before the answer on {a} and {b} was kept: nothing was "
                            f"changed; run `koprik dedup review {answer} {a} {b}` again"):
        # one transaction: kept whole, or not at all
        union = review_decide(catalog, a, b, same=answer == "accept", report=done)
    kept = (f"{a} and {b} are in {union}" if union else
            f"{a} and {b} are different; the queue's run takes them apart if they share a group")
    done.add(_queue_worked_through(catalog, f"the answer was kept ({kept}) and "))
    print(f"dedup: {a} and {b} " + (f"are in {union}" if union else "kept apart"))
    print(f"dedup: {done.summary()}")
    return 0


def _print_explanation(catalog: Catalog, local_id: str) -> None:
    why = explain(catalog, local_id)
    print(f"{why.local_id}: source {why.source}")
    if why.members:
        print(f"  union record of {', '.join(why.members)}")
        return
    print(f"  union record: {why.union or 'none (served by itself)'}")
    print(f"  match keys: {' '.join(f'{k}={v}' for k, v in why.keys) or 'none'}")
    if why.profile.bad:
        print(f"  kept aside (invalid): {' '.join(why.profile.bad)}")
    for reason in why.unused:
        print(f"  {reason}")
    if why.usable and any(decision == "alone" for _, decision, _, _ in why.decisions):
        print("  decisions of the run that last looked at it; a key is used now (settings or "
              "records changed since): koprik dedup --all looks at it again")
    for other, decision, score, reason in why.decisions:
        print(f"  {decision:<9} {other or '':<24} {score:.3f}  {reason}")
    for a, b, state in why.pairs:
        print(f"  pair {a} / {b}: {state}")

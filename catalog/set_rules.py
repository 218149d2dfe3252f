"""The ``[[sets]]`` rules a catalogue's set memberships were placed by, and placing every record
again when the rules change.

A record is placed in its sets when it is written, by the rules of the process writing it; a
rule added or changed afterwards places none of the records already stored. The catalogue keeps
the rules its records were placed by (``set_rules``, one row): the first command to open a
catalogue that has none records its own (:func:`adopt`), ``koprik serve`` refuses to serve
records placed by other rules (:func:`check`, one line naming the command to run), and
``koprik db sets`` places every record again (:func:`place_again`).

Nodes. Several nodes write one catalogue, each placing the records it writes by its own
``koprik.toml``. A writer whose rules are not the catalogue's is refused (:func:`refuse_others`,
one read of this table in each transaction that places records), rather than place records
wrongly: the rules it must have are those ``db sets`` places by while it runs (a second row,
written before its first batch, so that a node still on the old rules stops writing from then:
a record it wrote after the batch that placed it would keep the old rules' sets), else the
recorded ones. The writer's read locks the table against ``db sets``' writes of it: ``db sets``
starts placing once every transaction that read the old rules has ended, and one that reads
after it started sees its rules.

Datestamps. A record joining a set gets a membership at the time it is placed, which is the
datestamp a harvest of that set sees (``record_sets.datestamp``): an incremental harvester of the
set, past that time, gets the records that joined it. The record's own datestamp, the one a
harvest of the whole repository pages on, is left as it was: the protocol asks for a new
datestamp when the metadata part of the record changes (OAI-PMH 2.0, 2.7.1), which placing it in
a set does not, and a new rule over a national catalogue would otherwise make every harvester of
the whole repository take its millions of records again. Memberships that stay keep their
datestamps. A record leaving a set is seen by no harvester of that set: the protocol has no way
to say so (its deleted status is the record's, in every set), as the README says.

Deleted records keep the sets they had when they were deleted (their MARC is gone: nothing can
be worked out from it).

A row of ``set_rules`` that cannot be read (a damaged catalogue, or one edited by hand) is said
in one line (:class:`SetRulesUnreadable`, read in :func:`_parsed` only) by each command and write
that reads it, and by ``/health``; ``koprik db sets`` records its rules in its place.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import partial
from typing import NamedTuple

from pymarc import Record
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from catalog import models
from catalog.db import execute_in, insert_rows
from catalog.restamp import restamp_after_commit
from catalog.search_index import read_canonical
from catalog.sets import set_name, set_specs
from catalog.transactions import transaction, transaction_then
from config import SetRule

log = logging.getLogger(__name__)

BATCH = 1000
"""Records placed again in each transaction of :func:`place_again`."""

_ROW = 1
"""The ``id`` of the row of ``set_rules`` holding the rules the records were placed by."""
_PLACING = 2
"""The ``id`` of the row holding the rules ``koprik db sets`` places records by, from before its
first batch until its end, when they become :data:`_ROW`'s (a run stopped midway leaves it)."""

WHAT = "placing records in sets (koprik db sets)"
"""How :func:`place_again`'s transactions are named when one is run again."""
JOINED = (("record_sets", "record_id"),)
"""What :func:`place_again` stamps: the memberships records join (their own datestamps stay)."""


class SetRulesError(Exception):
    """The ``[[sets]]`` rules keep this node from serving or writing the catalogue; one line
    saying what to do."""


class SetRulesChanged(SetRulesError):
    """The records were placed in sets by other ``[[sets]]`` rules."""


class SetRulesUnreadable(SetRulesError):
    """A row of ``set_rules`` holds no rules :func:`described` could have said (a damaged
    catalogue, or one edited by hand): nothing can be compared with them. ``koprik db sets``
    records them anew, reading none (:func:`place_again`)."""


def unreadable(row: int, what: str) -> str:
    """The line of :class:`SetRulesUnreadable`: row ``row`` of ``set_rules`` is ``what``. It
    names no file or database: ``/health`` answers anyone (:func:`refused`)."""
    return (
        f"the [[sets]] rules recorded in the catalogue's set_rules table (the row of id {row}) "
        f"are unreadable ({what}): run `koprik db sets` to place every record by this node's "
        "[[sets]] rules and record them anew"
    )


def refusal(file: str) -> str:
    """What a writer whose rules are not the catalogue's is told (:func:`refuse_others`),
    ``file`` the settings file it read them from (:attr:`config.Settings.file`; the line said
    koprik.toml whichever file ``--config`` named). Which side is current cannot be told here:
    a settings file changed before ``koprik db sets`` ran, or a node left on the old one after
    it ran (the line said only the latter, to an operator who had changed the file)."""
    return (
        "this node's [[sets]] rules differ from those the catalogue's records are placed by: "
        f"after a change of [[sets]] in {file}, run `koprik db sets`; else (another node ran "
        f"it) restart this one with the current {file}"
    )


def paused(why: str) -> str:
    """What the harvest scheduler of a node refused says once it starts no run any more
    (:mod:`harvester.scheduler`), and ``/health`` with it, ``why`` the line of :func:`refused`."""
    return f"scheduled harvests paused: {why}"


def described(rules: Sequence[SetRule]) -> dict[str, str]:
    """What of each rule decides which records are in its sets, by spec: its kind, and a
    collection's sources (its name only names the sets)."""
    return {rule.spec: _deciding(rule) for rule in rules}


def _deciding(rule: SetRule) -> str:
    if rule.rule != "collection":
        return rule.rule
    return f"collection: {', '.join(sorted(set(rule.sources)))}"


def placed_by(connection: Connection) -> dict[str, str] | None:
    """The rules (:func:`described`) the records were placed by; None when none are recorded."""
    return _read(connection, _ROW)


def _read(connection: Connection, row: int) -> dict[str, str] | None:
    found = connection.execute(
        select(models.set_rules.c.rules).where(models.set_rules.c.id == row)
    ).scalar()
    return None if found is None else _parsed(found, row)


def _parsed(said: str, row: int) -> dict[str, str]:
    """The rules (:func:`described`) that row ``row`` of ``set_rules`` says (``said``, its
    JSON); raises :class:`SetRulesUnreadable` when it says none."""
    try:
        rules = json.loads(said)
    except (ValueError, RecursionError):  # (nested too deep for json to read)
        raise SetRulesUnreadable(unreadable(row, "not JSON")) from None
    if not isinstance(rules, dict) or not all(isinstance(v, str) for v in rules.values()):
        raise SetRulesUnreadable(unreadable(row, "not a JSON object of strings"))
    return rules


def refuse_others(connection: Connection, rules: dict[str, str], file: str) -> None:
    """Raise :class:`SetRulesChanged` (:func:`refusal` naming the settings ``file``) unless
    ``rules`` (:func:`described`) are those the records are placed by: ``db sets``' while it
    runs (or stopped midway), else the recorded ones (none recorded: any); raise
    :class:`SetRulesUnreadable` when those cannot be read. Read in the
    writer's transaction and, on PostgreSQL, locked until it ends (``FOR SHARE``, whose table
    lock ``db sets`` waits for: :func:`_lock`); on SQLite the writer already holds the
    catalogue's one write lock."""
    wanted = _for_writers(connection, lock=True)
    if wanted is not None and wanted != rules:
        raise SetRulesChanged(refusal(file))


def refused(engine: Engine, rules: Sequence[SetRule], file: str) -> str | None:
    """The line a writer on ``rules`` would be refused with now (:func:`refuse_others`):
    :func:`refusal` naming the settings ``file``, or that of :class:`SetRulesUnreadable`; else
    None. One read, for ``/health``."""
    try:
        return differing(engine, rules, file)
    except SetRulesUnreadable as error:
        return str(error)


def differing(engine: Engine, rules: Sequence[SetRule], file: str) -> str | None:
    """:func:`refusal` naming the settings ``file`` when the records are placed by other rules
    than ``rules`` (:func:`refuse_others`), else None; raises :class:`SetRulesUnreadable` when
    those cannot be read. One read, for the harvest scheduler: other rules pause it for good
    (the node is to be restarted on them), unreadable ones until ``koprik db sets`` records
    them anew."""
    with engine.connect() as connection:
        wanted = _for_writers(connection, lock=False)
    return refusal(file) if wanted is not None and wanted != described(rules) else None


def _for_writers(connection: Connection, *, lock: bool) -> dict[str, str] | None:
    """The rules a writer must have (:func:`refuse_others`), read ``FOR SHARE`` when ``lock``."""
    t = models.set_rules
    query = select(t.c.id, t.c.rules).where(t.c.id.in_((_ROW, _PLACING)))
    found = dict(connection.execute(query.with_for_update(read=True) if lock else query).all())
    row = _PLACING if _PLACING in found else _ROW
    return _parsed(found[row], row) if row in found else None


def _lock(connection: Connection) -> None:
    """Wait for every writer that read the rules (:func:`refuse_others`) to end, and make those
    that read them next wait for this transaction: on PostgreSQL, a lock of the table that
    conflicts with ``FOR SHARE``'s and is granted in turn (new readers queue behind it); on
    SQLite the transaction's first write takes the catalogue's lock."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE set_rules IN EXCLUSIVE MODE")


def _announce(connection: Connection, rules: Sequence[SetRule]) -> None:
    """Record ``rules`` as those ``db sets`` places by (:data:`_PLACING`)."""
    _lock(connection)
    t = models.set_rules
    connection.execute(delete(t).where(t.c.id == _PLACING))
    connection.execute(insert(t).values(id=_PLACING, rules=_said(rules)))


def adopt(engine: Engine, rules: Sequence[SetRule]) -> None:
    """Record ``rules`` as those the records were placed by, when none are recorded: a new
    catalogue, or one made before they were kept (revision 0017). Several nodes may do this at
    once: the first one's are kept."""
    with engine.connect() as connection:
        if placed_by(connection) is not None:
            return
    with suppress(IntegrityError):  # another process recorded its rules between the two
        transaction(engine, partial(_record, rules=rules), "recording the [[sets]] rules")


def _said(rules: Sequence[SetRule]) -> str:
    return json.dumps(described(rules), sort_keys=True)


def _record(connection: Connection, rules: Sequence[SetRule]) -> None:
    connection.execute(insert(models.set_rules).values(id=_ROW, rules=_said(rules)))


def differences(placed: dict[str, str], rules: Sequence[SetRule]) -> list[str]:
    """How ``rules`` differ from those the records were ``placed`` by: ``lang added``, ``inst
    changed``, ``type removed``, in spec order; empty when they place records alike."""
    wanted = described(rules)
    said: list[str] = []
    for spec in sorted(placed.keys() | wanted.keys()):
        if spec not in placed:
            said.append(f"{spec} added")
        elif spec not in wanted:
            said.append(f"{spec} removed")
        elif placed[spec] != wanted[spec]:
            said.append(f"{spec} changed")
    return said


def check(engine: Engine, rules: Sequence[SetRule], file: str) -> None:
    """Raise :class:`SetRulesChanged` when the records were placed by rules other than
    ``rules``: their sets would not hold what the rules say (a new set would hold only the
    records written since), and ListSets would list sets no rule makes any more; or when
    ``koprik db sets`` places them by others (this node's writes would be refused). The line
    names the settings ``file`` the rules were read from."""
    with engine.connect() as connection:
        placed = placed_by(connection)
        placing = _read(connection, _PLACING)
    changed = [] if placed is None else differences(placed, rules)
    if changed:
        raise SetRulesChanged(
            f"the catalogue's records were placed in sets by other [[sets]] rules "
            f"({', '.join(changed)}): run `koprik db sets` to place every record by these, or "
            f"start this node with the {file} they were placed by"
        )
    changed = [] if placing is None else differences(placing, rules)
    if changed:  # this node's writes would be refused (refuse_others)
        raise SetRulesChanged(
            f"`koprik db sets` is placing the catalogue's records in sets by other [[sets]] "
            f"rules ({', '.join(changed)}), or stopped before its end: start this node with "
            f"the current {file} once it has ended"
        )


def place_again(
    engine: Engine, rules: Sequence[SetRule], *, batch: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Place every live record in the sets ``rules`` say, ``batch`` records a transaction
    (harvests and searches go on meanwhile), then record ``rules`` as those the records were
    placed by. Returns how many records were looked at and how many changed sets; ``progress``
    is told both after each batch.

    A record's memberships that stay keep their datestamps; a set it joins gets a membership
    dated when the batch commits (module docstring), moved to the second its COMMIT ended in
    as the catalogue's writer moves its records (:mod:`catalog.restamp`). A batch the database
    aborts to break a deadlock with another writer is placed again (:mod:`catalog.transactions`):
    it takes its records in the order of their ids, but a harvest page may not.

    Before its first batch, ``rules`` are recorded as those it places by: a writer on other
    rules is refused from then on (module docstring), one on ``rules`` is not.
    A run that stops (a crash, an interrupt) leaves its batches done and the rules unrecorded:
    run again, it finds the records done already unchanged.
    A record whose stored MARC cannot be read keeps its sets.
    """
    transaction(engine, lambda connection: _announce(connection, rules), WHAT)
    after, looked, moved = 0, 0, 0
    while True:
        placed = transaction_then(engine, partial(_place_batch, after=after, batch=batch,
                                                  rules=rules),
                                  partial(_restamped, engine), WHAT)  # fmt: skip
        if placed is None:
            break
        looked += placed.looked
        moved += placed.moved
        after = placed.last
        if progress is not None:
            progress(looked, moved)
    transaction(engine, lambda connection: _finish(connection, rules), WHAT)
    return looked, moved


def _restamped(engine: Engine, placed: _Placed | None) -> None:
    """A batch's new memberships moved to the second its COMMIT ended in."""
    if placed is not None and placed.joined:
        restamp_after_commit(engine, placed.joined, placed.stamped, JOINED)


class _Placed(NamedTuple):
    """What a batch of :func:`place_again` did."""

    last: int
    """The id of the batch's last record."""
    looked: int
    moved: int
    """How many records changed sets."""
    joined: list[int]
    """The records that joined a set, ..."""
    stamped: int
    """... their new memberships' datestamp."""


def _place_batch(
    connection: Connection, after: int, batch: int, rules: Sequence[SetRule]
) -> _Placed | None:
    """Place the next ``batch`` live records after id ``after``; None when none is left."""
    rows = _next_rows(connection, after, batch)
    if not rows:
        return None
    moved, joined, stamped = _place(connection, rows, rules)
    return _Placed(rows[-1].id, len(rows), moved, joined, stamped)


def _finish(connection: Connection, rules: Sequence[SetRule]) -> None:
    """Record ``rules`` as those the records were placed by, in place of whatever was recorded
    (none, other rules, or a row that cannot be read: :class:`SetRulesUnreadable`)."""
    _lock(connection)
    _tidy_sets(connection, rules)
    t = models.set_rules
    connection.execute(delete(t).where(t.c.id.in_((_ROW, _PLACING))))
    _record(connection, rules)


def _next_rows(connection: Connection, after: int, batch: int) -> list:  # type: ignore[type-arg]
    """The next ``batch`` live records after id ``after``, locked until the transaction ends
    (a harvest writing one meanwhile waits, and then places it itself, rather than have its
    sets overwritten by those of the MARC read here): on PostgreSQL the rows, on SQLite the
    catalogue, by a write statement first (the catalogue's one writer from here on)."""
    r = models.records
    if connection.dialect.name == "sqlite":
        t = models.set_rules
        connection.execute(delete(t).where(t.c.id < 0))  # deletes nothing; takes the lock
    return list(connection.execute(
        select(r.c.id, r.c.marc, r.c.source, r.c.set_specs)
        .where(r.c.id > after, ~r.c.deleted, r.c.marc.is_not(None))
        .order_by(r.c.id).limit(batch).with_for_update()
    ).all())  # fmt: skip


def _place(
    connection: Connection, rows: Sequence, rules: Sequence[SetRule]  # type: ignore[type-arg]
) -> tuple[int, list[int], int]:
    """Give each record of ``rows`` exactly the sets ``rules`` say: how many changed sets, the
    ids of those that joined one, and the datestamp of the memberships they joined."""
    joined: list[tuple[int, str]] = []
    left: list[tuple[int, str]] = []
    headers: list[dict[str, object]] = []
    for row in rows:
        record = _readable(row.id, row.marc)
        if record is None:
            continue
        wanted = set_specs(record, rules, row.source)
        had = set(row.set_specs.split())
        if set(wanted) == had:
            continue
        joined += [(row.id, spec) for spec in wanted if spec not in had]
        left += [(row.id, spec) for spec in had if spec not in wanted]
        headers.append({"record_id": row.id, "specs": " ".join(wanted)})
    if not headers:
        return 0, [], 0
    r, rs = models.records, models.record_sets
    connection.execute(
        update(r).where(r.c.id == bindparam("record_id")).values(set_specs=bindparam("specs")),
        headers,
    )
    for spec in {spec for _, spec in left}:
        execute_in(connection, "DELETE FROM record_sets WHERE set_spec = {p} AND record_id IN "
                   "({values})", [rid for rid, s in left if s == spec], (spec,))  # fmt: skip
    _name_new_sets(connection, {spec for _, spec in joined}, rules)
    now = int(time.time())  # as late as can be: a harvest running meanwhile must not page past it
    insert_rows(connection, rs, ("set_spec", "datestamp", "record_id"),
                [(spec, now, rid) for rid, spec in joined])
    return len(headers), sorted({rid for rid, _ in joined}), now


def _readable(record_id: int, marc: bytes) -> Record | None:
    try:
        return read_canonical(marc)
    except Exception:  # pymarc raises many kinds on a record it cannot read
        log.warning("record %s: its stored MARC cannot be read; its sets are left", record_id)
        return None


def _name_new_sets(connection: Connection, specs: set[str], rules: Sequence[SetRule]) -> None:
    """Add the sets of ``specs`` that ListSets does not list yet, named by ``rules``."""
    s = models.sets
    present = {row.spec for row in execute_in(connection,
               "SELECT spec FROM sets WHERE spec IN ({values})", sorted(specs))}  # fmt: skip
    missing = sorted(specs - present)
    if missing:
        connection.execute(insert(s), [{"spec": spec, "name": set_name(spec, list(rules))}
                                       for spec in missing])  # fmt: skip


def _tidy_sets(connection: Connection, rules: Sequence[SetRule]) -> None:
    """ListSets lists the sets of ``rules`` only: a set of a rule taken away is no longer
    listed (its deleted records keep their memberships)."""
    s = models.sets
    families = {rule.spec for rule in rules}
    for spec in connection.execute(select(s.c.spec)).scalars().all():
        if spec.partition(":")[0] not in families:
            connection.execute(delete(s).where(s.c.spec == spec))
    _rename(connection, rules)


def rename(engine: Engine, rules: Sequence[SetRule]) -> None:
    """Give the sets ListSets lists the names ``rules`` give them now (a rule's name says
    nothing of which records are in its sets: renaming one asks for no :func:`place_again`).
    A few hundred rows are read; none is written unless a name changed."""
    transaction(engine, lambda connection: _rename(connection, rules), "renaming sets")


def _rename(connection: Connection, rules: Sequence[SetRule]) -> None:
    s = models.sets
    families = {rule.spec for rule in rules}
    for spec, name in connection.execute(select(s.c.spec, s.c.name)).all():
        named = set_name(spec, list(rules))
        if spec.partition(":")[0] in families and name != named:
            connection.execute(update(s).where(s.c.spec == spec).values(name=named))

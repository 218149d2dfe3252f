"""Operators' control of deduplication: merge and split by hand, the review queue, and why a
record is where it is. Later runs of :func:`catalog.dedup.run_dedup` respect what operators
decided (``dedup_pairs``: ``same`` and ``different``).

>>> merge(catalog, ["union:12", "union:40"])    # -> "union:12" (the older survives)
>>> split(catalog, ["bux:7"])                   # served by itself again
>>> review_decide(catalog, "sam:1", "bux:7", same=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Connection, delete, func, insert, or_, select

from catalog import models
from catalog.dedup import (
    DIFFERENT,
    RECORD_COLUMNS,
    REVIEW,
    SAME,
    Batch,
    DedupError,
    DedupReport,
    _Rec,
    blocked_isbns,
    most_holders,
    pair,
)
from catalog.match_keys import Profile
from catalog.matcher import veto
from catalog.store import Catalog, CatalogWriter

T = TypeVar("T")


def _ids_of(connection: Connection, local_ids: Sequence[str]) -> list[int]:
    r = models.records
    found = dict(connection.execute(
        select(r.c.local_id, r.c.id).where(r.c.local_id.in_(list(local_ids)))).all())
    missing = [i for i in local_ids if i not in found]
    if missing:
        raise DedupError(f"no record {missing[0]!r}")
    return [found[i] for i in local_ids]


def _set_pair(connection: Connection, a: int, b: int, state: str, now: int, reason: str) -> None:
    p = models.dedup_pairs
    first, second = pair(a, b)
    connection.execute(delete(p).where(p.c.record_a == first, p.c.record_b == second))
    connection.execute(insert(p).values(record_a=first, record_b=second, state=state,
                                        score=1.0, reason=reason, decided_at=now))


def merge(
    catalog: Catalog, local_ids: Sequence[str], *, report: DedupReport | None = None
) -> str:
    """Merge the groups of the records ``local_ids`` (members or union records) into one, as an
    operator decided; later runs keep them together. Returns the union record's identifier;
    what was done (groups merged, records in none put in one, union records written and
    deleted) is added to ``report``."""
    if len(set(local_ids)) < 2:
        raise DedupError("name at least two different records to merge")
    def act(writer: CatalogWriter) -> tuple[DedupReport, str]:
        work = Batch(writer, catalog.settings)
        groups: list[int] = []
        alone: list[int] = []  # records in no group, put in the merged one
        for rid in _ids_of(writer.connection, local_ids):
            work.load([rid])
            rec = work.recs[rid]
            if rec.deleted:
                raise DedupError(f"{rec.local_id} is deleted")
            if rec.is_union:
                work.load_groups([rid])
                groups.append(rid)
            elif work.group_of.get(rid) is not None:
                groups.append(work.group_of[rid])  # type: ignore[arg-type]
            else:
                alone.append(rid)
        groups = list(dict.fromkeys(groups))
        if len(groups) + len(alone) < 2:
            raise DedupError("these records are already in one group")
        members = [work.recs[m] for g in groups for m in work.members[g]]
        live = [m for m in members if not m.deleted] + [work.recs[rid] for rid in alone]
        sources = [m.source_key for m in live]
        if len(set(sources)) < len(sources):
            raise DedupError("a union record holds one record per source; these groups share one")
        for i, one in enumerate(live):
            for other in live[i + 1 :]:
                place = work.group_of.get(one.id)
                if place is None or place != work.group_of.get(other.id):
                    _set_pair(writer.connection, one.id, other.id, SAME, writer.now,
                              "merged by an operator")
        target = groups[0] if groups else work.new_group()
        for group in groups[1:]:
            target = work.merge(target, group)
        for rid in alone:
            work.put_in(target, rid)
        for member in live:
            work.note(member.id, None, "merged", 1.0, "merged by an operator")
        work.finish()
        return work.report, work.union_local[target]

    return _reported(catalog.write(act), report)


def split(
    catalog: Catalog, local_ids: Sequence[str], *, report: DedupReport | None = None
) -> str | None:
    """Take the members ``local_ids`` out of their group, as an operator decided; later runs
    keep them apart from the others. Several members split together form a new group (with a
    new identifier, returned); a single one is served by itself again. Every member of a group
    of several is refused (:class:`DedupError`): it would be the same group under a new
    identifier, a deletion and a new record to harvesters. What was done (members
    that left, union records written and deleted) is added to ``report``."""
    def act(writer: CatalogWriter) -> tuple[DedupReport, str | None]:
        work = Batch(writer, catalog.settings)
        ids = _ids_of(writer.connection, local_ids)
        work.load(ids)
        groups = {work.group_of.get(rid) for rid in ids}
        if None in groups or len(groups) != 1:
            raise DedupError("name members of one union record")
        (gid,) = groups
        assert gid is not None
        rest = [m for m in work.members[gid] if m not in ids]
        if not rest and len(ids) > 1:  # split off whole, it would only take a new identifier
            raise DedupError(f"those are all the members of {work.group_name(gid)}: name the "
                             "ones to split off (the others stay in it)")
        for rid in ids:
            for other in rest:
                _set_pair(writer.connection, rid, other, DIFFERENT, writer.now,
                          "split by an operator")
            work.leave(work.recs[rid], "split by an operator")
        new_group: int | None = None
        if len(ids) > 1:
            new_group = work.new_group()
            work.members[new_group].update(ids)
            for rid in ids:
                work.group_of[rid] = new_group
            work.dirty.add(new_group)
        work.finish()
        return work.report, work.union_local[new_group] if new_group is not None else None

    return _reported(catalog.write(act), report)


def review_list(catalog: Catalog, limit: int = 100) -> list[tuple[str, str, float, str]]:
    """Pairs awaiting review: ``(local id, local id, confidence, reason)``, most likely first."""
    p, r = models.dedup_pairs, models.records
    ra, rb = r.alias("ra"), r.alias("rb")
    query = (select(ra.c.local_id, rb.c.local_id.label("other"), p.c.score, p.c.reason)
             .select_from(p.join(ra, ra.c.id == p.c.record_a).join(rb, rb.c.id == p.c.record_b))
             .where(p.c.state == REVIEW, ~ra.c.deleted, ~rb.c.deleted,
                    # a pair grouped since (through other evidence) needs no review
                    or_(ra.c.union_id.is_(None), rb.c.union_id.is_(None),
                        ra.c.union_id != rb.c.union_id))
             .order_by(p.c.score.desc(), p.c.record_a, p.c.record_b).limit(limit))
    with catalog.engine.connect() as connection:
        return [(row[0], row[1], float(row[2]), row[3]) for row in connection.execute(query)]


def review_decide(
    catalog: Catalog, a: str, b: str, same: bool, *, report: DedupReport | None = None
) -> str | None:
    """An operator's answer on a pair (waiting for review or not): the same book or not.

    "The same" puts the two in one group now and returns its union record's identifier: one
    of them joins the other's group, or their two groups merge (the older union record
    survives). A group holds one record per source and only records that fit together, as a
    run keeps it: so unless every other member of the one group fits every member of the
    other (no source in both, no veto, no operator's "different"), nothing changes and
    DedupError says which two stand in the way (an operator's :func:`merge` overrides vetoes
    and decisions). The answer is kept (``dedup_pairs``), so later runs keep the two together.

    "Different" is kept and both records are queued: the next :func:`run_dedup` takes them
    apart if they share a group (None is returned). What was done is added to ``report``."""
    if a == b:
        raise DedupError("name two different records")
    def act(writer: CatalogWriter) -> tuple[DedupReport, str | None]:
        one, two = _ids_of(writer.connection, [a, b])
        if not same:
            _set_pair(writer.connection, one, two, DIFFERENT, writer.now, "reviewed: different")
            writer.queue_dedup([one, two])
            return DedupReport(), None
        work = Batch(writer, catalog.settings)
        work.load([one, two])
        first, second = work.recs[one], work.recs[two]
        for rec in (first, second):
            if rec.is_union:
                raise DedupError(f"{rec.local_id} is a union record: name one of its members")
            if rec.deleted:
                raise DedupError(f"{rec.local_id} is deleted")
        _set_pair(writer.connection, one, two, SAME, writer.now, "reviewed: same")
        work.pairs[pair(one, two)] = SAME
        groups = [work.group_of.get(one), work.group_of.get(two)]
        if groups[0] is not None and groups[0] == groups[1]:
            return DedupReport(), work.union_local[groups[0]]
        sides = [[work.recs[m] for m in sorted(work.members[g])] if g is not None else [rec]
                 for g, rec in zip(groups, (first, second), strict=True)]
        sides = [[m for m in side if not m.deleted] for side in sides]
        work.load_pairs(m.id for side in sides for m in side)
        _check_fit(work, sides[0], sides[1], f"{a} and {b}")
        if groups[0] is None:
            target = work.join(first, second)
        elif groups[1] is None:
            target = work.join(second, first)
        else:
            target = work.merge(groups[0], groups[1])
            for member in (first, second):
                work.note(member.id, None, "merged", 1.0, "merged: an operator said "
                          f"{a} and {b} are the same")
        work.finish()
        return work.report, work.union_local[target]

    return _reported(catalog.write(act), report)


def _reported(done: tuple[DedupReport, T], report: DedupReport | None) -> T:
    """What an operator's transaction returned, what it did added to ``report`` (when given)."""
    if report is not None:
        report.add(done[0])
    return done[1]


def _check_fit(work: Batch, ours: list[_Rec], theirs: list[_Rec], what: str) -> None:
    """Raise DedupError unless each of ``ours`` may be grouped with each of ``theirs`` as a
    run would allow it (:meth:`Batch.fits`), saying which two cannot and why."""
    for mine in ours:
        for other in theirs:
            state = work.pairs.get(pair(mine.id, other.id))
            if mine.source_key == other.source_key:
                why = (f"both are of source {mine.source or '(our own)'} and a union record "
                       "holds one record per source; split one off first")
            elif state == DIFFERENT:
                why = "an operator said they are different; merge the groups to override"
            elif state != SAME and (reason := veto(mine.profile, other.profile,
                                                   work.settings.dedup)) is not None:
                why = f"they differ ({reason}); merge the groups to override"
            else:
                continue
            raise DedupError(f"{what} not grouped: that would put {mine.local_id} and "
                             f"{other.local_id} in one group, but {why}")


@dataclass
class Explanation:
    local_id: str
    source: str
    union: str | None
    members: list[str] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)
    profile: Profile = field(default_factory=Profile)
    decisions: list[tuple[str | None, str, float, str]] = field(default_factory=list)
    pairs: list[tuple[str, str, str]] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    """Why each of its keys that finds no candidates is not used, as the settings now stand
    (held by more records than ``dedup.max_candidates`` besides it, or a blocked ISBN)."""
    usable: int = 0
    """How many of its keys find candidates now (held by another record, not too many): the
    stored decisions are those of the run that last looked at it, whose settings and records
    may have been others."""


def explain(catalog: Catalog, local_id: str) -> Explanation:
    """Why record ``local_id`` is where it is (or, for a union record, what it holds)."""
    r, d, p, mk = models.records, models.dedup_decisions, models.dedup_pairs, models.match_keys
    with catalog.engine.connect() as connection:
        row = connection.execute(select(*RECORD_COLUMNS).where(r.c.local_id == local_id)).first()
        if row is None:
            raise DedupError(f"no record {local_id!r}")
        result = Explanation(local_id, row.source or "(our own)", None,
                             profile=Profile.from_json(row.match_profile))
        if row.is_union:
            result.members = list(connection.execute(
                select(r.c.local_id).where(r.c.union_id == row.id).order_by(r.c.id)).scalars())
            return result
        if row.union_id is not None:
            result.union = connection.execute(
                select(r.c.local_id).where(r.c.id == row.union_id)).scalar()
        result.keys = [(k.kind, k.key) for k in connection.execute(
            select(mk.c.kind, mk.c.key).where(mk.c.record_id == row.id).order_by(mk.c.kind))]
        result.unused, result.usable = _unused_keys(connection, catalog, result.keys)
        other = r.alias("other")
        query = (select(other.c.local_id, d.c.decision, d.c.score, d.c.reason)
                 .select_from(d.outerjoin(other, other.c.id == d.c.other_id))
                 .where(d.c.record_id == row.id).order_by(d.c.id))
        result.decisions = [(x[0], x[1], float(x[2]), x[3]) for x in connection.execute(query)]
        me = r.alias("me")
        joiners = (select(me.c.local_id, d.c.decision, d.c.score, d.c.reason)
                   .select_from(d.join(me, me.c.id == d.c.record_id))
                   .where(d.c.other_id == row.id, d.c.decision == "joined").order_by(d.c.id))
        result.decisions += [(x[0], "joined by", float(x[2]), x[3])
                             for x in connection.execute(joiners)]
        ra, rb = r.alias("ra"), r.alias("rb")
        query = (select(ra.c.local_id, rb.c.local_id, p.c.state)
                 .select_from(p.join(ra, ra.c.id == p.c.record_a)
                              .join(rb, rb.c.id == p.c.record_b))
                 .where(or_(p.c.record_a == row.id, p.c.record_b == row.id)))
        result.pairs = [(x[0], x[1], x[2]) for x in connection.execute(query)]
        return result


def _unused_keys(connection: Connection, catalog: Catalog,
                 keys: list[tuple[str, str]]) -> tuple[list[str], int]:
    """Why each of ``keys`` that a run finds no candidates by is not used, and how many are
    used and held by another record, with the catalogue's
    settings and records as they now stand: a key held by more than ``dedup.max_candidates``
    records besides the record (a word of titles, not an identifier: by design, the records
    sharing only such keys stay apart), or an ISBN of ``dedup.blocked_isbns``."""
    mk = models.match_keys
    most = most_holders(catalog.settings)
    blocked = blocked_isbns(catalog.settings)
    unused, usable = [], 0
    for kind, key in keys:
        if kind == "isbn" and key in blocked:
            unused.append(f"key '{kind} {key}' is in dedup.blocked_isbns: not used")
            continue
        held = connection.execute(select(func.count()).select_from(mk).where(
            mk.c.kind == kind, mk.c.key == key)).scalar_one()
        if held > most:
            unused.append(f"key '{kind} {key}' held by {held} records, more than "
                          f"dedup.max_candidates ({most - 1}) besides this one: not used")
        elif held > 1:
            usable += 1
    return unused, usable

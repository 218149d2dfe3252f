"""Deduplication: queued records grouped with their matches from other sources.

Every write of a record queues it (``dedup_queue``). :func:`run_dedup` takes the queue in
batches, one transaction each. For each record:

- a deleted record leaves its group; a group left without live members loses its union record
  (a persistent deletion);
- a record in a group stays while it still fits (no veto against any other member, and a match
  with at least one); otherwise it leaves and is matched again; the members of a group a
  record left are looked at again in the next batch (what it kept out may join now);
- candidates are the live records of *other* sources that share a match key with it (ISBN,
  other identifiers, title key; a key shared by more than ``dedup.max_candidates`` records, or
  a blocked ISBN, finds none) and those an operator said are the same;
- each candidate is compared (:func:`catalog.matcher.compare`, operator decisions first); the
  record joins the group of the best match it fits (a group holds one record per source, and
  none that vetoes it); another matched group that fits is merged in (the older union record
  survives, the other becomes a deletion); a pair for review goes to ``dedup_pairs``.

Every comparison is stored with its reason (``dedup_decisions``; see
:mod:`catalog.dedup_operators` for ``explain`` and the operators' merge, split and review). At
the end of a batch the union record of every changed group is rebuilt (:mod:`catalog.union`)
and written like any record (renditions, search terms, sets); members that joined a group stop
being served by themselves (they become deletions in OAI-PMH and leave the search index), and
members that left are served again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import (
    Connection,
    bindparam,
    func,
    insert,
    select,
    update,
)
from stdnum.exceptions import ValidationError

from catalog import models
from catalog.db import execute_in, insert_rows
from catalog.harvest_state import harvest_sources
from catalog.match_keys import Profile
from catalog.matcher import Decision, Verdict, compare, veto
from catalog.search_index import read_canonical, write_entries
from catalog.store import Catalog, CatalogWriter, Incoming, RecordError, source_local_id
from catalog.union import UNION_SOURCE, Member, union_record
from config.settings import Settings, holdings_named, institution_of
from crosswalks.standard_numbers import valid_isbn13

log = logging.getLogger(__name__)

BATCH = 500
SAME, DIFFERENT, REVIEW = "same", "different", "review"


class DedupError(ValueError):
    """An operator's request that cannot be carried out (the message says why)."""


@dataclass
class DedupReport:
    processed: int = 0
    """Records looked at (taken from the queue)."""
    joined: int = 0
    """Records put in a group: those looked at that joined one, and the records they matched
    that were in none (a new group of two counts both: a run can put twice as many records in
    groups as it looked at)."""
    left: int = 0
    """Records taken out of their group (deleted, changed, split off)."""
    merged: int = 0
    """Groups merged into another (a record in no group that joins one is ``joined``)."""
    reviews: int = 0
    unions_written: int = 0
    unions_deleted: int = 0
    seconds: float = 0.0

    def add(self, other: DedupReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def summary(self) -> str:
        return (f"{self.processed} records looked at; {self.joined} records put in a group "
                f"(those looked at, and the ungrouped records they matched), {self.left} taken "
                f"out of one, {self.merged} groups merged into another, {self.reviews} pairs "
                f"for review; {self.unions_written} union records written, "
                f"{self.unions_deleted} deleted ({self.seconds:.1f} s)")


@dataclass
class _Rec:
    id: int
    local_id: str
    source: str | None
    identifier: str
    deleted: bool
    is_union: bool
    union_id: int | None
    profile_json: str | None
    _profile: Profile | None = field(default=None, repr=False)

    @property
    def source_key(self) -> str:
        return self.source or ""

    @property
    def profile(self) -> Profile:
        """The match profile, parsed when first compared: many records read are never compared
        (members of the groups read, candidates of their own source in a batch of several)."""
        if self._profile is None:
            self._profile = Profile.from_json(self.profile_json)
        return self._profile


def run_dedup(
    catalog: Catalog,
    *,
    batch: int = BATCH,
    stop: Callable[[], bool] | None = None,
    advance: Callable[[int], None] | None = None,
) -> DedupReport:
    """Work through the queue; returns what was done. ``stop``, asked before each batch,
    ends the work early when it says so (a harvest stopped by the operator): the rest stays
    queued for the next run. ``advance`` is told how many records each batch looked at, once
    it is committed (a progress display: :func:`queued` says how many there are to start
    with)."""
    report = DedupReport()
    started = time.monotonic()
    while stop is None or not stop():
        done = catalog.write(partial(_next_batch, size=batch))
        if done is None:
            break
        report.add(done)
        if advance is not None:
            advance(done.processed)
    report.seconds = time.monotonic() - started
    return report


def queued(catalog: Catalog) -> int:
    """How many records wait in the deduplication queue."""
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(models.dedup_queue)
        ).scalar_one()


def _next_batch(writer: CatalogWriter, size: int) -> DedupReport | None:
    """Deduplicate the next ``size`` records of the queue and take them off it; what was done
    (None: the queue is empty). Run again as a whole when the database aborts it. Two runs
    at once (a scheduled harvest's and ``koprik dedup``) take turns: the transaction is the
    catalogue's one writer from its start (:func:`catalog.transactions.hold_writes`), so no
    two form the same new groups."""
    q = models.dedup_queue
    rows = writer.connection.execute(
        select(q.c.record_id, q.c.queued_at).order_by(q.c.record_id).limit(size)
    ).all()
    if not rows:
        return None
    work = Batch(writer, writer.catalog.settings)
    work.process([row.record_id for row in rows])
    work.finish()
    unqueue(writer.connection, [(row.record_id, row.queued_at) for row in rows])
    writer.queue_dedup(sorted(work.revisit))  # after unqueue, which would take them off
    return work.report


def unqueue(connection: Connection, entries: Sequence[tuple[int, int]]) -> None:
    """Remove the queue entries ``(record_id, queued_at)`` read: a record queued again
    meanwhile (a later ``queued_at``) stays queued. One statement per time of queuing (the
    records one transaction wrote share it), not one per record: an executemany costs the
    PostgreSQL driver more than the deletions cost the server."""
    by_time: dict[int, list[int]] = {}
    for record_id, queued_at in entries:
        by_time.setdefault(queued_at, []).append(record_id)
    for queued_at, ids in by_time.items():
        execute_in(connection, "DELETE FROM dedup_queue WHERE queued_at = {p} AND "
                   "record_id IN ({values})", ids, (queued_at,))


def most_holders(settings: Settings) -> int:
    """The most records a key may be held by and still be used: the record and
    ``dedup.max_candidates`` others (a key held by more is a word of titles, not an
    identifier)."""
    return settings.dedup.max_candidates + 1


def blocked_isbns(settings: Settings) -> set[str]:
    """The ISBN keys ``dedup.blocked_isbns`` names (as ISBN-13 where valid): never matched on."""
    blocked: set[str] = set()
    for value in settings.dedup.blocked_isbns:
        try:
            blocked.add(valid_isbn13(value))
        except ValidationError:
            blocked.add(value)
    return blocked


def pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class Batch:
    """One batch of deduplication on one writer: the groups it touches, kept in memory."""

    def __init__(self, writer: CatalogWriter, settings: Settings) -> None:
        self.writer = writer
        self.connection: Connection = writer.connection
        self.settings = settings
        self.recs: dict[int, _Rec] = {}
        self.keys: dict[int, set[tuple[str, str]]] = {}
        self.pairs: dict[tuple[int, int], str] = {}
        self.members: dict[int, set[int]] = {}
        self.group_of: dict[int, int | None] = {}
        self.union_local: dict[int, str] = {}
        self.dirty: set[int] = set()
        self.gone: set[int] = set()
        self.unwritten: set[int] = set()
        """Groups whose union record could not be made or stored (:meth:`not_written`)."""
        self.revisit: set[int] = set()
        """Live members of the groups a record left (deleted, or no longer fitting), queued for
        the next batch: the records kept out by the one that left (another copy of its source,
        one it vetoed) are their candidates again (:meth:`gather`)."""
        self.next_new = -1
        self.report = DedupReport()
        self.decisions: list[tuple[int, int | None, str, float, str, int]] = []
        self.decided: set[int] = set()
        self.blocked = blocked_isbns(settings)
        dialect = self.connection.dialect.name
        self.postings = _postings(dialect, other_source=False)
        self.postings_other = _postings(dialect, other_source=True)
        h = harvest_sources
        added = self.connection.execute(
            select(h.c.name, h.c.institution_code, h.c.holdings)).all()
        self.institutions = {row.name: row.institution_code for row in added
                             if row.institution_code}
        self.named = {row.name for row in added if row.holdings == "named"}

    def institution(self, source: str | None) -> str:
        """The holding institution's code of ``source`` (settings, or a source added with
        ``koprik sources add --institution-code``)."""
        if source is not None and source in self.institutions:
            return self.institutions[source]
        return institution_of(self.settings, source)[0]

    def holdings_named(self, source: str | None) -> bool:
        """Whether the records of ``source`` name the institution holding each copy (settings,
        or a source added with ``koprik sources add --holdings named``)."""
        return source in self.named or holdings_named(self.settings, source)

    # -- loading ------------------------------------------------------------------------

    def load(self, ids: Iterable[int]) -> None:
        """Read the records ``ids`` not read yet, and the groups they belong to."""
        self._read(_RECORDS_BY_ID, sorted(set(ids) - self.recs.keys()))
        groups = {rec.union_id for rec in self.recs.values() if rec.union_id is not None}
        self.load_groups(groups)

    def _read(self, query: str, ids: list[int]) -> list[_Rec]:
        """The records ``query`` (for :func:`execute_in`) finds for ``ids``; those read before
        are kept as they are."""
        found = []
        recs, group_of = self.recs, self.group_of
        for row in execute_in(self.connection, query, ids):
            rid, local_id, source, identifier, deleted, is_union, union_id, profile = row
            rec = recs.get(rid)
            if rec is None:
                rec = _Rec(rid, local_id, source, identifier or local_id, bool(deleted),
                           bool(is_union), union_id, profile)
                recs[rid] = rec
                if not rec.is_union:
                    group_of.setdefault(rid, union_id)
            found.append(rec)
        return found

    def load_groups(self, group_ids: Iterable[int]) -> None:
        """Read the members and the union record identifier of groups not read yet."""
        wanted = sorted(set(group_ids) - self.members.keys())
        for gid in wanted:
            self.members[gid] = set()
        for rec in self._read(_RECORDS_BY_UNION, wanted):
            if self.group_of.get(rec.id) == rec.union_id and rec.union_id is not None:
                self.members[rec.union_id].add(rec.id)
        for rid, local_id in execute_in(self.connection, _LOCAL_IDS, wanted):
            self.union_local[rid] = local_id
        self.load_keys([m for gid in wanted for m in self.members[gid]])

    def load_keys(self, ids: Iterable[int]) -> None:
        wanted = sorted(set(ids) - self.keys.keys())
        keys = self.keys
        for rid in wanted:
            keys[rid] = set()
        for kind, key, rid in execute_in(self.connection, _KEYS_BY_RECORD, wanted):
            keys[rid].add((kind, key))

    def load_pairs(self, ids: Iterable[int]) -> None:
        wanted = sorted(set(ids))
        for query in _PAIRS_OF:
            for a, b, state in execute_in(self.connection, query, wanted):
                self.pairs[(a, b)] = state

    def candidates(self, ids: Sequence[int]) -> dict[int, dict[int, set[str]]]:
        """For each record of ``ids`` that has candidates: candidate id -> kinds of key they
        share.

        A key held by more than ``dedup.max_candidates`` records (of any source) finds none:
        the index counts, the records are not read. A record of the same source is no
        candidate (a union record holds one record per source), so it is not read either: in
        SQL when all of ``ids`` come from one source (an import, a harvest), else here."""
        self.load_keys(ids)
        holders: dict[tuple[str, str], list[int]] = {}  # key -> the records of ids holding it
        for rid in ids:
            for kind_key in self.keys[rid]:
                held = holders.get(kind_key)
                if held is None:
                    holders[kind_key] = [rid]
                else:
                    held.append(rid)
        wanted: dict[str, list[str]] = {}
        for kind, key in holders:
            if not (kind == "isbn" and key in self.blocked):
                wanted.setdefault(kind, []).append(key)
        sources = {self.recs[rid].source for rid in ids}
        query, only = ((self.postings_other, (sources.pop(),)) if len(sources) == 1
                       else (self.postings, ()))
        skip = most_holders(self.settings)
        found: dict[int, dict[int, set[str]]] = {}
        recs = self.recs
        for kind, keys in wanted.items():
            keys.sort()
            for key, other, source in execute_in(
                self.connection, query, keys, after=(kind, kind, skip, *only)
            ):
                source = source or ""
                for rid in holders[(kind, key)]:
                    if recs[rid].source_key != source:
                        found.setdefault(rid, {}).setdefault(other, set()).add(kind)
        asked = set(ids)
        for (a, b), state in self.pairs.items():
            if state == SAME:
                for one, other in ((a, b), (b, a)):
                    if one in asked:
                        found.setdefault(one, {}).setdefault(other, set()).add("operator")
        return found

    # -- deciding -----------------------------------------------------------------------

    def process(self, ids: Sequence[int]) -> None:
        self.load(ids)
        self.load_pairs(ids)
        live = [rid for rid in ids if rid in self.recs and not self.recs[rid].is_union]
        found = self.candidates([rid for rid in live if not self.recs[rid].deleted])
        self.load({c for cands in found.values() for c in cands})
        self.load_pairs({c for cands in found.values() for c in cands})
        self.report.processed += len(live)
        nothing: dict[int, set[str]] = {}
        for rid in live:
            self.decide(self.recs[rid], found.get(rid, nothing))

    def decide(self, rec: _Rec, cands: dict[int, set[str]]) -> None:
        gid = self.group_of.get(rec.id)
        if rec.deleted:
            if gid is not None:
                self.leave(rec, "deleted")
                self.revisit.update(m for m in self.members[gid] if not self.recs[m].deleted)
            return
        if gid is not None:
            others = [self.recs[m] for m in self.members[gid] if m != rec.id]
            others = [m for m in others if not m.deleted]
            if not others or self.stays(rec, others):
                self.dirty.add(gid)
                self.note(rec.id, None, "stays", 1.0, f"still fits {self.group_name(gid)}")
                self.gather(rec, gid, cands)
                return
            self.leave(rec, "no longer fits its group")
            self.revisit.update(m.id for m in others)
        if not cands:
            self.note(rec.id, None, "alone", 0.0, "no match")
            return
        matches = self.matches(rec, cands)
        target: int | None = None
        for other, _verdict in matches:
            group = self.group_of.get(other.id)
            members = [other] if group is None else [self.recs[m] for m in self.members[group]]
            if self.fits(rec, members):
                target = self.join(rec, other)
                break
        if target is None:
            self.note(rec.id, None, "alone", 0.0, "no match that fits" if matches else "no match")
            return
        for other, _verdict in matches:
            group = self.group_of.get(other.id)
            if group is not None and group != target and self.fits_all(target, group):
                target = self.merge(target, group)

    def gather(self, rec: _Rec, gid: int, cands: dict[int, set[str]]) -> None:
        """Bring into ``gid``, the group ``rec`` stays in, the records outside it that match
        ``rec`` and fit the group, and merge the groups of those that are in one: a copy of
        another source that left the group (or came while ``rec`` did not match it) and
        matches it again when ``rec`` changes stayed apart, the book served twice, until
        ``koprik dedup --all``."""
        outside = {c: kinds for c, kinds in cands.items() if self.group_of.get(c) != gid}
        for other, _verdict in self.matches(rec, outside):
            group = self.group_of.get(other.id)
            if group == gid:  # brought in by an earlier merge
                continue
            if group is None:
                if self.fits(other, [self.recs[m] for m in self.members[gid]]):
                    self.put_in(gid, other.id)
                    self.note(other.id, rec.id, "joined", 1.0,
                              f"joined the group of {rec.local_id}")  # fmt: skip
            elif self.fits_all(gid, group):
                gid = self.merge(gid, group)

    def matches(self, rec: _Rec, cands: dict[int, set[str]]) -> list[tuple[_Rec, Verdict]]:
        """The candidates of ``rec`` (another source's live records) it matches, best first;
        each verdict noted, and an uncertain pair put up for review."""
        verdicts: list[tuple[_Rec, Verdict]] = []
        for cid, kinds in sorted(cands.items()):
            other = self.recs.get(cid)
            if other is None or other.deleted or other.is_union:
                continue
            if other.source_key == rec.source_key:
                continue
            verdict = self.verdict(rec, other, frozenset(kinds))
            verdicts.append((other, verdict))
            self.note(rec.id, other.id, verdict.decision.value, verdict.score, verdict.reason)
            if verdict.decision is Decision.REVIEW and pair(rec.id, other.id) not in self.pairs:
                self.pairs[pair(rec.id, other.id)] = REVIEW
                self.new_review(rec.id, other.id, verdict)
        return sorted((v for v in verdicts if v[1].decision is Decision.MATCH),
                      key=lambda v: (-v[1].score, v[0].id))

    def verdict(self, rec: _Rec, other: _Rec, kinds: frozenset[str]) -> Verdict:
        state = self.pairs.get(pair(rec.id, other.id))
        if state == SAME:
            return Verdict(Decision.MATCH, 1.0, "an operator said these are the same")
        if state == DIFFERENT:
            return Verdict(Decision.DIFFERENT, 0.0, "an operator said these are different")
        return compare(rec.profile, other.profile, kinds, self.settings.dedup)

    def fits(self, rec: _Rec, members: Iterable[_Rec]) -> bool:
        """Whether ``rec`` may join ``members``: none from its source, none that vetoes it."""
        for member in members:
            if member.deleted or member.id == rec.id:
                continue
            if member.source_key == rec.source_key:
                return False
            state = self.pairs.get(pair(rec.id, member.id))
            if state == SAME:
                continue
            if state == DIFFERENT or veto(rec.profile, member.profile, self.settings.dedup):
                return False
        return True

    def stays(self, rec: _Rec, others: list[_Rec]) -> bool:
        if not self.fits(rec, others):
            return False
        self.load_keys([rec.id, *(m.id for m in others)])
        for other in others:
            kinds = frozenset(kind for kind, _ in self.keys[rec.id] & self.keys[other.id])
            if self.verdict(rec, other, kinds).decision is Decision.MATCH:
                return True
        return False

    def fits_all(self, target: int, group: int) -> bool:
        members = [self.recs[m] for m in self.members[target]]
        return all(self.fits(self.recs[m], members) for m in self.members[group])

    # -- changing groups ----------------------------------------------------------------

    def join(self, rec: _Rec, other: _Rec) -> int:
        group = self.group_of.get(other.id)
        if group is None:
            group = self.new_group()
            self.put_in(group, other.id)
        self.put_in(group, rec.id)
        self.note(rec.id, other.id, "joined", 1.0, f"joined the group of {other.local_id}")
        return group

    def new_group(self) -> int:
        """An empty group, numbered below the others made in this batch (it has no union
        record yet)."""
        group = self.next_new
        self.next_new -= 1
        self.members[group] = set()
        return group

    def put_in(self, group: int, rid: int) -> None:
        """Put the record ``rid``, in no group, in ``group`` (counted as joined)."""
        self.members[group].add(rid)
        self.group_of[rid] = group
        self.dirty.add(group)
        self.report.joined += 1

    def leave(self, rec: _Rec, why: str) -> None:
        gid = self.group_of.get(rec.id)
        if gid is None:
            return
        self.members[gid].discard(rec.id)
        self.group_of[rec.id] = None
        self.dirty.add(gid)
        self.report.left += 1
        self.note(rec.id, None, "left", 0.0, f"left {self.group_name(gid)}: {why}")

    def merge(self, one: int, two: int) -> int:
        """Merge groups ``one`` and ``two``; returns the survivor (the older union record)."""
        real = sorted(g for g in (one, two) if g > 0)
        survivor = real[0] if real else max(one, two)
        loser = two if survivor == one else one
        for member in self.members.pop(loser):
            self.members[survivor].add(member)
            self.group_of[member] = survivor
        if loser > 0:
            self.gone.add(loser)
        self.dirty.discard(loser)
        self.dirty.add(survivor)
        self.report.merged += 1
        return survivor

    def group_name(self, gid: int) -> str:
        return self.union_local.get(gid, "a new group")

    def note(self, rid: int, other: int | None, decision: str, score: float, reason: str) -> None:
        """Keep a decision about ``rid`` (its earlier ones are replaced when the batch ends)."""
        self.decided.add(rid)
        self.decisions.append((rid, other, decision, score, reason[:2000], self.writer.now))

    def new_review(self, a: int, b: int, verdict: Verdict) -> None:
        first, second = pair(a, b)
        self.connection.execute(insert(models.dedup_pairs).values(
            record_a=first, record_b=second, state=REVIEW, score=verdict.score,
            reason=verdict.reason[:2000], decided_at=self.writer.now))
        self.report.reviews += 1

    # -- writing ------------------------------------------------------------------------

    def finish(self) -> None:
        """Write the union records of changed groups, the members' new places, the decisions."""
        for gid in self.dirty:
            live = [m for m in self.members[gid] if not self.recs[m].deleted]
            if not live:
                for member in list(self.members[gid]):
                    self.group_of[member] = None
                self.members[gid] = set()
                if gid > 0:
                    self.gone.add(gid)
        # union records in order: existing ones, then new groups in the order they formed
        groups = sorted((g for g in self.dirty if self.members.get(g)),
                        key=lambda g: (g < 0, abs(g)))
        placed = self.write_unions(groups)
        held = self.held_back()
        for gid in sorted(self.gone - {self.recs[rid].union_id for rid in held}):
            self.writer.delete(self.union_local[gid])
            self.report.unions_deleted += 1
        self.move_members(placed, held)
        self.write_decisions()

    def write_decisions(self) -> None:
        """Replace the stored decisions of every record decided on in this batch."""
        execute_in(self.connection, "DELETE FROM dedup_decisions WHERE record_id IN ({values})",
                   sorted(self.decided))
        insert_rows(self.connection, models.dedup_decisions, _DECISION_COLUMNS, self.decisions)
        self.decisions, self.decided = [], set()

    def write_unions(self, groups: list[int]) -> dict[int, int]:
        """Build and store the union records of ``groups``; returns group key -> record id."""
        if not groups:
            return {}
        ids = sorted({m for gid in groups for m in self.members[gid]})
        marc: dict[int, bytes] = dict(execute_in(self.connection, _MARC_BY_ID, ids))
        own = self.settings.union.institution_code
        made: list[tuple[int, Incoming]] = []
        written: set[str] = set()
        for gid in groups:
            if gid < 0:
                number = self.connection.execute(
                    insert(models.union_ids).returning(models.union_ids.c.id), [{}]
                ).scalar_one()
                self.union_local[gid] = source_local_id(UNION_SOURCE, str(number))
            members = [
                Member(marc[m], self.institution(self.recs[m].source), self.recs[m].identifier,
                       self.holdings_named(self.recs[m].source))
                for m in sorted(self.members[gid]) if marc.get(m) is not None
            ]
            local_id = self.union_local[gid]
            try:
                made.append((gid, Incoming(union_record(local_id, own, members), local_id,
                                           union=True)))  # fmt: skip
            except Exception as error:  # a fault of ours that some member brings out
                log.exception("union record %s: making it failed", local_id)
                self.not_written(gid, f"making it failed: {type(error).__name__}: {error}")
        items = [item for _, item in made]
        for (gid, item), result in zip(made, self.writer.put_many(items), strict=True):
            if isinstance(result, RecordError):
                log.warning("union record %s not written: %s", item.local_id, result)
                self.not_written(gid, str(result))
                continue
            self.report.unions_written += result.value != "unchanged"
            written.add(item.local_id)
        by_local = {self.union_local[g]: g for g in groups if self.union_local[g] in written}
        return {by_local[local_id]: rid
                for rid, local_id in execute_in(self.connection, _ID_BY_LOCAL, sorted(by_local))}

    def not_written(self, gid: int, reason: str) -> None:
        """The union record of group ``gid`` was not written: the group stays as it was
        stored (:meth:`held_back`), and the reason is kept where ``koprik dedup explain``
        shows it."""
        self.unwritten.add(gid)
        for member in sorted(self.members[gid]):
            self.note(member, None, "failed", 0.0,
                      f"union record {self.union_local[gid]} not written: {reason}")

    def held_back(self) -> set[int]:
        """The records the batch put in a group whose union record was not written
        (:meth:`not_written`): each stays where it is stored, as the stored union records have
        it (a joiner served by itself, the members of a group merged into that one in their
        union record, which is not deleted), rather than be hidden behind a union record that
        lacks it. A record leaving such a group is served again all the same: its union record
        still carries it, but hiding it would hide what it now is."""
        return {rid for rid, group in self.group_of.items() if group in self.unwritten}

    def move_members(self, placed: dict[int, int], held: set[int]) -> None:
        """Store each changed member's union record, but those ``held`` back; hide joiners,
        serve leavers again."""
        r = models.records
        joined: list[int] = []
        left: list[int] = []
        moves: list[dict[str, int | None]] = []
        for rid, group in sorted(self.group_of.items()):
            rec = self.recs[rid]
            now = placed.get(group, group) if group is not None else None
            if now == rec.union_id or rid in held:
                continue
            moves.append({"rid": rid, "union": now})
            if rec.deleted:
                pass
            elif rec.union_id is None:
                joined.append(rid)
            elif now is None:
                left.append(rid)
            rec.union_id = now
        if moves:
            self.connection.execute(
                update(r).where(r.c.id == bindparam("rid")).values(union_id=bindparam("union")),
                moves)
        write_entries(self.connection, [(rid, None) for rid in joined])
        if left:
            rows = self.connection.execute(
                select(r.c.id, r.c.marc).where(r.c.id.in_(left))).all()
            write_entries(self.connection,
                             [(row.id, read_canonical(row.marc)) for row in rows])
        self.writer.restamp(joined + left)


RECORD_COLUMNS = (models.records.c.id, models.records.c.local_id, models.records.c.source,
            models.records.c.source_identifier, models.records.c.deleted,
            models.records.c.is_union, models.records.c.union_id,
            models.records.c.match_profile)

_DECISION_COLUMNS = ("record_id", "other_id", "decision", "score", "reason", "decided_at")

# Statements for the lists of a batch: sent to the driver (catalog.db.execute_in) for those
# read or written for every record, else built once with their lists bound as expanding
# parameters (compiled once per run, not rebuilt and coerced value by value for every chunk).
_RECORD_SELECT = f"SELECT {', '.join(c.name for c in RECORD_COLUMNS)} FROM records WHERE "
_RECORDS_BY_ID = _RECORD_SELECT + "id IN ({values})"
_RECORDS_BY_UNION = _RECORD_SELECT + "union_id IN ({values})"
_KEYS_BY_RECORD = 'SELECT kind, "key", record_id FROM match_keys WHERE record_id IN ({values})'
_LOCAL_IDS = "SELECT id, local_id FROM records WHERE id IN ({values})"
_ID_BY_LOCAL = "SELECT id, local_id FROM records WHERE local_id IN ({values})"
_MARC_BY_ID = "SELECT id, marc FROM records WHERE id IN ({values})"
_PAIR_COLUMNS = "SELECT record_a, record_b, state FROM dedup_pairs WHERE "
_PAIRS_OF = (_PAIR_COLUMNS + "record_a IN ({values})", _PAIR_COLUMNS + "record_b IN ({values})")


def _postings(dialect: str, *, other_source: bool) -> str:
    """SQL for :func:`execute_in`: the records (with their source) holding keys of one kind
    (``{rows}``), for the keys no more than ``skip`` records hold; with ``other_source``, only
    the records not of the source ``source``. Parameters after the keys: kind, kind, skip and
    source."""
    if dialect == "postgresql":
        # A LATERAL subquery PostgreSQL cannot flatten (OFFSET 0): each key's postings are read
        # through the index whatever the planner estimates (its statistics lag behind a large
        # import), never by hashing every posting of the kind.
        postings = ('CROSS JOIN LATERAL (SELECT "key", record_id FROM match_keys '
                    'WHERE kind = {p} AND "key" = k.column1 OFFSET 0) AS m '
                    "JOIN records AS r ON r.id = m.record_id WHERE ")
        distinct = "IS DISTINCT FROM"
    else:
        # CROSS JOIN keeps SQLite's join order: each key, then its postings, then their records.
        postings = ("CROSS JOIN match_keys AS m CROSS JOIN records AS r "
                    'WHERE m.kind = {p} AND m."key" = k.column1 AND r.id = m.record_id AND ')
        distinct = "IS NOT"
    query = ('SELECT m."key", m.record_id, r.source FROM (VALUES {rows}) AS k ' + postings
             # counting stops at the first posting past `skip`: a key thousands of records hold
             # costs what one `skip` records hold does (and the test runs once per key)
             + '(NOT EXISTS (SELECT 1 FROM match_keys AS x WHERE x.kind = {p} '
             'AND x."key" = k.column1 LIMIT 1 OFFSET {p}))')
    return query + f" AND r.source {distinct} {{p}}" if other_source else query

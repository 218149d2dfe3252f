"""Where a source's run stands, saved with every committed page, so that the next run (on this
node or another one sharing the database) resumes a killed one where it stopped.

The source's ``harvest_state`` row (:mod:`catalog.harvest_state`) holds it, for each protocol:

- an OAI-PMH list (:mod:`harvester.runs`): the run, its first responseDate and bounds, the set,
  the date window, the resumption token and cursor, the sets the run (and the runs it resumed)
  finished, and the count of windows failed for good. No token (the last page of the list had
  none) says that the list of that set and window was finished: the run goes on after it (the
  rest of the set, then every set not finished);
- an SRU or Z39.50 result set (:class:`ResultSetResume`): the run, the query, the hits the
  server reported and, as ``cursor``, the next record position.

Either way the position is one in what the source answered at one address in one format: it is
saved with :func:`endpoint_of` the source, and a run of a source since moved to another address
(or format) starts anew rather than skip, in another server's list, the records before it.

:func:`save` writes the whole of it at once (what the protocol does not use left empty), in the
transaction of the page it describes, so the position never runs ahead of (or behind) the
records committed. :func:`clear` forgets it when a run has ended complete.

>>> resume = ResultSetResume.of(connection, source, run_id, errors, ignore=options.full)
>>> start = resume.start(hits)                 # the saved position, or 1 if the hits changed
>>> resume.save(writer.connection, following, hits)        # in each page's transaction
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select, update

from catalog import CatalogWriter
from catalog.harvest_state import LARGEST_INTEGER, harvest_state
from config import HarvestSource
from harvester.http_fetch import public_url
from harvester.ingest import Counts
from harvester.pipeline import OnBatch

IN_PROGRESS: dict[str, Any] = {
    "run_id": None,
    "first_response_date": None,
    "run_from": None,
    "run_until": None,
    "set_spec": None,
    "done_sets": None,
    "window_from": None,
    "window_until": None,
    "token": None,
    "cursor": None,
    "failed_windows": 0,
    "query": None,
    "hits": None,
    "endpoint": None,
}
"""The columns saying where the run in progress stands, and their values when none is."""


def endpoint_of(source: HarvestSource) -> str:
    """What a position of ``source`` is a position in: its protocol, address and format. The
    address without its credentials: a new password is the same repository, and the lines
    naming an endpoint are shown on the public overview."""
    return f"{source.protocol} {public_url(source.url)} {source.prefix}"


def saved_endpoint(saved: str | None) -> str | None:
    """An :func:`endpoint_of` as saved, without the credentials of its address (one saved
    before they were left out)."""
    if saved is None:
        return None
    protocol, address, prefix = saved.split(" ", 2)  # an address has no space
    return f"{protocol} {public_url(address)} {prefix}"


def moved(saved: str | None, source: HarvestSource) -> str | None:
    """A line saying that ``source`` is no longer asked where its position was saved
    (``saved``, an :func:`endpoint_of`), or None: the same place, or a position saved before
    revision 0008, which names none and is resumed as before."""
    now, saved = endpoint_of(source), saved_endpoint(saved)
    if saved is None or saved == now:
        return None
    return f"the position was saved for {saved}, the source is now {now}"


def load(connection: Connection, source: str) -> Row[Any]:
    """The source's row (it exists once the source's lock was taken)."""
    return connection.execute(
        select(harvest_state).where(harvest_state.c.source == source)
    ).one()


def save(connection: Connection, source: str, **values: Any) -> None:
    """Save where the run stands (``values``; every other column of :data:`IN_PROGRESS`
    emptied), on the caller's transaction."""
    unknown = set(values) - set(IN_PROGRESS)
    if unknown:
        raise ValueError(f"not a column of a run's state: {', '.join(sorted(unknown))}")
    connection.execute(
        update(harvest_state)
        .where(harvest_state.c.source == source)
        .values({**IN_PROGRESS, **values})
    )


def clear(connection: Connection, source: str) -> None:
    """Forget where the run stood (it ended complete)."""
    connection.execute(
        update(harvest_state).where(harvest_state.c.source == source).values(IN_PROGRESS)
    )


@dataclass(frozen=True)
class Saved:
    """The position an unfinished run over a result set left."""

    run_id: int
    position: int
    """The next record to ask for (1-based)."""
    hits: int


@dataclass
class ResultSetResume:
    """A run over the result set of a query (SRU, Z39.50): where it starts and, saved with
    each page, where it stands.

    It starts at the position an unfinished run of the same source and the same query saved at
    the same address, if the server still reports the hits it reported then; otherwise
    (another query, another address, other hits: the result set changed) at record 1. Each
    decision is a line in ``notes`` (the run's errors), like the resumed-run line of an OAI-PMH
    run.
    """

    source: str
    query: str
    endpoint: str
    run_id: int
    notes: list[str]
    saved: Saved | None = None

    @classmethod
    def of(
        cls,
        connection: Connection,
        source: HarvestSource,
        run_id: int,
        notes: list[str],
        *,
        ignore: bool = False,
    ) -> ResultSetResume:
        """The resume of a run of ``source`` from what its row holds; ``ignore`` (``--full``)
        starts from record 1 whatever was saved."""
        resume = cls(source.name, source.query, endpoint_of(source), run_id, notes)
        row = load(connection, source.name)
        if ignore or None in (row.run_id, row.query, row.cursor, row.hits):
            return resume
        if (elsewhere := moved(row.endpoint, source)) is not None:
            notes.append(
                f"run #{row.run_id} stopped at record {row.cursor}, but {elsewhere}; "
                "starting from record 1"
            )
        elif row.query != source.query:
            notes.append(
                f"run #{row.run_id} stopped at record {row.cursor} of another query; "
                "starting from record 1"
            )
        else:
            resume.saved = Saved(row.run_id, row.cursor, row.hits)
        return resume

    @property
    def first(self) -> int:
        """Where to ask first: the saved position, or 1. A run killed after its last page
        saved a position past its hits, which servers refuse: the last hit is asked for then."""
        saved = self.saved
        return min(saved.position, saved.hits) if saved is not None else 1

    def start(self, hits: int, further: bool = False) -> int:
        """The position to start at, now that the server reports ``hits`` for the query: the
        saved one if its hits are the same, else 1 (the line saying why is in ``notes``).
        Called once, with the first answer of the run; ``further``: that answer (asked at
        :attr:`first`) points to records past ``hits``, as an SRU server that counted too few
        does, so that a saved position past the hits is where the run goes on."""
        saved = self.saved
        if saved is None:
            return 1
        self.saved = None
        if _held(hits) != saved.hits:
            self.notes.append(
                f"run #{saved.run_id} stopped at record {saved.position} of {saved.hits} hits; "
                f"the query now has {hits}: the result set changed, starting from record 1"
            )
            return 1
        if saved.position > hits and not further:
            self.notes.append(
                f"run #{saved.run_id} stopped after its last record ({hits} hits): nothing is "
                "left to ask for"
            )
        elif saved.position > hits:
            self.notes.append(
                f"resumed run #{saved.run_id} at record {saved.position}, past the {hits} hits "
                "the server counts (it serves records past them)"
            )
        else:
            self.notes.append(
                f"resumed run #{saved.run_id} at record {saved.position} of {hits}"
            )
        return saved.position

    def refused(self, reason: str) -> None:
        """The server refused the saved position (``reason``): the run starts from 1."""
        saved = self.saved
        if saved is None:
            return
        self.saved = None
        self.notes.append(
            f"run #{saved.run_id} stopped at record {saved.position}, which the server refuses "
            f"now ({reason}): starting from record 1"
        )

    def save(self, connection: Connection, following: int, hits: int) -> None:
        """Save, in a page's transaction, that the run goes on at record ``following`` of
        ``hits``."""
        save(connection, self.source, run_id=self.run_id, query=self.query, cursor=following,
             hits=_held(hits), endpoint=self.endpoint)


def _held(hits: int) -> int:
    """``hits`` as the database holds them: a server's count past its integers (a lie: no
    result set is that large) is saved, and compared, as the largest it holds."""
    return min(hits, LARGEST_INTEGER)


def saving(
    on_batch: OnBatch | None, resume: ResultSetResume | None, following: int, hits: int
) -> OnBatch | None:
    """``on_batch`` followed, in the same transaction, by ``resume`` saving that the run goes
    on at record ``following`` of ``hits`` (just ``on_batch`` without a resume)."""
    if resume is None:
        return on_batch

    def committed(writer: CatalogWriter, counts: Counts) -> None:
        if on_batch is not None:
            on_batch(writer, counts)
        resume.save(writer.connection, following, hits)

    return committed

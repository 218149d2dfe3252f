"""Moving rows a COMMIT made visible in a later second than their datestamp to that second.

A harvest answered in between, not seeing them, gave a responseDate after their datestamp; a
harvester taking it as its next ``from``, as the OAI-PMH guidelines suggest, would never get
them. Both writers of datestamps go through here: the catalogue's writer (records, their set
memberships and changes, :meth:`catalog.store.Catalog.write`) and ``koprik db sets`` (the set
memberships records join, :func:`catalog.set_rules.place_again`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from sqlalchemy import Connection, Engine

from catalog.db import execute_in
from catalog.transactions import transaction

log = logging.getLogger(__name__)

RESTAMP_TRIES = 5
"""How many times a writer moves its rows to the second their COMMIT ended in
(:func:`restamp_after_commit`); each COMMIT of a few thousand ids takes milliseconds."""

STAMPED = (("records", "id"), ("record_sets", "record_id"), ("record_changes", "record_id"))
"""The tables whose rows a record's write stamps, each with its column naming the record."""


def restamp_after_commit(
    engine: Engine, record_ids: Sequence[int], stamped: int,
    tables: Sequence[tuple[str, str]] = STAMPED,
) -> None:
    """Move the rows of ``tables`` (``table, record column``) of the records ``record_ids``,
    committed in a later second than their datestamp ``stamped``, to the second their COMMIT
    ended in, until a COMMIT ends in the second it stamped.

    Once the final stamp's COMMIT ends in that second, every response that missed the rows was
    dated in that second or before, and ``from`` is inclusive. A row still at ``stamped`` only
    is moved (a later writer's stamp is kept); a harvest that saw the first stamp gets the
    record once more, which harvesters take.
    """
    for _ in range(RESTAMP_TRIES):
        now = int(time.time())
        if now <= stamped:
            return

        def move(connection: Connection, now: int = now, stamped: int = stamped) -> None:
            for table, key in tables:
                execute_in(connection, f"UPDATE {table} SET datestamp = {{p}} "
                           f"WHERE datestamp = {{p}} AND {key} IN ({{values}})",
                           record_ids, (now, stamped))  # fmt: skip

        transaction(engine, move, "moving records to the second of their commit")
        stamped = now
    log.warning("%d record(s) committed at %s, later than their datestamp: a harvest "
                "answered meanwhile may miss them", len(record_ids), stamped)

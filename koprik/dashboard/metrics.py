"""``/metrics``: Prometheus text format (prometheus-client).

Counts that the catalogue database already keeps are read from it at each scrape (a custom
collector), so they are the same on every node and survive restarts: harvested records by
source and outcome, harvest errors by source and kind, runs by status, catalogue size, the
deduplication queue's length. Request counts and latencies of the protocols are measured over
HTTP by a middleware (labels limited to the protocol's own operations, so a client cannot grow
them; an SRU request by the operation it was answered as) and over Z39.50 through the target's
``observe`` hook (:meth:`Metrics.observe_z3950`), SRU served on the Z39.50 port through its
``observe_sru`` hook (:meth:`Metrics.observe_sru`), with the SRU served at ``/sru``.

Under ``koprik serve --workers N`` those are totals over the workers, whichever answers the
scrape: prometheus-client's multiprocess mode (:func:`share_across_processes`) has each worker
keep its values in a file of a folder the parent made, and a scrape sums the files. A dead
worker's file stays and is summed with the others (a new worker given a dead one's pid carries
on counting in its file), so a worker that dies and is started again makes no counter go down.
(Only gauges kept per process would need ``mark_process_dead``; there are none: the gauges here
are read from the database.) A single process keeps its values in memory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from catalog import Catalog
from catalog.harvest_state import harvest_runs
from catalog.models import dedup_queue, records
from provider.sru.app import OPERATION as SRU_OPERATION
from provider.sru.request import NO_OPERATION

OUTCOMES = ("added", "updated", "deleted", "unchanged", "gone", "rejected")
PROTOCOL_PATHS = {
    "/oai": ("oai-pmh", "verb", frozenset(
        {"Identify", "ListMetadataFormats", "ListSets", "ListIdentifiers", "ListRecords",
         "GetRecord"})),
    "/sru": ("sru", "", frozenset()),
}
"""path -> (protocol label, the argument naming the operation, the operations counted by name;
anything else is counted as ``other``, a POST as ``post``). No argument: the handler says what
it answered the request as (:data:`provider.sru.app.OPERATION`: an SRU 2.0 request needs no
``operation``, and a POST's is in its body), ``other`` when it did not get so far
(:data:`provider.sru.request.NO_OPERATION`)."""
SHARED_FOLDER = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable by which prometheus-client keeps values in files (multiprocess
mode) and where."""


FOLDER_PREFIX = "koprik-metrics-"
OWNER_FILE = "owner"
"""The file of a metrics folder naming the process that made it (its pid)."""


@contextlib.contextmanager
def shared_metrics() -> Iterator[str]:
    """A new folder in which the processes forked from here on keep their metrics
    (:func:`share_across_processes`), removed at the end. The folders of earlier processes
    killed outright (SIGKILL, the out-of-memory killer: no clean-up ran) are removed first,
    told by their owner file naming no living process: each was left in the temporary folder
    for good."""
    _remove_orphaned()
    with tempfile.TemporaryDirectory(prefix=FOLDER_PREFIX) as folder:
        Path(folder, OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")
        share_across_processes(folder)
        yield folder


def _remove_orphaned() -> None:
    """Remove this user's metrics folders whose owner is no longer a process (one being made,
    with no owner file yet, or another user's, is left alone)."""
    for folder in Path(tempfile.gettempdir()).glob(FOLDER_PREFIX + "*"):
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            owner = int((folder / OWNER_FILE).read_text(encoding="ascii"))
        except (OSError, ValueError):  # no owner file (yet), or one unreadable
            continue
        try:
            os.kill(owner, 0)  # signal 0: only whether a process has that pid
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # another user's process has it now
            continue


def share_across_processes(folder: str) -> None:
    """Have the processes forked from here on keep their metric values in files in ``folder``,
    which must be empty (a file left from another run would add its counts), and report the
    sum over them all. Call before any metric is made."""
    os.environ[SHARED_FOLDER] = folder
    # prometheus-client chose how to keep values when it was imported, before this was set.
    values.ValueClass = values.get_value_class()


class CatalogueCollector(Collector):
    """Harvest and catalogue figures read from the database at each scrape."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        runs = harvest_runs.c
        with self.catalog.engine.connect() as connection:
            per_source = connection.execute(
                select(runs.source, *(func.sum(getattr(runs, o)).label(o) for o in OUTCOMES))
                .group_by(runs.source)
            ).all()
            statuses = connection.execute(
                select(runs.source, runs.status, func.count()).group_by(runs.source, runs.status)
            ).all()
            sizes = connection.execute(
                select(records.c.deleted, records.c.union_id.is_not(None), func.count())
                .group_by(records.c.deleted, records.c.union_id.is_not(None))
            ).all()
            queued = connection.execute(select(func.count()).select_from(dedup_queue)).scalar()
        harvested = CounterMetricFamily(
            "koprik_harvest_records", "Records harvested, by source and outcome",
            labels=["source", "outcome"],
        )
        errors = CounterMetricFamily(
            "koprik_harvest_errors", "Harvest errors by source: records rejected, runs that "
            "did not succeed", labels=["source", "kind"],
        )
        for row in per_source:
            for outcome in OUTCOMES:
                harvested.add_metric([row.source, outcome], int(getattr(row, outcome) or 0))
            errors.add_metric([row.source, "rejected_record"], int(row.rejected or 0))
        run_counts = CounterMetricFamily(
            "koprik_harvest_runs", "Harvest runs by source and status", labels=["source", "status"]
        )
        failed: dict[str, int] = {}
        for source, status, count in statuses:
            run_counts.add_metric([source, status], count)
            if status in ("failed", "partial", "interrupted"):
                failed[source] = failed.get(source, 0) + count
        for row in per_source:
            errors.add_metric([row.source, "failed_run"], failed.get(row.source, 0))
        size = GaugeMetricFamily(
            "koprik_catalogue_records", "Records in the catalogue: served (live), members of a "
            "union record (served through it), deleted", labels=["state"],
        )
        counted = {"live": 0, "member": 0, "deleted": 0}
        for deleted, member, count in sizes:
            counted["deleted" if deleted else "member" if member else "live"] += count
        for state, count in counted.items():
            size.add_metric([state], count)
        queue = GaugeMetricFamily(
            "koprik_dedup_queue_length", "Records written since deduplication last looked at them"
        )
        queue.add_metric([], int(queued or 0))
        yield from (harvested, errors, run_counts, size, queue)


class Metrics:
    """The registry of one application: the catalogue collector and the protocol timings (or,
    shared across processes, the sum of every process's timings)."""

    def __init__(self, catalog: Catalog) -> None:
        self.registry = CollectorRegistry()
        shared = os.environ.get(SHARED_FOLDER)
        if shared:
            MultiProcessCollector(self.registry, shared)
        self.registry.register(CatalogueCollector(catalog))
        self.latency = Histogram(
            "koprik_protocol_request_seconds",
            "Protocol requests served over HTTP and their latency, by protocol and operation",
            ["protocol", "operation"],
            registry=None if shared else self.registry,  # shared: read back from the files
        )

    def observe(self, protocol: str, operation: str, seconds: float) -> None:
        self.latency.labels(protocol, operation).observe(seconds)

    def observe_z3950(self, pdu: str, seconds: float) -> None:
        """A Z39.50 request by its PDU name (``searchRequest`` counts as ``search``; the
        decoder knows only the PDUs of our ASN.1 module, so the labels are bounded)."""
        self.observe("z39.50", pdu.removesuffix("Request"), seconds)

    def observe_sru(self, operation: str, seconds: float) -> None:
        """An SRU request served on the Z39.50 port, by the operation it was answered as."""
        self.observe("sru", operation, seconds)


def middleware(metrics: Metrics):  # type: ignore[no-untyped-def]
    """An aiohttp middleware timing the requests of :data:`PROTOCOL_PATHS`."""

    @web.middleware
    async def measure(request: web.Request, handler):  # type: ignore[no-untyped-def]
        known = PROTOCOL_PATHS.get(request.path)
        if known is None:
            return await handler(request)
        protocol, argument, operations = known
        operation = request.query.get(argument, "") if argument else ""
        if argument and request.method == "POST":
            operation = "post"
        elif operation not in operations:
            operation = "other"
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            if not argument:
                operation = request.get(SRU_OPERATION, NO_OPERATION)
            metrics.observe(protocol, operation, time.perf_counter() - started)

    return measure


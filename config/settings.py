"""Typed settings for Koprik, read from ``koprik.toml``.

Every setting has a default, so Koprik runs with no file at all. ``KOPRIK_CONFIG`` names the
file; otherwise ``./koprik.toml`` is read when it exists. A key that is unknown or of the wrong
type raises :class:`ConfigError` whose message names the key and what was expected, so start-up
stops with one line instead of a traceback.

Sections map onto dataclasses one to one; a TOML table is a nested dataclass, an array of
tables is a ``list`` of dataclasses. The loader is generic over the dataclass fields, so adding a
setting means adding one field with its default; a number's default is given with its bounds
(``within(1, 100_000, 500)``: every number has a largest value too, and says why in its
docstring), a word's with its choices (``one_of``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocols.http_urls import http_url_problem, z3950_in_place_of_http
from protocols.oaipmh import EMAIL
from protocols.oaipmh.arguments import SYNTAX
from protocols.oaipmh.uri import any_uri

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

CONFIG_ENV = "KOPRIK_CONFIG"
DEFAULT_FILE = "koprik.toml"


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message is one line for the operator."""


def within(minimum: float, maximum: float, default: Any) -> Any:
    """A setting's default, with the smallest and the largest value the loader accepts."""
    return field(default=default, metadata={"minimum": minimum, "maximum": maximum})


def one_of(choices: tuple[str, ...], default: str) -> Any:
    """A setting's default, with the words the loader accepts for it."""
    return field(default=default, metadata={"choices": choices})


@dataclass(frozen=True)
class RepositorySettings:
    """What Identify says about us."""

    name: str = "Koprik demo repository of the National Library"
    base_url: str = ""
    """The OAI-PMH base URL Identify announces; empty: the address ``koprik serve`` listens on."""
    admin_email: list[str] = field(default_factory=lambda: ["admin@natlib.example.uz"])
    identifier_prefix: str = "oai:natlib.uz:"
    """``oai:`` + repositoryIdentifier (which must contain a dot) + ``:``."""
    description: str = ""
    """A sentence or two about the collection, for SRU explain's ``databaseInfo``."""


MAX_POOL_SIZE = 1000
"""The largest ``database.pool_size``, and ``database.max_overflow``: a process's pool never
holds more than the two together (:data:`MAX_POOL`)."""
MAX_POOL = 2 * MAX_POOL_SIZE
"""The most connections of the catalogue database one process's pool holds at once."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/koprik.sqlite3"
    """SQLAlchemy URL. SQLite (WAL) by default; ``postgresql+psycopg://...`` for a national node."""
    echo: bool = False
    pool_size: int = within(1, MAX_POOL_SIZE, 5)
    """PostgreSQL: connections each process keeps open between requests."""
    max_overflow: int = within(0, MAX_POOL_SIZE, 10)
    """PostgreSQL: connections each process may open beyond ``pool_size`` while busy, closed
    as they are given back. A process never holds more than the two together (and one per
    harvest it runs, and the schedules' lock): PostgreSQL's ``max_connections`` must exceed
    that times every process of every node, or a node answers 503 until connections free."""
    answer_timeout: float = within(1.0, 3600.0, 30.0)
    """Seconds an OAI-PMH request, a search or a present waits for the catalogue database before
    its client is told the database is unavailable (HTTP 503, diagnostic 2): a server that
    stops answering without closing its connections (frozen, its disk hung) kept them waiting
    for as long as it hung, and nothing was logged. The wait for a free database thread counts
    too, and the statement is not cancelled: a search slower than this is answered so while
    its thread finishes it."""


MAX_CONNECTIONS = 1_048_576
"""The most connections a connection cap (``server.*_max_connections*``) may allow: each is a
socket, a file descriptor of the process, and Linux lets no process open more than
``fs.nr_open`` of them, 1,048,576 unless raised (``RLIMIT_NOFILE`` cannot pass it). A cap
above it never caps anything; the process's own ``ulimit -n`` is usually far lower."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    http_port: int = within(0, 65535, 8080)
    """The HTTP port: OAI-PMH at /oai."""
    z3950_port: int = within(0, 65535, 2100)
    z3950_database: str = "Default"
    z3950_idle_timeout: float = within(1.0, 7 * 24 * 3600, 600.0)
    z3950_init_timeout: float = within(1.0, 3600.0, 30.0)
    """Seconds a new Z39.50 connection has to send its Init, before it is closed."""
    z3950_max_result_sets: int = within(1, 10_000, 32)
    """Result sets one Z39.50 session keeps; a new one evicts the least recently used."""
    z3950_max_connections: int = within(1, MAX_CONNECTIONS, 256)
    """Z39.50 connections served at once; when full, the oldest not yet past Init is closed for
    a new one, and without such a connection the new one is sent Close (resources). At most
    :data:`MAX_CONNECTIONS`, the file descriptors a process can hold."""
    z3950_max_connections_per_address: int = within(1, MAX_CONNECTIONS, 64)
    """Z39.50 connections served at once from one client address; at most
    :data:`MAX_CONNECTIONS`, as ``z3950_max_connections``."""
    z3950_max_pdu_bytes: int = within(4096, 64 * 1024 * 1024, 1024 * 1024)
    """Largest request PDU accepted (and largest response sent); a larger one closes the
    connection (Close, resources) before it is read."""
    z3950_max_pdu_values: int = within(100, 1_000_000, 10_000)
    """Most BER values in a request PDU (decoding time goes with them); more: Close (resources)."""
    http_max_connections: int = within(1, MAX_CONNECTIONS, 512)
    """HTTP connections served at once; more are answered 503 and closed. At most
    :data:`MAX_CONNECTIONS`, the file descriptors a process can hold."""
    http_max_connections_per_address: int = within(1, MAX_CONNECTIONS, 64)
    """HTTP connections served at once from one client address; at most
    :data:`MAX_CONNECTIONS`, as ``http_max_connections``."""
    http_request_timeout: float = within(1.0, 3600.0, 30.0)
    """Seconds a client has to send a request, from its first byte until it is handled."""
    http_write_timeout: float = within(1.0, 3600.0, 30.0)
    """Seconds a client may go without accepting response bytes before it is disconnected."""
    http_keepalive_timeout: float = within(0.0, 3600.0, 15.0)
    """Seconds an idle keep-alive connection is kept open between requests."""
    http_keepalive_requests: int = within(1, 1_000_000, 10)
    """Requests a keep-alive connection may bring when several processes share the HTTP port
    (``koprik serve --workers`` N > 1); the answer to the last closes it. The kernel places a
    connection on one process when it opens (SO_REUSEPORT), for good: a few harvesters paging
    through long lists on one connection each may all land on one process while the others
    idle; reconnecting, they are placed again. One process serving alone keeps connections
    for any number of requests."""
    worker_timeout: float = within(2.0, 3600.0, 30.0)
    """Seconds a worker of ``koprik serve --workers`` may go without a sign of life (its event
    loop turning) before the parent kills it, to start it again: a hung worker (stopped, stuck)
    kept the connections the kernel gave it unanswered."""
    worker_start_timeout: float = within(5.0, 3600.0, 120.0)
    """Seconds a worker of ``koprik serve --workers`` may take from its start (opening the
    catalogue, making the application) until its ports listen, before the parent kills it, to
    start it again: one stopped or stuck as it started was waited for for good, the node serving
    with a worker less (and without the harvest schedules, when it was worker 0). At least 5
    seconds, so that a worker killed at this bound is not taken for one dying as it starts."""
    trusted_proxies: list[str] = field(default_factory=list)
    """Addresses and networks (``10.0.0.0/8``, ``::1``) of proxies in front of Koprik: the
    ``X-Forwarded-For`` and ``X-Forwarded-Proto`` of an HTTP request from one of them give its
    client and scheme (:mod:`provider.forwarded`); from any other peer they are ignored."""


@dataclass(frozen=True)
class SearchSettings:
    """Limits of the search service under Z39.50 and SRU (``[search]``)."""

    max_result_set: int = within(1, 10_000_000, 200_000)
    """Most record ids one result set keeps; a search may count more, retrieval stops there."""
    snapshot_ids: int = within(1, 10_000_000, 10_000)
    """Ids of a one-term result read at search time: every one of a set of up to this many,
    which then stays as it was made (a record deleted since is answered in its slot, by Z39.50's
    1028 or SRU's 65, and none enters it); the rest of a larger set are read as they are paged,
    from the catalogue as it is then. 10,000 ids are 80 KB a set; with 20,000 demo records a
    term of 1,009 records took 0.87 ms read whole, 0.71 read as 100 and a count, and one of
    13,843 7.2 ms read whole. 100 (what it was) let records deleted or edited after the search
    shift the positions after them: a record skipped, 13 answered inside the count."""
    max_seconds: float = within(0.1, 3600.0, 10.0)
    """Seconds one search, present, scan or sort may run on the database; one still running
    then is stopped, and its client told (Bib-1 31, SRU 60). A query of 64 leaves each walking
    much of the index took 14 s on 2,000 records, holding one of the few search threads."""
    max_sort_keys: int = within(1, 16, 3)
    max_scan_terms: int = within(1, 10_000, 500)
    sru_default_records: int = within(0, 10_000, 10)
    """SRU maximumRecords when a request gives none."""
    sru_max_records: int = within(1, 10_000, 100)
    """Most records one SRU response carries (a larger maximumRecords is lowered to it)."""
    sru_result_set_ttl: int = within(0, 7 * 24 * 3600, 600)
    """Seconds an SRU result set id stays usable after its last use (0: no result set ids)."""
    sru_max_result_sets: int = within(1, 1_000_000, 1000)
    """SRU result sets one process keeps at hand for all clients; the least recently used goes
    first (a set named later is then made again from its id)."""
    sru_max_request_bytes: int = within(1024, 16 * 1024 * 1024, 64 * 1024)
    """Largest SRU request (a POST body, or an HTTP request on the Z39.50 port)."""



@dataclass(frozen=True)
class OaiSettings:
    page_size: int = within(1, 100_000, 500)
    """Records (or headers) per ListRecords/ListIdentifiers page."""
    token_lifetime: int = within(60, 366 * 24 * 3600, 24 * 3600)
    """Seconds a resumption token stays valid."""
    token_secret: str = ""
    """HMAC key for resumption tokens; empty: a random key made once and kept in the catalogue
    (so every node on one catalogue shares it)."""
    max_concurrent_lists: int = within(1, MAX_POOL, 8)
    """List requests served at once; more get HTTP 503 with Retry-After. At most
    :data:`MAX_POOL`: on PostgreSQL each list in progress is read on a thread of its own, on
    a connection of the process's pool, which holds no more than that (SQLite's one thread
    reads them in turn); lists beyond the pool would wait for a connection, then be answered
    503 as when the database is down, instead of at once."""
    max_page_bytes: int = within(16 * 1024, 1024 * 1024 * 1024, 8 * 1024 * 1024)
    """A ListRecords page ends early (with a resumptionToken) before its records pass this."""
    max_list_count: int = within(0, 1_000_000_000, 100_000)
    """A list's first page counts its records (completeListSize) up to this many; a longer
    list's tokens go without completeListSize."""
    retry_after: int = within(1, 24 * 3600, 10)
    """Seconds a 503 answer (too many lists or connections at once, the catalogue database
    unreachable) asks the client to wait (Retry-After)."""
    max_request_bytes: int = within(1024, 64 * 1024 * 1024, 64 * 1024)
    """The largest OAI-PMH request body (POST); a larger one is refused with 413."""


@dataclass(frozen=True)
class LogSettings:
    """Where and how Koprik logs, with an access line per HTTP request and Z39.50 request."""

    file: str = ""
    """Log file (reopened when logrotate moves it); empty: standard error (the journal)."""
    level: str = one_of(("debug", "info", "warning", "error"), "info")
    """debug, info, warning or error; info includes the access and session lines."""
    format: str = one_of(("plain", "json"), "plain")
    """plain (one line of text per event) or json (one JSON object per line)."""


@dataclass(frozen=True)
class LimitSettings:
    """Bounds on what a client, a partner or a file can make Koprik hold."""

    max_record_bytes: int = within(1024, 64 * 1024 * 1024, 1024 * 1024)
    """The largest record read, harvested, stored or served, in bytes as serialized."""


@dataclass(frozen=True)
class SetRule:
    """A family of OAI sets computed from each record.

    ``rule`` is one of ``language`` (008/35-37 and 041), ``material`` (leader/06-07),
    ``institution`` (040 $a and 852 $a) or ``collection`` (a fixed set for records whose
    ``source`` is in ``sources``). The record is placed in ``spec`` and in ``spec:<value>``.
    """

    spec: str
    name: str
    rule: str
    sources: list[str] = field(default_factory=list)


RULES = ("language", "material", "institution", "collection")
MIN_SECRET_CHARS = 16
"""The shortest ``oai.token_secret`` taken: a key of a few characters is guessed, and with it
any resumption token forged."""


def _default_sets() -> list[SetRule]:
    return [
        SetRule(spec="lang", name="By language", rule="language"),
        SetRule(spec="type", name="By material type", rule="material"),
        SetRule(spec="inst", name="By contributing institution", rule="institution"),
    ]


HOLDINGS = ("source", "named")
"""What a source's ``holdings`` may say: ``source``, every copy of its records is its
institution's (``institution_code``: 852 $a of union records); ``named``, its records name the
institution holding each copy (a regional centre's feed of its libraries' records): 852 $a, or
a Koha item's 952 $a home branch, else $b holding branch, is the 852 $a of union records,
``institution_code`` for a copy that names none."""


@dataclass(frozen=True)
class HarvestSource:
    """A partner repository to harvest (see harvester/)."""

    name: str
    url: str
    protocol: str = "oai-pmh"
    prefix: str = "marc21"
    sets: list[str] = field(default_factory=list)
    query: str = ""
    every: str = ""
    cron: str = ""
    crosswalk: str = ""
    """``unimarc`` (or ``rusmarc``): the source's MARC records are UNIMARC, converted to MARC21
    (:data:`MARC_CROSSWALKS`); empty: none is needed."""
    delay: float = within(0.0, 24 * 3600, 1.0)
    timeout: float = within(1.0, 24 * 3600, 60.0)
    retries: int = within(0, 1000, 5)
    enabled: bool = True
    charset: str = ""
    institution_code: str = ""
    """The holding institution's code (852 $a of union records); empty: the source's name."""
    institution_name: str = ""
    holdings: str = one_of(HOLDINGS, "source")
    """Whose the copies of its records are (:data:`HOLDINGS`)."""
    tolerated_shortfall: int = within(0, 1_000_000_000, 0)
    """Records an OAI-PMH list of this source may end short of its last completeListSize and
    still be taken as whole (the watermark moves): a partner that counts records it never
    serves (withdrawn, hidden) is short by the same few on every run. One partner's, so that
    another's lost records still end its run partial."""


@dataclass(frozen=True)
class FileSource:
    """A source of records loaded from files (``koprik import --source NAME``): its institution."""

    name: str
    institution_code: str = ""
    """The holding institution's code (852 $a of union records); empty: the source's name."""
    institution_name: str = ""
    holdings: str = one_of(HOLDINGS, "source")
    """Whose the copies of its records are (:data:`HOLDINGS`)."""


@dataclass(frozen=True)
class UnionSettings:
    """The repository as a source of its own records, and what the union catalogue serves."""

    institution_code: str = "UzNL"
    """Our MARC organization code: local records whose 003 names another one are kept apart."""
    institution_name: str = "National Library of Uzbekistan"
    serve_members: bool = False
    """Also serve the members of union records, over OAI-PMH in the set ``members_set``."""
    members_set: str = "members"


MAX_CANDIDATES = 10_000
"""The largest ``dedup.max_candidates``: the records one record is compared with for one match
key, each read and scored in turn (a key held by 10,000 records is no identifier but a word of
titles, or an ISBN printed in thousands of books: :attr:`DedupSettings.blocked_isbns`). It
reaches SQL, plus one, as a bound parameter: past 2**63 - 1 SQLite and PostgreSQL refused it,
and ``koprik dedup`` and ``koprik import`` ended in a traceback."""


@dataclass(frozen=True)
class DedupSettings:
    """Thresholds of deduplication (catalog/matcher.py names what each one decides)."""

    control_prefixes: list[str] = field(default_factory=lambda: ["(OCoLC)"])
    """035 $a prefixes whose numbers identify a work across sources."""
    blocked_isbns: list[str] = field(default_factory=list)
    """ISBNs never used to match (one printed in thousands of books)."""
    title_key_chars: int = within(1, 200, 30)
    """Characters of the folded title kept as its match key. At most 200, the length of the
    ``match_keys.key`` column (:data:`catalog.match_keys.MAX_KEY_CHARS`), to which every key
    is cut: a longer title key would be the same key."""
    max_candidates: int = within(1, MAX_CANDIDATES, 50)
    """Most candidates read per match key (a larger block is skipped for that key); at most
    :data:`MAX_CANDIDATES`."""
    title_min: float = within(0.0, 1.0, 0.85)
    """Least title similarity (0-1) for a match without a shared identifier."""
    id_title_min: float = within(0.0, 1.0, 0.6)
    """Least title similarity for a match on a shared ISBN or other identifier."""
    author_min: float = within(0.0, 1.0, 0.8)
    part_name_min: float = within(0.0, 1.0, 0.7)
    """Least similarity of two records' part names (245 $p) for one book, unless one abridges
    the other (each of its words begins a word of the other, in order)."""
    subtitle_min: float = within(0.0, 1.0, 0.7)
    """Least similarity of two records' remainders of title (245 $b) for one book, unless one
    abridges the other; a parallel remainder of either that is alike is enough."""
    year_tolerance: int = within(0, 10, 0)
    """Years two records' dates may be apart and still be one book's. At most 10: one edition's
    records differ by a misprint, or a copyright or printing year beside the year of
    publication, a year or a few; a decade apart is a reissue, which the union catalogue keeps
    apart as a cataloguer would."""
    extent_tolerance_pages: int = within(0, 1000, 10)
    """Pages two records' extents may be apart and still be one book's (or, if more,
    ``extent_tolerance_ratio`` of the larger). At most 1,000: one edition's extents differ by how
    preliminary pages, plates and an index are counted, tens of pages; a thousand is a thick
    volume of its own, and a larger margin is no tolerance but the check turned off (which
    ``extent_tolerance_ratio = 1`` does)."""
    extent_tolerance_ratio: float = within(0.0, 1.0, 0.1)
    anonymous_weight: float = within(0.0, 1.0, 0.97)
    """Confidence per title similarity of two records without authors whose extents agree."""
    one_author_weight: float = within(0.0, 1.0, 0.93)
    """The same when only one of the two has a main author."""
    accept: float = within(0.0, 1.0, 0.9)
    """Least confidence for grouping; pairs between ``review`` and this go to review."""
    review: float = within(0.0, 1.0, 0.8)


HARVEST_PROTOCOLS = ("oai-pmh", "z3950", "sru")
"""What a harvest source's ``protocol`` may name, the first its default (``koprik sources
add``'s)."""
COPY_PROTOCOLS = ("z3950", "sru")
MARC_CROSSWALKS = ("unimarc", "rusmarc")
"""What a source's or a copy target's ``crosswalk`` may name: its MARC records (MARCXML or ISO
2709) are UNIMARC (RUSMARC, its Russian profile, is converted by the same crosswalk) and are
converted to MARC21 as ``koprik import --format unimarc`` converts them. Empty: they are
MARC21, or Dublin Core or MODS, crosswalked by their namespace."""


def crosswalk_problem(name: str) -> str | None:
    """What is wrong with a ``crosswalk`` setting (None: it is empty or one of
    :data:`MARC_CROSSWALKS`)."""
    if not name or name in MARC_CROSSWALKS:
        return None
    return f"expected {' or '.join(MARC_CROSSWALKS)} (MARC records in UNIMARC), or none"


@dataclass(frozen=True)
class CopyTarget:
    """A foreign catalogue the dashboard's copy cataloguing searches (``[[dashboard.targets]]``).

    ``url`` is ``z3950://HOST:PORT/DATABASE`` for ``protocol = "z3950"``, the base URL (``http://``
    or ``https://``) for ``protocol = "sru"``; ``charset`` is Z39.50's. ``crosswalk``
    ``unimarc`` (or ``rusmarc``): its MARC records are UNIMARC (an IRBIS), asked for in record
    syntax UNIMARC over Z39.50 (in MARCXML over SRU) and converted to MARC21 to be previewed
    and imported, as a harvest source's are."""

    name: str
    url: str
    protocol: str = one_of(COPY_PROTOCOLS, "z3950")
    charset: str = ""
    crosswalk: str = ""


@dataclass(frozen=True)
class DashboardSettings:
    """The operators' web dashboard at ``/`` (koprik/dashboard/)."""

    public_records: bool = True
    """Record search and record pages (and the workbench) open to anyone; false: sign-in."""
    public_partner: bool = True
    """The overview and partner pages open to anyone; false: sign-in."""
    session_lifetime: int = within(60, 30 * 86400, 8 * 3600)
    """Seconds a sign-in lasts."""
    login_attempts: int = within(1, 1000, 5)
    """Failed sign-ins allowed per address and name within ``login_window``."""
    login_window: int = within(1, 86400, 300)
    """Seconds over which failed sign-ins are counted."""
    max_upload_bytes: int = within(1024, 100 * 1024 * 1024, 5 * 1024 * 1024)
    """Largest form body (workbench upload) accepted."""
    conversions: int = within(1, 32, 2)
    """Workbench conversions at once, each in a process of its own; one more is answered 503."""
    conversion_seconds: int = within(1, 600, 60)
    """Seconds a workbench conversion may take: one that takes longer is stopped (its process
    killed) and answered 413, so that the user sends fewer records at once."""
    conversion_memory_mb: int = within(64, 65536, 1024)
    """Megabytes of memory a workbench conversion may take beyond what its process starts with
    (Linux: its address space, 74 MB at the start here): one that needs more fails, its process
    ends, and it is answered 413. The whole result is held until it is sent back, and MARCXML
    can be 17 times the upload."""
    copy_timeout: float = within(0.1, 300.0, 10.0)
    """Seconds each copy-cataloguing target gets to answer a search."""
    targets: list[CopyTarget] = field(default_factory=list)


def _check_set_spec(spec: str, key: str, origin: str) -> None:
    """A set ListSets lists must have a setSpec of the schema's syntax (what a harvester can ask
    for)."""
    if SYNTAX["set"].fullmatch(spec) is None:
        raise ConfigError(
            f"{origin}: {key}: not a valid OAI-PMH setSpec (letters, digits and -_.!~*'(), "
            f"parts joined by ':'), got {spec!r}"
        )


def _check_set_families(rules: list[SetRule], origin: str) -> None:
    """Each ``[[sets]]`` rule has a family of sets of its own: a spec defined twice, or one in
    another rule's family (``lang:uzb`` beside ``lang``), would be one set that two rules place
    records in, and ListSets would list it twice."""
    for index, rule in enumerate(rules):
        for earlier in rules[:index]:
            if rule.spec == earlier.spec:
                raise ConfigError(
                    f"{origin}: sets[{index}].spec: the setSpec {rule.spec!r} is defined twice"
                )
            inner, outer = sorted((rule.spec, earlier.spec), key=len, reverse=True)
            if inner.startswith(f"{outer}:"):
                raise ConfigError(
                    f"{origin}: sets[{index}].spec: {inner!r} is in the family of the sets "
                    f"{outer!r}"
                )


def _check_members_set(settings: Settings, origin: str) -> None:
    """The set of union members' spec: valid, and of no ``[[sets]]`` family (ListSets would
    list it twice and a harvest of that set would get the members instead)."""
    spec = settings.union.members_set
    _check_set_spec(spec, "union.members_set", origin)
    for rule in settings.sets:
        if spec == rule.spec or spec.startswith(f"{rule.spec}:"):
            raise ConfigError(
                f"{origin}: union.members_set: {spec!r} is in the family of the sets "
                f"{rule.spec!r}"
            )


def _check_base_url(base_url: str, origin: str) -> None:
    """Identify's baseURL (and every response's ``<request>``): an http or https URL, an
    xs:anyURI, naming a host a harvester can reach, at a port it can connect to. RFC 3986 lets
    ``http://`` (no host) and port 99999 pass, and Identify announced them (the host and port
    checked as a harvest source's are: :func:`protocols.http_urls.http_url_problem`)."""
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{origin}: repository.base_url: expected an http:// or https:// URL, got {base_url!r}"
        )
    if not any_uri(base_url):
        raise ConfigError(
            f"{origin}: repository.base_url: expected a URI (RFC 3986), got {base_url!r}"
        )
    if http_url_problem(base_url) is not None:
        raise ConfigError(
            f"{origin}: repository.base_url: expected an http:// or https:// URL naming a host "
            f"(and a port from 1 to 65535, if any), got {base_url!r}"
        )


def _check_admin_email(addresses: list[str], origin: str) -> None:
    """Identify has one ``adminEmail`` or more, each of the OAI-PMH schema's emailType: an
    Identify without one, or with another string, is not a valid response."""
    if not addresses:
        raise ConfigError(f"{origin}: repository.admin_email: expected at least one e-mail address")
    for index, address in enumerate(addresses):
        if EMAIL.fullmatch(address) is None:
            raise ConfigError(
                f"{origin}: repository.admin_email[{index}]: expected an e-mail address "
                f"(name@host.domain), got {address!r}"
            )


def _check_server(server: ServerSettings, origin: str) -> None:
    """``z3950_database`` is a name (Z39.50 clients ask for it, SRU's explain names it; empty,
    no client could), and each of ``trusted_proxies`` is an IP address or a network, its host
    bits zero (a ``10.0.0.1/8`` may have meant one address or the whole network: the operator
    says which)."""
    if not server.z3950_database:
        raise ConfigError(f"{origin}: server.z3950_database: expected a database name (Default), "
                          f"got {server.z3950_database!r}")  # fmt: skip
    for index, entry in enumerate(server.trusted_proxies):
        try:
            ipaddress.ip_network(entry)
        except ValueError:
            raise ConfigError(
                f"{origin}: server.trusted_proxies[{index}]: expected an IP address or a network "
                f"with its host bits zero (10.0.0.0/8, 2001:db8::/32), got {entry!r}"
            ) from None


def _check_dashboard(dashboard: DashboardSettings, origin: str) -> None:
    """What the field bounds cannot say: target addresses, unique target names, crosswalks,
    character sets."""
    names = set()
    for index, target in enumerate(dashboard.targets):
        where = f"{origin}: dashboard.targets[{index}]"
        _check_target_address(target, f"{where}.url")
        if not target.name or target.name in names:
            raise ConfigError(f"{where}.name: empty or used twice: {target.name!r}")
        problem = crosswalk_problem(target.crosswalk)
        if problem is not None:
            raise ConfigError(f"{where}.crosswalk: {problem}, got {target.crosswalk!r}")
        if target.charset:
            from crosswalks.charsets import charset_name  # (as a source's is checked)

            try:
                charset_name(target.charset)
            except ValueError as error:
                raise ConfigError(f"{where}.charset: {error}") from None
        names.add(target.name)


def _check_target_address(target: CopyTarget, where: str) -> None:
    """A copy target's ``url`` as a harvest source's of its protocol is checked
    (:func:`harvester.sources.validate`), with the same line: only its scheme was looked at, so a
    target at port 99999 or of no host (``z3950://``) was accepted, and every search of the
    dashboard failed on it."""
    if target.protocol == "z3950":
        if not target.url.startswith("z3950://"):
            raise ConfigError(f"{where}: expected z3950://HOST:PORT/DATABASE")
        from harvester.z3950_records import parse_address  # the harvester needs config first

        try:
            parse_address(target.url)
        except ValueError as error:
            raise ConfigError(f"{where}: Z39.50 address: {error}") from None
    else:
        problem = z3950_in_place_of_http(target.url, target.protocol) or \
            http_url_problem(target.url)
        if problem is not None:
            raise ConfigError(f"{where}: URL {target.url!r}: {problem}")


@dataclass(frozen=True)
class HarvestSettings:
    """Bounds on what a partner can make the harvester spend (every protocol)."""

    max_response_bytes: int = within(1024, 64 * 1024 * 1024, 32 * 1024 * 1024)
    """One response body as it arrives (compressed or not), counted while it streams; at most
    ``max_decompressed_bytes``, which bounds a body unpacked or not (:func:`_check_harvest`)."""
    max_decompressed_bytes: int = within(1024, 64 * 1024 * 1024, 64 * 1024 * 1024)
    """One response body once gzip or deflate is unpacked (at most the XML parser's 64 MiB)."""
    loop_pages: int = within(2, 100_000, 10)
    """Pages in a row holding only records already seen in the same list before the list is
    taken for a loop (whatever its resumption tokens say) and abandoned as a fault."""



@dataclass(frozen=True)
class Settings:
    repository: RepositorySettings = field(default_factory=RepositorySettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    oai: OaiSettings = field(default_factory=OaiSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    sets: list[SetRule] = field(default_factory=_default_sets)
    sources: list[HarvestSource] = field(default_factory=list)
    file_sources: list[FileSource] = field(default_factory=list)
    union: UnionSettings = field(default_factory=UnionSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    log: LogSettings = field(default_factory=LogSettings)
    harvest: HarvestSettings = field(default_factory=HarvestSettings)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)
    file: str = field(default=DEFAULT_FILE, metadata={"key": False})
    """The settings file :func:`load_settings` read these from, as it was named (when none
    was, and for settings made otherwise, :data:`DEFAULT_FILE`, the one that would be), for a
    message to say which file to change: they said koprik.toml whichever file ``--config``
    named. No key of the file sets it."""

    @property
    def file_name(self) -> str:
        """:attr:`file` without its folder: what a list shows, and what ``/health``, which
        answers anyone, says (the folders of the node's files are none of their business)."""
        return Path(self.file).name


def settings_file(
    path: str | os.PathLike[str] | None = None,
) -> tuple[str | os.PathLike[str] | None, str]:
    """The settings file :func:`load_settings` reads for ``path`` (None: none, the defaults
    apply), and what names it (``--config``, ``$KOPRIK_CONFIG`` or the default)."""
    named_by = "--config"
    if path is not None and not os.fspath(path):
        # ``--config "$UNSET"``: the defaults or ./koprik.toml were read, another catalogue's
        raise ConfigError("--config '': an empty name, naming no settings file")
    if path is None:
        named_by = f"${CONFIG_ENV}"
        path = os.environ.get(CONFIG_ENV)
    if not path and Path(DEFAULT_FILE).exists():
        named_by, path = "the default", DEFAULT_FILE
    return path or None, named_by


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings from ``path``, ``$KOPRIK_CONFIG`` or ``./koprik.toml``; defaults otherwise."""
    path, named_by = settings_file(path)
    if path is None:
        return Settings()
    try:
        with open(path, "rb") as handle:
            # utf-8-sig: a byte-order mark before the first table (Notepad saves one) is none
            # of the TOML, which tomllib refused as "Invalid statement (at line 1, column 1)"
            data = tomllib.loads(handle.read().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: a folder, not a settings file ({named_by} names the koprik.toml to read)"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: the settings file cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text") from None
    settings = settings_from_mapping(data, origin=str(path))
    _check_kept(settings.database.url, str(path))
    return dataclasses.replace(settings, file=str(path))


def in_memory(url: URL) -> bool:
    """Whether ``url`` names a SQLite database kept in memory, in no file (``sqlite://``,
    ``sqlite:///``, ``sqlite:///:memory:``)."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _check_kept(url: str, origin: str) -> None:
    """A settings file's ``database.url`` names a catalogue that outlives the command: one in
    SQLite's memory (``sqlite://``, ``sqlite:///``, ``sqlite:///:memory:``) was accepted, and
    ``koprik import`` reported records added, status 0, all gone at exit. Settings made in code
    (tests, benchmarks) may keep theirs in memory: only the file is refused."""
    if not url.startswith("sqlite"):
        return  # not SQLite: never in memory (and SQLAlchemy need not be loaded for it)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # left to open_engine to say, as for any other URL
        return
    if in_memory(parsed):
        raise ConfigError(f"{origin}: database.url: {url!r} is a catalogue in memory, which "
                          "keeps nothing; name a file (sqlite:///path/to/koprik.sqlite3)")


def settings_from_mapping(data: dict[str, Any], origin: str = "settings") -> Settings:
    """Build :class:`Settings` from parsed TOML, checking every key and type."""
    try:
        settings = _build(Settings, data, "")
    except ConfigError as error:  # the file, then the key: "koprik.toml: oai.page_size: ..."
        raise ConfigError(f"{origin}: {error}") from None
    if settings.repository.base_url:
        _check_base_url(settings.repository.base_url, origin)
    _check_admin_email(settings.repository.admin_email, origin)
    for index, rule in enumerate(settings.sets):
        if rule.rule not in RULES:
            raise ConfigError(
                f"{origin}: sets[{index}].rule: expected one of {', '.join(RULES)}, "
                f"got {rule.rule!r}"
            )
        if (rule.rule == "collection") != bool(rule.sources):
            raise ConfigError(
                f"{origin}: sets[{index}].sources: a collection's sources are the records it "
                f"holds, and only a collection has sources (rule {rule.rule!r}, "
                f"{len(rule.sources)} sources)"
            )
        _check_set_spec(rule.spec, f"sets[{index}].spec", origin)
    _check_set_families(settings.sets, origin)
    _check_members_set(settings, origin)
    _check_sources(settings, origin)
    _check_server(settings.server, origin)
    _check_dashboard(settings.dashboard, origin)
    _check_dedup(settings.dedup, origin)
    _check_harvest(settings.harvest, origin)
    _check_database(settings.database, origin)
    _check_names_once(settings, origin)
    secret = settings.oai.token_secret
    if secret and len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"{origin}: oai.token_secret: at least {MIN_SECRET_CHARS} characters (it signs the "
            f"resumption tokens; empty: a random key kept in the catalogue), got {len(secret)}"
        )
    if not settings.union.institution_code:
        raise ConfigError(f"{origin}: union.institution_code: expected the library's MARC "
                          "organization code (852 $a of its copies), got ''")  # fmt: skip
    if settings.search.sru_default_records > settings.search.sru_max_records:
        raise ConfigError(
            f"{origin}: search.sru_default_records: more than search.sru_max_records "
            f"({settings.search.sru_max_records})"
        )
    prefix = settings.repository.identifier_prefix
    scheme, _, rest = prefix.partition(":")
    repository, _, tail = rest.partition(":")
    if scheme != "oai" or "." not in repository or tail or not prefix.endswith(":"):
        raise ConfigError(
            f"{origin}: repository.identifier_prefix: expected 'oai:<repository.domain>:' "
            f"such as 'oai:natlib.uz:', got {prefix!r}"
        )
    return settings


def _check_sources(settings: Settings, origin: str) -> None:
    """Each ``[[sources]]`` definition as :func:`harvester.sources.validate` checks a source
    added from the command line or the dashboard (without contacting it), so that a source
    that could never be scheduled or harvested stops start-up instead of a log line; its texts,
    and those of each ``[[file_sources]]``, no longer than the columns a source added so is
    stored in (:func:`harvester.sources.check_lengths`)."""
    if not settings.sources and not settings.file_sources:
        return
    from harvester.sources import (  # the harvester needs config first
        SourceError,
        check_lengths,
        check_name,
        validate,
    )

    for where, defined in (
        *((f"sources[{i}]", s) for i, s in enumerate(settings.sources)),
        *((f"file_sources[{i}]", s) for i, s in enumerate(settings.file_sources)),
    ):
        try:
            if isinstance(defined, HarvestSource):
                validate(defined)
            check_lengths(defined)
            if not isinstance(defined, HarvestSource):
                check_name(defined.name)  # a file source's records are SOURCE:001 too
        except SourceError as error:
            key = f".{error.key}" if error.key else ""
            raise ConfigError(f"{origin}: {where}{key}: {error}") from None


def _check_names_once(settings: Settings, origin: str) -> None:
    """A source's name says where its records come from: two definitions of one name (a
    harvest source and a file source alike) would be one source, whose first definition won."""
    seen: set[str] = set()
    for key, defined in (*(("sources", s) for s in settings.sources),
                         *(("file_sources", s) for s in settings.file_sources)):
        if defined.name in seen:
            raise ConfigError(f"{origin}: {key}: the name {defined.name!r} is defined twice")
        seen.add(defined.name)


def _check_dedup(dedup: DedupSettings, origin: str) -> None:
    if dedup.review > dedup.accept:
        raise ConfigError(f"{origin}: dedup.review: expected at most dedup.accept")


POOL_AT_LEAST = 6
"""The fewest connections a process's pool may hold: the search service's threads keep one
each (4), and OAI-PMH, the dashboard and harvests need theirs besides."""


def _check_database(database: DatabaseSettings, origin: str) -> None:
    """A pool too small for the search service's threads and the rest besides: OAI-PMH and
    the dashboard waited out the pool's timeout and answered 503 while searches held it."""
    pool = database.pool_size + database.max_overflow
    if pool < POOL_AT_LEAST:
        raise ConfigError(
            f"{origin}: database.max_overflow: pool_size + max_overflow must be at least "
            f"{POOL_AT_LEAST} (the search service's threads keep 4 connections), got {pool}"
        )


def _check_harvest(harvest: HarvestSettings, origin: str) -> None:
    """``max_decompressed_bytes`` bounds every body, an uncompressed one as it arrives too
    (:class:`harvester.bodies.BodyLimits`), and one sent compressed unpacks to more bytes (a
    few fewer at most, when nothing in it compresses): below ``max_response_bytes`` it made
    that setting bound nothing, and a body sent uncompressed was refused as "past
    max_decompressed_bytes (N bytes unpacked)"."""
    if harvest.max_decompressed_bytes < harvest.max_response_bytes:
        raise ConfigError(
            f"{origin}: harvest.max_decompressed_bytes: less than harvest.max_response_bytes "
            f"({harvest.max_response_bytes}), which it bounds too: a body unpacks to about as "
            "many bytes as it has on the wire, or more; lower max_response_bytes or raise this"
        )


def holdings_named(settings: Settings, source: str | None) -> bool:
    """Whether the records of ``source`` name the institution holding each copy (a source of
    ``koprik.toml`` whose ``holdings`` is ``named``)."""
    return any(defined.name == source and defined.holdings == "named"
               for defined in (*settings.sources, *settings.file_sources))


def institution_of(settings: Settings, source: str | None) -> tuple[str, str]:
    """The holding institution ``(code, name)`` of records from ``source`` (None: our own)."""
    if source is None:
        return settings.union.institution_code, settings.union.institution_name
    if source.startswith(ORG_SOURCE_PREFIX):
        code = source[len(ORG_SOURCE_PREFIX) :]
        return code, code
    for defined in (*settings.sources, *settings.file_sources):
        if defined.name == source:
            return defined.institution_code or source, defined.institution_name or source
    return source, source


ORG_SOURCE_PREFIX = "003:"
"""The source of a local record whose 003 names another organization: ``003:`` + its code."""


def _build(cls: type, data: Any, where: str) -> Any:
    """``cls`` from the table ``data`` found at key path ``where`` ("" for the file itself:
    the caller names the file, :func:`settings_from_mapping`)."""
    at = f"{where}: " if where else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{at}expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = checked_values(cls, data, where)
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{at}missing key {missing[0]!r}")
    return cls(**values)


def checked_values(cls: type, data: dict[str, Any], where: str = "") -> dict[str, Any]:
    """The values of ``data`` (some fields of the dataclass ``cls``, from a table of koprik.toml
    or a JSON object) checked and converted as the loader does: known keys, types, bounds.
    Raises ConfigError naming the key."""
    at = f"{where}: " if where else ""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("key", True)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{at}unknown key {key!r}; expected one of {', '.join(fields)}")
        values[key] = _coerce(hints[key], value, f"{where}.{key}" if where else key)
        _check_allowed(fields[key], values[key], f"{where}.{key}" if where else key)
    return values


def _plain(number: float) -> str:
    """A bound as an operator writes it: ``67108864``, not ``6.71089e+07``."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def check_bounds(settings: Any, where: str = "") -> None:
    """Raise ConfigError for a field of the dataclass ``settings`` outside its bounds or
    choices: what the loader checks, for settings made elsewhere (a command's options)."""
    for setting in dataclasses.fields(settings):
        name = f"{where}.{setting.name}" if where else setting.name
        _check_allowed(setting, getattr(settings, setting.name), name)


def _check_allowed(setting: dataclasses.Field[Any], value: Any, where: str) -> None:
    """Raise ConfigError for a value outside the bounds or choices the field declares
    (:func:`within`, :func:`one_of`), and for a number that is not finite (TOML has ``nan`` and
    ``inf``, which compare with no bound)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    if "minimum" in setting.metadata:
        low, high = setting.metadata["minimum"], setting.metadata["maximum"]
        if not low <= value <= high:
            kind = "a whole number" if isinstance(value, int) else "a number"
            raise ConfigError(
                f"{where}: expected {kind} from {_plain(low)} to {_plain(high)}, got {value!r}")
    choices = setting.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")


_KINDS = {str: "text in quotes", float: "a number"}
"""What a setting's type is called in its error line (Python's names said ``expected str``)."""


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str) and item is str:
            value = [value] if value else []  # (checked as the list's one item)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if item is str and "" in value:  # dedup.control_prefixes [""] took every 035 number
            raise ConfigError(f"{where}[{value.index('')}]: an empty item; leave it out")
        return [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    if not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {_KINDS.get(hint, hint.__name__)}, got {value!r}")
    if hint is str and (control := _CONTROL.search(value)) is not None:
        raise ConfigError(f"{where}: a control character (U+{ord(control.group()):04X}) is not "
                          f"allowed, got {value!r}")
    # a log.file of spaces was a file of that name, and a token_secret of 16 spaces signed
    # every resumption token with a key anyone guesses
    if hint is str and value and value.isspace():
        raise ConfigError(f"{where}: only white space; leave it empty (or out) or give a "
                          f"value, got {value!r}")
    return value


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
"""What no setting (nor a field of the dashboard's API) may hold: a control character other than
a tab or a line break (a NUL in a file name ended ``koprik serve`` in a traceback, one in a name
reached SRU explain's XML, and PostgreSQL refuses one in any text), or a lone surrogate (JSON's
``\\ud800``)."""

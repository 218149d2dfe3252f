"""Harvest sources: those of ``koprik.toml`` (``[[sources]]``) and those added on the command line.

Both are :class:`config.HarvestSource`. Sources from the file are read-only here (the file is
their definition; edit it); sources added with ``koprik sources add`` live in the catalogue
database (table ``harvest_sources``). A name is unique across both.

Adding (or re-pointing) a source checks the address first: an OAI-PMH source must answer
Identify as an OAI-PMH 2.0 repository and offer the metadataPrefix asked for; an SRU source
(``protocol = "sru"``, ``url`` its base URL, a CQL ``query``, ``prefix`` the record schema
marcxml or dc) must answer explain and search its query; a Z39.50 source
(``protocol = "z3950"``, ``url = "z3950://HOST:PORT/DATABASE"``, a PQF ``query``, optionally the
``charset`` of its records) must accept a connection and the search of its query. Otherwise it
is refused with the reason (:class:`SourceError`). Without contacting anyone, :func:`validate`
checks what a definition says on its own (a Z39.50 source's PQF and an SRU source's CQL query
are parsed), for sources of the file too: when the file is read (a bad one stops start-up with
one line naming ``sources[i].KEY``, :func:`config.settings.settings_from_mapping`), and again
when a source is scheduled or harvested.

>>> add_source(settings, catalog, HarvestSource(name="partner", url=..., prefix="marc21"))
>>> [entry.source.name for entry in all_sources(settings, catalog)]
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Connection, Executable, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from catalog import Catalog
from catalog.harvest_state import harvest_sources, harvest_state
from catalog.transactions import executed, hold_writes, transaction
from catalog.union import UNION_SOURCE
from config import ConfigError, HarvestSource, Settings
from config.settings import HARVEST_PROTOCOLS, FileSource, check_bounds, crosswalk_problem
from crosswalks.namespaces import MARCXML_NS, MODS_NS, OAI_DC_NS
from harvester import locks
from harvester.faults import HarvestError, Unavailable
from harvester.http_fetch import MASK, Politeness, public_url, shown_url
from harvester.oai_client import Identity, NotOaiPmh, OaiClient
from harvester.oai_pages import OaiError
from harvester.sru_client import SruClient
from harvester.sru_harvest import SCHEMAS as SRU_SCHEMAS
from harvester.sru_harvest import record_schema
from harvester.z3950_harvest import TargetCheck, check_target
from harvester.z3950_records import charset_label, parse_address
from protocols.cql import CqlSyntaxError
from protocols.cql import parse as parse_cql
from protocols.http_urls import ascii_host, http_url_problem, z3950_in_place_of_http
from protocols.oaipmh.arguments import SYNTAX, VERBS
from protocols.z3950.pqf import PqfError, parse_pqf

FROM_FILE = "koprik.toml"
"""The origin of a source of the settings file (whatever its name: lists show that,
:func:`shown_origin`)."""
FROM_DATABASE = "database"
OAI_PMH, Z3950, SRU = HARVEST_PROTOCOLS
CHECK_TIMEOUT = 30.0
"""The most seconds per request the check before adding a source waits."""
_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9_.-]*\Z")
_NAME_START = re.compile(r"[A-Za-z0-9]")
_LONGEST_NAME = 100
"""The length of the ``harvest_sources.name`` column."""
_EVERY = re.compile(r"\s*([0-9]+)\s*(min|[smhdw])\s*\Z")
PREFERRED_NAMESPACES = (
    MARCXML_NS,
    MODS_NS,
    OAI_DC_NS,
)
"""Formats in order of preference (MARCXML needs no crosswalk; MODS loses less than DC)."""
_UNITS = {"s": "seconds", "min": "minutes", "m": "minutes", "h": "hours", "d": "days",
          "w": "weeks"}
"""The units of an interval; ``m`` (minutes) only as read, never as given
(:func:`_refuse_bare_m`)."""
_LONGEST_EVERY = timedelta(days=366)
"""The longest interval between two runs (a yearly harvest); rarer ones are run by hand."""


class SourceError(ValueError):
    """A source that cannot be added, changed or found (the message says why); ``key``, when
    :func:`validate` raised it, names the field at fault (``sources[i].KEY`` in koprik.toml)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class UnknownSource(SourceError):
    """No source has the name asked for (the API answers 404)."""


class SourceChanged(SourceError):
    """The source was changed since the one asking for a change read it (the dashboard answers
    409 and shows it as it is now)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"source {name} was changed since this form was shown: it is shown as "
                         "it is now; make your change again")


class SourceInUse(SourceError):
    """A run of the source holds it, so it cannot be removed now (the API answers 409)."""


@dataclass(frozen=True)
class SourceEntry:
    source: HarvestSource
    origin: str
    """:data:`FROM_FILE` or :data:`FROM_DATABASE`."""

    @property
    def added(self) -> bool:
        """Whether the source is one of the database's (``koprik sources add``)."""
        return self.origin == FROM_DATABASE


def shown_origin(entry: SourceEntry, settings: Settings) -> str:
    """Where ``entry`` is defined, as a list shows it: the settings file's name or
    "database"."""
    return settings.file_name if entry.origin == FROM_FILE else entry.origin


def shown(source: HarvestSource) -> HarvestSource:
    """``source`` as lists, pages and the API show it: its address without its password
    (:func:`~harvester.http_fetch.shown_url`); an edit that sends that address back keeps the
    password (:func:`edit_source`)."""
    return dataclasses.replace(source, url=shown_url(source.url))


def _trimmed(source: HarvestSource) -> HarvestSource:
    """``source`` with its address without the spaces around it (one pasted with them), as it
    is added or changed, from the form, the API or the command line alike: the API stored
    them."""
    return dataclasses.replace(source, url=source.url.strip())


def _unmasked(url: str, stored: str) -> str:
    """``url``, given in an edit of a source whose address is ``stored``, with the stored
    password where :func:`shown` put its mask: a form or script that sends back the address as
    it was shown (its host or path changed, or not) keeps the password; ``***`` was stored in its
    place. Refused for another user than the stored one: the password is not theirs."""
    try:
        given, kept = urlsplit(url), urlsplit(stored)
    except ValueError:  # no URL, http://[::1/oai: validate refuses it
        return url
    if given.password != MASK or kept.password is None:
        return url
    if given.username != kept.username:
        raise SourceError(f"URL {url!r}: {MASK} stands for the password of user "
                          f"{kept.username!r}; give the password of {given.username!r}", "url")
    host = given.netloc.rpartition("@")[2]
    return given._replace(netloc=f"{given.username}:{kept.password}@{host}").geturl()


def parse_every(text: str) -> timedelta:
    """An interval such as ``90s``, ``15min``, ``6h``, ``1d`` or ``2w``; raises SourceError.
    ``15m``, minutes too, is read as stored in a catalogue or written in koprik.toml before
    ``min``; a source added or changed may not say it (:func:`_refuse_bare_m`)."""
    match = _EVERY.match(text)
    if match is None:
        raise SourceError(f"interval {text!r}: expected a number and s, min, h, d or w, e.g. 6h",
                          "every")
    number, unit = int(match.group(1)), _UNITS[match.group(2)]
    if number == 0:
        raise SourceError(f"interval {text!r}: must be more than zero", "every")
    if number > _LONGEST_EVERY // timedelta(**{unit: 1}):
        raise SourceError(f"interval {text!r}: longer than {_LONGEST_EVERY.days} days", "every")
    return timedelta(**{unit: number})


def _refuse_bare_m(every: str) -> None:
    """Refuse an interval in ``m`` as a source is added or its interval changed: read as
    minutes, ``1m`` was easily meant as a month, and harvested a partner every minute. ``min``
    says minutes; a month is no unit (its length varies), and a cron says "monthly"."""
    match = _EVERY.match(every)
    if match is not None and match.group(2) == "m":
        raise SourceError(f"interval {every!r}: minutes or months? {match.group(1)}min is "
                          "minutes; for a month, 30d or a cron such as '0 3 1 * *'", "every")


def check_name(name: str) -> None:
    """Raise SourceError unless ``name`` is one a source may have (it becomes part of local
    identifiers and OAI-PMH identifiers of the records)."""
    if len(name) > _LONGEST_NAME:  # (its first characters: the message is one line to read)
        raise SourceError(f"source name {name[:20]!r}...: at most {_LONGEST_NAME} characters, "
                          f"got {len(name)}", "name")  # fmt: skip
    if _NAME_CHARACTERS.match(name) is None:
        raise SourceError(f"source name {name!r}: use Latin letters (A-Z, a-z), digits, '.', '_' "
                          "or '-'", "name")
    if _NAME_START.match(name) is None:
        raise SourceError(f"source name {name!r}: start with a letter or a digit", "name")
    if name == UNION_SOURCE:
        # a source "union" had its records overwritten by union records, or its runs failed
        raise SourceError(f"source name {name!r}: the union records' own; name it otherwise",
                          "name")  # fmt: skip


def validate(source: HarvestSource) -> None:
    """Check a definition without contacting it; raises SourceError naming the problem."""
    check_name(source.name)
    if source.protocol not in HARVEST_PROTOCOLS:
        raise SourceError(f"protocol {source.protocol!r}: expected {', '.join(HARVEST_PROTOCOLS)}",
                          "protocol")
    if source.every and source.cron:
        raise SourceError("give a schedule either as an interval (every) or as cron, not both",
                          "cron")
    if len(set(source.sets)) != len(source.sets):
        raise SourceError("a set is given twice", "sets")
    if source.every:
        parse_every(source.every)
    if source.cron:
        try:
            trigger = CronTrigger.from_crontab(source.cron, timezone="UTC")
        except ValueError as error:
            raise SourceError(f"cron {source.cron!r}: {error}", "cron") from error
        if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
            raise SourceError(f"cron {source.cron!r}: names no time that comes (31 February?)",
                              "cron")
    try:
        check_bounds(source)
    except ConfigError as error:
        raise SourceError(str(error)) from None
    problem = crosswalk_problem(source.crosswalk)
    if problem is not None:
        raise SourceError(f"crosswalk {source.crosswalk!r}: {problem}", "crosswalk")
    if source.protocol == Z3950:
        _validate_z3950(source)
    elif source.protocol == SRU:
        _validate_sru(source)
    else:
        _validate_oai(source)


def _validate_oai(source: HarvestSource) -> None:
    _require_http(source)
    _refuse_oai_arguments(source.url)
    # an empty prefix is chosen from what the provider offers when the source is added
    for key, name, values in (("prefix", "metadataPrefix", [source.prefix] * bool(source.prefix)),
                              ("sets", "set", source.sets)):
        for value in values:
            if SYNTAX[name].fullmatch(value) is None:  # the provider would answer badArgument
                raise SourceError(f"{name} {value!r}: not a valid OAI-PMH {name}", key)
    _refuse(source, {"query": "the list selects the records",
                     "charset": _OWN_ENCODING}, "OAI-PMH")


def _require_http(source: HarvestSource) -> None:
    problem = z3950_in_place_of_http(source.url, source.protocol) or http_url_problem(source.url)
    if problem is not None:
        raise SourceError(f"URL {shown_url(source.url)!r}: {problem}", "url")


_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
"""RFC 3986's unreserved characters (2.3)."""
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def _normal_escapes(text: str) -> str:
    """``text`` (a path or query) with its percent-escapes in RFC 3986's normal form: one of
    an unreserved character is that character (6.2.2.2: ``%7e`` is ``~``), any other in
    uppercase hex (6.2.2.1: ``%2f`` is ``%2F``, never ``/``, which a server reads otherwise)."""

    def normal(escape: re.Match[str]) -> str:
        character = unquote(escape.group())
        return character if character in _UNRESERVED else escape.group().upper()

    return _PERCENT_ESCAPE.sub(normal, text)


_OAI_ARGUMENTS = frozenset({"verb"}).union(*(schema.allowed for schema in VERBS.values()))
"""The arguments of OAI-PMH requests, which the harvester adds to the base URL."""


def _refuse_oai_arguments(url: str) -> None:
    """Refuse a URL carrying OAI-PMH arguments (a request's address copied from the browser,
    ``...?verb=Identify``): each request would send them twice, and the partner answered
    badVerb; the message names the base URL (a query of the partner's own is kept)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    given = list(dict.fromkeys(name for name, _ in pairs if name in _OAI_ARGUMENTS))
    if given:
        base = parts._replace(query=urlencode(
            [(name, value) for name, value in pairs if name not in _OAI_ARGUMENTS]))
        plural = "s" * (len(given) > 1)
        raise SourceError(f"URL {shown_url(url)!r}: it carries the OAI-PMH argument{plural} "
                          f"{', '.join(given)}; give the base URL: {shown_url(base.geturl())}",
                          "url")


_OWN_ENCODING = "the document's own encoding is used"


def _refuse(source: HarvestSource, keys: dict[str, str], protocol: str) -> None:
    """Refuse the first of ``keys`` the source sets, saying why ``protocol`` sources have no
    use for it (one reason a key: one reason for two said both, of a key set alone)."""
    for key, why in keys.items():
        if getattr(source, key):
            raise SourceError(f"{key!r} is not supported for {protocol} sources ({why})", key)


def _refuse_shortfall(source: HarvestSource, protocol: str) -> None:
    _refuse(source, {"tolerated_shortfall":
                     "it is what an OAI-PMH list may end short of its completeListSize"}, protocol)


def _validate_z3950(source: HarvestSource) -> None:
    try:
        parse_address(source.url)
    except ValueError as error:
        raise SourceError(f"Z39.50 address: {error}", "url") from error
    if not source.query:
        raise SourceError("a Z39.50 source needs a query (PQF, e.g. '@attr 1=4 navoiy')",
                          "query")
    try:
        parse_pqf(source.query)
    except PqfError as error:
        raise SourceError(f"query {source.query!r}: {error}", "query") from error
    if source.charset:
        try:
            charset_label(source.charset)
        except ValueError as error:
            raise SourceError(f"charset: {error}", "charset") from error
    _refuse(source, {"sets": "the query selects the records; they are presented as MARC21"},
            "Z39.50")
    _refuse_shortfall(source, "Z39.50")


def _validate_sru(source: HarvestSource) -> None:
    _require_http(source)
    try:
        SruClient(source.url)
    except ValueError as error:
        raise SourceError(f"URL {shown_url(source.url)!r}: {error}", "url") from error
    if not source.query.strip():
        raise SourceError("an SRU source needs a query (CQL, e.g. 'dc.title=navoiy')", "query")
    try:  # Koprik's own CQL parser: a query the server could only refuse is refused here
        parse_cql(source.query)
    except CqlSyntaxError as error:
        raise SourceError(f"CQL query {source.query!r}: {error}", "query") from error
    if source.prefix not in SRU_SCHEMAS:
        raise SourceError(f"record schema {source.prefix!r}: expected marcxml or dc", "prefix")
    problem = sru_crosswalk_problem(source.crosswalk, source.prefix)
    if problem is not None:
        raise SourceError(problem, "crosswalk")
    _refuse(source, {"sets": "the query selects the records", "charset": _OWN_ENCODING}, "SRU")
    _refuse_shortfall(source, "SRU")


def sru_crosswalk_problem(crosswalk: str, schema: str) -> str | None:
    """Why SRU records in ``schema`` cannot go through ``crosswalk`` (None: they can, or there
    is none): it reads MARC records, which only the record schema marcxml gives."""
    if not crosswalk or schema == "marcxml":
        return None
    return (f"crosswalk {crosswalk!r} reads MARC records: it needs the record schema marcxml, "
            f"not {schema!r}")  # fmt: skip


def choose_prefix(formats: dict[str, str]) -> str | None:
    """The preferred prefix among ``prefix -> namespace``: MARCXML, else MODS, else oai_dc."""
    for namespace in PREFERRED_NAMESPACES:
        for prefix, offered in sorted(formats.items()):
            if offered == namespace:
                return prefix
    return None


def probe(source: HarvestSource) -> tuple[HarvestSource, Identity | TargetCheck | SruCheck]:
    """Contact the (valid) source as a check before it is stored; return it as it is to be
    stored (an OAI-PMH or SRU source with its format chosen) and what the check found. Raises
    SourceError with the reason."""
    if source.protocol == SRU:
        check = asyncio.run(check_sru(source))
        return dataclasses.replace(source, prefix=check.schema), check
    if source.protocol == Z3950:
        checked = dataclasses.replace(source, timeout=min(source.timeout, CHECK_TIMEOUT))
        try:
            return source, asyncio.run(check_target(checked))
        except HarvestError as error:
            raise SourceError(str(error)) from error
    identity, prefix = asyncio.run(check_source(source))
    return dataclasses.replace(source, prefix=prefix), identity


async def check_source(source: HarvestSource) -> tuple[Identity, str]:
    """Identify an OAI-PMH source and check its prefix; returns the identity and the prefix to
    use.

    An empty ``source.prefix`` means the preferred format the source offers
    (:func:`choose_prefix`). Raises SourceError with the reason.
    """
    politeness = Politeness(delay=0, timeout=min(source.timeout, CHECK_TIMEOUT), retries=0)
    address = shown_url(source.url)  # not told to one who edits it as shown, masked
    try:
        async with OaiClient(source.url, politeness) as client:
            identity = await client.identify()
            formats = await client.metadata_formats()
            unnamed = await _unnamed_sets(client, source.sets) if source.sets else []
    except Unavailable as error:  # no answer at all: there is nothing to say of its Identify
        raise SourceError(f"{address} is unavailable: {error}") from error
    except NotOaiPmh as error:  # (it names the address and Identify already)
        raise SourceError(str(error)) from error
    except HarvestError as error:
        raise SourceError(f"{address} does not answer Identify correctly: {error}") from error
    if isinstance(unnamed, OaiError):
        sets = ", ".join(repr(spec) for spec in source.sets)
        raise SourceError(f"{address} has no sets ({unnamed}): {sets} cannot be harvested")
    if unnamed:
        sets = ", ".join(repr(spec) for spec in unnamed)
        raise SourceError(f"{address} names no set {sets} in its ListSets: is the setSpec "
                          "misspelt?")
    offered = ", ".join(sorted(formats)) or "none"
    prefix = source.prefix or choose_prefix(formats)
    if prefix is None:
        raise SourceError(f"{address} offers no MARCXML, MODS or oai_dc (it offers {offered})")
    if prefix not in formats:
        raise SourceError(f"{address} does not offer {prefix!r} (it offers {offered})")
    if source.crosswalk and formats[prefix] != MARCXML_NS:
        raise SourceError(f"crosswalk {source.crosswalk!r} reads MARC records: {prefix!r} is "
                          f"{formats[prefix]}, not MARCXML")
    return identity, prefix


async def _unnamed_sets(client: OaiClient, specs: Sequence[str]) -> list[str] | OaiError:
    """The sets of ``specs`` the partner's ListSets does not name (none when it is too long to
    read through: :func:`OaiClient.named_sets`), or its noSetHierarchy answer; a ListSets that
    fails otherwise is let be (a partner may serve sets it does not list well)."""
    try:
        named = await client.named_sets(specs)
    except OaiError as error:
        return error if error.code == "noSetHierarchy" else []
    return [] if named is None else [spec for spec in specs if spec not in named]


@dataclass(frozen=True)
class SruCheck:
    """What the check of an SRU source found: explain, and the search of its query."""

    title: str
    version: str
    schema: str
    hits: int


async def check_sru(source: HarvestSource) -> SruCheck:
    """Ask an SRU source for its explain record and search its query for no records, as the
    check of Identify does for OAI-PMH. Raises SourceError with the reason."""
    politeness = Politeness(delay=0, timeout=min(source.timeout, CHECK_TIMEOUT), retries=0)
    address = shown_url(source.url)  # not told to one who edits it as shown, masked
    try:
        async with SruClient(source.url, politeness) as client:
            explain = await client.explain()
            schema = record_schema(source.prefix, explain)
            page = await client.search(source.query, schema, start=1, maximum=0)
    except Unavailable as error:
        raise SourceError(f"{address} is unavailable: {error}") from error
    except HarvestError as error:
        raise SourceError(f"{address} does not answer SRU correctly: {error}") from error
    return SruCheck(explain.title, client.version or "", schema, page.hits)


def asked_format(source: HarvestSource) -> str:
    """What a harvest of ``source`` asks for, as lists show it: an OAI-PMH source's
    metadataPrefix, an SRU source's record schema (``marc21``, koprik.toml's default, asks for
    ``marcxml``), nothing for a Z39.50 source (MARC records, in the syntax its crosswalk says);
    empty when the harvest chooses (an SRU source's: MARCXML if offered, else DC)."""
    if source.protocol == Z3950:
        return ""
    if source.protocol == SRU and source.prefix:
        return SRU_SCHEMAS.get(source.prefix, source.prefix)
    return source.prefix


def all_sources(settings: Settings, catalog: Catalog) -> list[SourceEntry]:
    """Every source, those of the file first, then those of the database, by name."""
    entries = [SourceEntry(s, FROM_FILE) for s in settings.sources]
    with catalog.engine.connect() as connection:
        rows = connection.execute(select(harvest_sources).order_by(harvest_sources.c.name)).all()
    entries += [SourceEntry(_from_row(row), FROM_DATABASE) for row in rows]
    return entries


def hidden(entries: Sequence[SourceEntry]) -> list[SourceEntry]:
    """The database's sources among ``entries`` (:func:`all_sources`) that koprik.toml, edited
    after they were added, defines under the same name: the file's is the one harvested, by
    hand and on its schedule alike; the database's is left until it is removed
    (:func:`remove_source`)."""
    in_file = {entry.source.name for entry in entries if entry.origin == FROM_FILE}
    return [entry for entry in entries
            if entry.origin == FROM_DATABASE and entry.source.name in in_file]


def hidden_note(name: str, file: str) -> str:
    """What is said of a source of the database :func:`hidden` by one of the settings ``file``
    (:attr:`config.Settings.file`)."""
    return (f"{name}: the source of this name added with `koprik sources add` is not harvested: "
            f"{file} defines one too, which is (`koprik sources remove {name}` removes the "
            "added one)")


def find_source(settings: Settings, catalog: Catalog, name: str) -> SourceEntry:
    """The source ``name``: the settings file's, else the database's (the one harvested, as
    :func:`hidden` says), reading its row alone: the scheduler looks a source up at each of
    its runs, and a national catalogue has a source for each of thousands of institutions."""
    for source in settings.sources:
        if source.name == name:
            return SourceEntry(source, FROM_FILE)
    stored = added_source(catalog, name)
    if stored is None:
        raise UnknownSource(f"no source named {name!r} (see `koprik sources list`)")
    return SourceEntry(stored, FROM_DATABASE)


def added_source(catalog: Catalog, name: str) -> HarvestSource | None:
    """The database's source ``name`` (its row alone), or None."""
    if "\x00" in name:  # no source's name has one, and PostgreSQL refuses it in any text
        return None
    with catalog.engine.connect() as connection:
        row = connection.execute(
            select(harvest_sources).where(harvest_sources.c.name == name)
        ).first()
    return None if row is None else _from_row(row)


def _named(settings: Settings, catalog: Catalog, name: str) -> bool:
    """Whether a source is named ``name``, in the settings file or the database."""
    return any(s.name == name for s in settings.sources) or \
        added_source(catalog, name) is not None


def _harvests(source: HarvestSource) -> tuple[object, ...]:
    """What decides the records a run of ``source`` brings: its protocol, the endpoint it asks
    (:func:`_endpoint`), the format it asks for and its crosswalk (of a Z39.50 source, the
    record syntax it asks for), its query and its sets (in any order). Two sources alike in it
    bring the same records, each storing them under its own name."""
    return (source.protocol, _endpoint(source), asked_format(source), source.crosswalk,
            source.query, frozenset(source.sets))


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _endpoint(source: HarvestSource) -> object:
    """The endpoint a run of ``source`` asks, one form for each way of writing its address that
    certainly reaches it: an HTTP address without credentials, its scheme and host in either
    case, its scheme's default port written out or not, an empty port, query or path (``/``)
    or a fragment (never sent) alike, as the requests are sent; a Z39.50 address as
    :func:`parse_address` reads it (port 210 and database Default if omitted). A host in
    Unicode and in its IDNA form (``xn--``) are one (:func:`ascii_host`), and so are a path or
    query and its percent-escapes in RFC 3986's normal form (:func:`_normal_escapes`). What a
    server may answer otherwise stays apart: a trailing slash of the path, a host's trailing
    dot (looked up without the resolver's search domains, sent so in the Host header), the
    case of the path or database, the order of a query's arguments, an escaped reserved
    character (``%2F``) and the character. An address that is none (a source stored before a
    check refused it, a host no IDNA) is itself."""
    try:
        if source.protocol == Z3950:
            host, port, database = parse_address(source.url)
            return ascii_host(host, http=False), port, database
        parts = urlsplit(public_url(source.url))
        port = parts.port
        host = ascii_host(parts.hostname or "", http=True)  # (a UnicodeError is a ValueError)
    except ValueError:
        return source.url
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, _normal_escapes(parts.path) or "/",
                       _normal_escapes(parts.query), ""))


_ALIKE = {OAI_PMH: "format and sets", SRU: "record schema and query",
          Z3950: "query and record syntax"}
"""What two sources at one address have the same when :func:`_harvests` says they are alike."""


def alike(entries: Sequence[SourceEntry]) -> list[list[SourceEntry]]:
    """The sources among ``entries`` (:func:`all_sources`) that harvest the same records
    (:func:`_harvests`), each group in the order of ``entries``: stored before
    :func:`_refuse_duplicate` refused the second (by an earlier release, or written so in
    koprik.toml), each record is stored under each name. A source of the database that
    koprik.toml hides (:func:`hidden`) is not harvested, and not among them."""
    shadowed = hidden(entries)
    groups: dict[tuple[object, ...], list[SourceEntry]] = {}
    for entry in entries:
        if entry not in shadowed:
            groups.setdefault(_harvests(entry.source), []).append(entry)
    return [group for group in groups.values() if len(group) > 1]


def twins(entries: Sequence[SourceEntry], entry: SourceEntry) -> list[SourceEntry]:
    """The other sources among ``entries`` (:func:`all_sources`) that harvest the same records
    as ``entry`` (its group of :func:`alike`), in their order: what one source's page and the
    API say of it, as the list does."""
    for group in alike(entries):
        if entry in group:
            return [other for other in group if other != entry]
    return []


def disabled_mark(source: HarvestSource) -> str:
    """`` (disabled)`` after the name of a disabled source where another is said to harvest
    its records: it has no scheduled runs, so an operator might take it for no harvest at all,
    but it is harvested by hand, and on its schedule once enabled; empty for an enabled one."""
    return "" if source.enabled else " (disabled)"


def named(source: HarvestSource) -> str:
    """The name of ``source`` as a note of sources :func:`alike` says it
    (:func:`disabled_mark`)."""
    return source.name + disabled_mark(source)


def alike_note(group: Sequence[SourceEntry]) -> str:
    """What is said of a group of sources :func:`alike`."""
    first = group[0].source
    names = ", ".join(named(entry.source) for entry in group)
    return (f"{names}: harvest {shown_url(first.url)} with the same {_ALIKE[first.protocol]}: "
            "each record is stored once under each name")


def _refuse_duplicate(settings: Settings, catalog: Catalog, source: HarvestSource) -> None:
    """Refuse ``source`` (as it is to be stored) when another source harvests the same records
    (:func:`_harvests`), naming it: both were harvested, and every record stored twice."""
    harvests = _harvests(source)
    for entry in all_sources(settings, catalog):
        if entry.source.name != source.name and _harvests(entry.source) == harvests:
            raise SourceError(f"source {entry.source.name!r}{disabled_mark(entry.source)} "
                              f"harvests {shown_url(source.url)} "
                              f"with the same {_ALIKE[source.protocol]} already: each record "
                              "would be stored twice", "url")


def add_source(
    settings: Settings, catalog: Catalog, source: HarvestSource, *, check: bool = True
) -> tuple[HarvestSource, Identity | TargetCheck | SruCheck | None]:
    """Store a new source after checking it answers (unless ``check`` is False; see
    :func:`probe`).

    An empty ``prefix`` of an OAI-PMH source is filled in with the preferred format the source
    offers (an SRU source's, MARCXML if offered, else DC). Returns the source as stored, and
    what its Identify said (OAI-PMH), or what explain and the search of its query found (SRU),
    or what the search of its query found (Z39.50).
    """
    source = _trimmed(source)
    validate(source)
    _refuse_bare_m(source.every)
    if _named(settings, catalog, source.name):
        raise SourceError(f"a source named {source.name!r} exists already")
    if any(f.name == source.name for f in settings.file_sources):  # records of one origin
        raise SourceError(f"a file source named {source.name!r} is defined in {settings.file}")
    found = None
    if check:
        source, found = probe(source)
    elif not source.prefix and source.protocol == OAI_PMH:
        raise SourceError("without the check, give the metadataPrefix")
    _refuse_duplicate(settings, catalog, source)
    added = insert(harvest_sources).values(_stored_row(source))
    try:
        executed(catalog.engine, added, f"adding source {source.name!r}")
    except IntegrityError:  # added meanwhile (a form sent twice at once, two operators)
        if added_source(catalog, source.name) is None:
            raise
        raise SourceError(f"a source named {source.name!r} exists already") from None
    return source, found


def edit_source(
    settings: Settings, catalog: Catalog, name: str, /, *, check: bool = True,
    as_read: HarvestSource | None = None, **changes: object,
) -> HarvestSource:
    """Change fields of a source added from the command line; re-checks a new address, prefix,
    query or charset (see :func:`probe`). ``name`` is positional only, so that a ``name`` among
    ``changes`` (an API client's) is a change, refused as a rename. With ``as_read``, the
    source as a form showed it, the change is refused (:class:`SourceChanged`) unless the
    source is still so as it is made. An address whose password is masked, as :func:`shown`
    shows it, keeps the stored password."""
    entry = _editable(settings, catalog, name)
    if any(source.name == name for source in settings.sources):  # the one harvested
        raise SourceError(f"source {name!r} is defined in {settings.file} too, which is the one "
                          f"harvested: change it there (`koprik sources remove {name}` removes "
                          "the added one)")  # (changed, the added one still was not harvested)
    try:
        source = _trimmed(dataclasses.replace(entry.source, **changes))  # type: ignore[arg-type]
    except TypeError as error:
        raise SourceError(str(error)) from error
    if source.name != name:
        raise SourceError("a source cannot be renamed; remove it and add it again")
    try:
        source = dataclasses.replace(source, url=_unmasked(source.url, entry.source.url))
        validate(source)
        if source.every != entry.source.every:  # (one stored before keeps its minutes)
            _refuse_bare_m(source.every)
    except SourceError as error:
        raise SourceError(f"source {name!r} not changed: {error}") from error
    if check and _address_of(source) != _address_of(entry.source):
        source, _found = probe(source)
    elif not source.prefix and source.protocol == OAI_PMH:
        raise SourceError("without the check, give the metadataPrefix")  # as add says
    if _harvests(source) != _harvests(entry.source):  # (two stored before are let be)
        try:
            _refuse_duplicate(settings, catalog, source)
        except SourceError as error:
            raise SourceError(f"source {name!r} not changed: {error}") from None
    edited = {field.name: getattr(source, field.name) for field in dataclasses.fields(source)
              if getattr(source, field.name) != getattr(entry.source, field.name)}
    return transaction(catalog.engine, partial(_edited, name, edited, as_read),
                       f"changing source {name!r}")


def _edited(
    name: str, edited: dict[str, object], as_read: HarvestSource | None, connection: Connection
) -> HarvestSource:
    """The fields ``edited`` (with what the check chose) put on source ``name`` as it is now,
    the catalogue's one writer meanwhile, and checked again: two edits at once each wrote the
    whole row it had read, one undoing the other's change, and each was checked against that
    row alone (one set ``every``, the other ``cron``: stored both, never scheduled again).
    Refused when the source is no longer ``as_read`` (given): two forms shown alike and sent
    at once each passed a comparison made before either wrote."""
    hold_writes(connection)
    row = connection.execute(select(harvest_sources).where(harvest_sources.c.name == name)).first()
    if row is None:
        raise UnknownSource(f"no source named {name!r} (removed meanwhile)")
    now = _from_row(row)
    if as_read is not None and now != as_read:
        raise SourceChanged(name)
    source = dataclasses.replace(now, **edited)  # type: ignore[arg-type]
    try:
        validate(source)
    except SourceError as error:
        raise SourceError(f"source {name!r} not changed: {error} (with the change made "
                          "meanwhile)") from error
    before, after = _to_row(now), _stored_row(source)
    columns = {column: value for column, value in after.items() if before.get(column) != value}
    if columns:
        connection.execute(
            update(harvest_sources).where(harvest_sources.c.name == name).values(columns))
    return source


def remove_source(settings: Settings, catalog: Catalog, name: str) -> None:
    """Forget a source added from the command line, and its harvest state: the watermark, where
    an unfinished run stood, its failed windows (its harvested records stay, and its runs and
    rejects as history). A source added again under the name is harvested from the start, as a
    new one: an old watermark would keep it from ever asking for the records older than it.

    Refused (:class:`SourceInUse`) while a run of the source holds its lock: the run would write the
    state again. When koprik.toml defines a source of the name too (the one harvested), the
    state is that source's and stays.
    """
    _editable(settings, catalog, name)
    removal = delete(harvest_sources).where(harvest_sources.c.name == name)
    if any(source.name == name for source in settings.sources):
        executed(catalog.engine, removal, f"removing source {name!r}")
        return
    _forget_state(catalog, name, "not removed (remove it once the run has ended)", removal)


def forget_state(settings: Settings, catalog: Catalog, name: str) -> None:
    """Forget the harvest state of a source no longer configured (a ``[[sources]]`` entry
    dropped from koprik.toml): its watermark, where an unfinished run stood. Kept, a source added
    again under the name goes on from it; forgotten, that source is harvested from the start,
    as one removed with :func:`remove_source` and added again is.

    Refused for a source configured (its runs use the state), for a name with no state
    (:class:`UnknownSource`), and while a run holds the source (:class:`SourceInUse`).
    """
    if _named(settings, catalog, name):
        raise SourceError(f"source {name!r} is configured: its harvest state is in use")
    with catalog.engine.connect() as connection:
        kept = connection.execute(
            select(harvest_state.c.source).where(harvest_state.c.source == name)
        ).first()
    if kept is None:
        raise UnknownSource(f"no harvest state of a source named {name!r}")
    _forget_state(catalog, name, "not forgotten (forget it once the run has ended)")


def _forget_state(catalog: Catalog, name: str, refusal: str, *also: Executable) -> None:
    """Delete the harvest state of source ``name`` (and run ``also`` in the same transaction)
    under its lock: a run holding it would write the state again (:class:`SourceInUse`, saying
    ``refusal``)."""
    engine = catalog.engine
    owner = locks.new_owner()
    try:
        locks.acquire(engine, name, owner)
    except locks.SourceBusy as busy:
        raise SourceInUse(f"{busy}: {refusal}") from None

    def forget(connection: Connection) -> None:
        for statement in also:
            connection.execute(statement)
        connection.execute(delete(harvest_state).where(harvest_state.c.source == name))

    try:
        transaction(engine, forget, f"forgetting the harvest state of source {name!r}")
    finally:
        locks.release(engine, name, owner)


def _address_of(source: HarvestSource) -> tuple[object, ...]:
    """What :func:`probe` checks: a change to any of it is checked again (the sets too: a
    misspelt one would be asked from the watermark, which covers it, and found empty at every
    run unsaid)."""
    return (source.protocol, source.url, source.prefix, source.query, source.charset,
            tuple(source.sets))


def _editable(settings: Settings, catalog: Catalog, name: str) -> SourceEntry:
    """The database's source ``name``: also when koprik.toml, edited after it was added,
    defines one of that name too (which is the one harvested), so that it can be removed."""
    entry = find_source(settings, catalog, name)
    if entry.origin == FROM_FILE:
        stored = added_source(catalog, name)
        if stored is None:
            raise SourceError(f"source {name!r} is defined in {settings.file}; change it there")
        entry = SourceEntry(stored, FROM_DATABASE)
    return entry


def _to_row(source: HarvestSource) -> dict[str, object]:
    """The ``harvest_sources`` row of a source."""
    fields = dataclasses.asdict(source)
    fields["sets"] = " ".join(source.sets)
    return {column.name: fields[column.name] for column in harvest_sources.columns}


def _stored_row(source: HarvestSource) -> dict[str, object]:
    """:func:`_to_row`, once each text fits its column (:func:`check_lengths`)."""
    check_lengths(source)
    return _to_row(source)


def check_lengths(source: HarvestSource | FileSource) -> None:
    """Raise SourceError (its key the field's) for a text of ``source`` longer than the
    ``harvest_sources`` column of its name: PostgreSQL refuses a longer one (the API answered
    500) where SQLite stores it whole. A source of koprik.toml is held to them too
    (:func:`config.settings.settings_from_mapping`), a file source's name, institution code
    and name as well: its name is the ``source`` of its records and runs, as long."""
    for name, value in dataclasses.asdict(source).items():
        limit = getattr(harvest_sources.c[name].type, "length", None) if (
            name in harvest_sources.c) else None
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise SourceError(f"{name}: at most {limit} characters, got {len(value)}", name)


def _from_row(row: object) -> HarvestSource:
    mapping = dict(row._mapping)  # type: ignore[attr-defined]
    mapping["sets"] = mapping["sets"].split()
    return HarvestSource(**mapping)

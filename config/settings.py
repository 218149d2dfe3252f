"""Typed settings for Koprik, read from ``koprik.toml``.

Every setting has a default, so Koprik runs with no file at all. ``KOPRIK_CONFIG`` names the
file; otherwise ``./koprik.toml`` is read when it exists. A key that is unknown or of the wrong
type raises :class:`ConfigError` whose message names the key and what was expected, so start-up
stops with one line instead of a traceback.

Sections map onto dataclasses one to one; a TOML table is a nested dataclass, an array of
tables is a ``list`` of dataclasses. The loader is generic over the dataclass fields, so adding a
setting means adding one field with its default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_ENV = "KOPRIK_CONFIG"
DEFAULT_FILE = "koprik.toml"


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message is one line for the operator."""


@dataclass(frozen=True)
class RepositorySettings:
    """What Identify says about us."""

    name: str = "Koprik demo repository of the National Library"
    base_url: str = "http://127.0.0.1:8080/oai"
    admin_email: list[str] = field(default_factory=lambda: ["admin@natlib.example.uz"])
    identifier_prefix: str = "oai:natlib.uz:"
    """``oai:`` + repositoryIdentifier (which must contain a dot) + ``:``."""
    description: str = ""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/koprik.sqlite3"
    """SQLAlchemy URL. SQLite (WAL) by default; ``postgresql+psycopg://...`` for a national node."""
    echo: bool = False


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    http_port: int = 8080
    """The HTTP port: OAI-PMH at /oai."""
    z3950_port: int = 2100
    z3950_database: str = "Default"
    z3950_idle_timeout: float = 600.0
    z3950_max_result_sets: int = 32
    """Result sets one Z39.50 session keeps; a new one evicts the least recently used."""
    z3950_max_connections: int = 256
    """Z39.50 connections served at once; one more is sent Close (resources)."""
    z3950_max_pdu_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class SearchSettings:
    """Limits of the search service under Z39.50 and SRU (``[search]``)."""

    max_result_set: int = 200_000
    """Most record ids one result set keeps; a search may count more, retrieval stops there."""
    max_sort_keys: int = 3
    max_scan_terms: int = 500
    sru_default_records: int = 10
    """SRU maximumRecords when a request gives none."""
    sru_max_records: int = 100
    """Most records one SRU response carries (a larger maximumRecords is lowered to it)."""
    sru_result_set_ttl: int = 600
    """Seconds an SRU result set id stays usable after its last use (0: no result set ids)."""
    sru_max_result_sets: int = 1000
    """SRU result sets kept at once across all clients; the least recently used goes first."""
    sru_max_request_bytes: int = 64 * 1024
    """Largest SRU request (a POST body, or an HTTP request on the Z39.50 port)."""


_SEARCH_RANGES = {
    "max_result_set": (1, 10_000_000),
    "max_sort_keys": (1, 16),
    "max_scan_terms": (1, 10_000),
    "sru_default_records": (0, 10_000),
    "sru_max_records": (1, 10_000),
    "sru_result_set_ttl": (0, 7 * 24 * 3600),
    "sru_max_result_sets": (1, 1_000_000),
    "sru_max_request_bytes": (1024, 16 * 1024 * 1024),
}


@dataclass(frozen=True)
class OaiSettings:
    page_size: int = 500
    """Records (or headers) per ListRecords/ListIdentifiers page."""
    token_lifetime: int = 24 * 3600
    """Seconds a resumption token stays valid."""
    token_secret: str = ""
    """HMAC key for resumption tokens; empty means one derived from the database URL."""
    max_concurrent_lists: int = 8
    """List requests served at once; more get HTTP 503 with Retry-After."""
    retry_after: int = 10
    max_request_bytes: int = 64 * 1024


@dataclass(frozen=True)
class LimitSettings:
    """Bounds on what a client, a partner or a file can make Koprik hold."""

    max_record_bytes: int = 1024 * 1024
    """The largest record read, harvested, stored or served, in bytes as serialized."""


LIMIT_RANGES = {"max_record_bytes": (1024, 64 * 1024 * 1024)}


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


def _default_sets() -> list[SetRule]:
    return [
        SetRule(spec="lang", name="By language", rule="language"),
        SetRule(spec="type", name="By material type", rule="material"),
        SetRule(spec="inst", name="By contributing institution", rule="institution"),
    ]


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
    delay: float = 1.0
    timeout: float = 60.0
    retries: int = 5
    enabled: bool = True
    charset: str = ""


@dataclass(frozen=True)
class CopyTarget:
    """A foreign catalogue the dashboard's copy cataloguing searches (``[[dashboard.targets]]``).

    ``url`` is ``z3950://HOST:PORT/DATABASE`` for ``protocol = "z3950"``."""

    name: str
    url: str
    protocol: str = "z3950"
    charset: str = ""


@dataclass(frozen=True)
class DashboardSettings:
    """The operators' web dashboard at ``/`` (koprik/dashboard/)."""

    public_records: bool = True
    """Record search and record pages (and the workbench) open to anyone; false: sign-in."""
    public_partner: bool = True
    """The overview and partner pages open to anyone; false: sign-in."""
    session_lifetime: int = 8 * 3600
    """Seconds a sign-in lasts (60 .. 30 days)."""
    login_attempts: int = 5
    """Failed sign-ins allowed per address and name within ``login_window`` (1 .. 1000)."""
    login_window: int = 300
    """Seconds over which failed sign-ins are counted (1 .. 1 day)."""
    max_upload_bytes: int = 5 * 1024 * 1024
    """Largest form body (workbench upload) accepted (1 KiB .. 100 MiB)."""
    copy_timeout: float = 10.0
    """Seconds each copy-cataloguing target gets to answer a search (0 < t <= 300)."""
    targets: list[CopyTarget] = field(default_factory=list)


_DASHBOARD_RANGES = {
    "session_lifetime": (60, 30 * 86400),
    "login_attempts": (1, 1000),
    "login_window": (1, 86400),
    "max_upload_bytes": (1024, 100 * 1024 * 1024),
}
COPY_PROTOCOLS = ("z3950",)


def _check_dashboard(dashboard: DashboardSettings, origin: str) -> None:
    for key, (low, high) in _DASHBOARD_RANGES.items():
        value = getattr(dashboard, key)
        if not low <= value <= high:
            raise ConfigError(
                f"{origin}: dashboard.{key}: expected {low} .. {high}, got {value!r}"
            )
    if not 0 < dashboard.copy_timeout <= 300:
        raise ConfigError(
            f"{origin}: dashboard.copy_timeout: expected 0 < seconds <= 300, "
            f"got {dashboard.copy_timeout!r}"
        )
    names = set()
    for index, target in enumerate(dashboard.targets):
        where = f"{origin}: dashboard.targets[{index}]"
        if target.protocol not in COPY_PROTOCOLS:
            raise ConfigError(
                f"{where}.protocol: expected one of {', '.join(COPY_PROTOCOLS)}, "
                f"got {target.protocol!r}"
            )
        if not target.url.startswith("z3950://"):
            raise ConfigError(f"{where}.url: expected z3950://HOST:PORT/DATABASE")
        if not target.name or target.name in names:
            raise ConfigError(f"{where}.name: empty or used twice: {target.name!r}")
        names.add(target.name)


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
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings from ``path``, ``$KOPRIK_CONFIG`` or ``./koprik.toml``; defaults otherwise."""
    if path is None:
        path = os.environ.get(CONFIG_ENV) or (DEFAULT_FILE if Path(DEFAULT_FILE).exists() else None)
    if path is None:
        return Settings()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    settings = settings_from_mapping(data, origin=str(path))
    return settings


def settings_from_mapping(data: dict[str, Any], origin: str = "settings") -> Settings:
    """Build :class:`Settings` from parsed TOML, checking every key and type."""
    settings = _build(Settings, data, origin)
    for index, rule in enumerate(settings.sets):
        if rule.rule not in RULES:
            raise ConfigError(
                f"{origin}: sets[{index}].rule: expected one of {', '.join(RULES)}, "
                f"got {rule.rule!r}"
            )
    _check_dashboard(settings.dashboard, origin)
    for key, (low, high) in LIMIT_RANGES.items():
        value = getattr(settings.limits, key)
        if not low <= value <= high:
            raise ConfigError(f"{origin}: limits.{key}: expected {low} to {high}, got {value}")
    for key, (low, high) in _SEARCH_RANGES.items():
        value = getattr(settings.search, key)
        if not low <= value <= high:
            raise ConfigError(f"{origin}: search.{key}: expected {low}..{high}, got {value}")
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


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r}; expected one of {', '.join(fields)}")
        values[key] = _coerce(hints[key], value, f"{where}.{key}" if where else key)
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing key {missing[0]!r}")
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str) and item is str:
            return [value]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
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
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value

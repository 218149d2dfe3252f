"""Settings: the typed ``koprik.toml`` loader and its defaults."""

from config.settings import (
    ConfigError,
    DatabaseSettings,
    HarvestSettings,
    HarvestSource,
    LimitSettings,
    LogSettings,
    OaiSettings,
    RepositorySettings,
    SearchSettings,
    ServerSettings,
    SetRule,
    Settings,
    load_settings,
    settings_file,
    settings_from_mapping,
)
from config.version import koprik_version

__all__ = [
    "ConfigError",
    "DatabaseSettings",
    "HarvestSettings",
    "HarvestSource",
    "LimitSettings",
    "LogSettings",
    "OaiSettings",
    "RepositorySettings",
    "SearchSettings",
    "ServerSettings",
    "SetRule",
    "Settings",
    "koprik_version",
    "load_settings",
    "settings_file",
    "settings_from_mapping",
]

"""Settings: the typed ``koprik.toml`` loader and its defaults."""

from config.settings import (
    ConfigError,
    DatabaseSettings,
    HarvestSource,
    LimitSettings,
    OaiSettings,
    RepositorySettings,
    SearchSettings,
    ServerSettings,
    SetRule,
    Settings,
    load_settings,
    settings_from_mapping,
)

__all__ = [
    "ConfigError",
    "DatabaseSettings",
    "HarvestSource",
    "LimitSettings",
    "OaiSettings",
    "RepositorySettings",
    "SearchSettings",
    "ServerSettings",
    "SetRule",
    "Settings",
    "load_settings",
    "settings_from_mapping",
]

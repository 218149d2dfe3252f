"""Koprik's version, as installed (pyproject.toml), for ``--version``, ``/health`` and logs."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def koprik_version() -> str:
    """The installed distribution's version; ``unknown`` when run from a tree not installed."""
    try:
        return version("koprik")
    except PackageNotFoundError:
        return "unknown"

"""Koprik's version, as installed (pyproject.toml), for ``--version``, ``/health`` and logs.

:mod:`importlib.metadata` is imported when the version is first asked for, not with this module
(every ``koprik`` command imports :mod:`config`; only a few ask, and the import took 25 ms).
"""

from __future__ import annotations

from functools import cache


@cache
def koprik_version() -> str:
    """The installed distribution's version; ``unknown`` when run from a tree not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("koprik")
    except PackageNotFoundError:
        return "unknown"

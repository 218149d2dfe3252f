"""The modules pyproject.toml lists as compiled run compiled, and from their current source.

Python imports a compiled extension in preference to the module's source, so an extension
older than its source would run (and be tested) instead of the code beside it.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPILED: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"][
    "koprik"
]["compiled"]


def test_the_list_names_existing_modules() -> None:
    assert COMPILED, "pyproject.toml [tool.koprik] compiled lists no module"
    assert all((ROOT / path).is_file() for path in COMPILED)


@pytest.mark.parametrize("path", COMPILED)
def test_a_listed_module_is_loaded_from_an_extension_built_after_its_source(path: str) -> None:
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    loaded = Path(module.__file__ or "")
    assert loaded.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), (
        f"{path} runs from {loaded.name}, not compiled: run `make install`"
    )
    assert loaded.stat().st_mtime >= (ROOT / path).stat().st_mtime, (
        f"{path} changed after it was compiled: run `make install`"
    )


def test_no_module_off_the_list_runs_from_an_extension() -> None:
    """An extension left behind by a module taken off the list would still be loaded."""
    packages = ("koprik", "config", "catalog", "crosswalks", "protocols", "harvester", "provider")
    built = {
        str(path.relative_to(ROOT)).split(".", 1)[0] + ".py"
        for package in packages
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        for path in (ROOT / package).rglob(f"*{suffix}")
    }
    assert built <= set(COMPILED), f"not listed as compiled: {sorted(built - set(COMPILED))}"


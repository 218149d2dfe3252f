"""Koprik's build: the project is described in pyproject.toml; this adds the modules of the
ingest path compiled to C by mypyc (``[tool.koprik] compiled`` lists them; see README.md)."""

import tomllib
from pathlib import Path

from mypyc.build import mypycify
from setuptools import setup

PROJECT = tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text("utf-8"))

setup(ext_modules=mypycify(PROJECT["tool"]["koprik"]["compiled"]))

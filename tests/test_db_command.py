"""``koprik db``: a catalogue made by the release before schema revisions is refused, upgraded by
``koprik db upgrade``, and then serves the same records over OAI-PMH (SQLite and PostgreSQL).

The catalogue is ``tests/data/catalog-before-revisions.sqlite3``, made by that release's code
(tests/data/README.md). On PostgreSQL the same rows are copied into tables made by the baseline
revision, without ``alembic_version``: what that release's ``create_all`` made there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import MetaData, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from catalog import Catalog
from catalog.db import open_engine
from catalog.schema import BASELINE, alembic_config, head
from config import load_settings
from koprik.cli import main
from provider.app import init_app
from tests.conftest import DATA, ROOT
from tests.servers import run_script

BEFORE = DATA / "catalog-before-revisions.sqlite3"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
PARSER = etree.XMLParser(no_network=True, resolve_entities=False)


def _copy_into_postgresql(url: str) -> None:
    from alembic import command

    source = create_engine(f"sqlite:///{BEFORE}")
    target = open_engine(url)
    try:
        with target.begin() as connection:
            command.upgrade(alembic_config(connection), BASELINE)
            connection.execute(text("DROP TABLE alembic_version"))
        tables = MetaData()
        tables.reflect(source)
        with source.connect() as reading, target.begin() as writing:
            for table in tables.sorted_tables:
                rows = [dict(row._mapping) for row in reading.execute(select(table))]
                if rows:
                    writing.execute(table.insert(), rows)
            for name in ("records", "harvest_runs", "harvest_rejects"):
                writing.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {name}), 0) + 1, false)"
                ))
    finally:
        source.dispose()
        target.dispose()


@pytest.fixture
def config_before(catalog_url: str, tmp_path: Path) -> Path:
    """A koprik.toml naming a catalogue made before schema revisions were kept."""
    if catalog_url.startswith("sqlite"):
        shutil.copy(BEFORE, make_url(catalog_url).database or "")
    else:
        _copy_into_postgresql(catalog_url)
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{catalog_url}"\n[oai]\npage_size = 7\n')
    return config


def _stored(url: str) -> dict[str, tuple[int, bool, bytes | None]]:
    """local id -> (datestamp, deleted, marc21 rendition) read straight from the tables."""
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT r.local_id, r.datestamp, r.deleted, d.data FROM records r "
                "LEFT JOIN renditions d ON d.record_id = r.id AND d.format = 'marc21'"
            )).all()
    finally:
        engine.dispose()
    return {row[0]: (int(row[1]), bool(row[2]), row[3]) for row in rows}


def _canonical(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


async def _harvest(client: Any) -> dict[str, tuple[str, bool, bytes | None]]:
    """Every record of ListRecords (marc21), following the resumption tokens."""
    served: dict[str, tuple[str, bool, bytes | None]] = {}
    query = {"verb": "ListRecords", "metadataPrefix": "marc21"}
    while True:
        response = await client.get("/oai", params=query)
        root = etree.fromstring(await response.read(), PARSER)
        for record in root.iter(f"{OAI}record"):
            header = record.find(f"{OAI}header")
            identifier = header.findtext(f"{OAI}identifier")
            metadata = record.find(f"{OAI}metadata")
            served[identifier] = (
                header.findtext(f"{OAI}datestamp"),
                header.get("status") == "deleted",
                None if metadata is None else _canonical(metadata[0]),
            )
        token = root.findtext(f".//{OAI}resumptionToken")
        if not token:
            return served
        query = {"verb": "ListRecords", "resumptionToken": token}


async def test_a_catalogue_from_before_revisions_is_upgraded_and_serves_the_same_records(
    config_before: Path, catalog_url: str, aiohttp_client: Any, capsys: pytest.CaptureFixture[str]
):
    stored = _stored(catalog_url)
    assert len(stored) == 31 and sum(deleted for _, deleted, _ in stored.values()) == 1

    assert main(["--config", str(config_before), "runs"]) == 2
    refusal = capsys.readouterr().err
    assert refusal.count("\n") == 1
    assert "was made before schema revisions were kept" in refusal
    assert "run `koprik db upgrade`" in refusal

    assert main(["--config", str(config_before), "db", "current"]) == 1  # not current
    assert "is at (before revisions)" in capsys.readouterr().out
    assert main(["--config", str(config_before), "db", "upgrade"]) == 0
    assert f"upgraded from (before revisions) to revision {head()}" in capsys.readouterr().out
    assert main(["--config", str(config_before), "runs"]) == 0
    assert "partner" in capsys.readouterr().out  # the harvest tables came through too

    settings = load_settings(config_before)
    catalog = Catalog.open(settings)
    client = await aiohttp_client(init_app(settings, catalog))
    served = await _harvest(client)
    prefix = settings.repository.identifier_prefix
    from protocols.oaipmh import format_datestamp

    expected = {
        prefix + local_id: (
            format_datestamp(datestamp),
            deleted,
            None if deleted else _canonical(etree.fromstring(data, PARSER)),
        )
        for local_id, (datestamp, deleted, data) in stored.items()
    }
    assert served == expected


def test_an_upgraded_catalogue_takes_new_records(config_before: Path):
    from catalog.demo import demo_records

    assert main(["--config", str(config_before), "db", "upgrade"]) == 0
    settings = load_settings(config_before)
    catalog = Catalog.open(settings)
    try:
        record = list(demo_records(40, seed=99))[-1]
        with catalog.writer() as writer:
            writer.put(record, local_id="after-upgrade")
        assert catalog.get_entry("after-upgrade", "marc21") is not None
    finally:
        catalog.close()


def test_a_catalogue_older_than_the_baseline_is_named_with_what_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    database = tmp_path / "old.sqlite3"
    shutil.copy(BEFORE, database)
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE harvest_state DROP COLUMN failed_windows"))
    engine.dispose()
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n')
    assert main(["--config", str(config), "db", "upgrade"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "predates the baseline schema 0001 (missing harvest_state.failed_windows)" in error


def test_current_says_when_the_catalogue_is_current(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]):
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n')
    settings = load_settings(config)
    Catalog.open(settings).close()
    assert main(["--config", str(config), "db", "current"]) == 0
    expected = f"is at {head()}; this Koprik needs {head()} (current)\n"
    assert capsys.readouterr().out.endswith(expected)
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert "nothing to do" in capsys.readouterr().out


@pytest.mark.parametrize(("state", "status"), [
    ("current", 0), ("newer", 1), ("empty", 1), ("missing", 2), ("unreachable", 2),
])  # fmt: skip
def test_db_current_exits_as_the_readme_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], state: str, status: int
):
    """README said "exit status 0 only when it is at this release's revision, 1 otherwise",
    while a catalogue file that is not there (or a database not reached) is 2, one line, as
    for every command: what ``db upgrade`` cannot mend is not a catalogue to upgrade."""
    database = tmp_path / "k.sqlite3"
    url = f"sqlite:///{database}"
    if state == "unreachable":
        from tests.conftest import free_port

        url = f"postgresql+psycopg://koprik@127.0.0.1:{free_port()}/koprik"
    elif state == "empty":
        database.touch()
    elif state != "missing":
        Catalog.open(load_settings(_config(tmp_path, url))).close()
    if state == "newer":
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        engine.dispose()
    assert main(["--config", str(_config(tmp_path, url)), "db", "current"]) == status
    said = capsys.readouterr()
    assert (said.err if status == 2 else said.out).count("\n") == 1
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert ("exit status 0 only when it is at this release's revision; 1 when it is at another "
            "(older, newer, or none yet: an empty database, which `koprik db upgrade` brings to "
            "it); 2, with one line, when it cannot tell: no catalogue file where `database.url` "
            "says") in readme  # fmt: skip


def _config(folder: Path, url: str) -> Path:
    config = folder / "koprik.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    return config


@pytest.mark.parametrize("action", ["current", "upgrade", "reindex", "renditions", "sets"])
def test_a_catalogue_that_is_not_there_is_said_and_not_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
):
    """``db upgrade`` on a mistyped path made a new, empty catalogue and called it current."""
    missing = tmp_path / "no-folder" / "k.sqlite3"
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{missing}"\n')
    assert main(["--config", str(config), "db", action]) == 2
    said = {"current": "it has no revision", "sets": "no records to place",
            "renditions": "no records to make the formats of"}.get(action, f"nothing to {action}")
    assert capsys.readouterr().err == (
        f"koprik: no catalogue at {missing} (database.url): {said}\n"
    )  # ("nothing to current", as db current said, is not English; nor "nothing to sets")
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    ("command", "said"),
    [(["export", "-o", "{tmp}/out.mrc"], "nothing to export"), (["runs"], "no runs to list"),
     (["dedup"], "nothing to deduplicate"), (["dedup", "review"], "nothing to deduplicate"),
     (["users", "list"], "it has no operators (koprik users add makes it with the first)"),
     (["users", "token", "alice"],
      "it has no operators (koprik users add makes it with the first)"),
     (["sources", "list"],
      "no sources added there, no harvest state (koprik sources add makes it with the first)"),
     *((["sources", action, "partner"], "no source partner added there")
       for action in ("remove", "enable", "disable", "forget")),
     (["sources", "edit", "partner", "--every", "1h"], "no source partner added there"),
     (["harvest", "partner"], "no source partner added there")],
)
def test_a_reading_command_does_not_make_a_catalogue_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], said: str
):
    """At a mistyped path, export made a new, empty catalogue and wrote 0 records (status 0),
    runs listed none, dedup found nothing to do, users and sources none to list (and sources
    none to change), harvest no source of that name."""
    missing = tmp_path / "no-folder" / "k.sqlite3"
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{missing}"\n')
    arguments = [part.format(tmp=tmp_path) for part in command]
    assert main(["--config", str(config), *arguments]) == 2
    assert capsys.readouterr().err == f"koprik: no catalogue at {missing} (database.url): {said}\n"
    assert not missing.parent.exists() and not (tmp_path / "out.mrc").exists()


def test_sources_of_the_file_are_listed_without_making_a_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """With no catalogue at database.url, koprik sources list shows the settings file's
    sources (as before a first harvest) and says there is none, and makes none."""
    missing = tmp_path / "no-folder" / "k.sqlite3"
    config = tmp_path / "other.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{missing}"\n[[sources]]\nname = "regional"\n'
                      'url = "http://127.0.0.1:9/oai"\nprefix = "oai_dc"\n')  # fmt: skip
    assert main(["--config", str(config), "sources", "list"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split()[:6] == ["regional", "other.toml", "yes", "oai_dc", "-",
                                               "-"]  # fmt: skip
    assert err == (f"koprik: no catalogue at {missing} (database.url): the sources of "
                   f"{config} alone, never harvested\n")  # fmt: skip
    assert not missing.parent.exists()


def test_revision_writes_the_next_revision_from_the_changed_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from sqlalchemy import Column, Integer, Table, inspect

    from catalog import models, schema
    from catalog.db import all_tables

    versions = tmp_path / "versions"
    shutil.copytree(schema.VERSION_LOCATIONS[0], versions)
    monkeypatch.setattr(schema, "VERSION_LOCATIONS", [versions])
    before = head()
    all_tables("sqlite")  # every module's tables are defined: the probe is the only change
    metadata = models.metadata
    probe = Table("probe", metadata, Column("id", Integer, primary_key=True))
    try:
        assert main(["db", "revision", "add the probe table"]) == 0
    finally:
        metadata.remove(probe)
    written = f"{int(before) + 1:04d}"
    path = versions / f"{written}_add_the_probe_table.py"
    assert f"db: wrote {path}" in capsys.readouterr().out
    assert head() == written
    assert "op.create_table('probe'" in path.read_text()
    engine = open_engine(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    try:
        from catalog.schema import upgrade

        upgrade(engine)
        assert inspect(engine).has_table("probe")
    finally:
        engine.dispose()


def test_an_upgraded_catalogue_has_the_index_its_records_make(config_before: Path):
    """Revision 0007 makes the index again, in the field-numbered table with the sort keys in
    their own, and 0009 leaves in ``any`` only what no other index has: each live record then
    has in the index exactly what writing it now gives, and nothing else is there (so later
    updates find and remove exactly its terms). Copying the old rows over fails here: that
    release's rules made other terms."""
    from catalog.search_index import read_canonical, terms_of
    from tests.test_search_index import residual, stored

    assert main(["--config", str(config_before), "db", "upgrade"]) == 0
    settings = load_settings(config_before)
    engine = open_engine(settings.database.url)
    try:
        with engine.connect() as connection:
            records = connection.execute(text(
                "SELECT id, marc FROM records WHERE NOT deleted AND union_id IS NULL")).all()
            expected = {(*term, row.id) for row in records
                        for term in residual(terms_of(read_canonical(row.marc)))}
            found = {(*term, row.id) for row in records for term in stored(connection, row.id)}
            everything = len(stored(connection))
    finally:
        engine.dispose()
    assert len(records) == 30 and found == expected
    assert everything == len({entry[:3] for entry in expected})


def test_reindex_makes_every_records_terms_again(
    catalog_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """``koprik db reindex`` (after a Python whose Unicode tables fold otherwise, or to repair):
    terms lost are made again, terms no rule gives any more go."""
    from catalog.demo import demo_records
    from catalog.search_index import read_canonical, stored_terms, terms_of, write_entries
    from tests.test_search_index import _add_stale, residual, stored

    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{catalog_url}"\n')
    catalog = Catalog.open(load_settings(config))
    try:
        with catalog.writer() as writer:
            for record in demo_records(12):
                writer.put(record)
        with catalog.engine.begin() as connection:
            held = sorted({record_id for _, _, record_id in stored_terms(connection)})
            write_entries(connection, [(record_id, None) for record_id in held[:3]])
            _add_stale(connection, held[4], "otherrules")
    finally:
        catalog.close()
    assert main(["--config", str(config), "db", "reindex"]) == 0
    assert capsys.readouterr().out.endswith(": the search terms of 12 records made again\n")
    engine = open_engine(catalog_url)
    try:
        with engine.connect() as connection:
            records = connection.execute(text("SELECT id, marc FROM records")).all()
            for row in records:
                assert stored(connection, row.id) == residual(terms_of(read_canonical(row.marc)))
    finally:
        engine.dispose()
    assert len(records) == 12


def test_current_does_not_advise_an_upgrade_for_a_newer_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """A catalogue stamped by a newer Koprik: ``db upgrade`` refuses it, so ``db current`` must
    not tell to run it."""
    database = tmp_path / "k.sqlite3"
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n')
    Catalog.open(load_settings(config)).close()
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    assert main(["--config", str(config), "db", "current"]) == 1
    out = capsys.readouterr().out
    assert out.endswith(
        f"is at 9999; this Koprik needs {head()} (newer than this Koprik knows: run the Koprik "
        "release that upgraded it, or restore a backup taken before that upgrade)\n"
    )
    assert main(["--config", str(config), "db", "upgrade"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "newer than this Koprik knows" in error
    assert "restore a backup taken before" in error


@pytest.mark.parametrize("command", [["runs"], ["export", "-o", "-"], ["db", "current"],
                                     ["db", "upgrade"], ["demo", "--records", "3"]])
def test_another_applications_database_is_refused_and_left_as_it_is(
    catalog_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """A ``database.url`` naming another application's database: ``koprik runs`` (a command
    that only reads) made a catalogue's tables beside that application's, ``db current``
    called it empty, ``export`` wrote 0 records."""
    engine = create_engine(catalog_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE invoices (id INTEGER)"))
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{catalog_url}"\n')
    assert main(["--config", str(config), *command]) == 2
    shown = make_url(catalog_url).render_as_string(hide_password=True)
    assert capsys.readouterr().err == (
        f"koprik: {shown} is not a Koprik catalogue: it holds another application's tables "
        "(invoices), left as they are; give database.url a database of its own\n")
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert tables == {"invoices"}


def stopped_at(
    tmp_path: Path, patch: str, *argv: str, signal_name: str = "SIGINT"
) -> subprocess.CompletedProcess[str]:
    """``koprik --config tmp_path/koprik.toml ARGV`` run as a script whose ``patch`` (lines
    of Python, ``koprik.commands`` imported) sends it a ^C (``stop()``; ``signal_name``
    SIGTERM: a service manager's stop) at a chosen step, once a batch is committed: the place
    of an operator's ^C made certain."""
    return run_script(tmp_path, (
        "import os, signal, sys\n"
        "import koprik.commands.db, koprik.commands.dedup\n"
        "from koprik.program import run\n"
        "def stop():\n"
        f"    os.kill(os.getpid(), signal.{signal_name})\n"
        f"{patch}"
        f"sys.argv = ['koprik', '--config', {str(tmp_path / 'koprik.toml')!r}, *{argv!r}]\n"
        "run()\n"
    ))


def stopped_after_first_batch(function: str, callback: str, batch: int) -> str:
    """A patch for :func:`stopped_at`: ``function`` (``module.name``, called with its
    arguments and a ``callback`` told of each batch committed) run with batches of ``batch``,
    and stopped once its first batch is told."""
    module, _, name = function.rpartition(".")
    return (f"{name} = {module}.{name}\n"
            f"def stopped(*given, {callback}):\n"
            "    def told(*done):\n"
            f"        {callback}(*done)\n"
            "        stop()\n"
            f"    return {name}(*given, batch={batch}, {callback}=told)\n"
            f"{module}.{name} = stopped\n")



def demo_catalogue(tmp_path: Path, records: int) -> None:
    """A SQLite catalogue of ``records`` demo records, named by ``tmp_path/koprik.toml``."""
    (tmp_path / "koprik.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n')
    made = subprocess.run([sys.executable, "-m", "koprik", "--config",
                           str(tmp_path / "koprik.toml"), "demo", "--records", str(records)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert made.returncode == 0, made.stderr


def test_a_reindex_interrupted_says_how_far_it_got_and_to_run_it_again(tmp_path: Path) -> None:
    """A ^C after the first batch of ``koprik db reindex`` (100 records a transaction here):
    one line saying how many records' terms were made again and to run it again. It said
    only "koprik: interrupted", the index left half made again unsaid."""
    demo_catalogue(tmp_path, 300)
    stopped = stopped_at(tmp_path, stopped_after_first_batch(
        "koprik.commands.db.rebuild", "progress", 100), "db", "reindex")
    assert stopped.returncode == 130, stopped.stderr
    assert stopped.stderr.splitlines() == [
        "koprik: interrupted after the search terms of 100 records were made again: the others "
        "keep their earlier ones; run `koprik db reindex` again (it begins anew)"]
    again = main(["--config", str(tmp_path / "koprik.toml"), "db", "reindex"])
    assert again == 0


@pytest.mark.parametrize(("signal_name", "said", "status"),
                         [("SIGINT", "interrupted", 130), ("SIGTERM", "terminated", 143)])
def test_sets_interrupted_says_how_far_it_got_and_to_run_it_again(
    tmp_path: Path, signal_name: str, said: str, status: int
) -> None:
    """A ^C (or SIGTERM) after the first batch of ``koprik db sets`` (100 records a transaction
    here), the rules changed: one line saying how many records were placed, what holds until
    it ends (serve refused by the earlier rules and by these) and to run it again, which
    places them all. It said only "koprik: interrupted"."""
    from catalog.set_rules import SetRulesChanged, check
    from config import Settings

    demo_catalogue(tmp_path, 300)
    config = tmp_path / "koprik.toml"
    config.write_text(config.read_text()
                      + '[[sets]]\nspec = "lang"\nname = "Languages"\nrule = "language"\n')
    stopped = stopped_at(tmp_path, stopped_after_first_batch(
        "koprik.commands.db.place_again", "progress", 100), "db", "sets",
        signal_name=signal_name)  # fmt: skip
    assert stopped.returncode == status, stopped.stderr
    assert stopped.stderr.splitlines() == [
        f"koprik: {said} after 100 records were placed by the [[sets]] rules (100 in other sets "
        "than before): the others keep their earlier sets, and koprik serve starts by neither "
        "the earlier rules nor these; run `koprik db sets` again (it begins anew, finding those "
        "placed unchanged)"]
    engine = open_engine(load_settings(config).database.url)
    try:
        for rules in (Settings().sets, load_settings(config).sets):
            with pytest.raises(SetRulesChanged):
                check(engine, rules, str(config))
        again = subprocess.run([sys.executable, "-m", "koprik", "--config", str(config), "db",
                                "sets"], capture_output=True, text=True, timeout=120,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
        assert again.returncode == 0, again.stderr
        placed = re.fullmatch(r"db: \S+: (\d+) records placed by the \[\[sets\]\] rules, "
                              r"(\d+) of them in other sets than before\n", again.stdout)
        assert placed is not None, again.stdout
        looked, moved = int(placed[1]), int(placed[2])
        assert looked > 200 and moved == looked - 100  # the first 100 found unchanged
        check(engine, load_settings(config).sets, str(config))  # placed by them now
    finally:
        engine.dispose()


def test_renditions_interrupted_says_how_far_it_got_and_to_run_it_again(tmp_path: Path) -> None:
    """A ^C after the first batch of ``koprik db renditions`` (100 records a transaction
    here): one line saying how many records' formats were made again and to run it again; it
    said only "koprik: interrupted"."""
    demo_catalogue(tmp_path, 300)
    stopped = stopped_at(tmp_path, stopped_after_first_batch(
        "koprik.commands.db.make_again", "progress", 100), "db", "renditions")
    assert stopped.returncode == 130, stopped.stderr
    assert stopped.stderr.splitlines() == [
        "koprik: interrupted after the formats of 100 records were made again (0 changed): the "
        "others keep their earlier ones; run `koprik db renditions` again (those made are found "
        "unchanged)"]

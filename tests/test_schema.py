"""Schema revisions (catalog/schema.py, catalog/migrations/) on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pymarc import Record
from sqlalchemy import inspect, text

from catalog import Catalog, SchemaError
from catalog import schema as schema_module
from catalog.db import all_tables, open_engine
from catalog.schema import BASELINE, EMPTY, ensure_current, head, revision_of, upgrade
from catalog.search_index import is_fts_table
from config import Settings

PROBE_REVISION = '''"""A test-only revision one step after the head: adds a table."""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("probe", sa.Column("id", sa.Integer(), primary_key=True))
'''


@pytest.fixture
def probe_revision(tmp_path, monkeypatch) -> str:
    """A revision after the head, in a folder of the test's; returns its id (the new head)."""
    folder = tmp_path / "versions"
    folder.mkdir()
    (folder / "9001_probe.py").write_text(PROBE_REVISION.format(revision="9001", down=head()))
    monkeypatch.setattr(schema_module, "VERSION_LOCATIONS",
                        [*schema_module.VERSION_LOCATIONS, folder])
    return "9001"


def test_the_revisions_have_one_head_from_the_baseline():
    assert head()  # raises SchemaError on two heads (two branches each adding a revision)
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(schema_module.alembic_config())
    assert [s.revision for s in scripts.walk_revisions()][-1] == BASELINE


def test_a_new_catalogue_is_created_at_the_head(catalog: Catalog):
    with catalog.engine.connect() as connection:
        assert revision_of(connection) == head()


def test_the_revisions_build_exactly_the_tables_of_the_code(catalog_url: str):
    """Running every revision on an empty database gives the tables the models define: a
    change to the models without its revision (or a wrong revision) fails here."""
    engine = open_engine(catalog_url)
    try:
        with engine.connect() as connection:
            assert revision_of(connection) == EMPTY
        assert upgrade(engine) == (EMPTY, head())
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: kind != "table" or not is_fts_table(name),
            })  # fmt: skip
            assert compare_metadata(context, all_tables(connection.dialect.name)) == []
    finally:
        engine.dispose()


def test_a_catalogue_one_revision_behind_is_refused_then_upgraded(
    settings: Settings, probe_revision: str, monkeypatch: pytest.MonkeyPatch
):
    behind = schema_module.VERSION_LOCATIONS[:-1]
    with monkeypatch.context() as m:
        m.setattr(schema_module, "VERSION_LOCATIONS", behind)
        Catalog.open(settings).close()  # made by the Koprik before the probe revision
        previous = head()
    with pytest.raises(SchemaError) as refused:
        Catalog.open(settings)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        f"the catalogue {settings.database.url} has schema revision {previous}; this Koprik "
        f"needs revision {probe_revision}: run `koprik db upgrade` (after `koprik backup`)"
    )
    engine = open_engine(settings.database.url)
    try:
        before, after = upgrade(engine)
        assert after == probe_revision and before != after
        assert inspect(engine).has_table("probe")
    finally:
        engine.dispose()
    Catalog.open(settings).close()


def test_a_catalogue_of_a_newer_koprik_is_refused(settings: Settings, probe_revision: str,
                                                  monkeypatch: pytest.MonkeyPatch):
    Catalog.open(settings).close()  # made at the probe revision
    monkeypatch.setattr(schema_module, "VERSION_LOCATIONS", schema_module.VERSION_LOCATIONS[:-1])
    with pytest.raises(SchemaError, match=r"revision 9001, newer than this Koprik knows"):
        Catalog.open(settings)


def test_an_empty_database_is_created_once_by_concurrent_openers(catalog_url: str):
    from concurrent.futures import ThreadPoolExecutor

    engines = [open_engine(catalog_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(ensure_current, engines))
        with engines[0].connect() as connection:
            assert revision_of(connection) == head()
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [row[0] for row in rows] == [head()]
    finally:
        for engine in engines:
            engine.dispose()


REBUILD_REVISION = '''"""A test-only revision rebuilding records (batch mode on SQLite)."""

import sqlalchemy as sa
from alembic import op

revision = "9002"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rebuild = "always" if op.get_context().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("records", recreate=rebuild) as batch:
        batch.add_column(sa.Column("probe", sa.Integer(), nullable=True))
'''


def test_a_revision_that_rebuilds_a_table_keeps_the_rows_referring_to_it(
    settings: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    from catalog.demo import demo_records

    catalog = Catalog.open(settings)
    with catalog.writer() as writer:
        for record in demo_records(10):
            writer.put(record)
    catalog.close()
    counts = "SELECT (SELECT count(*) FROM renditions), (SELECT count(*) FROM record_sets)"
    engine = open_engine(settings.database.url)
    try:
        with engine.connect() as connection:
            before = tuple(connection.execute(text(counts)).one())
        folder = tmp_path / "rebuild"
        folder.mkdir()
        (folder / "9002_rebuild.py").write_text(REBUILD_REVISION.format(down=head()))
        monkeypatch.setattr(schema_module, "VERSION_LOCATIONS",
                            [*schema_module.VERSION_LOCATIONS, folder])
        assert upgrade(engine)[1] == "9002"
        with engine.connect() as connection:
            assert tuple(connection.execute(text(counts)).one()) == before
            assert before[0] == 30  # three renditions of each record
            assert connection.exec_driver_sql("SELECT probe FROM records").first() == (None,)
            if connection.dialect.name == "sqlite":  # and foreign keys are enforced again
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_a_catalogue_at_0004_is_upgraded_to_the_shared_sign_in_failures(settings: Settings):
    """Revision 0005 adds ``login_failures`` to a catalogue made at 0004, its users intact."""
    from alembic import command
    from sqlalchemy import insert

    from catalog.models import users
    from catalog.schema import alembic_config
    from koprik.dashboard.limits import LoginLimiter

    engine = open_engine(settings.database.url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0004")
            connection.execute(insert(users).values(name="alice", password_hash="x", created=1))
        with pytest.raises(SchemaError, match="has schema revision 0004"):
            Catalog.open(settings)
        assert upgrade(engine) == ("0004", head())
        assert inspect(engine).has_table("login_failures")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT name FROM users")).scalars().all() == ["alice"]
    finally:
        engine.dispose()
    catalog = Catalog.open(settings)
    try:
        limiter = LoginLimiter(catalog.engine, attempts=1, window=60)
        limiter.failed("10.0.0.1", "alice", now=1)
        assert not limiter.allowed("10.0.0.1", "alice", now=2)
    finally:
        catalog.close()


def test_a_catalogue_at_0008_keeps_of_any_only_what_no_other_index_has(settings: Settings):
    """Revision 0009 deletes the ``any`` rows that repeat another index's term of the record;
    searches answer as before. It changes no table: a catalogue at 0008 is one at the head,
    less the columns 0010, 0012, 0013, 0014, 0020 and 0022 add and the table 0017 adds (on
    SQLite with the B-tree index 0011 replaces), whose ``any`` holds every term, as 0008's code
    wrote it (here from ``terms_of``)."""
    from catalog import query as q
    from catalog.demo import demo_records
    from catalog.search_index import (
        FIELDS,
        check_fts,
        entries_of,
        read_canonical,
        stored_terms,
        terms,
        terms_of,
    )
    from catalog.store import Incoming
    from tests.test_query_any import expected_ids, queries

    catalog = Catalog.open(settings)
    try:
        with catalog.writer() as writer:
            writer.put_many([Incoming(record) for record in demo_records(150)])
        with catalog.engine.begin() as connection:
            stored = {row.id: read_canonical(row.marc) for row in connection.execute(
                text("SELECT id, marc FROM records"))}  # fmt: skip
            residue = {(f, t, i) for i, r in stored.items() for f, t in entries_of(r).pairs}
            full = {(FIELDS[index, kind], term, i) for i, r in stored.items()
                    for index, kind, term in terms_of(r) if kind != "s"}  # fmt: skip
            if connection.dialect.name == "sqlite":  # the index as it was before 0011
                for table in ("search_vocab", "search_fts", "search_docs"):
                    connection.execute(text(f"DROP TABLE {table}"))
                terms.create(connection)
            connection.execute(terms.delete())
            connection.execute(terms.insert(), [
                {"field": f, "term": t, "record_id": i} for f, t, i in sorted(full)])  # fmt: skip
            for column in ("watermark_endpoint", "watermark_sets"):  # added by 0010
                connection.execute(text(f"ALTER TABLE harvest_state DROP COLUMN {column}"))
            connection.execute(text("ALTER TABLE harvest_runs DROP COLUMN gone"))  # added by 0012
            connection.execute(text("ALTER TABLE harvest_state DROP COLUMN done_sets"))  # by 0013
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN crosswalk"))  # 0014
            connection.execute(text("DROP TABLE set_rules"))  # added by 0017
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN holdings"))  # 0020
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN "
                                    "tolerated_shortfall"))  # 0022
            connection.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    finally:
        catalog.close()
    whole: dict[str, dict[str, set[int]]] = {"w": {}, "p": {}}
    for field, term, record_id in full:
        if field in (FIELDS["any", "w"], FIELDS["any", "p"]):
            whole["w" if field % 2 else "p"].setdefault(term, set()).add(record_id)
    engine = open_engine(settings.database.url)
    try:
        assert len(residue) < len(full)
        assert upgrade(engine) == ("0008", head())
        with engine.connect() as connection:
            assert stored_terms(connection) == residue
            check_fts(connection)
            for query in queries(whole, stored):
                expected = sorted(expected_ids(whole, query))
                assert q.search(connection, query, limit=100_000).ids == expected, query
    finally:
        engine.dispose()


def test_a_catalogue_at_0009_keeps_its_watermarks_covering_the_sources_as_they_are(
    settings: Settings,
):
    """Revision 0010 records what a watermark covers (its sets and endpoint). A watermark of a
    catalogue at 0009 records neither and is taken as covering the source as it is: the next
    run asks each of its sets from the watermark (the upgrade starts no full harvest), and the
    watermark it moves records what it covers."""
    from alembic import command
    from sqlalchemy import select

    from catalog.demo import demo_records
    from catalog.harvest_state import harvest_state
    from catalog.schema import alembic_config
    from config import HarvestSource
    from harvester.runs import SUCCEEDED, harvest
    from tests.fault_provider import FAST, FaultProvider, serve

    watermark = "2020-01-01T19:59:59Z"  # the provider's records are hourly from 2020-01-01
    engine = open_engine(settings.database.url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0009")
            connection.execute(text("INSERT INTO harvest_state (source, watermark, failed_windows)"
                                    " VALUES ('partner', :watermark, 0)"), {"watermark": watermark})
        with pytest.raises(SchemaError, match="has schema revision 0009"):
            Catalog.open(settings)
        assert upgrade(engine) == ("0009", head())
    finally:
        engine.dispose()
    provider = FaultProvider(list(demo_records(30)), page_size=5, sets=("a", "b"))
    catalog = Catalog.open(settings)
    try:
        with catalog.engine.connect() as connection:
            state = connection.execute(select(harvest_state)).one()
        assert (state.watermark, state.watermark_endpoint, state.watermark_sets) == (
            watermark, None, None)
        with serve(provider.app()) as url:
            source = HarvestSource(name="partner", url=url, sets=["a", "b"])
            report = harvest(catalog, source, politeness=FAST)
        assert (report.status, report.errors, report.counts.added) == (SUCCEEDED, [], 10)
        assert [(r["set"], r["from"]) for r in provider.list_requests()] == [
            ("a", watermark), ("b", watermark)]
        with catalog.engine.connect() as connection:
            state = connection.execute(select(harvest_state)).one()
        assert (state.watermark, state.watermark_endpoint, state.watermark_sets) == (
            report.watermark, f"oai-pmh {url} marc21", "a b")
    finally:
        catalog.close()


def test_a_catalogue_at_0011_keeps_its_runs_with_no_deletions_counted_gone(settings: Settings):
    """Revision 0012 adds ``harvest_runs.gone``, the deletions of records not held. A run
    recorded before it keeps its counts as they were (such deletions are in its ``unchanged``,
    which cannot be told apart afterwards): none is counted gone."""
    from alembic import command

    from catalog.schema import alembic_config

    engine = open_engine(settings.database.url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0011")
            connection.execute(text(
                "INSERT INTO harvest_runs (source, status, started, \"full\", added, updated,"
                " deleted, unchanged, rejected, requests, pages, errors)"
                " VALUES ('partner', 'succeeded', 1, false, 1, 2, 3, 4, 5, 6, 7, '')"))
        assert upgrade(engine) == ("0011", head())
        with engine.connect() as connection:
            row = connection.execute(text("SELECT * FROM harvest_runs")).mappings().one()
        assert (row["added"], row["unchanged"], row["gone"], row["pages"]) == (1, 4, 0, 7)
    finally:
        engine.dispose()


def test_a_catalogue_at_0014_gets_the_terms_and_match_keys_of_this_release(settings: Settings):
    """Revision 0015 makes every live record's search terms and match keys again from its
    stored MARC by this release's folding (every y as i), and queues the records for
    deduplication. A catalogue at 0014 is one at the head (less the table 0017 adds) whose
    terms and keys were made by the earlier rules: here the terms of half the records are gone
    and every key and profile, which the revision must give back as a new catalogue has them."""
    from catalog import models
    from catalog.demo import demo_records
    from catalog.search_index import stored_terms, write_entries
    from catalog.store import Incoming

    def derived(connection) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
        keys = {tuple(row) for row in connection.execute(
            text('SELECT kind, "key", record_id FROM match_keys'))}  # fmt: skip
        profiles = {row.id: row.match_profile for row in connection.execute(
            text("SELECT id, match_profile FROM records"))}  # fmt: skip
        return stored_terms(connection), keys, profiles

    catalog = Catalog.open(settings)
    try:
        with catalog.writer() as writer:
            writer.put_many([Incoming(record) for record in demo_records(150)])
        with catalog.engine.begin() as connection:
            expected = derived(connection)
            ids = list(connection.execute(text("SELECT id FROM records")).scalars())
            write_entries(connection, [(record_id, None) for record_id in ids[::2]])
            connection.execute(models.match_keys.delete())
            connection.execute(text("UPDATE records SET match_profile = NULL"))
            connection.execute(models.dedup_queue.delete())
            connection.execute(text("DROP TABLE set_rules"))  # added by 0017
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN holdings"))  # 0020
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN "
                                    "tolerated_shortfall"))  # 0022
            connection.execute(text("UPDATE alembic_version SET version_num = '0014'"))
            assert derived(connection) != expected
    finally:
        catalog.close()
    engine = open_engine(settings.database.url)
    try:
        told: list[tuple[int, int]] = []
        assert upgrade(engine, settings, lambda done, total: told.append((done, total))) == (
            "0014", head())  # fmt: skip
        with engine.connect() as connection:
            assert derived(connection) == expected
            queued = set(connection.execute(text("SELECT record_id FROM dedup_queue")).scalars())
            live = set(connection.execute(
                text("SELECT id FROM records WHERE NOT deleted AND NOT is_union")).scalars())
            assert queued == live and len(live) > 100
        total = max(total for _, total in told)  # 0015's: the live records indexed, then
        of_0015 = [done for done, of in told if of == total]  # every record keyed (0016 reads
        assert of_0015[-1] == total >= 2 * len(live)  # every record once)
        assert of_0015 == sorted(of_0015)
    finally:
        engine.dispose()


def _typed(local: str, title: str, author: str) -> Record:
    """A record with a 001, a 100 and a 245 typed as given (the revisions that fold letters
    otherwise are tested on them)."""
    from pymarc import Field, Subfield

    record = Record(force_utf8=True)
    record.add_field(Field(tag="001", data=local))
    record.add_field(Field(tag="100", indicators=["1", " "],
                           subfields=[Subfield("a", author)]))  # fmt: skip
    record.add_field(Field(tag="245", indicators=["1", "0"],
                           subfields=[Subfield("a", title)]))  # fmt: skip
    return record


def test_a_catalogue_at_0015_gets_the_terms_and_keys_of_its_records_typed_with_an_acute(
    settings: Settings,
):
    """Revision 0016 makes the search terms and match keys of the records whose MARC holds
    ´ or ˊ (the acute accent typed for the Uzbek apostrophe) again, and queues them for
    deduplication; it leaves every other record as it is. A catalogue at 0015 is one at the
    head whose terms and keys were made by the earlier rules: here every record's are gone, and
    only those of the two records typed with an accent must come back as a new catalogue has
    them (found by oʻzbek as by ўзбек) when it is upgraded to 0016 (0018 rekeys others)."""
    from alembic import command

    from catalog import models
    from catalog import query as q
    from catalog.demo import demo_records
    from catalog.schema import alembic_config
    from catalog.search_index import stored_terms, write_entries
    from catalog.store import Incoming

    def derived(connection, ids) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
        keys = {tuple(row) for row in connection.execute(
            text('SELECT kind, "key", record_id FROM match_keys'))}  # fmt: skip
        return stored_terms(connection), {k for k in keys if k[2] in ids}, keys - {
            k for k in keys if k[2] in ids}  # fmt: skip

    catalog = Catalog.open(settings)
    try:
        with catalog.writer() as writer:
            writer.put_many([Incoming(r) for r in demo_records(40)] + [
                Incoming(_typed("acute", "O´zbekiston tarixi", "G´afurov, B.")),
                Incoming(_typed("modifier", "Oˊzbek tili", "Qodiriy, A.")),
            ])  # fmt: skip
        with catalog.engine.begin() as connection:
            ids = list(connection.execute(text("SELECT id FROM records")).scalars())
            accented = set(connection.execute(text(
                "SELECT id FROM records WHERE local_id IN ('acute', 'modifier')")).scalars())
            expected_terms = stored_terms(connection, list(accented))
            expected_keys = derived(connection, accented)[1]
            write_entries(connection, [(record_id, None) for record_id in ids])
            connection.execute(models.match_keys.delete())
            connection.execute(models.dedup_queue.delete())
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN holdings"))  # 0020
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN "
                                    "tolerated_shortfall"))  # 0022
            connection.execute(text("UPDATE alembic_version SET version_num = '0015'"))
    finally:
        catalog.close()
    engine = open_engine(settings.database.url)
    try:
        told: list[tuple[int, int]] = []
        with engine.begin() as connection:
            config = alembic_config(connection, settings, lambda *done: told.append(done))
            command.upgrade(config, "0016")
        with engine.connect() as connection:
            terms, keys, other_keys = derived(connection, accented)
            assert terms == expected_terms and keys == expected_keys and not other_keys
            queued = set(connection.execute(text("SELECT record_id FROM dedup_queue")).scalars())
            assert queued == accented
            for word in ("oʻzbekiston", "ўзбекистон", "gʻafurov", "ўзбек"):
                found = q.search(connection, q.Match("any", word), limit=10).ids
                assert set(found) & accented, word
        assert told[-1] == (len(ids), len(ids))
    finally:
        engine.dispose()


def test_a_catalogue_at_0016_takes_its_first_opener_s_set_rules_as_those_it_was_placed_by(
    settings: Settings,
):
    """Revision 0017 adds ``set_rules``, empty: the records of a catalogue made before it were
    placed by the rules of the time, which the first command opening it records."""
    from alembic import command

    from catalog.schema import alembic_config
    from catalog.set_rules import SetRulesChanged, check, described, placed_by

    engine = open_engine(settings.database.url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0016")
        assert upgrade(engine) == ("0016", head())
        with engine.connect() as connection:
            assert placed_by(connection) is None
        check(engine, [], "koprik.toml")  # none recorded: nothing to refuse
        Catalog.open(settings).close()
        with engine.connect() as connection:
            assert placed_by(connection) == described(settings.sets) == {
                "inst": "institution", "lang": "language", "type": "material"}
        check(engine, settings.sets, "koprik.toml")
        with pytest.raises(SetRulesChanged, match=r"\(lang removed\)"):
            check(engine, settings.sets[1:], "koprik.toml")
    finally:
        engine.dispose()


def test_a_catalogue_at_0017_gets_its_union_records_and_arabic_script_names_made_again(
    settings: Settings,
):
    """Revision 0018 queues the live members of every group, so that the next deduplication
    writes each union record again with every holding of its members: here a union record
    stored as the earlier rules made it (one 852 per institution) gets the other branch's. It
    rekeys the records whose main entry is romanized from the Arabic script (Nawāʼī, whose
    profile had the author nawai), and those only."""
    import dataclasses

    from pymarc import Field, Record, Subfield

    from catalog.dedup import run_dedup
    from catalog.store import Incoming, canonical_marc
    from config.settings import FileSource
    from tests.books import book

    settings = dataclasses.replace(settings, file_sources=[FileSource("sam", "UzSaRL", "S")])
    branches = book("1", "Kimyo", author="Rahimov, Botir", sublocation="Abonement")
    branches.add_field(Field(tag="852", indicators=[" ", " "],
                             subfields=[Subfield("a", "X"), Subfield("b", "Filial 2")]))
    catalog = Catalog.open(settings)
    try:
        with catalog.writer() as writer:
            writer.put_many([Incoming(branches, source="sam"),
                             Incoming(book("7", "Кимё", author="Раҳимов, Ботир")),
                             Incoming(book("8", "Xamsa", author="Nawāʼī, ʻAlī Shīr")),
                             Incoming(book("9", "Xamsa", author="Wilson, Robert", year=1990)),
                             Incoming(book("10", "Tarix", author="Navoiy, Alisher"))])
        run_dedup(catalog)
        union = Record(data=catalog.marc_of("union:1"), force_utf8=True)
        union.remove_field(union.get_fields("852")[1])  # as the earlier rules made it
        with catalog.engine.begin() as connection:
            connection.execute(text("UPDATE records SET marc = :marc, digest = 'earlier' "
                                    "WHERE local_id = 'union:1'"),
                               {"marc": canonical_marc(union)})
            connection.execute(text("DELETE FROM dedup_queue"))
            connection.execute(text("UPDATE records SET match_profile = replace(match_profile, "
                                    "'navoii', 'nawai') WHERE local_id = '8'"))
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN holdings"))  # 0020
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN "
                                    "tolerated_shortfall"))  # 0022
            connection.execute(text("UPDATE alembic_version SET version_num = '0017'"))
    finally:
        catalog.close()
    engine = open_engine(settings.database.url)
    try:
        assert upgrade(engine, settings) == ("0017", head())
        with engine.connect() as connection:
            queued = set(connection.execute(text("SELECT record_id FROM dedup_queue")).scalars())
            members = set(connection.execute(
                text("SELECT id FROM records WHERE union_id IS NOT NULL")).scalars())
            rekeyed = dict(connection.execute(text(
                "SELECT id, match_profile FROM records WHERE local_id IN ('8', '9')")).all())
        assert len(members) == 2 and queued == members | set(rekeyed)
        assert sorted('"author":"navoii"' in p or '"author":"vilson"' in p
                      for p in rekeyed.values()) == [True, True]
    finally:
        engine.dispose()
    union = _union_after_dedup(settings)
    assert [(f.get("a"), f.get("b")) for f in union.get_fields("852")] == [
        ("UzSaRL", "Abonement"), ("UzSaRL", "Filial 2"), ("UzNL", None)]


def test_a_catalogue_at_0018_gets_the_union_records_of_groups_with_textual_holdings_made_again(
    settings: Settings,
):
    """Revision 0019 queues the live members of the groups one of whose members has textual
    holdings (866-868), those only: the next deduplication writes their union record again,
    the member's 866 linked to its 852 (here stored as the earlier rules made it, the 866
    lost)."""
    from pymarc import Field, Subfield

    from tests.books import book

    serial = book("1", "Fan", author="Rahimov, Botir", sublocation="Davriy nashrlar", level="s")
    serial.add_field(Field(tag="866", indicators=["4", "1"], subfields=[
        Subfield("8", "0"), Subfield("a", "1991-2010")]))

    def as_earlier(union: Record) -> None:  # only the base's 866, and not this base's
        assert union.get_fields("866")
        for field in union.get_fields("866"):
            union.remove_field(field)

    settings, grouped = _stored_as_earlier(
        settings, serial, as_earlier, "0018",
        "ALTER TABLE harvest_sources DROP COLUMN holdings",  # 0020's
        "ALTER TABLE harvest_sources DROP COLUMN tolerated_shortfall")  # 0022's
    assert sorted(grouped) == ["7", "9", "sam:1", "sam:8"]  # two groups
    assert _queued_by_upgrade(settings, "0018") == {grouped["sam:1"], grouped["7"]}
    union = _union_after_dedup(settings)
    assert [(f.get("8"), f.get("a"), f.get("b")) for f in union.get_fields("852")] == [
        ("1", "UzSaRL", "Davriy nashrlar"), (None, "UzNL", None)]
    assert [(f.get("8"), f.get("a")) for f in union.get_fields("866")] == [("1", "1991-2010")]


def test_a_catalogue_at_0019_keeps_its_sources_crediting_every_copy_to_their_institution(
    settings: Settings,
):
    """Revision 0020 adds ``harvest_sources.holdings``: a source added before it is its
    institution's (``source``), as a source of koprik.toml is without the setting; a
    catalogue at 0019 is one at the head less that column (and 0022's)."""
    from config import HarvestSource
    from harvester.sources import add_source, find_source

    catalog = Catalog.open(settings)
    try:
        add_source(settings, catalog, HarvestSource(name="kar", url="http://127.0.0.1:9/oai",
                                                    institution_code="UzKaRIK"), check=False)
        with catalog.engine.begin() as connection:
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN holdings"))
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN "
                                    "tolerated_shortfall"))  # 0022
            connection.execute(text("UPDATE alembic_version SET version_num = '0019'"))
    finally:
        catalog.close()
    engine = open_engine(settings.database.url)
    try:
        assert upgrade(engine, settings) == ("0019", head())
    finally:
        engine.dispose()
    catalog = Catalog.open(settings)
    try:
        stored = find_source(settings, catalog, "kar").source
        add_source(settings, catalog, HarvestSource(name="nuk", url="http://127.0.0.1:9/nuk",
                                                    holdings="named"), check=False)
        named = find_source(settings, catalog, "nuk").source
    finally:
        catalog.close()
    assert (stored.institution_code, stored.holdings) == ("UzKaRIK", "source")
    assert named.holdings == "named"


def test_a_catalogue_at_0020_gets_the_union_records_of_groups_with_captions_made_again(
    settings: Settings,
):
    """Revision 0021 queues the live members of the groups one of whose members has captions
    and patterns (853-855) or enumeration and chronology (863-865), those only: the next
    deduplication writes their union record again, the base's 853 and 863 linked to its 852
    (here stored as the earlier rules made it: unlinked, the 863's nonpublic note kept)."""
    from pymarc import Field, Subfield

    from tests.books import book

    serial = book("1", "Fan", author="Rahimov, Botir", sublocation="Davriy nashrlar", level="s")
    serial.add_field(
        Field(tag="853", indicators=["2", "0"], subfields=[
            Subfield("8", "1"), Subfield("a", "v."), Subfield("i", "(year)")]),
        Field(tag="863", indicators=["4", "0"], subfields=[
            Subfield("8", "1.1"), Subfield("a", "1"), Subfield("i", "2001"),
            Subfield("x", "ichki")]))

    def as_earlier(union: Record) -> None:  # the base's own, as they were
        for field in union.get_fields("853", "863"):
            union.remove_field(field)
        union.add_ordered_field(*serial.get_fields("853", "863"))

    settings, grouped = _stored_as_earlier(
        settings, serial, as_earlier, "0020",
        "ALTER TABLE harvest_sources DROP COLUMN tolerated_shortfall")  # 0022's
    assert sorted(grouped) == ["7", "9", "sam:1", "sam:8"]  # two groups
    assert _queued_by_upgrade(settings, "0020") == {grouped["sam:1"], grouped["7"]}
    union = _union_after_dedup(settings)
    assert [(f.get("8"), f.get("a"), f.get("b")) for f in union.get_fields("852")] == [
        ("1", "UzSaRL", "Davriy nashrlar"), (None, "UzNL", None)]
    assert [(f.tag, [(sf.code, sf.value) for sf in f.subfields])
            for f in union.get_fields("853", "863")] == [
        ("853", [("8", "1"), ("a", "v."), ("i", "(year)")]),
        ("863", [("8", "1.1"), ("a", "1"), ("i", "2001")])]


def test_a_catalogue_at_0021_keeps_its_sources_tolerating_no_shortfall(settings: Settings):
    """Revision 0022 adds ``harvest_sources.tolerated_shortfall``: a source added before it
    tolerates none (as every source did without the ``[harvest]`` setting it replaces); a
    catalogue at 0021 is one at the head less that column."""
    from config import HarvestSource
    from harvester.sources import add_source, edit_source, find_source

    catalog = Catalog.open(settings)
    try:
        add_source(settings, catalog, HarvestSource(name="kar", url="http://127.0.0.1:9/oai",
                                                    prefix="marc21"), check=False)
        with catalog.engine.begin() as connection:
            connection.execute(text("ALTER TABLE harvest_sources DROP COLUMN "
                                    "tolerated_shortfall"))
            connection.execute(text("UPDATE alembic_version SET version_num = '0021'"))
    finally:
        catalog.close()
    engine = open_engine(settings.database.url)
    try:
        assert upgrade(engine, settings) == ("0021", head())
    finally:
        engine.dispose()
    catalog = Catalog.open(settings)
    try:
        assert find_source(settings, catalog, "kar").source.tolerated_shortfall == 0
        edit_source(settings, catalog, "kar", check=False, tolerated_shortfall=3)
        assert find_source(settings, catalog, "kar").source.tolerated_shortfall == 3
    finally:
        catalog.close()


def test_a_catalogue_at_0022_gets_the_profiles_of_titles_with_remainders_made_again(
    settings: Settings,
):
    """Revision 0023 rekeys the live records whose match profile this release makes otherwise
    (the title's remainder, 245 $b, now in it), those only, and so queues them: the next
    deduplication takes apart the textbook and the book of exercises the earlier profiles,
    without remainders, grouped."""
    import dataclasses
    import json

    from catalog.dedup import run_dedup
    from catalog.store import Incoming
    from config.settings import FileSource
    from tests.books import book

    settings = dataclasses.replace(settings, file_sources=[FileSource("sam", "UzSaRL", "S")])
    textbook = book("1", "Matematika", author="Karimov, Alisher", subtitle="darslik")
    exercises = book("2", "Математика", author="Каримов, Алишер", subtitle="масалалар тўплами")
    catalog = Catalog.open(settings)
    try:
        with catalog.writer() as writer:
            writer.put_many([Incoming(textbook), Incoming(exercises, source="sam"),
                             Incoming(book("3", "Fizika", author="Rahimov, Botir"))])
        with catalog.engine.begin() as connection:
            for rid, profile in connection.execute(
                    text("SELECT id, match_profile FROM records")).all():
                earlier = {k: v for k, v in json.loads(profile).items() if k != "subtitles"}
                connection.execute(text("UPDATE records SET match_profile = :p WHERE id = :id"),
                                   {"p": json.dumps(earlier, ensure_ascii=False,
                                                    separators=(",", ":")), "id": rid})
        run_dedup(catalog)  # as the earlier rules grouped them
        with catalog.engine.begin() as connection:
            grouped = dict(connection.execute(text(
                "SELECT local_id, id FROM records WHERE union_id IS NOT NULL")).all())
            assert sorted(grouped) == ["1", "sam:2"]
            connection.execute(text("UPDATE alembic_version SET version_num = '0022'"))
    finally:
        catalog.close()
    assert _queued_by_upgrade(settings, "0022") == set(grouped.values())
    catalog = Catalog.open(settings)
    try:
        run_dedup(catalog)
        with catalog.engine.connect() as connection:
            groups = connection.execute(text(
                "SELECT union_id FROM records WHERE local_id IN ('1', 'sam:2')")).scalars().all()
        assert len(groups) == 2 and (None in groups or groups[0] != groups[1]), groups
    finally:
        catalog.close()


def test_a_catalogue_at_0023_keeps_no_credentials_in_the_provenance_of_its_records(
    settings: Settings,
):
    """Revision 0024 takes the user part (name and password) out of the source addresses the
    provenance of harvested records kept, which OAI-PMH served to anyone; an address with an
    @ elsewhere than in its host part, and every other column, are left as they are."""
    from catalog.demo import demo_records
    from catalog.store import Provenance

    addresses = ["http://centre:s3cret@127.0.0.1:9/oai", "https://token@127.0.0.1:9/oai?x=1",
                 "http://127.0.0.1:9/oai?contact=a@b.uz", "http://127.0.0.1:9/oai"]
    catalog = Catalog.open(settings)
    try:
        with catalog.writer() as writer:
            for number, (record, address) in enumerate(
                zip(demo_records(4), addresses, strict=True)
            ):
                writer.put(record, provenance=Provenance("kar", address, f"oai:kar:{number}",
                                                         "2026-01-01", "ns"))
        with catalog.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0023'"))
    finally:
        catalog.close()
    engine = open_engine(settings.database.url)
    try:
        assert upgrade(engine, settings) == ("0023", head())
        with engine.connect() as connection:
            kept = connection.execute(text(
                "SELECT identifier, base_url, datestamp FROM provenance ORDER BY identifier")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in kept] == [
        ("oai:kar:0", "http://127.0.0.1:9/oai", "2026-01-01"),
        ("oai:kar:1", "https://127.0.0.1:9/oai?x=1", "2026-01-01"),
        ("oai:kar:2", "http://127.0.0.1:9/oai?contact=a@b.uz", "2026-01-01"),
        ("oai:kar:3", "http://127.0.0.1:9/oai", "2026-01-01")]


def test_a_catalogue_at_0024_gets_the_terms_and_keys_of_its_records_typed_with_a_look_alike(
    settings: Settings,
):
    """Revision 0025 makes the search terms and match keys of the records whose MARC holds a
    look-alike of the apostrophe (‛ U+201B, ＇ U+FF07, ʽ U+02BD, ˈ U+02C8) again, and queues
    them for deduplication; it leaves every other record as it is. A catalogue at 0024 is one at
    the head whose terms and keys were made by the earlier rules: here every record's are gone,
    and only those of the records typed with a look-alike must come back as a new catalogue has
    them (found by o'zbekiston as by ўзбекистон) when it is upgraded."""
    from catalog import models
    from catalog import query as q
    from catalog.demo import demo_records
    from catalog.search_index import stored_terms, write_entries
    from catalog.store import Incoming

    def keys_of(connection) -> set[tuple[object, ...]]:  # type: ignore[no-untyped-def]
        return {tuple(row) for row in connection.execute(
            text('SELECT kind, "key", record_id FROM match_keys'))}  # fmt: skip

    look_alikes = [_typed("reversed", "O\u201bzbekiston tarixi", "G\u201bafurov, B."),
                   _typed("fullwidth", "O\uff07zbek tili", "Qodiriy, A."),
                   _typed("comma", "Ma\u02bdrifat", "Navoiy, A."),
                   _typed("stress", "Oˈzbek adabiyoti", "Gˈulom, G.")]  # fmt: skip
    catalog = Catalog.open(settings)
    try:
        with catalog.writer() as writer:
            writer.put_many([Incoming(r) for r in demo_records(40)]
                            + [Incoming(r) for r in look_alikes])  # fmt: skip
        with catalog.engine.begin() as connection:
            ids = list(connection.execute(text("SELECT id FROM records")).scalars())
            holding = set(connection.execute(text(
                "SELECT id FROM records WHERE local_id IN "
                "('reversed', 'fullwidth', 'comma', 'stress')")).scalars())  # fmt: skip
            expected_terms = stored_terms(connection, list(holding))
            expected_keys = {key for key in keys_of(connection) if key[2] in holding}
            assert len(holding) == len(look_alikes) and expected_keys
            write_entries(connection, [(record_id, None) for record_id in ids])
            connection.execute(models.match_keys.delete())
            connection.execute(models.dedup_queue.delete())
            connection.execute(text("UPDATE alembic_version SET version_num = '0024'"))
    finally:
        catalog.close()
    engine = open_engine(settings.database.url)
    try:
        told: list[tuple[int, int]] = []
        assert upgrade(engine, settings, lambda *done: told.append(done)) == ("0024", head())
        with engine.connect() as connection:
            assert stored_terms(connection) == expected_terms
            assert keys_of(connection) == expected_keys
            queued = set(connection.execute(text("SELECT record_id FROM dedup_queue")).scalars())
            assert queued == holding
            for word in ("o'zbekiston", "ўзбекистон", "g'afurov", "ўзбек", "маърифат", "ғулом"):
                found = q.search(connection, q.Match("any", word), limit=10).ids
                assert set(found) & holding, word
        assert told[-1] == (len(ids), len(ids))
    finally:
        engine.dispose()


def _stored_as_earlier(
    settings: Settings, serial: Record, earlier: Callable[[Record], None], revision: str,
    *undo: str,
) -> tuple[Settings, dict[str, int]]:
    """A catalogue of ``serial`` (of file source ``sam``) and three more books, deduplicated
    into two groups, whose union record ``union:1`` is then changed by ``earlier`` and stored
    so, as the rules before the revision after ``revision`` made it; the queue emptied, the
    statements ``undo`` run and the catalogue marked as at ``revision``. Returns the settings
    with that file source, and the id of each grouped record by its local id."""
    import dataclasses

    from catalog.dedup import run_dedup
    from catalog.store import Incoming, canonical_marc
    from config.settings import FileSource
    from tests.books import book

    settings = dataclasses.replace(settings, file_sources=[FileSource("sam", "UzSaRL", "S")])
    catalog = Catalog.open(settings)
    try:
        with catalog.writer() as writer:
            writer.put_many([Incoming(serial, source="sam"),
                             Incoming(book("7", "Фан", author="Раҳимов, Ботир", level="s")),
                             Incoming(book("8", "Tarix", author="Navoiy, Alisher"),
                                      source="sam"),
                             Incoming(book("9", "Тарих", author="Навоий, Алишер"))])
        run_dedup(catalog)
        union = Record(data=catalog.marc_of("union:1"), force_utf8=True)
        earlier(union)
        with catalog.engine.begin() as connection:
            connection.execute(text("UPDATE records SET marc = :marc, digest = 'earlier' "
                                    "WHERE local_id = 'union:1'"),
                               {"marc": canonical_marc(union)})
            connection.execute(text("DELETE FROM dedup_queue"))
            for statement in undo:
                connection.execute(text(statement))
            connection.execute(text("UPDATE alembic_version SET version_num = :revision"),
                               {"revision": revision})
            grouped = dict(connection.execute(text(
                "SELECT local_id, id FROM records WHERE union_id IS NOT NULL")).all())
    finally:
        catalog.close()
    return settings, grouped


def _queued_by_upgrade(settings: Settings, revision: str) -> set[int]:
    """The records queued for deduplication once the catalogue at ``revision`` is upgraded."""
    engine = open_engine(settings.database.url)
    try:
        assert upgrade(engine, settings) == (revision, head())
        with engine.connect() as connection:
            return set(connection.execute(text("SELECT record_id FROM dedup_queue")).scalars())
    finally:
        engine.dispose()


def _union_after_dedup(settings: Settings) -> Record:
    """The union record ``union:1`` once the next deduplication of the catalogue has run (what
    a revision that queues records for deduplication leads to)."""
    from catalog.dedup import run_dedup

    catalog = Catalog.open(settings)
    try:
        run_dedup(catalog)
        return Record(data=catalog.marc_of("union:1"), force_utf8=True)
    finally:
        catalog.close()

"""Set rules that change after records were stored (catalog/set_rules.py), on SQLite and
PostgreSQL, harvested over HTTP.

Records placed in sets by one set of rules; the rules change (a set added, one taken away);
``koprik serve`` refuses the catalogue until ``koprik db sets`` has placed every record again.
A harvester of a new set then gets the records stored before it, even incrementally from a time
after they were stored; a harvester of the whole repository, or of a set a record stays in, is
given nothing again.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
from typing import Any

import pytest
from lxml import etree
from pymarc import Field, Subfield
from sqlalchemy import select

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.set_rules import SetRulesChanged, check, place_again, refusal, rename
from catalog.sets import material_type
from catalog.store import Incoming, Outcome
from config import HarvestSource, SetRule, Settings
from protocols.oaipmh.dates import format_datestamp
from tests.oai_checked import checked_oai
from tests.postgres import until_waiting_for_a_lock
from tests.servers import write_config

NS = {"o": "http://www.openarchives.org/OAI/2.0/"}
RECORDS = 30
BY_MATERIAL = SetRule(spec="by", name="By material", rule="material")


def _stored_an_hour_ago(catalog: Catalog) -> int:
    """:data:`RECORDS` records stored an hour ago by the default rules; how many have a
    material type (those the rule :data:`BY_MATERIAL` places)."""
    records = list(demo_records(RECORDS, seed=5))
    with catalog.writer() as writer:
        writer.now = int(time.time()) - 3600
        for record in records:
            writer.put(record)
    return sum(material_type(record) is not None for record in records)


def _with_rules(settings: Settings, rules: list[SetRule]) -> Settings:
    return dataclasses.replace(settings, sets=rules)


def _node(catalog: Catalog, rules: list[SetRule]) -> Catalog:
    """Another node's handle on ``catalog``'s database, placing records by ``rules``."""
    return Catalog(catalog.engine, rules, settings=_with_rules(catalog.settings, rules))


def _headers(root: etree._Element) -> list[tuple[str, str]]:
    """``(identifier, datestamp)`` of each header, or [] for noRecordsMatch."""
    if root.find("o:error", NS) is not None:
        assert root.find("o:error", NS).get("code") == "noRecordsMatch"
        return []
    return [(h.findtext("o:identifier", namespaces=NS), h.findtext("o:datestamp", namespaces=NS))
            for h in root.iterfind(".//o:header", NS)]  # fmt: skip


async def test_a_set_added_holds_the_records_stored_before_it(
    aiohttp_client: Any, settings: Settings, catalog: Catalog
) -> None:
    placed = _stored_an_hour_ago(catalog)
    last_harvest = format_datestamp(int(time.time()) - 1800)  # after the records were stored
    new = _with_rules(settings, [*settings.sets, BY_MATERIAL])
    ask = await checked_oai(aiohttp_client, new, catalog)
    assert _headers(await ask(verb="ListIdentifiers", metadataPrefix="oai_dc", set="by")) == []
    with pytest.raises(SetRulesChanged) as refused:
        check(catalog.engine, new.sets, catalog.settings.file)
    assert str(refused.value) == (
        "the catalogue's records were placed in sets by other [[sets]] rules (by added): run "
        "`koprik db sets` to place every record by these, or start this node with the "
        "koprik.toml they were placed by"
    )

    started = format_datestamp(int(time.time()))
    assert place_again(catalog.engine, new.sets, batch=7) == (RECORDS, placed)
    check(catalog.engine, new.sets, catalog.settings.file)

    # An incremental harvester of the set, which never saw them, gets every record it holds,
    # each with a datestamp of when it joined (within the harvest's from).
    joined = _headers(await ask(verb="ListIdentifiers", metadataPrefix="oai_dc", set="by",
                                **{"from": last_harvest}))  # fmt: skip
    assert len(joined) == placed > 0
    assert all(datestamp >= started for _, datestamp in joined)
    one = await ask(verb="GetRecord", metadataPrefix="oai_dc", identifier=joined[0][0])
    assert "by" in one.xpath("//o:header/o:setSpec/text()", namespaces=NS)
    # A harvester of the whole repository, or of a set the records were in already, is given
    # nothing again: no metadata changed.
    assert _headers(await ask(verb="ListIdentifiers", metadataPrefix="oai_dc",
                              **{"from": last_harvest})) == []  # fmt: skip
    assert _headers(await ask(verb="ListIdentifiers", metadataPrefix="oai_dc", set="type",
                              **{"from": last_harvest})) == []  # fmt: skip
    listed = await ask(verb="ListSets")
    specs = listed.xpath("//o:setSpec/text()", namespaces=NS)
    assert "by" in specs and "by:book" in specs


async def test_a_set_taken_away_is_left_by_its_records_and_by_list_sets(
    aiohttp_client: Any, settings: Settings, catalog: Catalog
) -> None:
    _stored_an_hour_ago(catalog)
    new = _with_rules(settings, [rule for rule in settings.sets if rule.spec != "inst"])
    with pytest.raises(SetRulesChanged, match=r"\(inst removed\)"):
        check(catalog.engine, new.sets, catalog.settings.file)
    looked, moved = place_again(catalog.engine, new.sets)
    assert looked == RECORDS and moved > 0
    with catalog.engine.connect() as connection:
        rs = models.record_sets
        left = connection.execute(select(rs.c.record_id).where(rs.c.set_spec.like("inst%"))).all()
        headers = connection.execute(select(models.records.c.set_specs)).scalars().all()
    assert left == [] and not any("inst" in specs for specs in headers)
    ask = await checked_oai(aiohttp_client, new, catalog)
    specs = (await ask(verb="ListSets")).xpath("//o:setSpec/text()", namespaces=NS)
    assert specs and not [spec for spec in specs if spec.startswith("inst")]


def test_a_rule_renamed_renames_its_sets_and_asks_for_no_placing(
    settings: Settings, catalog: Catalog
) -> None:
    """ListSets kept the names the sets had when their first record was written."""
    _stored_an_hour_ago(catalog)
    renamed = [dataclasses.replace(rule, name="Languages") if rule.spec == "lang" else rule
               for rule in settings.sets]  # fmt: skip
    check(catalog.engine, renamed, catalog.settings.file)
    rename(catalog.engine, renamed)
    names = dict(catalog.list_sets())
    assert names["lang"] == "Languages" and names["lang:uzb"] == "Languages: Uzbek"
    assert names["type"] == "By material type"


def test_a_run_stopped_midway_keeps_its_batches_and_the_next_finishes(
    settings: Settings, catalog: Catalog
) -> None:
    """Each batch commits by itself; the rules are recorded only once every record is placed,
    so that a run stopped by a crash or an interrupt leaves the catalogue refused until a run
    ends (to a node on the old rules too: its writes would be refused), and that run places
    only what the first did not."""
    placed = _stored_an_hour_ago(catalog)
    rules = [*settings.sets, BY_MATERIAL]

    def interrupt(looked: int, moved: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        place_again(catalog.engine, rules, batch=10, progress=interrupt)
    with pytest.raises(SetRulesChanged):
        check(catalog.engine, rules, catalog.settings.file)
    with pytest.raises(SetRulesChanged) as refused:  # its batches are the new rules'
        check(catalog.engine, settings.sets, catalog.settings.file)
    assert str(refused.value) == (
        "`koprik db sets` is placing the catalogue's records in sets by other [[sets]] rules "
        "(by removed), or stopped before its end: start this node with the current "
        "koprik.toml once it has ended"
    )
    looked, moved = place_again(catalog.engine, rules, batch=10)
    done_first = sum(material_type(r) is not None for r in list(demo_records(RECORDS, seed=5))[:10])
    assert (looked, moved) == (RECORDS, placed - done_first)
    check(catalog.engine, rules, catalog.settings.file)


def test_memberships_committed_in_a_later_second_move_to_it(
    settings: Settings, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose COMMIT ends a second after the datestamp of the memberships its records
    joined: a harvest of the set answered in that second did not see them, and one from its
    responseDate would miss them, so they move to it, as the catalogue writer's records do.
    The records' own datestamps, and the memberships that stay, are left as they were."""
    import catalog.set_rules as set_rules

    placed = _stored_an_hour_ago(catalog)
    r, rs = models.records, models.record_sets
    with catalog.engine.connect() as connection:
        before = dict(connection.execute(select(r.c.id, r.c.datestamp)).all())
        kept = set(connection.execute(select(rs.c.record_id, rs.c.set_spec, rs.c.datestamp)).all())
    clock = [3_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    inserting = set_rules.insert_rows

    def then_a_second_passes(*args: Any) -> None:  # the last statement before COMMIT
        inserting(*args)
        clock[0] = 3_000_001.5

    monkeypatch.setattr(set_rules, "insert_rows", then_a_second_passes)
    assert place_again(catalog.engine, [*settings.sets, BY_MATERIAL]) == (RECORDS, placed)
    with catalog.engine.connect() as connection:
        after = dict(connection.execute(select(r.c.id, r.c.datestamp)).all())
        memberships = set(connection.execute(
            select(rs.c.record_id, rs.c.set_spec, rs.c.datestamp)).all())  # fmt: skip
    assert after == before
    joined = memberships - kept
    assert len({rid for rid, _, _ in joined}) == placed > 0
    assert {datestamp for _, _, datestamp in joined} == {3_000_001}
    assert memberships - joined == kept
    in_set = catalog.list_entries(None, set_spec="by", from_=3_000_001, limit=100)
    assert len(in_set) == placed


def test_serve_refuses_records_placed_by_other_rules_until_db_sets(tmp_path) -> None:
    koprik = write_config(tmp_path)
    subprocess.run(koprik.command("demo", "--records", "20"), check=True, capture_output=True,
                   timeout=300)  # fmt: skip
    with koprik.config.open("a") as config:
        for spec, name, rule in (("lang", "By language", "language"),
                                 ("by", "By material", "material")):  # fmt: skip
            config.write(f'[[sets]]\nspec = "{spec}"\nname = "{name}"\nrule = "{rule}"\n')
    refused = subprocess.run(koprik.command("serve", "--no-scheduler"), capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr == (
        "koprik: the catalogue's records were placed in sets by other [[sets]] rules (by added, "
        "inst removed, type removed): run `koprik db sets` to place every record by these, or "
        f"start this node with the {koprik.config} they were placed by\n"
    )
    placed = subprocess.run(koprik.command("db", "sets"), capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    assert placed.stdout == (
        f"db: {url}: 20 records placed by the [[sets]] rules, 20 of them in other sets than "
        "before\n"
    )
    again = subprocess.run(koprik.command("db", "sets"), capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert again.stdout.endswith(": 20 records placed by the [[sets]] rules, 0 of them in other "
                                 "sets than before\n")  # fmt: skip


async def test_a_record_leaving_a_set_is_not_in_the_set_s_incremental_list(
    aiohttp_client: Any, settings: Settings, catalog: Catalog
) -> None:
    """What the README says, as OAI-PMH has no way to say it: a record whose language is
    corrected leaves ``lang:uzb`` unseen by that set's incremental harvesters; a harvester of
    the whole repository gets it, with its sets as they are."""
    from crosswalks.dublin_core import marc_languages

    records = list(demo_records(RECORDS, seed=5))
    _stored_an_hour_ago(catalog)
    last_harvest = format_datestamp(int(time.time()) - 1800)
    record = next(r for r in records if marc_languages(r) == ["uzb"])
    record["008"].data = record["008"].data[:35] + "rus" + record["008"].data[38:]
    record.remove_fields("041")
    with catalog.writer() as writer:
        writer.put(record)
    ask = await checked_oai(aiohttp_client, settings, catalog)
    assert _headers(await ask(verb="ListIdentifiers", metadataPrefix="oai_dc", set="lang:uzb",
                              **{"from": last_harvest})) == []  # fmt: skip
    whole = await ask(verb="ListIdentifiers", metadataPrefix="oai_dc", **{"from": last_harvest})
    (header,) = whole.iterfind(".//o:header", NS)
    specs = header.xpath("o:setSpec/text()", namespaces=NS)
    assert "lang:rus" in specs and "lang:uzb" not in specs


def test_db_sets_runs_on_one_node_at_a_time(
    settings: Settings, catalog: Catalog, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On PostgreSQL a second ``koprik db sets`` (another node's) is refused while one runs:
    it would place every record twice over."""
    from harvester import advisory
    from koprik.cli import main

    if not advisory.supported(catalog.engine):
        pytest.skip("a SQLite catalogue has one node")
    _stored_an_hour_ago(catalog)
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n')
    held = advisory.try_lock(catalog.engine, advisory.CATALOG, advisory.key_of("sets"))
    assert held is not None
    try:
        assert main(["--config", str(config), "db", "sets"]) == 2
    finally:
        advisory.unlock(held)
    refused = capsys.readouterr().err
    assert refused.startswith("koprik: postgresql") and refused.endswith(
        ": another `koprik db sets` is placing its records now; wait for it to end\n")
    assert main(["--config", str(config), "db", "sets"]) == 0
    assert capsys.readouterr().out.endswith(
        f": {RECORDS} records placed by the [[sets]] rules, 0 of them in other sets than before\n")


def test_a_record_written_while_it_is_placed_keeps_the_sets_of_what_was_written(
    settings: Settings, catalog: Catalog
) -> None:
    """A harvest page writing a record of the batch being placed: the batch waits for it and
    places what it wrote. Read before, the batch would give the record the sets of its old
    MARC (lang:uzb, its header) over those of the new one (lang:rus, its memberships)."""
    import threading

    from crosswalks.dublin_core import marc_languages

    records = list(demo_records(RECORDS, seed=5))
    _stored_an_hour_ago(catalog)
    record = next(r for r in records if marc_languages(r) == ["uzb"])
    record["008"].data = record["008"].data[:35] + "rus" + record["008"].data[38:]
    record.remove_fields("041")
    rules = [*settings.sets, BY_MATERIAL]
    placing = threading.Thread(target=place_again, args=(catalog.engine, rules))
    with catalog.writer() as writer:
        writer.put(record)  # the row (PostgreSQL) or the catalogue (SQLite) is locked from here
        placing.start()
        time.sleep(1)  # the batch reads the records meanwhile, or waits for the lock
    placing.join(timeout=60)
    assert not placing.is_alive()
    r, rs = models.records, models.record_sets
    with catalog.engine.connect() as connection:
        row = connection.execute(select(r.c.id, r.c.set_specs)
                                 .where(r.c.local_id == record["001"].data)).one()  # fmt: skip
        memberships = set(connection.execute(
            select(rs.c.set_spec).where(rs.c.record_id == row.id)).scalars())  # fmt: skip
    assert "lang:rus" in row.set_specs.split() and "lang:uzb" not in row.set_specs.split()
    assert memberships == set(row.set_specs.split())
    check(catalog.engine, rules, catalog.settings.file)


def _as_russian(record: Any) -> Any:
    """``record`` changed: in Russian (its 008 language, no 041 saying otherwise), with a
    note saying so."""
    record["008"].data = record["008"].data[:35] + "rus" + record["008"].data[38:]
    record.remove_fields("041")
    record.add_ordered_field(Field("500", [" ", " "], [Subfield("a", "Translated.")]))
    return record


@pytest.mark.parametrize("aborted", ["db sets", "harvest"])
def test_db_sets_and_a_harvest_taking_records_in_opposite_orders_both_finish(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture, aborted: str
) -> None:
    """A harvest's transaction (a node on the rules ``koprik db sets`` places by) writes the
    last record of the batch db sets places, which locks the batch's records in id order up to
    it and waits; the harvest then writes the first record (its next page): each waits for the
    other, and PostgreSQL aborts one of them (``aborted``, the one whose deadlock_timeout ends
    first). That one's transaction is run again once the other has committed: both end, each
    record in the sets of what was written, and the run is said in one warning line. Before,
    the aborted one failed. A third session holding a record in between makes db sets wait
    there while the harvest starts."""
    from concurrent.futures import ThreadPoolExecutor

    if catalog.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: a writer waits for the other's lock")
    records = list(demo_records(RECORDS, seed=5))
    placed = _stored_an_hour_ago(catalog)
    first, last = _as_russian(records[0]), _as_russian(records[-1])
    rules = [*settings.sets, BY_MATERIAL]
    node = _node(catalog, rules)
    runs = 0
    r = models.records

    def harvest(writer: Any) -> None:
        nonlocal runs
        runs += 1
        if aborted == "harvest":  # a superuser setting: the tests' server runs as postgres
            writer.connection.exec_driver_sql("SET LOCAL deadlock_timeout = '100ms'")
        else:
            writer.connection.exec_driver_sql("SET LOCAL deadlock_timeout = '10s'")
        writer.put(last)
        if runs == 1:
            pid = writer.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            third.rollback()
            until_waiting_for_a_lock(catalog.engine, 1, held_by=pid)
        writer.put(first)

    with ThreadPoolExecutor(1) as pool, catalog.engine.connect() as third:
        middle = records[RECORDS // 2]["001"].data
        third.execute(select(r.c.id).where(r.c.local_id == middle).with_for_update()).one()
        placing = pool.submit(place_again, catalog.engine, rules)
        until_waiting_for_a_lock(catalog.engine, 1)
        node.write(harvest)
        # run again after the harvest, db sets finds its two records placed by its rules already
        moved = placed - (2 if aborted == "db sets" else 0)
        assert placing.result(timeout=60) == (RECORDS, moved)
    assert runs == (2 if aborted == "harvest" else 1)
    retries = [r.getMessage() for r in caplog.records if "running it again" in r.getMessage()]
    assert len(retries) == 1 and retries[0].startswith(
        "catalog transaction" if aborted == "harvest" else "placing records in sets")
    assert "deadlock detected" in retries[0]
    r, rs = models.records, models.record_sets
    with catalog.engine.connect() as connection:
        for record in (first, last):
            row = connection.execute(select(r.c.id, r.c.set_specs)
                                     .where(r.c.local_id == record["001"].data)).one()  # fmt: skip
            memberships = set(connection.execute(
                select(rs.c.set_spec).where(rs.c.record_id == row.id)).scalars())  # fmt: skip
            assert "lang:rus" in row.set_specs.split()
            assert memberships == set(row.set_specs.split())
    check(catalog.engine, rules, catalog.settings.file)


def test_a_page_taking_records_in_its_partner_s_order_does_not_deadlock_with_db_sets(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    """A page of two records, the later one first (its partner's order), written (by a node on
    the rules db sets places by) while db sets
    locks its batch in id order: the page locks them in id order too, so it waits for db
    sets (or db sets for it) and neither is aborted. In its partner's order, the page took
    the last record and waited for the first, which db sets held while it waited for the
    last: a deadlock, one of them run again. Made certain by a third session holding a record
    in between, which db sets waits for while the page starts."""
    from concurrent.futures import ThreadPoolExecutor

    if catalog.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: a writer waits for the other's lock")
    records = list(demo_records(RECORDS, seed=5))
    placed = _stored_an_hour_ago(catalog)
    page = [Incoming(_as_russian(records[-1])), Incoming(_as_russian(records[0]))]
    r = models.records
    with ThreadPoolExecutor(2) as pool, catalog.engine.connect() as third:
        middle = records[RECORDS // 2]["001"].data
        third.execute(select(r.c.id).where(r.c.local_id == middle).with_for_update()).one()
        rules = [*settings.sets, BY_MATERIAL]
        placing = pool.submit(place_again, catalog.engine, rules)
        until_waiting_for_a_lock(catalog.engine, 1)
        writing = pool.submit(_node(catalog, rules).write, lambda writer: writer.put_many(page))
        until_waiting_for_a_lock(catalog.engine, 2)
        third.rollback()
        assert placing.result(timeout=60) == (RECORDS, placed)
        assert [str(outcome) for outcome in writing.result(timeout=60)] == ["updated"] * 2
    assert "running it again" not in caplog.text


def _contents(catalog: Catalog) -> tuple[list[Any], ...]:
    """What the catalogue holds of its records: their rows, memberships, sets, renditions."""
    r, rs, s, rn = models.records, models.record_sets, models.sets, models.renditions
    with catalog.engine.connect() as connection:
        return tuple(list(connection.execute(select(*table.c).order_by(*table.c)).all())
                     for table in (r, rs, s, rn))  # fmt: skip


def test_a_node_on_other_rules_than_db_sets_writes_nothing_from_its_start(
    settings: Settings, catalog: Catalog
) -> None:
    """Two nodes on one catalogue, one of them restarted with a rule added: it writes nothing
    until ``koprik db sets`` starts placing by its rules; the other, on the old rules, writes
    nothing from then on (a record it wrote after the batch that placed it would keep the old
    rules' sets, silently), and is told to restart with the current koprik.toml. Before, it
    went on placing the records it wrote by its rules."""
    records = list(demo_records(RECORDS, seed=5))
    _stored_an_hour_ago(catalog)
    rules = [*settings.sets, BY_MATERIAL]
    new = _node(catalog, rules)
    with pytest.raises(SetRulesChanged):
        new.write(lambda writer: writer.put(_as_russian(records[1])))
    tried: list[int] = []

    def meanwhile(looked: int, moved: int) -> None:
        if tried:
            return
        tried.append(looked)
        held = _contents(catalog)
        with pytest.raises(SetRulesChanged) as refused:
            catalog.write(lambda writer: writer.put(_as_russian(records[2])))
        assert str(refused.value) == refusal(catalog.settings.file)
        assert _contents(catalog) == held
        assert new.write(lambda writer: writer.put(_as_russian(records[-1]))) == Outcome.UPDATED

    place_again(catalog.engine, rules, batch=10, progress=meanwhile)
    assert tried == [10]
    held = _contents(catalog)
    with pytest.raises(SetRulesChanged):
        catalog.write(lambda writer: writer.put(_as_russian(records[3])))
    assert _contents(catalog) == held
    assert new.write(lambda writer: writer.put(records[3])) == Outcome.UPDATED
    r = models.records
    with catalog.engine.connect() as connection:
        specs = connection.execute(select(r.c.set_specs).where(
            r.c.local_id.in_([records[3]["001"].data, records[-1]["001"].data]))).scalars()
        assert all(any(spec.startswith("by:") for spec in row.split()) for row in specs)
    check(catalog.engine, rules, catalog.settings.file)


def test_a_harvest_on_other_rules_than_the_catalogue_s_fails_in_one_line(
    settings: Settings, catalog: Catalog
) -> None:
    """The run of a node left on the old rules after ``koprik db sets`` ends ``failed``, the
    line in its errors (the dashboard's), and stores none of the partner's records."""
    from harvester.runs import FAILED
    from tests.fault_provider import FaultProvider, catalogue_of, harvest_with_errors

    _stored_an_hour_ago(catalog)
    place_again(catalog.engine, [*settings.sets, BY_MATERIAL])
    provider = FaultProvider(list(demo_records(5, seed=9)))
    report, errors = harvest_with_errors(
        catalog, provider, lambda url: HarvestSource(name="partner", url=url))
    assert (report.status, errors) == (FAILED, f"run failed: {refusal(catalog.settings.file)}")
    assert catalogue_of(catalog, "partner") == {}


def test_koprik_import_on_other_rules_than_the_catalogue_s_stops_in_one_line(
    settings: Settings, catalog: Catalog, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from koprik.cli import main

    _stored_an_hour_ago(catalog)
    place_again(catalog.engine, [*settings.sets, BY_MATERIAL])
    config = tmp_path / "other.toml"  # named as --config names it (it said koprik.toml)
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n')
    marc = tmp_path / "records.mrc"
    marc.write_bytes(b"".join(record.as_marc() for record in demo_records(5, seed=9)))
    held = _contents(catalog)
    assert main(["--config", str(config), "import", str(marc)]) == 2
    assert capsys.readouterr().err.endswith(
        "koprik: this node's [[sets]] rules differ from those the catalogue's records are placed "
        f"by: after a change of [[sets]] in {config}, run `koprik db sets`; else (another node "
        f"ran it) restart this one with the current {config}\n")
    assert _contents(catalog) == held


def test_koprik_import_after_koprik_toml_s_rules_changed_says_to_run_db_sets(
    settings: Settings, catalog: Catalog, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The operator changed [[sets]] and imported before running ``koprik db sets``: the line
    said only to restart with the current koprik.toml, which was the one given."""
    from koprik.cli import main

    _stored_an_hour_ago(catalog)
    config = tmp_path / "other.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n'
                      '[[sets]]\nspec = "lang"\nname = "By language"\n'
                      'rule = "language"\n')  # fmt: skip
    marc = tmp_path / "records.mrc"
    marc.write_bytes(b"".join(record.as_marc() for record in demo_records(5, seed=9)))
    assert main(["--config", str(config), "import", str(marc)]) == 2
    assert f"after a change of [[sets]] in {config}, run `koprik db sets`" in (
        capsys.readouterr().err)


def test_a_record_added_on_the_old_rules_as_db_sets_starts_is_placed_by_the_new(
    settings: Settings, catalog: Catalog
) -> None:
    """A transaction of the old rules' node that read them (its first page written) before
    ``koprik db sets`` started: db sets waits for it to end before its first batch, and places
    what it added. Not waited for, on PostgreSQL db sets passed the record, uncommitted and
    unseen, and the record kept the old rules' sets."""
    import threading

    _stored_an_hour_ago(catalog)
    fresh = next(r for r in demo_records(10, seed=9) if material_type(r) is not None)
    fresh["001"].data = "fresh-1"
    rules = [*settings.sets, BY_MATERIAL]
    placing = threading.Thread(target=place_again, args=(catalog.engine, rules))
    with catalog.writer() as writer:
        writer.put(fresh)
        placing.start()
        time.sleep(1)  # db sets waits for this transaction, or places every record meanwhile
    placing.join(timeout=60)
    assert not placing.is_alive()
    r = models.records
    with catalog.engine.connect() as connection:
        specs = connection.execute(
            select(r.c.set_specs).where(r.c.local_id == "fresh-1")).scalar_one()  # fmt: skip
    assert any(spec.startswith("by:") for spec in specs.split())
    check(catalog.engine, rules, catalog.settings.file)


def _unreadable(row: int, what: str) -> str:
    """The line a command ends with when row ``row`` of ``set_rules`` is ``what``."""
    return (f"the [[sets]] rules recorded in the catalogue's set_rules table (the row of id {row}) "
            f"are unreadable ({what}): run `koprik db sets` to place every record by this node's "
            "[[sets]] rules and record them anew")  # fmt: skip


def _damage_set_rules(engine: Any, row: int, rules: str) -> None:
    """Row ``row`` of ``set_rules`` made to hold ``rules``, as a hand edit would."""
    t = models.set_rules
    with engine.begin() as connection:
        connection.execute(t.delete().where(t.c.id == row))
        connection.execute(t.insert().values(id=row, rules=rules))


@pytest.mark.parametrize(("row", "rules", "what"), [
    (1, '{"inst": "collection', "not JSON"),
    (1, '{"inst": 1}', "not a JSON object of strings"),
    (1, "[" * 100_000, "not JSON"),
    (2, '["inst"]', "not a JSON object of strings"),
], ids=["not-json", "not-strings", "nested-too-deep", "placing-not-an-object"])  # fmt: skip
def test_unreadable_set_rules_stop_each_command_in_one_line_until_db_sets(
    settings: Settings, catalog: Catalog, tmp_path: Any, row: int, rules: str, what: str
) -> None:
    """The recorded rules (id 1), or those ``koprik db sets`` places by (id 2), made
    unreadable by hand: ``koprik serve`` and ``koprik import`` each end in one line naming the
    table and saying to run ``koprik db sets``, which records them anew; both work again then.
    Before, each ended with json's traceback, and ``db sets`` too (id 1)."""
    _stored_an_hour_ago(catalog)
    _damage_set_rules(catalog.engine, row, rules)
    koprik = write_config(tmp_path)
    koprik.config.write_text(f'[database]\nurl = "{settings.database.url}"\n'
                             f"[server]\nhttp_port = {koprik.http_port}\n"
                             f"z3950_port = {koprik.z3950_port}\n")  # fmt: skip
    marc = tmp_path / "records.mrc"
    marc.write_bytes(b"".join(record.as_marc() for record in demo_records(5, seed=9)))
    held = _contents(catalog)
    for command in (("import", str(marc)), ("serve", "--no-scheduler")):
        refused = subprocess.run(koprik.command(*command), capture_output=True, text=True,
                                 timeout=120, cwd=tmp_path)  # fmt: skip
        assert (refused.returncode, refused.stderr) == (2, f"koprik: {_unreadable(row, what)}\n")
    assert _contents(catalog) == held
    placed = subprocess.run(koprik.command("db", "sets"), capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)  # fmt: skip
    assert (placed.returncode, placed.stderr) == (0, "")
    assert placed.stdout.endswith(f": {RECORDS} records placed by the [[sets]] rules, 0 of them "
                                  "in other sets than before\n")  # fmt: skip
    imported = subprocess.run(koprik.command("import", str(marc)), capture_output=True,
                              text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    check(catalog.engine, settings.sets, catalog.settings.file)


def test_health_says_when_the_recorded_set_rules_are_unreadable(tmp_path: Any) -> None:
    """The recorded rules made unreadable while ``koprik serve`` serves: ``/health`` says it
    (200: the node serves what the catalogue holds; its harvests and imports are refused) in
    the line the commands end with, and the log holds no traceback. Before, ``/health`` said
    the catalogue was unreachable (503)."""
    import json
    import urllib.request

    from sqlalchemy import create_engine

    from tests.servers import koprik_serve

    with koprik_serve(tmp_path, demo_records=3) as koprik:
        engine = create_engine(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
        try:
            _damage_set_rules(engine, 1, "placed by hand")
        finally:
            engine.dispose()
        with urllib.request.urlopen(f"http://127.0.0.1:{koprik.http_port}/health",
                                    timeout=30) as response:  # fmt: skip
            status, health = response.status, json.load(response)
    line = _unreadable(1, "not JSON")
    assert status == 200 and health["status"] == "ok"
    assert health["catalogue"]["sets"] == line
    assert health["harvests"] == f"scheduled harvests paused: {line}"
    assert "Traceback" not in koprik.log.read_text()

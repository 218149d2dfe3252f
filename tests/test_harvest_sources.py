"""Harvest sources: definitions, the Identify check when adding, and the `koprik` commands
``sources``, ``harvest``, ``runs`` and ``scheduler``."""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select, update

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs, harvest_sources, harvest_state
from config import DatabaseSettings, HarvestSource, Settings, load_settings
from harvester import sources
from harvester.ingest import Counts
from harvester.runs import INTERRUPTED, SUCCEEDED, RunReport, harvest
from harvester.sources import (
    FROM_DATABASE,
    FROM_FILE,
    SourceChanged,
    SourceError,
    add_source,
    all_sources,
    check_name,
    choose_prefix,
    edit_source,
    find_source,
    parse_every,
    remove_source,
    validate,
)
from koprik.cli import main
from koprik.commands.harvest import summary
from tests.conftest import ROOT, free_port
from tests.fault_provider import FAST, FaultProvider, catalogue_of, held_then_stopped, serve
from tests.servers import stderr_after


@pytest.fixture
def provider_url():  # type: ignore[no-untyped-def]
    with serve(FaultProvider(list(demo_records(15))).app()) as url:
        yield url


def test_the_preferred_format_is_chosen_by_namespace() -> None:
    dc, mods, marc = (
        "http://www.openarchives.org/OAI/2.0/oai_dc/",
        "http://www.loc.gov/mods/v3",
        "http://www.loc.gov/MARC21/slim",
    )
    assert choose_prefix({"oai_dc": dc, "mods": mods, "MARC": marc}) == "MARC"
    assert choose_prefix({"oai_dc": dc, "mods": mods}) == "mods"
    assert choose_prefix({"oai_dc": dc, "qdc": "urn:x"}) == "oai_dc"
    assert choose_prefix({"qdc": "urn:x"}) is None


def test_intervals() -> None:
    assert parse_every("6h") == timedelta(hours=6)
    assert parse_every("90s") == timedelta(seconds=90)
    assert parse_every("2w") == timedelta(weeks=2)
    assert parse_every("15min") == parse_every(" 15 m") == timedelta(minutes=15)  # m: as stored
    for bad in ("6", "h", "0m", "6x", "1.5h", "\u0666h", "1mo", "1month", "1mi"):
        with pytest.raises(SourceError, match="interval"):
            parse_every(bad)
    for zero in ("0s", "0m", " 00h"):  # the form is right, zero is what is refused
        with pytest.raises(SourceError, match=f"interval '{zero}': must be more than zero"):
            parse_every(zero)
    assert parse_every("366d") == timedelta(days=366)
    for long in ("367d", "53w", "99999999999w", "1000000000d"):  # overflowed timedelta once
        with pytest.raises(SourceError, match=f"interval '{long}': longer than 366 days"):
            parse_every(long)


LATIN = "use Latin letters (A-Z, a-z), digits, '.', '_' or '-'"


@pytest.mark.parametrize(("name", "message"), [
    ("a b", LATIN),
    ("Тошкент", LATIN),  # letters, yet refused: "use letters" said nothing
    ("-a", "start with a letter or a digit"),
    (".a", "start with a letter or a digit"),
    ("_a", "start with a letter or a digit"),
    ("", "start with a letter or a digit"),
])
def test_a_refused_source_name_names_the_rule_it_breaks(name: str, message: str) -> None:
    """Each was told to use Latin letters (A-Z, a-z), digits, '.', '_' or '-', which it did."""
    with pytest.raises(SourceError) as error:
        check_name(name)
    assert str(error.value) == f"source name {name!r}: {message}"
    check_name("x" * 100)


@pytest.mark.parametrize("length", [101, 5000])
def test_a_name_too_long_is_quoted_by_its_start(length: int) -> None:
    """A name of 5,000 characters was said back whole."""
    with pytest.raises(SourceError) as error:
        check_name("x" * (length - 1) + " ")  # (its characters would be refused too)
    assert str(error.value) == f"source name '{'x' * 20}'...: at most 100 characters, got {length}"


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--delay", "inf", "delay: expected a finite number, got inf"),
    ("--delay", "nan", "delay: expected a finite number, got nan"),
    ("--timeout", "nan", "timeout: expected a finite number, got nan"),
    ("--timeout", "0.5", "timeout: expected a number from 1 to 86400, got 0.5"),
    ("--retries", "5000", "retries: expected a whole number from 0 to 1000, got 5000"),
    ("--every", "99999999999w", "interval '99999999999w': longer than 366 days"),
])  # fmt: skip
def test_a_source_is_held_to_the_bounds_of_the_settings_file(
    tmp_path, option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    """A source added from the command line is refused where the same value in koprik.toml
    would be (an infinite delay hung its harvest; a huge interval was a traceback)."""
    status = main(["--config", _config(tmp_path), "sources", "add", "s", "--url",
                   "http://127.0.0.1:9/oai", "--no-check", option, value])
    assert status == 2
    assert capsys.readouterr().err == f"koprik: source 's' refused: {message}\n"


def test_a_source_added_twice_at_once_is_refused_in_one_line(
    settings: Settings, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two adds of one name at once (a form sent twice, the API): both found no source of
    the name, and the second insert failed on the name's key, a 500 with a traceback."""
    source = HarvestSource(name="partner", url="http://127.0.0.1:1/oai", prefix="marc21")
    add_source(settings, catalog, source, check=False)
    monkeypatch.setattr(sources, "_named", lambda *_: False)  # looked before the first insert
    with pytest.raises(SourceError, match=r"^a source named 'partner' exists already$"):
        add_source(settings, catalog, source, check=False)


def test_two_edits_at_once_of_other_fields_both_hold(
    settings: Settings, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two operators (or API clients) changing other fields of a source at once: each edit
    wrote its whole row, as it had read it, and undid the other's change."""
    source = HarvestSource(name="partner", url="http://127.0.0.1:1/oai", prefix="marc21")
    add_source(settings, catalog, source, check=False)
    (read,) = all_sources(settings, catalog)  # what the first edit read
    edit_source(settings, catalog, "partner", check=False, retries=9)  # the other, meanwhile
    monkeypatch.setattr(sources, "_editable", lambda *_: read)
    edit_source(settings, catalog, "partner", check=False, delay=7.0)
    monkeypatch.undo()
    (now,) = all_sources(settings, catalog)
    assert (now.source.delay, now.source.retries) == (7.0, 9)


def test_an_edit_that_clashes_with_one_made_meanwhile_is_refused(
    settings: Settings, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each edit was checked against the row it had read: one set a schedule ``every``, the
    other, meanwhile, ``cron``; both were stored, a source the scheduler then never ran."""
    source = HarvestSource(name="partner", url="http://127.0.0.1:1/oai", prefix="marc21")
    add_source(settings, catalog, source, check=False)
    (read,) = all_sources(settings, catalog)
    edit_source(settings, catalog, "partner", check=False, cron="0 3 * * *")  # meanwhile
    monkeypatch.setattr(sources, "_editable", lambda *_: read)
    with pytest.raises(SourceError, match=r"^source 'partner' not changed: .* \(with the change "
                                          r"made meanwhile\)$"):
        edit_source(settings, catalog, "partner", check=False, every="6h")
    monkeypatch.undo()
    (now,) = all_sources(settings, catalog)
    assert (now.source.every, now.source.cron) == ("", "0 3 * * *")
    validate(now.source)


def test_add_checks_identify_and_the_prefix(settings: Settings, catalog: Catalog,
                                            provider_url: str) -> None:
    stored, identity = add_source(
        settings, catalog, HarvestSource(name="partner", url=provider_url, prefix=""))
    assert identity is not None and identity.repository_name == "Fault provider"
    assert stored.prefix == "marc21"  # chosen: the MARCXML format the source offers
    with pytest.raises(SourceError, match="does not offer 'mods' \\(it offers marc21\\)"):
        add_source(settings, catalog, HarvestSource(name="p2", url=provider_url, prefix="mods"))
    with pytest.raises(SourceError, match="exists already"):
        add_source(settings, catalog, HarvestSource(name="partner", url=provider_url))
    (entry,) = all_sources(settings, catalog)
    assert entry.origin == FROM_DATABASE and entry.source.url == provider_url


def test_sets_asked_of_a_partner_without_sets_are_refused(settings: Settings,
                                                          catalog: Catalog) -> None:
    """A partner whose ListSets says noSetHierarchy: each run of the source's sets would fail
    (it was added, and its runs halved their windows 65 times)."""
    with serve(FaultProvider(list(demo_records(3)), sets=()).app()) as url:
        with pytest.raises(SourceError, match=r"has no sets \(noSetHierarchy: no sets\): "
                                              r"'books' cannot be harvested"):
            add_source(settings, catalog, HarvestSource(name="p", url=url, sets=("books",)))
        stored, _ = add_source(settings, catalog, HarvestSource(name="p", url=url))
    assert not stored.sets
    with serve(FaultProvider(list(demo_records(3))).app()) as url:  # sets: even and odd
        stored, _ = add_source(settings, catalog,
                               HarvestSource(name="q", url=url, sets=("even",)))  # fmt: skip
    assert list(stored.sets) == ["even"]


def test_sets_the_partner_does_not_list_are_refused(settings: Settings,
                                                    catalog: Catalog) -> None:
    """A misspelt setSpec is answered noRecordsMatch by most partners: a source harvesting it
    would succeed, empty, at every run. The check looks for the sets in ListSets."""
    with serve(FaultProvider(list(demo_records(3))).app()) as url:  # sets: even and odd
        with pytest.raises(SourceError, match=r"names no set 'evne', 'od' in its ListSets: "
                                              r"is the setSpec misspelt\?$"):
            add_source(settings, catalog,
                       HarvestSource(name="q", url=url, sets=("evne", "odd", "od")))
        stored, _ = add_source(settings, catalog, HarvestSource(name="q", url=url,
                                                                sets=("odd", "even")))
    assert list(stored.sets) == ["odd", "even"]


def test_sets_an_edit_gives_are_checked_as_those_of_an_added_source(
    settings: Settings, catalog: Catalog
) -> None:
    """A set misspelt in an edit (``koprik sources edit --set``, the dashboard's form) was
    saved unchecked: the source's watermark covered it, so its runs asked it from there and
    succeeded empty ever after."""
    with serve(FaultProvider(list(demo_records(3))).app()) as url:  # sets: even and odd
        add_source(settings, catalog, HarvestSource(name="q", url=url))
        with pytest.raises(SourceError, match=r"names no set 'evne' in its ListSets"):
            edit_source(settings, catalog, "q", sets=["evne"])
        assert find_source(settings, catalog, "q").source.sets == []
        edit_source(settings, catalog, "q", sets=["even"])
    assert find_source(settings, catalog, "q").source.sets == ["even"]


def test_a_url_with_oai_pmh_arguments_is_refused_naming_the_base_url(
    settings: Settings, catalog: Catalog, provider_url: str
) -> None:
    """The address of a request copied from the browser (``...?verb=Identify``) was refused as
    "does not answer Identify correctly: badVerb: the verb argument is repeated"; another
    argument of the base URL (``?module=oai``) is the partner's own and is kept."""
    pasted = f"{provider_url}?verb=ListRecords&metadataPrefix=oai_dc"
    with pytest.raises(SourceError, match=(
        rf"^URL '{re.escape(pasted)}': it carries the OAI-PMH arguments verb, metadataPrefix; "
        rf"give the base URL: {re.escape(provider_url)}$"
    )) as refused:
        add_source(settings, catalog, HarvestSource(name="q", url=pasted))
    assert refused.value.key == "url"
    own = f"{provider_url}?module=oai"
    assert add_source(settings, catalog, HarvestSource(name="q", url=own))[0].url == own


def _html_app() -> web.Application:
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Welcome</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/oai", page)
    return app


def test_addresses_that_do_not_answer_identify_are_refused_with_the_reason(
    settings: Settings, catalog: Catalog
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/oai"
    refused = (r"is unavailable: gave up after 1 attempt: connection: 127.0.0.1:\d+ refused the "
               r"connection \(nothing listens there\)$")
    with pytest.raises(SourceError, match=refused):
        add_source(settings, catalog, HarvestSource(name="closed", url=closed))
    with serve(_html_app()) as url:
        with pytest.raises(SourceError) as html:  # the address, Identify and "not OAI-PMH" once
            add_source(settings, catalog, HarvestSource(name="html", url=url))
        assert str(html.value) == (f"{url} answered Identify with an HTML page, not OAI-PMH; is "
                                   "it the partner's OAI-PMH base URL?")
        with pytest.raises(SourceError, match="HTTP 404"):
            add_source(settings, catalog, HarvestSource(name="missing", url=url + "/nothing"))
    for bad, reason in (
        (HarvestSource(name="x y", url=closed), "source name"),
        (HarvestSource(name="x", url="ftp://example.org/"), "URL"),
        # a Z39.50 target added without --protocol z3950 was told "expected http:// or https://"
        (HarvestSource(name="x", url="z3950://127.0.0.1:2100/Default"),
         r"^URL 'z3950://127.0.0.1:2100/Default': a Z39.50 address; give protocol z3950 "
         r"\(it is oai-pmh\)$"),
        (HarvestSource(name="x", url=closed, every="6h", cron="0 3 * * *"), "not both"),
        (HarvestSource(name="x", url=closed, cron="0 25 * * *"), r"cron '0 25 \* \* \*'"),
        (HarvestSource(name="x", url=closed, charset="cp1251"), "not supported"),
    ):
        with pytest.raises(SourceError, match=reason):
            add_source(settings, catalog, bad)
    assert all_sources(settings, catalog) == []


def test_a_refused_edit_of_an_address_shown_masked_does_not_tell_its_password(
    settings: Settings, catalog: Catalog
) -> None:
    """An operator shown http://user:***@host/oai who changed its host, scheme or query had
    the edit refused in a line giving the stored password (the check's and the validation's
    lines named the address as it was to be stored)."""
    add_source(settings, catalog, HarvestSource(name="p", url="http://user:secret@127.0.0.1:9/oai",
                                                prefix="marc21"), check=False)
    closed = f"http://user:***@127.0.0.1:{free_port()}/oai"
    for url, said in ((closed, f"{closed} is unavailable: "),
                      ("ftp://user:***@127.0.0.1/oai", "URL 'ftp://user:***@127.0.0.1/oai': "),
                      ("http://user:***@127.0.0.1:9/oai?verb=Identify",
                       "; give the base URL: http://user:***@127.0.0.1:9/oai"),
                      ("http://user:***@[::1/oai", "URL 'http://user:***@[::1/oai': ")):
        with pytest.raises(SourceError) as refused:
            edit_source(settings, catalog, "p", url=url)
        assert said in str(refused.value) and "secret" not in str(refused.value), url


def test_sources_of_the_file_are_read_only(catalog_url: str) -> None:
    file_source = HarvestSource(name="regional", url="http://127.0.0.1:1/oai")
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=catalog_url), sources=[file_source])
    catalog = Catalog.open(settings)
    (entry,) = all_sources(settings, catalog)
    assert entry.origin == FROM_FILE
    with pytest.raises(SourceError, match=r"defined in koprik\.toml"):
        edit_source(settings, catalog, "regional", check=False, enabled=False)
    with pytest.raises(SourceError, match=r"defined in koprik\.toml"):
        remove_source(settings, catalog, "regional")
    with pytest.raises(SourceError, match="exists already"):
        add_source(settings, catalog, file_source, check=False)
    catalog.close()


def test_a_list_shows_what_each_protocol_asks_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """koprik.toml's default prefix, marc21, is an OAI-PMH metadataPrefix: the list shows what
    an SRU source is asked for (its record schema, marcxml) and nothing for a Z39.50 source, as
    it does for the same sources added from the command line (whose check stores those)."""
    config = tmp_path / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n'
        '[[sources]]\nname = "sru"\nprotocol = "sru"\nurl = "http://127.0.0.1:9/sru"\n'
        'query = "dc.title=navoiy"\n'
        '[[sources]]\nname = "zebra"\nprotocol = "z3950"\nurl = "z3950://127.0.0.1:9/Default"\n'
        'query = "navoiy"\n'
        '[[sources]]\nname = "nlr"\nprotocol = "z3950"\nurl = "z3950://127.0.0.1:9/Default"\n'
        'query = "navoiy"\ncrosswalk = "rusmarc"\n'
    )
    assert main(["--config", str(config), "sources", "list"]) == 0
    shown = {line.split()[0]: line.split()[3] for line in capsys.readouterr().out.splitlines()[1:]}
    assert shown == {"sru": "marcxml", "zebra": "-", "nlr": "rusmarc"}


def _config(tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "koprik.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n'
        '[[sources]]\nname = "regional"\nurl = "http://127.0.0.1:9/oai"\nprefix = "oai_dc"\n'
    )
    return str(path)


def test_commands(tmp_path, provider_url: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path)

    koprik = partial(_koprik, config, capsys)

    status, out, _ = koprik("sources", "add", "partner", "--url", provider_url, "--every", "6h",
                            "--delay", "0", "--set", "even", "--set", "odd")
    assert status == 0
    assert out == "added source partner (Fault provider, granularity YYYY-MM-DDThh:mm:ssZ, " \
        "metadataPrefix marc21)\n"
    status, out, _ = koprik("sources", "list")
    lines = out.splitlines()
    assert lines[1].split()[:3] == ["regional", "koprik.toml", "yes"]
    assert lines[2].split()[:6] == ["partner", "database", "yes", "marc21", "every", "6h"]
    assert lines[2].endswith("[even odd]")

    status, out, _ = koprik("harvest", "partner")
    assert status == 0
    assert "harvest partner (run #1): succeeded" in out
    assert "15 new, 0 updated, 0 deleted, 0 unchanged, 0 rejected; 2 pages" in out
    status, out, _ = koprik("runs", "partner")
    assert status == 0 and out.splitlines()[1].split()[:3] == ["1", "partner", "succeeded"]

    assert koprik("sources", "edit", "partner", "--institution-code", "UzBuRL",
                  "--institution-name", "Buxoro viloyat kutubxonasi")[0] == 0
    from harvester.sources import find_source

    settings = load_settings(config)
    catalog = Catalog.open(settings)
    stored = find_source(settings, catalog, "partner").source
    catalog.close()
    assert (stored.institution_code, stored.institution_name) == (
        "UzBuRL", "Buxoro viloyat kutubxonasi")
    assert stored.holdings == "source"
    assert koprik("sources", "edit", "partner", "--holdings", "named")[0] == 0
    catalog = Catalog.open(settings)
    assert find_source(settings, catalog, "partner").source.holdings == "named"
    catalog.close()
    assert koprik("sources", "edit", "partner", "--holdings", "branch") == (
        2, "", "koprik: source 'partner' not changed: holdings: expected one of source, named, "
               "got 'branch'\n")
    assert koprik("sources", "edit", "partner", "--tolerated-shortfall", "3")[0] == 0
    catalog = Catalog.open(settings)
    assert find_source(settings, catalog, "partner").source.tolerated_shortfall == 3
    catalog.close()
    assert koprik("sources", "edit", "partner", "--tolerated-shortfall", "-1") == (
        2, "", "koprik: source 'partner' not changed: tolerated_shortfall: expected a whole "
               "number from 0 to 1000000000, got -1\n")
    assert koprik("sources", "edit", "partner", "--cron", "0 3 * * *", "--crosswalk",
                  "unimarc")[0] == 0  # fmt: skip
    assert koprik("sources", "edit", "partner", "--prefix", "", "--no-check") == (
        2, "", "koprik: without the check, give the metadataPrefix\n")  # left no harvest
    assert koprik("sources", "disable", "partner")[0] == 0
    status, out, _ = koprik("sources", "list")
    header, regional, partner = out.splitlines()[:3]
    assert partner.split()[:7] == ["partner", "database", "no", "marc21+unimarc", "0", "3", "*"]
    column = header.index("schedule")  # the prefix column as wide as its longest
    assert partner.index("0 3 *") == column and regional[column - 1 : column + 2] == " - "
    assert ("partner: a list short of its completeListSize by up to 3 records is taken as whole "
            "(tolerated_shortfall)") in out.splitlines()
    assert koprik("sources", "remove", "partner") == (0, "removed source partner\n", "")

    status, _, err = koprik("sources", "add", "gone", "--url",
                            f"http://127.0.0.1:{free_port()}/oai")
    assert status == 2 and err.startswith("koprik: source 'gone' refused: ") \
        and "/oai is unavailable: gave up after 1 attempt: connection: " in err
    status, _, err = koprik("sources", "edit", "regional", "--every", "1h")
    assert status == 2 and "koprik.toml" in err
    status, _, err = koprik("harvest", "partner", "--from", "yesterday")
    assert status == 2 and "--from='yesterday' is not a datestamp" in err
    status, _, err = koprik("harvest", "nobody")
    assert status == 2 and "no source named 'nobody'" in err
    # runs of a name that is no source: one line, as harvest says it (an empty table once)
    assert koprik("runs", "nobody") == (
        2, "", "koprik: no source named 'nobody' (see `koprik sources list`)\n")
    status, out, _ = koprik("runs", "partner")  # removed: its runs are kept and shown
    assert status == 0 and out.splitlines()[1].split()[:3] == ["1", "partner", "succeeded"]
    status, out, _ = koprik("runs", "regional")  # defined, never run: an empty table
    assert (status, len(out.splitlines())) == (0, 1)


def test_sources_harvesting_the_same_records_stored_before_the_check_are_listed_so(
    tmp_path: Path, catalog_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two sources alike written in koprik.toml, or added before the check refused the second
    (an earlier release), were listed as any others, each record harvested under both names:
    `koprik sources list` ends with a line naming each group."""
    config = tmp_path / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "{catalog_url}"\n'
        '[[sources]]\nname = "regional"\nurl = "http://127.0.0.1:9/oai"\nprefix = "oai_dc"\n'
        '[[sources]]\nname = "again"\nurl = "HTTP://127.0.0.1:9/oai"\nprefix = "oai_dc"\n'
        '[[sources]]\nname = "marc"\nurl = "http://127.0.0.1:9/oai"\nprefix = "marc21"\n'
    )
    add = ("--config", str(config), "sources", "add", "--no-check", "--prefix", "marc21")
    assert main([*add, "p", "--url", "http://u:secret@127.0.0.1:8/oai", "--set", "s"]) == 0
    assert main([*add, "q", "--url", "http://127.0.0.1:10/oai", "--set", "s"]) == 0
    _stored_as_an_earlier_release_let_it(str(config), "q", url="http://127.0.0.1:8/oai")
    capsys.readouterr()
    assert main(["--config", str(config), "sources", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[6:] == [
        "regional, again: harvest http://127.0.0.1:9/oai with the same format and sets: each "
        "record is stored once under each name",
        "p, q: harvest http://u:***@127.0.0.1:8/oai with the same format and sets: each record "
        "is stored once under each name",
    ]


def _koprik(
    config: str, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """``koprik --config CONFIG ARGS`` in this process: its status, output and errors."""
    status = main(["--config", config, *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _stored_as_an_earlier_release_let_it(config: str, name: str, **values: str) -> None:
    """Change source ``name``'s row in the catalogue to ``values``, which the checks of today
    refuse but an earlier release let be added."""
    catalog = Catalog.open(load_settings(config))
    try:
        with catalog.engine.begin() as connection:
            connection.execute(update(harvest_sources).where(harvest_sources.c.name == name)
                               .values(**values))
    finally:
        catalog.close()


def _stored_url(config: str, name: str) -> str:
    settings = load_settings(config)
    catalog = Catalog.open(settings)
    try:
        return find_source(settings, catalog, name).source.url
    finally:
        catalog.close()


def test_a_password_in_an_address_is_listed_masked_and_kept_by_an_edit_giving_it_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`koprik sources list` showed http://user:secret@host/oai whole. It shows the password
    masked; an edit giving the address back so keeps the stored password (another host too),
    one giving a new password takes it, and one naming another user with the mask is refused."""
    config = _config(tmp_path)

    koprik = partial(_koprik, config, capsys)

    assert koprik("sources", "add", "p", "--url", "http://user:secret@127.0.0.1:9/oai",
                  "--prefix", "marc21", "--no-check")[0] == 0  # fmt: skip
    status, out, _ = koprik("sources", "list")
    assert status == 0 and "secret" not in out
    assert out.splitlines()[2].endswith(" http://user:***@127.0.0.1:9/oai")
    edit = ("sources", "edit", "p", "--no-check", "--url")
    assert koprik(*edit, "http://user:***@127.0.0.1:9/oai")[0] == 0
    assert _stored_url(config, "p") == "http://user:secret@127.0.0.1:9/oai"
    assert koprik(*edit, "http://user:***@127.0.0.1:10/oai")[0] == 0
    assert _stored_url(config, "p") == "http://user:secret@127.0.0.1:10/oai"
    assert koprik(*edit, "http://bob:***@127.0.0.1:10/oai") == (
        2, "", "koprik: source 'p' not changed: URL 'http://bob:***@127.0.0.1:10/oai': *** "
               "stands for the password of user 'user'; give the password of 'bob'\n")
    assert koprik(*edit, "http://user:n3w@127.0.0.1:10/oai")[0] == 0
    assert _stored_url(config, "p") == "http://user:n3w@127.0.0.1:10/oai"


def test_a_source_harvesting_what_another_does_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two sources of one address (credentials aside), format and sets were both stored, and
    each harvest stored every record twice. The second is refused, added or edited so, naming
    the first; another format, other sets or another query are other records."""
    config = _config(tmp_path)

    koprik = partial(_koprik, config, capsys)

    add = ("sources", "add", "--no-check")
    assert koprik(*add, "a", "--url", "http://user:secret@127.0.0.1:9/oai", "--prefix", "marc21",
                  "--set", "x", "--set", "y")[0] == 0
    assert koprik(*add, "b", "--url", "HTTP://127.0.0.1:9/oai", "--prefix", "marc21",
                  "--set", "y", "--set", "x") == (
        2, "", "koprik: source 'b' refused: source 'a' harvests HTTP://127.0.0.1:9/oai with the "
               "same format and sets already: each record would be stored twice\n")
    assert koprik(*add, "b", "--url", "http://127.0.0.1:9/oai", "--prefix", "marc21",
                  "--set", "x")[0] == 0
    assert koprik("sources", "edit", "b", "--no-check", "--set", "x", "--set", "y") == (
        2, "", "koprik: source 'b' not changed: source 'a' harvests http://127.0.0.1:9/oai with "
               "the same format and sets already: each record would be stored twice\n")
    assert koprik(*add, "c", "--url", "http://127.0.0.1:9/oai", "--prefix", "oai_dc",
                  "--set", "x", "--set", "y")[0] == 0
    z3950 = (*add, "--protocol", "z3950", "--url", "z3950://127.0.0.1:9/Default", "--query")
    assert koprik(*z3950[:3], "z", *z3950[3:], "@attr 1=4 navoiy")[0] == 0
    assert koprik(*z3950[:3], "y", *z3950[3:], "@attr 1=4 bobur")[0] == 0
    assert koprik("sources", "edit", "y", "--no-check", "--query", "@attr 1=4 navoiy") == (
        2, "", "koprik: source 'y' not changed: source 'z' harvests z3950://127.0.0.1:9/Default "
               "with the same query and record syntax already: each record would be stored "
               "twice\n")
    assert koprik("sources", "edit", "y", "--no-check", "--query", "@attr 1=4 navoiy",
                  "--crosswalk", "unimarc")[0] == 0  # UNIMARC records asked for
    assert koprik("sources", "edit", "b", "--every", "6h")[0] == 0  # its harvest unchanged


def test_a_disabled_source_harvesting_the_same_records_is_said_disabled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A disabled source has no scheduled runs, but is harvested by hand and on its schedule
    once enabled: a second source of its records is refused as beside an enabled one, and the
    refusal and the list's line say it is disabled (an operator who sees it harvest nothing
    would otherwise not see why it is "harvested already")."""
    config = _config(tmp_path)

    koprik = partial(_koprik, config, capsys)

    add = ("sources", "add", "--no-check", "--prefix", "oai_dc")
    assert koprik(*add, "off", "--url", "http://127.0.0.1:10/oai", "--disabled")[0] == 0
    assert koprik(*add, "b", "--url", "http://127.0.0.1:10/oai") == (
        2, "", "koprik: source 'b' refused: source 'off' (disabled) harvests "
               "http://127.0.0.1:10/oai with the same format and sets already: each record "
               "would be stored twice\n")
    assert koprik(*add, "later", "--url", "http://127.0.0.1:9/oai", "--set", "s",
                  "--disabled")[0] == 0
    assert koprik(*add, "on", "--url", "http://127.0.0.1:9/oai", "--set", "t")[0] == 0
    _stored_as_an_earlier_release_let_it(config, "on", sets="s")
    status, out, _ = koprik("sources", "list")
    assert status == 0 and out.splitlines()[-1] == (
        "later (disabled), on: harvest http://127.0.0.1:9/oai with the same format and sets: "
        "each record is stored once under each name")


@pytest.mark.parametrize(
    ("protocol", "first", "second"),
    [
        ("oai-pmh", "http://127.0.0.1:80/oai", "http://127.0.0.1/oai"),
        ("oai-pmh", "https://127.0.0.1:443/oai", "https://127.0.0.1/oai"),
        ("oai-pmh", "http://127.0.0.1:/oai", "http://127.0.0.1/oai"),
        ("oai-pmh", "http://127.0.0.1/oai#top", "http://127.0.0.1/oai?"),
        ("oai-pmh", "http://127.0.0.1", "http://127.0.0.1/"),
        ("oai-pmh", "http://[::1]:80/oai", "http://[::1]/oai"),
        ("sru", "http://127.0.0.1:80/sru?", "http://127.0.0.1/sru"),
        ("z3950", "127.0.0.1", "z3950://127.0.0.1:210/Default"),
        ("oai-pmh", "http://127.0.0.1/%7euser/oai", "http://127.0.0.1/~user/oai"),
        ("oai-pmh", "http://127.0.0.1/%7Euser/%2a%41", "http://127.0.0.1/~user/%2A%41"),
        ("oai-pmh", "http://127.0.0.1/oai?key=%7e%2f", "http://127.0.0.1/oai?key=~%2F"),
        ("oai-pmh", "http://bibliothèque.example/oai", "http://xn--bibliothque-59a.example/oai"),
        ("sru", "http://Bücher.example/sru", "http://xn--bcher-kva.example/%73ru"),
        ("z3950", "z3950://bücher.example:210/Default", "z3950://xn--bcher-kva.example/Default"),
        ("oai-pmh", "http://straße.example/oai", "http://xn--strae-oqa.example/oai"),
        ("z3950", "z3950://straße.example/Default", "z3950://strasse.example/Default"),
    ],
    ids=["http-80", "https-443", "empty-port", "fragment-and-empty-query", "empty-path", "ipv6",
         "sru", "z3950-defaults", "tilde", "percent-case", "query-escapes", "idna",
         "sru-idna-and-escape", "z3950-idna", "http-idna-2008", "z3950-idna-2003"],
)
def test_an_address_naming_the_same_endpoint_otherwise_is_refused_as_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], protocol: str, first: str, second: str
) -> None:
    """A default port written out, an empty port, query or path, a fragment (never sent), and a
    Z39.50 address's default port and database each name the endpoint the other address names:
    such a second source was stored, and every record harvested twice."""
    config = _config(tmp_path)
    options = {"oai-pmh": ("--prefix", "marc21"), "z3950": ("--query", "@attr 1=4 navoiy"),
               "sru": ("--query", "dc.title=navoiy", "--prefix", "marcxml")}[protocol]
    add = ("sources", "add", "--no-check", "--protocol", protocol, *options)
    assert main(["--config", config, *add, "a", "--url", first]) == 0
    assert main(["--config", config, *add, "b", "--url", second]) == 2
    assert capsys.readouterr().err.startswith(
        f"koprik: source 'b' refused: source 'a' harvests {second} with the same ")


def test_a_host_that_is_no_internationalized_domain_name_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A host IDNA cannot write (an empty label beside one in Unicode) could not be compared
    with the others' (their IDNA form): it is refused in one line naming it, over HTTP and
    Z39.50, and one stored before is listed, compared as written, with no traceback."""
    config = _config(tmp_path)

    koprik = partial(_koprik, config, capsys)

    add = ("sources", "add", "--no-check")
    assert koprik(*add, "b", "--prefix", "marc21", "--url", "http://a..bücher.example/oai") == (
        2, "", "koprik: source 'b' refused: URL 'http://a..bücher.example/oai': host "
               "'a..bücher.example' is not a valid internationalized domain name (IDNA: label "
               "empty or too long)\n")
    assert koprik(*add, "z", "--protocol", "z3950", "--query", "@attr 1=4 navoiy", "--url",
                  "z3950://a..bücher.example/Default") == (
        2, "", "koprik: source 'z' refused: Z39.50 address: host 'a..bücher.example' is not a "
               "valid internationalized domain name (IDNA: label empty or too long) in "
               "'z3950://a..bücher.example/Default'\n")
    assert koprik(*add, "b", "--prefix", "marc21", "--url", "http://bücher.example/oai")[0] == 0
    _stored_as_an_earlier_release_let_it(config, "b", url="http://a..bücher.example/oai")
    status, out, err = koprik("sources", "list")
    assert status == 0 and err == "" and out.splitlines()[-1].endswith(
        " http://a..bücher.example/oai")
    assert koprik(*add, "c", "--prefix", "marc21", "--url", "http://bücher.example/oai")[0] == 0


@pytest.mark.parametrize(
    "second",
    ["http://127.0.0.1/oai/", "http://localhost./oai", "https://127.0.0.1/oai",
     "http://127.0.0.1:8080/oai", "http://127.0.0.1/oai?a=1", "http://127.0.0.1/OAI",
     "http://strasse.example/oai"],
)
def test_an_address_that_may_name_another_endpoint_is_another_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], second: str
) -> None:
    """What servers may answer otherwise stays another address: a trailing slash (a route
    ``/oai`` is not ``/oai/`` to every server), a host's trailing dot (``localhost.`` is looked
    up without the resolver's search domains, and sent so in the Host header), another scheme,
    port, query or path case, and a host whose IDNA 2003 form names another (``straße`` is
    ``strasse`` in IDNA 2003, ``xn--strae-oqa`` in IDNA 2008, which aiohttp sends)."""
    config = _config(tmp_path)
    add = ("sources", "add", "--no-check", "--prefix", "marc21")
    first = {"http://localhost./oai": "http://localhost/oai",
             "http://strasse.example/oai": "http://straße.example/oai"}.get(
        second, "http://127.0.0.1/oai")
    assert main(["--config", config, *add, "a", "--url", first]) == 0
    assert main(["--config", config, *add, "b", "--url", second]) == 0, capsys.readouterr().err


def test_an_escaped_reserved_character_is_not_the_character() -> None:
    """RFC 3986 makes an escape of an unreserved character that character, not one of a
    reserved character: ``/oai%2Fx`` is one path segment to a server, ``/oai/x`` two (the
    case of its hex aside)."""
    source = HarvestSource(name="a", url="http://127.0.0.1/oai/x?s=a%26b", prefix="marc21")
    for url, same in (("http://127.0.0.1/oai%2Fx?s=a%26b", False),
                      ("http://127.0.0.1/oai/x?s=a&b", False),
                      ("http://127.0.0.1/oai/x?s=a%26%62", True)):
        other = dataclasses.replace(source, name="b", url=url)
        assert (sources._harvests(other) == sources._harvests(source)) is same, url


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (["--from", "2026-01-02", "--until", "2026-01-01"],
         "--from 2026-01-02 --until 2026-01-01: from is later than until"),
        (["--from", "2026-01-01T00:00:01Z", "--until", "2026-01-01T00:00:00Z"],
         "--from 2026-01-01T00:00:01Z --until 2026-01-01T00:00:00Z: from is later than until"),
    ],
    ids=["days", "seconds"],
)
def test_a_from_later_than_until_is_refused_before_the_partner_is_asked(  # type: ignore[no-untyped-def]
    tmp_path, provider_url: str, capsys: pytest.CaptureFixture[str], dates, message
) -> None:
    """It was sent to the partner (which, answering badArgument as OAI-PMH has it, left the run
    recorded partial): refused as ``koprik export`` refuses it, before the catalogue opens."""
    config = tmp_path / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n'
        f'[[sources]]\nname = "partner"\nurl = "{provider_url}"\nprefix = "marc21"\n'
    )
    assert main(["--config", str(config), "harvest", "partner", *dates]) == 2
    assert capsys.readouterr().err == f"koprik: {message}\n"
    assert not (tmp_path / "catalog.sqlite3").exists()  # no run recorded, nothing opened


def test_a_from_in_the_future_is_refused_before_the_partner_is_asked(
    tmp_path: Path, provider_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A year mistyped (``--from 2062-...`` for 2026) was asked of the partner and the run
    recorded succeeded, nothing new: the operator took it that nothing had changed."""
    config = tmp_path / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n'
        f'[[sources]]\nname = "partner"\nurl = "{provider_url}"\nprefix = "marc21"\n'
    )
    assert main(["--config", str(config), "harvest", "partner", "--from", "2062-01-01"]) == 2
    assert re.fullmatch(r"koprik: --from 2062-01-01 is later than now \(\d{4}-\d\d-\d\dT"
                        r"\d\d:\d\d:\d\dZ\): no record can have changed since\n",
                        capsys.readouterr().err)
    assert not (tmp_path / "catalog.sqlite3").exists()  # no run recorded, nothing opened


def test_an_until_before_the_watermark_is_refused_before_the_partner_is_asked(  # type: ignore[no-untyped-def]
    tmp_path, provider_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``--from`` a run asks from the watermark: an ``--until`` before it was sent to
    the partner as a ``from`` later than ``until`` (badArgument, the run recorded partial)."""
    config = tmp_path / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n'
        f'[[sources]]\nname = "partner"\nurl = "{provider_url}"\nprefix = "marc21"\n'
        'delay = 0\n'  # no pause between its requests: politeness is not tested here
    )
    assert main(["--config", str(config), "harvest", "partner"]) == 0
    catalog = Catalog.open(load_settings(config))
    with catalog.engine.connect() as connection:
        watermark = connection.execute(select(harvest_state.c.watermark)).scalar_one()
    catalog.close()
    capsys.readouterr()
    assert main(["--config", str(config), "harvest", "partner", "--until", "2000-01-01"]) == 2
    assert capsys.readouterr().err == (
        f"koprik: source 'partner' not harvested: --until 2000-01-01 is before its watermark "
        f"{watermark}: give --from (or --full) to harvest up to it\n")
    assert main(["--config", str(config), "runs", "partner"]) == 0  # no run asked the partner
    assert len(capsys.readouterr().out.splitlines()) == 2
    # --from or --full says where the run starts; an --until not before the watermark is asked
    for options in (["--from", "1999-01-01"], ["--full"], []):
        assert main(["--config", str(config), "harvest", "partner", *options,
                     "--until", "2000-01-01" if options else watermark]) == 0


def test_a_list_names_the_settings_file_its_sources_come_from(  # type: ignore[no-untyped-def]
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The "from" column said koprik.toml for a source of the settings file whatever the
    file's name (``--config``); now its name, the column as wide as it."""
    config = Path(_config(tmp_path)).rename(tmp_path / "national-catalogue.toml")
    assert main(["--config", str(config), "sources", "list"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert line.split()[:3] == ["regional", "national-catalogue.toml", "yes"]
    assert header.index(" on ") == line.index(" yes ")


def test_long_source_names_are_listed_whole(  # type: ignore[no-untyped-def]
    tmp_path, provider_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sources list`` and ``runs`` cut names to 16 characters: two names alike in their
    first 16 looked the same."""
    long, longer = "national-library-main", "national-library-music-collection"
    config = tmp_path / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n'
        f'[[sources]]\nname = "{long}"\nurl = "{provider_url}"\nprefix = "marc21"\ndelay = 0\n'
        f'[[sources]]\nname = "{longer}"\nurl = "{provider_url}"\nprefix = "marc21"\n'
    )
    assert main(["--config", str(config), "harvest", long]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "sources", "list"]) == 0
    header, *lines, alike = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [long, longer]
    assert alike.startswith(f"{long}, {longer}: harvest {provider_url} with the same ")
    assert all(line.index(" koprik.toml ") == header.index(" from ") for line in lines)
    assert main(["--config", str(config), "runs"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert line.split()[1] == long and line.index(" succeeded") == header.index(" status")


def test_scheduler_command_harvests_until_sigterm(tmp_path, provider_url: str) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path)
    assert main(["--config", config, "sources", "add", "partner", "--url", provider_url,
                 "--every", "1s", "--delay", "0"]) == 0
    process = subprocess.Popen([sys.executable, "-m", "koprik", "--config", config, "scheduler"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    catalog = Catalog.open(load_settings(config))
    try:
        deadline = time.monotonic() + 15
        runs: list = []  # type: ignore[type-arg]
        while time.monotonic() < deadline and not any(r.finished for r in runs):
            time.sleep(0.2)
            with catalog.engine.connect() as connection:
                runs = connection.execute(select(harvest_runs)).all()
    finally:
        stderr_after(process, signal.SIGTERM, 20)
        catalog.close()
    assert process.returncode == 0
    assert runs and runs[0].status == "succeeded" and runs[0].added == 15


def test_sru_definitions_are_checked_before_contacting_the_server() -> None:
    good = HarvestSource(name="s", url="http://127.0.0.1:2100/Default?version=1.1",
                         protocol="sru", query="dc.title=navoiy", prefix="dc")
    validate(good)
    validate(dataclasses.replace(good, prefix="marc21"))  # the default: MARCXML
    for changes, reason in (
        ({"query": " "}, "needs a query"),
        ({"query": "dc.title=("}, r"CQL query 'dc.title=\(': expected a search term, found '\('"),
        ({"query": 'dc.title="navoiy'}, "unterminated quoted string at position 10"),
        ({"query": "navoiy and"}, "expected a search term at position 11"),
        ({"url": "z3950://h:210/D"}, r"^URL 'z3950://h:210/D': a Z39.50 address; give "
                                     r"protocol z3950 \(it is sru\)$"),
        ({"url": "http://h/db?version=3.0"}, "SRU version '3.0'"),
        ({"prefix": "mods"}, "record schema 'mods'"),
        ({"sets": ["a"]}, r"'sets' is not supported for SRU sources \(the query selects the "
                          r"records\)$"),
        ({"charset": "UTF-8"}, r"'charset' is not supported for SRU sources \(the document's own "
                               r"encoding is used\)$"),
        ({"tolerated_shortfall": 2}, "'tolerated_shortfall' is not supported for SRU"),
    ):
        with pytest.raises(SourceError, match=reason):
            validate(dataclasses.replace(good, **changes))  # type: ignore[arg-type]


def test_an_sru_query_that_is_not_cql_is_refused_naming_the_source(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A query no SRU server could parse was stored (from the command line without the check,
    or from koprik.toml) and failed only when harvested. In koprik.toml it stops every command
    (the file is read first), naming the key."""
    config = Path(_config(tmp_path))
    good = config.read_text()
    config.write_text(good + (
        '[[sources]]\nname = "filed"\nprotocol = "sru"\nurl = "http://127.0.0.1:9/sru"\n'
        'query = "dc.title = \\"navoiy"\nprefix = "marcxml"\n'))
    assert main(["--config", str(config), "harvest", "filed"]) == 2
    assert capsys.readouterr().err == (
        f"koprik: {config}: sources[1].query: CQL query 'dc.title = \"navoiy': unterminated "
        "quoted string at position 12\n")
    config.write_text(good)
    sru = ["--protocol", "sru", "--url", "http://127.0.0.1:9/sru", "--prefix", "marcxml",
           "--no-check"]
    for command, message in (
        (["sources", "add", "s", *sru, "--query", "dc.title=("],
         "koprik: source 's' refused: CQL query 'dc.title=(': expected a search term, found '(' "
         "at position 10"),
        (["sources", "add", "s", *sru, "--query", "dc.title=navoiy"], None),
        (["sources", "edit", "s", "--no-check", "--query", "navoiy and"],
         "koprik: source 's' not changed: CQL query 'navoiy and': expected a search term at "
         "position 11"),
    ):  # fmt: skip
        status = main(["--config", str(config), *command])
        err = capsys.readouterr().err
        assert (status, err) == ((0, "") if message is None else (2, message + "\n"))
    settings = load_settings(config)
    catalog = Catalog.open(settings)
    try:
        stored = {entry.source.name: entry.source.query for entry in all_sources(settings, catalog)}
    finally:
        catalog.close()
    assert stored["s"] == "dc.title=navoiy"


@pytest.mark.parametrize(("url", "reason"), [
    ("http://[::1/oai", "Invalid IPv6 URL"),
    ("http://127.0.0.1:abc/oai", "Port could not be cast to integer value as 'abc'"),
    ("http://127.0.0.1:99999/oai", "Port out of range 0-65535"),
    ("http://127.0.0.1:0/oai", "port 0 is no port to connect to"),  # as base_url's
    ("http:///oai", "no host"),
    ("http://h\udcff/oai", "not UTF-8 text"),
])  # fmt: skip
@pytest.mark.parametrize("protocol", ["oai-pmh", "sru"])
def test_an_http_address_that_no_request_can_go_to_is_refused_with_the_reason(
    url: str, reason: str, protocol: str
) -> None:
    """Refused when the source is defined, not at harvest time after every retry (a bad
    port) nor as a traceback (an IPv6 address left open)."""
    source = HarvestSource(name="s", url=url, protocol=protocol, query="a=b" * (protocol == "sru"))
    with pytest.raises(SourceError) as refused:
        validate(source)
    assert str(refused.value) == f"URL {url!r}: {reason}"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"sets": [""]}, "set '': not a valid OAI-PMH set"),
    ({"sets": ["lang:"]}, "set 'lang:': not a valid OAI-PMH set"),
    ({"sets": ["a b"]}, "set 'a b': not a valid OAI-PMH set"),
    ({"prefix": "marc 21"}, "metadataPrefix 'marc 21': not a valid OAI-PMH metadataPrefix"),
])  # fmt: skip
def test_an_oai_set_or_prefix_the_provider_would_refuse_is_refused_when_defined(
    changes: dict[str, object], reason: str
) -> None:
    source = HarvestSource(name="s", url="http://127.0.0.1:9/oai", sets=["lang:uzb"])
    validate(source)
    with pytest.raises(SourceError) as refused:
        validate(dataclasses.replace(source, **changes))  # type: ignore[arg-type]
    assert str(refused.value) == reason


def test_a_source_cannot_take_the_name_of_a_file_source(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Its records and the file's would be one source's (koprik.toml refuses the same). The
    file is named as --config named it (it was "koprik.toml" whatever its name)."""
    config = tmp_path / "other.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n'
                      '[[file_sources]]\nname = "regional-files"\n')
    status = main(["--config", str(config), "sources", "add", "regional-files", "--url",
                   "http://127.0.0.1:9/oai", "--no-check", "--prefix", "marc21"])
    assert status == 2
    assert capsys.readouterr().err == (
        "koprik: source 'regional-files' refused: a file source named 'regional-files' is "
        f"defined in {config}\n"
    )


@pytest.mark.parametrize(("options", "message"), [
    (["--set", "x", "--set", "x"], "koprik: source 's' refused: a set is given twice"),
    (["--cron", "0 0 31 2 *"], "koprik: source 's' refused: cron '0 0 31 2 *': names no time "
                               "that comes (31 February?)"),
    (["--every", ""], "koprik: --every is empty: give a schedule (`sources edit NAME "
                      "--no-schedule` removes one)"),
])  # fmt: skip
def test_a_schedule_or_sets_that_would_not_do_what_they_say_are_refused(
    tmp_path, capsys, options: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    """An empty --every silently removed the schedule; a cron that never fires and a set given
    twice were stored."""
    status = main(["--config", _config(tmp_path), "sources", "add", "s", "--url",
                   "http://127.0.0.1:9/oai", "--no-check", "--prefix", "marc21", *options])
    assert status == 2
    assert capsys.readouterr().err == message + "\n"


def test_an_interval_in_m_is_refused_as_given_and_read_as_minutes_as_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--every 1m`` was a harvest a minute, easily meant as one a month. An interval in ``m``
    is refused as a source is added or its interval changed, saying how to write minutes or a
    month; ``min`` is minutes. One stored before (or in koprik.toml) is still read as minutes:
    its source is scheduled and its other fields can be changed."""
    config = _config(tmp_path)

    koprik = partial(_koprik, config, capsys)

    add = ("sources", "add", "p", "--url", "http://127.0.0.1:9/oai", "--prefix", "marc21",
           "--no-check", "--every")
    assert koprik(*add, "1m") == (
        2, "", "koprik: source 'p' refused: interval '1m': minutes or months? 1min is minutes; "
               "for a month, 30d or a cron such as '0 3 1 * *'\n")
    assert koprik(*add, "15min")[0] == 0
    settings = load_settings(config)
    catalog = Catalog.open(settings)
    try:
        with catalog.engine.begin() as connection:  # as stored before min was a unit
            connection.execute(harvest_sources.update().values(every="15m"))
    finally:
        catalog.close()
    assert koprik("sources", "edit", "p", "--delay", "3")[0] == 0
    assert koprik("sources", "list")[1].splitlines()[2].split()[4:6] == ["every", "15m"]
    assert parse_every("15m") == timedelta(minutes=15)  # as the scheduler reads it
    assert koprik("sources", "edit", "p", "--every", "2m") == (
        2, "", "koprik: source 'p' not changed: interval '2m': minutes or months? 2min is "
               "minutes; for a month, 30d or a cron such as '0 3 1 * *'\n")


def test_no_schedule_goes_with_neither_every_nor_cron(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as stopped:
        main(["--config", _config(tmp_path), "sources", "edit", "s", "--every", "1h",
              "--no-schedule"])
    assert stopped.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_stored_source_shadowed_by_one_added_to_the_file_later_can_be_removed(
    tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    config = str(Path(_config(tmp_path)).rename(tmp_path / "other.toml"))
    assert main(["--config", config, "sources", "add", "partner", "--url",
                 "http://127.0.0.1:9/oai", "--no-check", "--prefix", "marc21"]) == 0
    with open(config, "a", encoding="utf-8") as file:  # the operator adds it to the file too
        file.write('[[sources]]\nname = "partner"\nurl = "http://127.0.0.1:8/oai"\n')
    capsys.readouterr()
    assert main(["--config", config, "sources", "list"]) == 0
    assert capsys.readouterr().out.endswith(
        f"partner: the source of this name added with `koprik sources add` is not harvested: "
        f"{config} defines one too, which is (`koprik sources remove partner` removes the added "
        "one)\n")
    # an edit would change the source not harvested: refused, as the file's own are
    assert main(["--config", config, "sources", "edit", "partner", "--delay", "3"]) == 2
    assert capsys.readouterr().err == (
        f"koprik: source 'partner' is defined in {config} too, which is the one harvested: "
        "change it there (`koprik sources remove partner` removes the added one)\n")
    assert main(["--config", config, "sources", "remove", "partner"]) == 0
    assert capsys.readouterr().out == "removed source partner\n"
    assert main(["--config", config, "sources", "remove", "partner"]) == 2
    assert capsys.readouterr().err == (
        f"koprik: source 'partner' is defined in {config}; change it there\n")


def test_a_source_removed_and_added_again_is_harvested_from_the_start(
    tmp_path: Path, catalog_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Removing a source forgets its watermark and where a stopped run stood; its records,
    runs and rejects stay. Added again with the same name, address and format, its next run
    asks for every record (no ``from``, no resumptionToken), as a new source's run does: the
    old watermark would have kept the records older than it from ever being asked for. While a
    run holds the source, removing it is refused, the state kept, in a line naming the run by
    its number and start (it named the lock's owner, host:pid:nonce, which no page shows)."""
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{catalog_url}"\n')
    records, page = 30, 5
    provider = FaultProvider(list(demo_records(records)), page_size=page)

    def koprik(*args: str) -> tuple[int, str]:
        status = main(["--config", str(config), *args])
        return status, capsys.readouterr().err

    def state_rows() -> list[Any]:
        with catalog.engine.connect() as connection:
            return list(connection.execute(select(harvest_state)).all())

    catalog = Catalog.open(load_settings(str(config)))
    try:
        with serve(provider.app()) as url:
            add = ("sources", "add", "partner", "--url", url, "--prefix", "marc21", "--delay", "0")
            source = HarvestSource(name="partner", url=url, prefix="marc21", delay=0)
            assert koprik(*add)[0] == 0
            first = harvest(catalog, source, politeness=FAST)
            assert (first.status, first.counts.added) == (SUCCEEDED, records)
            changed = 3 * page  # an incremental list of three pages, stopped after the first
            for n, record in enumerate(demo_records(changed, seed=5)):
                provider.change(f"oai:fault.test:{n}", record)
            with held_then_stopped(catalog, provider, source, at=2):
                status, err = koprik("sources", "remove", "partner")
                assert status == 2
                with catalog.engine.connect() as connection:
                    started = connection.execute(select(harvest_runs.c.started).where(
                        harvest_runs.c.id == 2)).scalar_one()
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started))
                assert err == (f"koprik: source 'partner' is being harvested by run #2 (started "
                               f"{when} UTC): not removed (remove it once the run has ended)\n")
            (state,) = state_rows()
            assert (state.watermark, state.token is not None) == (first.watermark, True)

            assert koprik("sources", "remove", "partner") == (0, "")
            assert state_rows() == []
            with catalog.engine.connect() as connection:
                runs = connection.execute(select(harvest_runs.c.status)).scalars().all()
            assert runs == [SUCCEEDED, INTERRUPTED]  # history stays
            assert len(catalogue_of(catalog, "partner")) == records  # and the records

            assert koprik(*add)[0] == 0
            since = len(provider.list_requests())
            again = harvest(catalog, source, politeness=FAST)
            assert again.status == SUCCEEDED and again.errors == []
            asked = provider.list_requests()[since:]
            assert asked[0] == {"verb": "ListRecords", "metadataPrefix": "marc21"}
            assert len(asked) == records // page
            assert (again.counts.updated, again.counts.unchanged) == (changed - page,
                                                                      records - changed + page)
    finally:
        catalog.close()


def test_a_run_of_a_source_removed_after_it_was_read_is_not_started(
    settings: Settings, catalog: Catalog
) -> None:
    """"Harvest now" and "remove" at the same moment (the dashboard, two workers): the harvest
    read the source, the removal then forgot its state under the source's lock, and the run,
    taking the lock next, wrote a watermark for the removed source, which a source added again
    under its name went on from. Now the run checks, under the lock, that its source is still
    there."""
    provider = FaultProvider(list(demo_records(10)), page_size=5)
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url, prefix="marc21", delay=0)
        add_source(settings, catalog, source, check=False)
        (entry,) = all_sources(settings, catalog)  # what the harvest read
        assert entry.origin == FROM_DATABASE
        remove_source(settings, catalog, "partner")  # what the removal did meanwhile
        with pytest.raises(SourceError, match=r"^source 'partner' was removed meanwhile$"):
            harvest(catalog, entry.source, settings=settings, added=True)
        assert provider.list_requests() == []
        with catalog.engine.connect() as connection:  # (the lock's row is gone again)
            assert connection.execute(select(harvest_state)).all() == []
            assert connection.execute(select(harvest_runs)).all() == []
        add_source(settings, catalog, source, check=False)
        edit_source(settings, catalog, "partner", check=False, delay=0.5)  # after the read
        with pytest.raises(SourceError, match=r"^source 'partner' was changed meanwhile$"):
            harvest(catalog, source, settings=settings, added=True)
        report = harvest(catalog, dataclasses.replace(source, delay=0.5), settings=settings,
                         added=True)  # as it is now: harvested
    assert (report.status, report.counts.added) == (SUCCEEDED, 10)


def test_the_state_of_a_source_dropped_from_the_file_is_listed_and_can_be_forgotten(
    tmp_path: Path, catalog_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``[[sources]]`` entry dropped from koprik.toml leaves its harvest state (watermark,
    where a run stood): added again under its name, its next run goes on from it. ``sources
    list`` says so, and ``sources forget`` forgets the state (refused for a source configured),
    so that the source added again is harvested from the start."""
    records = 12
    provider = FaultProvider(list(demo_records(records)), page_size=5)
    config = tmp_path / "koprik.toml"

    koprik = partial(_koprik, str(config), capsys)

    with serve(provider.app()) as url:
        database = f'[database]\nurl = "{catalog_url}"\n'
        entry = f'[[sources]]\nname = "regional"\nurl = "{url}"\nprefix = "marc21"\ndelay = 0\n'
        config.write_text(database + entry)
        assert koprik("harvest", "regional")[0] == 0
        status, out, _ = koprik("sources", "list")
        assert status == 0 and "not configured" not in out
        assert koprik("sources", "forget", "regional") == (
            2, "", "koprik: source 'regional' is configured: its harvest state is in use\n")

        config.write_text(database)  # dropped from the file
        status, out, _ = koprik("sources", "list")
        (watermark,) = [s.watermark for s in _states(catalog_url)]
        assert out.splitlines()[-1] == (
            f"regional: not configured; its harvest state is kept (watermark {watermark}): "
            "added again under this name, its runs go on from it "
            "(`koprik sources forget regional` forgets it)")
        assert koprik("sources", "forget", "regional") == (
            0, "forgot the harvest state of source regional\n", "")
        assert _states(catalog_url) == []
        assert koprik("sources", "forget", "regional") == (
            2, "", "koprik: no harvest state of a source named 'regional'\n")

        config.write_text(database + entry)  # added again: harvested from the start
        since = len(provider.list_requests())
        assert koprik("harvest", "regional")[0] == 0
        asked = provider.list_requests()[since]
        assert asked == {"verb": "ListRecords", "metadataPrefix": "marc21"}


def _states(catalog_url: str) -> list[Any]:
    settings = dataclasses.replace(Settings(), database=DatabaseSettings(url=catalog_url))
    catalog = Catalog.open(settings)
    try:
        with catalog.engine.connect() as connection:
            return list(connection.execute(select(harvest_state)).all())
    finally:
        catalog.close()


@pytest.mark.parametrize(("gone", "pages", "requests", "expected"), [
    (0, 5, 6, "  3 new, 1 updated, 0 deleted, 2 unchanged, 4 rejected; 5 pages, 6 requests"),
    (2, 5, 6, "  3 new, 1 updated, 0 deleted, 2 unchanged, 2 deletions of records not held, "
              "4 rejected; 5 pages, 6 requests"),
    (0, 1, 1, "  3 new, 1 updated, 0 deleted, 2 unchanged, 4 rejected; 1 page, 1 request"),
    (0, 0, 1, "  3 new, 1 updated, 0 deleted, 2 unchanged, 4 rejected; 0 pages, 1 request"),
])  # fmt: skip
def test_a_run_line_names_deletions_of_records_not_held_only_when_there_were_some(
    gone: int, pages: int, requests: int, expected: str
) -> None:
    """... and says "1 page", "1 request" of one."""
    counts = Counts(added=3, updated=1, unchanged=2, gone=gone, rejected=4)
    report = RunReport(run_id=7, source="partner", status=SUCCEEDED, counts=counts,
                       requests=requests, pages=pages, errors=[], seconds=1.0, watermark=None)
    assert summary(report).splitlines()[1] == expected


def test_an_edit_of_a_source_no_longer_as_read_is_refused(
    settings: Settings, catalog: Catalog
) -> None:
    add_source(settings, catalog, HarvestSource(name="p", url="http://127.0.0.1:9/oai",
                                                prefix="marc21"), check=False)  # fmt: skip
    read = find_source(settings, catalog, "p").source
    edit_source(settings, catalog, "p", check=False, delay=7.0)
    with pytest.raises(SourceChanged, match=r"^source p was changed since this form was shown"):
        edit_source(settings, catalog, "p", check=False, as_read=read, every="2h")
    edit_source(settings, catalog, "p", check=False, as_read=find_source(settings, catalog, "p")
                .source, every="2h")  # fmt: skip
    assert (find_source(settings, catalog, "p").source.every,
            find_source(settings, catalog, "p").source.delay) == ("2h", 7.0)

"""An operator and a cataloger using the dashboard in a real browser: Debian's headless
chromium driven by Playwright (``executable_path``, never a downloaded browser) against a real
``koprik serve``, which harvests another ``koprik serve`` on 127.0.0.1 and copies from Zebra.

A screenshot of each page is saved in ``var/screenshots/dashboard/`` (printed at the end).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymarc import MARCReader
from sqlalchemy import create_engine, func, select

from catalog.harvest_state import harvest_sources
from catalog.models import records
from crosswalks.uzbek import cyrillic_to_latin
from tests.conftest import DATA, ROOT
from tests.peers import running_zebra
from tests.servers import RunningKoprik, koprik_serve

pytestmark = pytest.mark.interop
playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PASSWORD = "a long operator password"
PARTNER_RECORDS = 300
SHOTS = ROOT / "var" / "screenshots" / "dashboard"
ZEBRA_FILE = DATA / "marc21" / "marc.dat"
ZEBRA_ISBN = "0596000855"
UNIMARC_FILE = DATA / "unimarc" / "TEST1.ISO"
HARVEST_SECONDS = 300_000
"""Milliseconds the browser waits for the harvest to end (a generous liveness bound)."""


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningKoprik]:
    folder = tmp_path_factory.mktemp("partner")
    with koprik_serve(folder, demo_records=PARTNER_RECORDS,
                      extra="[oai]\npage_size = 20\n") as running:
        yield running


@pytest.fixture(scope="module")
def zebra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    base = tmp_path_factory.mktemp("zebra")
    (base / "records").mkdir()
    shutil.copy(ZEBRA_FILE, base / "records" / ZEBRA_FILE.name)
    with running_zebra(base / "records", base / "work") as port:
        yield port


@pytest.fixture(scope="module")
def koprik(tmp_path_factory: pytest.TempPathFactory, zebra: int) -> Iterator[RunningKoprik]:
    folder = tmp_path_factory.mktemp("dashboard")
    extra = ("[[dashboard.targets]]\nname = \"zebra\"\n"
             f"url = \"z3950://127.0.0.1:{zebra}/Default\"\n")
    with koprik_serve(folder, extra=extra) as running:
        subprocess.run(running.command("users", "add", "alice"), input=PASSWORD + "\n",
                       text=True, check=True, capture_output=True, timeout=60)
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    with playwright.sync_playwright() as driver:
        opened = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield opened
        opened.close()


def _database(running: RunningKoprik) -> str:
    text = running.config.read_text()
    return re.search(r'url = "(sqlite:///[^"]+)"', text).group(1)  # type: ignore[union-attr]


def _metric(base: str, name: str, labels: dict[str, str]) -> float:
    text = urllib.request.urlopen(f"{base}/metrics", timeout=30).read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def _cyrillic_record_without_880(running: RunningKoprik) -> tuple[str, str]:
    """(local id, 245 $a) of a harvested record in Cyrillic with no Latin 880 beside it."""
    engine = create_engine(_database(running))
    with engine.connect() as connection:
        rows = connection.execute(
            select(records.c.local_id, records.c.marc).where(records.c.deleted.is_(False))
        ).all()
    engine.dispose()
    for local_id, marc in rows:
        record = next(iter(MARCReader(marc, to_unicode=True, force_utf8=True)))
        title = record["245"]["a"] if record.get("245") else ""
        if re.search("[ЎҚҒҲ]", title) and not record.get_fields("880"):
            return local_id, title.rstrip(" ./")
    raise AssertionError("no Cyrillic record without 880 among the harvested ones")


def _live_and_deleted(running: RunningKoprik) -> tuple[int, int]:
    engine = create_engine(_database(running))
    with engine.connect() as connection:
        counts = dict(connection.execute(
            select(records.c.deleted, func.count()).group_by(records.c.deleted)).all())
    engine.dispose()
    return counts.get(False, 0), counts.get(True, 0)


def test_operator_and_cataloger_in_the_browser(
    partner: RunningKoprik, koprik: RunningKoprik, browser: Any
) -> None:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    base = f"http://127.0.0.1:{koprik.http_port}"
    expect = playwright.expect
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def shot(name: str) -> None:
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    # an operator signs in
    page.goto(f"{base}/sources")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", "wrong password!")
    page.click("button[type=submit] >> text=Sign in")
    expect(page.locator(".error")).to_have_text("Wrong user name or password.")
    shot("01-signin-refused")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base}/sources")
    shot("02-sources-empty")

    # adds a source pointing at a provider on 127.0.0.1
    page.click("text=Add a source")
    page.fill("input[name=name]", "partner")
    page.fill("input[name=url]", partner.oai_url)
    page.fill("input[name=prefix]", "marc21")
    page.fill("input[name=every]", "1d")
    page.fill("input[name=delay]", "0.3")
    shot("03-source-form")
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base}/sources/partner")
    expect(page.locator("table.facts")).to_contain_text(partner.oai_url)
    shot("04-source")

    # starts a harvest and watches the run page advance to completion
    before = _metric(base, "koprik_harvest_records_total",
                     {"source": "partner", "outcome": "added"})
    page.click("text=Harvest now")
    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    shot("05-run-started")
    seen: list[int] = []
    statuses: set[str] = set()
    while True:
        status = page.locator("#run-status").text_content(timeout=HARVEST_SECONDS) or ""
        records_text = page.locator("#run-records").text_content(timeout=HARVEST_SECONDS)
        statuses.add(status)
        seen.append(int(records_text or 0))
        if status != "running":
            break
        page.wait_for_timeout(500)
    assert status == "succeeded", status
    assert seen == sorted(seen), f"the counts went backwards: {seen}"
    assert "running" in statuses  # the page was seen before the end, and reloaded itself
    live, deleted = _live_and_deleted(partner)
    expect(page.locator("#run-added")).to_have_text(str(live))
    expect(page.locator("#run-unchanged")).to_have_text("0")
    expect(page.locator("#run-gone")).to_have_text(str(deleted))  # deletions of nothing held
    expect(page.locator("#run-rejected")).to_have_text("0")
    assert seen[-1] == live + deleted
    shot("06-run-succeeded")
    after = _metric(base, "koprik_harvest_records_total",
                    {"source": "partner", "outcome": "added"})
    assert after - before == live
    page.goto(f"{base}/")
    expect(page.locator("main")).to_contain_text("partner")
    shot("07-overview")

    # finds a harvested Cyrillic record by a Latin query
    local_id, cyrillic_title = _cyrillic_record_without_880(koprik)
    latin = cyrillic_to_latin(cyrillic_title)
    assert latin != cyrillic_title
    page.goto(f"{base}/records")
    page.fill("input[name=q]", latin)
    page.click("form.search button")
    expect(page.locator("ol.hits")).to_contain_text(cyrillic_title)
    shot("08-search")
    page.click(f"ol.hits a[href='/record?id={quote_plus(local_id)}']")
    # and opens it in all four views
    for view, marker in (("mrk", "=245"), ("marcxml", 'tag="245"'), ("dc", "dc:title"),
                         ("mods", "<titleInfo>")):
        expect(page.locator(f"#view-{view} pre")).to_contain_text(marker)
    expect(page.locator("table.facts")).to_contain_text(partner.oai_url)  # provenance
    shot("09-record-four-views")
    record_url = page.url
    for view in ("mrk", "marcxml", "dc", "mods"):
        page.goto(record_url)
        page.click(f"#view-{view} h2 a")
        expect(page).to_have_url(re.compile(f"/record/{view}\\?id="))
        assert cyrillic_title in page.content(), view
        shot(f"10-view-{view}")

    # copies a record from a Zebra target found by ISBN
    page.goto(f"{base}/copy")
    page.fill("input[name=isbn]", ZEBRA_ISBN)
    page.click("form.search button")
    expect(page.locator("section.target h2")).to_contain_text("zebra")
    found = page.locator("details.found").first
    expect(found).to_contain_text("Programming Python")
    found.locator("summary").click()
    expect(found.locator("pre")).to_contain_text(ZEBRA_ISBN)
    shot("11-copy-results")
    found.locator("button", has_text="Import").click()
    expect(page).to_have_url(re.compile(r"/record\?id=z3950"))
    expect(page.locator("#view-mrk pre")).to_contain_text("Programming Python")
    shot("12-copied-record")

    # converts an uploaded UNIMARC file in the workbench
    page.goto(f"{base}/workbench")
    page.select_option("select[name=from]", "unimarc")
    page.select_option("select[name=to]", "mrk")
    page.set_input_files("input[name=file]", str(UNIMARC_FILE))
    page.click("button[value=show]")
    expect(page.locator("#summary")).to_contain_text("81 read")
    expect(page.locator("#output")).to_contain_text("=245")
    shot("13-workbench")

    page.goto(f"{base}/review")
    expect(page.locator("h1")).to_contain_text("pairs to review")
    shot("14-review")

    # the same pages on a phone
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.goto(f"{base}/partner")
    expect(phone.locator("main")).to_contain_text(f"{base}/sru?version=1.2")
    expect(phone.locator("main")).to_contain_text(f":{koprik.z3950_port}/Default")
    phone.screenshot(path=str(SHOTS / "15-partner-phone.png"), full_page=True)
    phone.goto(record_url)
    phone.screenshot(path=str(SHOTS / "16-record-phone.png"), full_page=True)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the record page is {width} px wide on a 390 px phone"
    print(f"\nscreenshots: {SHOTS}")


def _signed_in(browser: Any, base: str, target: str) -> Any:
    """A page of ``target`` for alice, signed in."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/signin?next={target}")
    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    playwright.expect(page).to_have_url(f"{base}{target}")
    return page


def test_an_unticked_check_saves_a_source_without_contacting_it(
    koprik: RunningKoprik, browser: Any
) -> None:
    """The box "check the address before saving", unticked, is not sent at all: the form took
    that for "check" and refused an address that did not answer yet."""
    base = f"http://127.0.0.1:{koprik.http_port}"
    page = _signed_in(browser, base, "/sources/new")
    page.fill("input[name=name]", "later")
    page.fill("input[name=url]", "http://127.0.0.1:9/oai")
    page.fill("input[name=prefix]", "marc21")
    page.uncheck("input[name=check]")
    page.click("main button[type=submit]")
    playwright.expect(page).to_have_url(f"{base}/sources/later")
    page.click("details summary >> text=Edit")
    page.fill("details input[name=url]", "http://127.0.0.1:9/oai2")
    page.uncheck("details input[name=check]")
    page.click("details button[type=submit]")
    playwright.expect(page).to_have_url(f"{base}/sources/later?message=saved")
    playwright.expect(page.locator("table.facts")).to_contain_text("http://127.0.0.1:9/oai2")


def test_the_source_form_names_the_holding_institution(
    koprik: RunningKoprik, browser: Any
) -> None:
    """The form offers what ``koprik sources add --institution-code --holdings`` and the API
    take; a holdings value none of the choices is refused in the API's one line."""
    base = f"http://127.0.0.1:{koprik.http_port}"
    expect = playwright.expect
    page = _signed_in(browser, base, "/sources/new")
    expect(page.locator("select[name=holdings]")).to_have_value("source")
    page.fill("input[name=name]", "centre")
    page.fill("input[name=url]", "http://127.0.0.1:9/centre")
    page.fill("input[name=prefix]", "marc21")
    page.fill("input[name=institution_code]", "UzSaRC")
    page.uncheck("input[name=check]")
    page.uncheck("input[name=enabled]")
    page.evaluate("""() => {  // what a hand-made request could send
        const select = document.querySelector("select[name=holdings]");
        select.add(new Option("copies", "copies", true, true));
    }""")
    page.click("main button[type=submit]")
    expect(page.locator(".error")).to_have_text(
        "holdings: expected one of source, named, got 'copies'")
    expect(page.locator("input[name=institution_code]")).to_have_value("UzSaRC")
    for box in ("check", "enabled"):  # a box unticked stays so when the form comes back
        expect(page.locator(f"input[name={box}]")).not_to_be_checked()

    page.select_option("select[name=holdings]", "named")
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base}/sources/centre")
    expect(page.locator("table.facts")).to_contain_text(
        "UzSaRC, or the library each record names for a copy")
    assert _source_row(koprik, "centre") == ("UzSaRC", "named")
    expect(page.locator("table.facts tr:has(th:text-is('enabled')) td")).to_have_text("no")

    page.click("details summary >> text=Edit")
    expect(page.locator("details select[name=holdings]")).to_have_value("named")
    page.fill("details input[name=institution_code]", "UzBuRL")
    page.select_option("details select[name=holdings]", "source")
    page.uncheck("details input[name=check]")
    page.click("details button[type=submit]")
    expect(page).to_have_url(f"{base}/sources/centre?message=saved")
    assert _source_row(koprik, "centre") == ("UzBuRL", "source")


def test_the_source_form_names_the_holding_institution_in_words(
    koprik: RunningKoprik, browser: Any
) -> None:
    """The form sets the holding institution's name as ``koprik sources add
    --institution-name`` and the API do, a name longer than its column (500 characters)
    refused in one line; the source's page shows it beside the code."""
    base = f"http://127.0.0.1:{koprik.http_port}"
    expect = playwright.expect
    page = _signed_in(browser, base, "/sources/new")
    page.fill("input[name=name]", "viloyat")
    page.fill("input[name=url]", "http://127.0.0.1:9/viloyat")
    page.fill("input[name=prefix]", "marc21")
    page.fill("input[name=institution_code]", "UzSaVAKM")
    page.fill("input[name=institution_name]", "M" * 501)
    page.uncheck("input[name=check]")
    page.click("main button[type=submit]")
    expect(page.locator(".error")).to_have_text(
        "institution_name: at most 500 characters, got 501")

    name = "Samarqand viloyat axborot-kutubxona markazi"
    page.fill("input[name=institution_name]", name)
    page.uncheck("input[name=check]")
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base}/sources/viloyat")
    expect(page.locator("table.facts")).to_contain_text(f"UzSaVAKM {name}")
    assert _source_row(koprik, "viloyat", "institution_name") == (name,)

    page.click("details summary >> text=Edit")
    expect(page.locator("details input[name=institution_name]")).to_have_value(name)
    page.fill("details input[name=institution_name]", "Самарқанд вилоят АКМ")
    page.uncheck("details input[name=check]")
    page.click("details button[type=submit]")
    expect(page).to_have_url(f"{base}/sources/viloyat?message=saved")
    assert _source_row(koprik, "viloyat", "institution_name") == ("Самарқанд вилоят АКМ",)


def _source_row(running: RunningKoprik, name: str,
                *columns: str) -> tuple[str, ...]:
    """The ``columns`` of the source ``name`` as stored (its institution_code and holdings
    when none is named)."""
    wanted = columns or ("institution_code", "holdings")
    engine = create_engine(_database(running))
    with engine.connect() as connection:
        row = connection.execute(
            select(*(harvest_sources.c[column] for column in wanted))
            .where(harvest_sources.c.name == name)).one()
    engine.dispose()
    return tuple(row)

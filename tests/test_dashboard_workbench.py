"""The crosswalk workbench: conversion with warnings, transliteration, bounded uploads."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from multiprocessing import forkserver
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import FormData
from lxml import html
from pymarc import Field, Indicators, Record, Subfield

from crosswalks import registry
from crosswalks.batch import Conversion
from koprik.dashboard import workbench
from koprik.dashboard.workbench import convert
from provider.sru.request import FORM
from tests.conftest import DATA
from tests.dashboard_fixtures import (  # noqa: F401
    UNREADABLE_FORMS,
    client,
    csrf_of,
    dashboard_settings,
    make_client,
    served,
)
from tests.test_http_server import connect, head_of, post, response_of

MAX = 1024 * 1024
T = TypeVar("T")
LATE = 5.0
"""Seconds a conversion past its limit may take to be answered, beyond the limit and beyond
what the same upload takes to be answered without a conversion (a loaded machine)."""


def _tiny_records(count: int) -> bytes:
    return "".join(f"=LDR  00000nam a2200000 i 4500\n=001  x{i}\n=245  10$aToshkent\n\n"
                   for i in range(count)).encode()


LONG = _tiny_records(120_000)
"""7.7 MB that the pure-Python crosswalks convert to Cyrillic MARCXML in about 8 s, alone on a
core (80,000 of them: 5.5 s)."""


def _dense_records(size: int) -> tuple[bytes, int]:
    """(MRK records of 40,000 empty subfields each, ``size`` bytes or a little less; their
    number). As MARCXML each subfield is an element: 17 times the bytes (4 MB: 68 MB), all held
    until it is sent back."""
    record = ("=LDR  00000nam a2200000 i 4500\n=001  x\n=500  \\\\" + "$a" * 40_000
              + "\n\n").encode()
    return record * (size // len(record)), size // len(record)


def _form(token: str, records: bytes, to: str = "marcxml") -> FormData:
    form = FormData()
    for name, value in (("csrf", token), ("from", "mrk"), ("to", to),
                        ("script", "cyrillic"), ("action", "show")):
        form.add_field(name, value)
    form.add_field("file", records, filename="in.mrk")
    return form


def _forked() -> set[int]:
    """The processes the fork server started that have not ended (or not been waited for),
    from /proc: here, conversions."""
    server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    found = set()
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text() if entry.isdigit() else ""
        except OSError:
            continue  # ended while we looked
        if stat and int(stat[stat.rindex(")") + 2 :].split()[1]) == server:
            found.add(int(entry))
    return found


async def _until(what: Callable[[], T], done: Callable[[T], bool], seconds: float = 60) -> T:
    """``what()`` once ``done`` with it, looked at every 50 ms for ``seconds`` at most."""
    deadline = time.monotonic() + seconds
    while not done(found := what()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return found


def held(data: bytes, *_args: Any) -> Conversion:
    """A conversion held in progress until the file ``data`` names is made; it says it has
    begun with a file beside it named after its process id."""
    release = Path(data.decode())
    (release.parent / f"started-{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return Conversion()


def dies(data: bytes, *_args: Any) -> Conversion:
    """A conversion whose process ends at once with status 3; refused in the process ``data``
    names (the server's)."""
    if os.getpid() == int(data):
        raise AssertionError("the conversion runs in the serving process")
    os._exit(3)


def test_unimarc_to_mrk_with_notes() -> None:
    result = convert((DATA / "unimarc" / "TEST1.ISO").read_bytes(), "unimarc", "mrk", "", MAX)
    assert (result.read, result.converted) == (81, 81)
    assert result.output.decode().count("=LDR") == 81
    assert result.warnings  # unmapped UNIMARC fields are reported, not dropped silently


def test_transliteration_and_a_broken_record() -> None:
    mrk = "=LDR  00000nam a2200000 i 4500\n=001  x1\n=245  10$aТошкент табиати$6880-01\n"
    result = convert(mrk.encode() + b"\n=LDR broken\n", "mrk", "mrk", "latin", MAX)
    assert "Toshkent tabiati" in result.output.decode()
    assert "$6880-01" in result.output.decode()  # linkage is not transliterated
    assert result.converted == 1 and result.warnings and result.warnings[0].startswith("record 2")


def test_undetectable_input_says_so() -> None:
    result = convert(b"hello", "", "mrk", "", MAX)
    assert result.converted == 0 and "choose the input format" in result.warnings[0]


async def test_upload_is_bounded(aiohttp_client: Any, tmp_path: Any) -> None:
    small = await make_client(aiohttp_client, dashboard_settings(tmp_path, max_upload_bytes=4096))
    token = csrf_of(await (await small.get("/workbench")).text())
    form = FormData()
    form.add_field("csrf", token)
    form.add_field("to", "mrk")
    form.add_field("file", b"x" * 10_000, filename="big.mrc")
    assert (await small.post("/workbench", data=form)).status == 413


async def test_convert_and_download(client: Any) -> None:  # noqa: F811
    token = csrf_of(await (await client.get("/workbench")).text())
    data = (DATA / "unimarc" / "testunimarc.dat").read_bytes()
    for action, expected, marker in (("show", "text/html", "&lt;collection"),
                                     ("download", "application/octet-stream", "<collection")):
        form = FormData()
        for name, value in (("csrf", token), ("from", "unimarc"), ("to", "marcxml"),
                            ("script", ""), ("action", action)):
            form.add_field(name, value)
        form.add_field("file", data, filename="in.iso")
        response = await client.post("/workbench", data=form)
        assert response.status == 200 and response.content_type == expected
        assert marker in (await response.text())
    missing = FormData()
    missing.add_field("to", "mrk")
    missing.add_field("text", "=LDR  00000nam a2200000 i 4500")
    assert (await client.post("/workbench", data=missing)).status == 403


@pytest.mark.parametrize(("to", "extension"), [
    ("marc21", "mrc"), ("marc8", "mrc"), ("marcxml", "xml"), ("mods", "xml"), ("oai_dc", "xml"),
    ("mrk", "mrk"), ("marcjson", "json")])
async def test_a_download_is_named_by_its_format_and_says_what_was_rejected(
    client: Any, to: str, extension: str  # noqa: F811
) -> None:
    """A download was ``converted.marc21`` (``.mods``...), and gave no sign of the records left
    out: it is ``converted.mrc`` (``.xml``...), ``converted-1-rejected.mrc`` when one of those
    read could not be converted, which its headers count too."""
    token = csrf_of(await (await client.get("/workbench")).text())
    good = "=LDR  00000nam a2200000 i 4500\n=001  x1\n=245  10$aToshkent\n\n"
    for pasted, name, rejected in ((good, "converted", "0"),
                                   (good + "=LDR  broken\n\n" + good,
                                    "converted-1-rejected", "1")):
        form = FormData()
        for field, value in (("csrf", token), ("from", "mrk"), ("to", to), ("script", ""),
                             ("action", "download"), ("text", pasted)):
            form.add_field(field, value)
        response = await client.post("/workbench", data=form)
        assert response.status == 200 and response.content_type == "application/octet-stream"
        assert response.headers["Content-Disposition"] == \
            f'attachment; filename="{name}.{extension}"'
        assert response.headers["X-Records-Rejected"] == rejected
        assert response.headers["X-Records-Converted"] == str(1 + int(rejected))


async def test_the_records_pasted_are_shown_again_to_be_mended(client: Any) -> None:  # noqa: F811
    """The textarea came back empty after every conversion, a refused one too: a broken record
    had to be pasted again to be mended. A download of nothing says why nothing came."""
    token = csrf_of(await (await client.get("/workbench")).text())
    pasted = "\n=LDR  broken <&> Тошкент\n"
    for script, action, status, said in (
        ("klingon", "show", 400, "choose a transliteration from the list"),
        ("", "show", 200, "0 converted"),
        ("", "download", 200, "nothing was converted, so there is nothing to download"),
    ):
        form = FormData()
        for name, value in (("csrf", token), ("from", "mrk"), ("to", "mods"),
                            ("script", script), ("action", action), ("text", pasted)):
            form.add_field(name, value)
        response = await client.post("/workbench", data=form)
        assert (response.status, response.content_type) == (status, "text/html"), script
        page = html.fromstring(await response.text())
        shown = page.xpath("string(//textarea[@name='text'])")
        assert shown.removeprefix("\n") == pasted  # a browser drops the line feed after the tag
        assert said in page.text_content()


async def test_a_form_that_cannot_be_read_is_a_bad_request(client: Any) -> None:  # noqa: F811
    """The last form is readable here (the workbench reads bytes), but has no records: 400."""
    token = csrf_of(await (await client.get("/workbench")).text())
    for content_type, body in UNREADABLE_FORMS:
        response = await client.post("/workbench", data=body.replace(b"TOKEN", token.encode()),
                                     headers={"Content-Type": content_type})
        assert response.status == 400, (content_type, body)


async def test_conversions_have_processes_of_their_own_and_a_limit(
    aiohttp_client: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """Conversions ran in threads of the serving process: a few large public uploads held up
    every OAI-PMH Identify and dashboard page for as long as they took. Here two conversions
    are held in progress, each in a process of its own: a third is refused (503) and OAI-PMH
    still answers."""
    client = await make_client(aiohttp_client, dashboard_settings(tmp_path, conversions=2))  # noqa: F811
    monkeypatch.setattr(workbench, "convert", held)
    release = tmp_path / "release"
    token = csrf_of(await (await client.get("/workbench")).text())
    form = {"csrf": token, "from": "mrk", "to": "mrk", "script": "", "text": str(release)}
    holding = [asyncio.create_task(client.post("/workbench", data=form)) for _ in range(2)]
    try:
        started = await _until(lambda: {int(p.name[8:]) for p in tmp_path.glob("started-*")},
                               lambda pids: len(pids) == 2)
        assert os.getpid() not in started and started <= _forked()
        refused = await asyncio.wait_for(client.post("/workbench", data=form), 60)
        assert refused.status == 503 and refused.headers["Retry-After"]
        identify = await asyncio.wait_for(client.get("/oai?verb=Identify"), 60)
        assert identify.status == 200
    finally:
        release.touch()
    assert [(await done).status for done in holding] == [200, 200]
    assert not _forked()


async def test_a_conversion_past_its_time_is_stopped_and_the_next_one_works(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """A conversion had no time limit: 5 MB of tiny records kept the server busy a minute,
    and could be sent again and again. Past ``conversion_seconds`` its process is killed and
    the user told in one line; nothing is left running, and the next conversion works.

    What is timed is the limit's part: a first conversion has waited for the fork server's
    preload (1.8 to 3.8 s with three busy loops on two cores, and timed with the limit it made
    6.0 s of 1 + LATE), and the time to answer the same upload refused without a conversion is
    taken off. LONG converts in 8 s alone on a core, longer on a loaded one, so a limit that
    does not stop it in time is still over 1 + LATE."""
    client = await make_client(aiohttp_client, dashboard_settings(  # noqa: F811
        tmp_path, conversion_seconds=1, max_upload_bytes=16 * 1024 * 1024))
    token = csrf_of(await (await client.get("/workbench")).text())
    response = await client.post("/workbench", data=_form(token, _tiny_records(3)))
    assert response.status == 200 and "3 converted" in await response.text()
    begun = time.monotonic()
    response = await client.post("/workbench", data=_form(token, LONG, to="nothing"))
    uploaded = time.monotonic() - begun
    assert response.status == 400 and "choose an output format" in await response.text()
    begun = time.monotonic()
    response = await client.post("/workbench", data=_form(token, LONG))
    took = time.monotonic() - begun - uploaded
    page = await response.text()
    assert response.status == 413, page
    assert "the conversion took longer than 1 s and was stopped: convert fewer records" in page
    assert took < 1 + LATE, (took, uploaded)
    assert not _forked()
    response = await client.post("/workbench", data=_form(token, _tiny_records(3)))
    assert response.status == 200 and "3 converted" in await response.text()


async def test_a_conversion_past_its_memory_is_stopped_and_the_next_one_works(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """A conversion had no memory limit: its whole result is held until it is sent back, and
    MARCXML of empty subfields is 17 times their MRK, so an upload of 100 MB (the most
    ``max_upload_bytes`` allows) would make 1.7 GB, held twice over as it is sent. Past
    ``conversion_memory_mb`` more than its process started with (74 MB of address space, 54 MB
    resident) the conversion fails for want of memory and the user is told in one line;
    nothing is left running, and the next conversion, 1 MB of these records (a result of
    17 MB), fits in 64 MB more."""
    client = await make_client(aiohttp_client, dashboard_settings(  # noqa: F811
        tmp_path, conversion_memory_mb=64, max_upload_bytes=16 * 1024 * 1024))
    token = csrf_of(await (await client.get("/workbench")).text())
    response = await client.post("/workbench", data=_form(token, _dense_records(4_000_000)[0]))
    page = await response.text()
    assert response.status == 413, page
    assert "the conversion needed more than 64 MB and was stopped: convert fewer records" in page
    assert "Traceback" not in page and "MemoryError" not in page
    assert not _forked()
    records, count = _dense_records(1_000_000)
    response = await client.post("/workbench", data=_form(token, records))
    assert response.status == 200 and f"{count} converted" in await response.text()
    assert not _forked()


async def test_the_fork_server_is_running_before_the_first_conversion(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """The fork server started with the first conversion: its preloading (1.3 s measured) was
    waited for by the user, outside the conversion's time limit. It starts with the server."""
    forkserver._forkserver._stop()  # type: ignore[attr-defined]
    await make_client(aiohttp_client, dashboard_settings(tmp_path))
    server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    assert server is not None and Path(f"/proc/{server}").exists()


async def test_a_page_is_answered_while_a_long_conversion_runs_and_stopping_leaves_none(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """While a long conversion runs (in a process of its own), OAI-PMH answers; stopping the
    server while it runs leaves no conversion process behind."""
    client = await make_client(aiohttp_client, dashboard_settings(  # noqa: F811
        tmp_path, max_upload_bytes=16 * 1024 * 1024))
    token = csrf_of(await (await client.get("/workbench")).text())
    converting = asyncio.create_task(client.post("/workbench", data=_form(token, LONG)))
    try:
        assert await _until(lambda: _forked() or converting.done(), bool) and not converting.done()
        identify = await asyncio.wait_for(client.get("/oai?verb=Identify"), 60)
        assert identify.status == 200 and "<Identify>" in await identify.text()
        assert not converting.done() and _forked()
    finally:
        await client.close()
        converting.cancel()
    assert not _forked()


async def test_a_conversion_whose_process_dies_is_told_in_one_line(
    aiohttp_client: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    client = await make_client(aiohttp_client, dashboard_settings(tmp_path))  # noqa: F811
    monkeypatch.setattr(workbench, "convert", dies)
    token = csrf_of(await (await client.get("/workbench")).text())
    response = await client.post("/workbench", data=_form(token, str(os.getpid()).encode()))
    page = await response.text()
    assert response.status == 500, page
    assert ("the conversion failed (its process ended unexpectedly (exit status 3)); "
            "nothing was converted") in page and "Traceback" not in page
    assert not _forked()


@pytest.mark.parametrize("name", ["rusmarc", "unimarc", ""])
async def test_the_workbench_takes_the_format_names_the_command_line_takes(
    client: Any, name: str  # noqa: F811
) -> None:
    token = csrf_of(await (await client.get("/workbench")).text())
    form = FormData()
    for field_name, value in (("csrf", token), ("from", name), ("to", "mrk"), ("script", "")):
        form.add_field(field_name, value)
    form.add_field("file", (DATA / "unimarc" / "TEST2.ISO").read_bytes(), filename="in.iso")
    response = await client.post("/workbench", data=form)
    text = await response.text()
    assert response.status == 200, text
    assert "=245  " in text and "=200  " not in text  # converted from UNIMARC, also detected
    for alias in registry.INPUT_ALIASES:
        assert registry.input_name(alias) is not None


async def test_the_workbench_refuses_an_unknown_input_format(client: Any) -> None:  # noqa: F811
    token = csrf_of(await (await client.get("/workbench")).text())
    form = FormData()
    for name, value in (("csrf", token), ("from", "onix"), ("to", "mrk"), ("script", "")):
        form.add_field(name, value)
    form.add_field("text", "=LDR  00000nam a2200000 i 4500")
    response = await client.post("/workbench", data=form)
    assert response.status == 400 and "choose an input format" in await response.text()


def test_a_field_iso_2709_cannot_hold_is_a_warning_and_marcxml_carries_it() -> None:
    mrk = ("=LDR  00000nam a2200000 i 4500\n=001  x1\n=245  10$aBig\n=500  \\\\$a"
           + "x" * 20_000 + "\n")
    result = convert(mrk.encode(), "mrk", "marc21", "", MAX)
    assert result.converted == 0 and result.output == b""
    assert "field 500: 20,005 bytes, longer than ISO 2709 allows a field" in result.warnings[0]
    assert convert(mrk.encode(), "mrk", "marcxml", "", MAX).converted == 1


def _marcjson(fields: str, leader: str = '"00000nam a2200000 i 4500"') -> str:
    return f'{{"leader": {leader}, "fields": [{fields}]}}'


GOOD_JSON = _marcjson(
    '{"001": "j1"}, {"245": {"ind1": "1", "ind2": "0", "subfields": [{"a": "T"}]}}'
)


async def _workbench_json(workbench_client: Any, text: str) -> str:
    token = csrf_of(await (await workbench_client.get("/workbench")).text())
    form = FormData()
    for name, value in (("csrf", token), ("from", "marcjson"), ("to", "mrk"), ("script", "")):
        form.add_field(name, value)
    form.add_field("text", text)
    response = await workbench_client.post("/workbench", data=form)
    assert response.status == 200
    return await response.text()


async def test_a_json_number_of_thousands_of_digits_costs_only_its_record(client: Any) -> None:  # noqa: F811
    """json refuses an integer of over 4,300 digits with a ValueError that is no JSONDecodeError:
    it stopped the reading of the whole input, said as Python said it."""
    huge = _marcjson('{"245": {"ind1": %s, "ind2": "0", "subfields": [{"a": "T"}]}}' % ("9" * 5000))
    page = await _workbench_json(client, "\n".join([GOOD_JSON, huge, GOOD_JSON]))
    assert "3 read as <code>marcjson</code>, 2 converted" in page
    assert "record 2: JSON object from char" in page and "number of more than 4,300 digits" in page
    assert "reading stopped" not in page and "ValueError" not in page


@pytest.mark.parametrize(("record", "reason"), [
    (_marcjson('{"245": {"ind1": 1e999, "ind2": "0", "subfields": [{"a": "T"}]}}'),
     "field 245: ind1 is not a string"),
    (_marcjson('{"001": "j2"}', leader="null"), "the leader is not a string"),
    ('{"leader": "00000nam a2200000 i 4500", "fields": {"a": 1}}', "fields is not an array"),
    (_marcjson('{"245": {"ind1": "1", "ind2": "0", "subfields": [null]}}'),
     "field 245: subfield 1 is not an object of one code and its string"),
    (_marcjson('{"245": "text"}'), "field 245: not an object of ind1, ind2 and subfields"),
    (_marcjson('{"001": {"a": 1}}'), "field 001: a control field's data is not a string"),
    (_marcjson('{"001": "x", "245": "y"}'), "field 1: not an object of one tag"),
])  # fmt: skip
async def test_a_marcjson_record_of_another_shape_is_said_in_words_and_costs_only_itself(
    client: Any, record: str, reason: str  # noqa: F811
) -> None:
    page = await _workbench_json(client, "\n".join([GOOD_JSON, record, GOOD_JSON]))
    assert "3 read as <code>marcjson</code>, 2 converted" in page
    assert f"record 2: not a MARC-in-JSON record: {reason}" in page.replace("&#39;", "'")
    assert "reading stopped" not in page and "Error" not in page


def _iso2709(indicators: bytes) -> bytes:
    record = Record(leader="00000nam a2200000 a 4500")
    record.add_field(Field(tag="001", data="x1"))
    record.add_field(Field(tag="245", indicators=Indicators("1", "0"),
                           subfields=[Subfield("a", "Title")]))  # fmt: skip
    return record.as_marc().replace(b"10\x1faTitle", indicators + b"\x1faTitle")


async def test_an_indicator_that_is_not_ascii_is_said_in_words(client: Any) -> None:  # noqa: F811
    """pymarc reads indicators as ASCII: its UnicodeDecodeError was the reason shown."""
    token = csrf_of(await (await client.get("/workbench")).text())
    form = FormData()
    for name, value in (("csrf", token), ("from", "marc21"), ("to", "mrk"), ("script", "")):
        form.add_field(name, value)
    form.add_field("file", _iso2709(b"10") + _iso2709(b"\xd10") + _iso2709(b"10"),
                   filename="in.mrc")  # fmt: skip
    page = await (await client.post("/workbench", data=form)).text()
    assert "3 read as <code>marc21</code>, 2 converted" in page
    assert "record 2: field 245: indicator byte 0xd1 is not ASCII" in page
    assert "Error" not in page


@pytest.mark.parametrize("declaration", [
    'xmlns:dc="}http://purl.org/dc/elements/1.1/"',  # not a URI: lxml names <dc:title> oddly
    'Gmlns:dc="http://purl.org/dc/elements/1.1/"',  # the prefix undeclared
])  # fmt: skip
async def test_dublin_core_not_namespace_well_formed_is_said_by_the_parser_not_by_lxml_qname(
    client: Any, declaration: str  # noqa: F811
) -> None:
    """etree.QName raised 'ValueError: Invalid tag name' for such an element's name, shown as
    the record's reason; the parser's own message says what is wrong."""
    token = csrf_of(await (await client.get("/workbench")).text())
    form = FormData()
    for name, value in (("csrf", token), ("from", "oai_dc"), ("to", "mrk"), ("script", "")):
        form.add_field(name, value)
    form.add_field("text", '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
                           f"{declaration}><dc:title>T</dc:title></oai_dc:dc>")  # fmt: skip
    page = await (await client.post("/workbench", data=form)).text()
    assert "XML not well-formed" in page
    assert "Error" not in page and "Invalid tag name" not in page


@pytest.mark.parametrize("fmt", ["marcxml", "oai_dc", "mods"])
async def test_an_encoding_lxml_does_not_know_is_one_reason_not_a_stopped_reading(
    client: Any, fmt: str  # noqa: F811
) -> None:
    """After the first parse failed, the reader started again at the next record under the
    document's declaration, which lxml refused once more, out of the reader: 'reading stopped:
    XMLSyntaxError: Unsupported encoding: UTF-LDR8, line 1, column 40 (<string>, line 1)'."""
    record = {
        "marcxml": '<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a'
                   ' 4500</leader></record>',
        "oai_dc": '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:'
                  'dc="http://purl.org/dc/elements/1.1/"><dc:title>T</dc:title></oai_dc:dc>',
        "mods": '<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>T</title></titleInfo>'
                "</mods>",
    }[fmt]
    token = csrf_of(await (await client.get("/workbench")).text())
    form = FormData()
    for name, value in (("csrf", token), ("from", fmt), ("to", "mrk"), ("script", "")):
        form.add_field(name, value)
    form.add_field("text", f'<?xml version="1.0" encoding="UTF-LDR8"?><c>{record}{record}</c>')
    page = await (await client.post("/workbench", data=form)).text()
    assert "XML not well-formed: Unsupported encoding: UTF-LDR8" in page
    assert "reading stopped" not in page and "Error" not in page and "&lt;string&gt;" not in page


async def test_a_marcxml_field_without_its_tag_is_one_plain_reason(
    client: Any,  # noqa: F811
) -> None:
    """The reason was 'ValueError: <controlfield> without its tag attribute'."""
    token = csrf_of(await (await client.get("/workbench")).text())
    form = FormData()
    for name, value in (("csrf", token), ("from", "marcxml"), ("to", "mrk"), ("script", "")):
        form.add_field(name, value)
    form.add_field("text", '<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam'
                           " a2200000 a 4500</leader><controlfield>x</controlfield></record>")
    page = await (await client.post("/workbench", data=form)).text()
    assert "&lt;controlfield&gt; without its tag attribute" in page
    assert "Error" not in page


def test_expect_100_continue_with_an_upload_over_the_limit_is_refused_before_the_body(
    tmp_path: Path,
) -> None:
    """An upload sent with ``Expect: 100-continue`` and a Content-Length over
    ``dashboard.max_upload_bytes`` is answered 413 at once, with no 100 (Continue) first and
    its connection closed, multipart or not: aiohttp sent the 100 and the client its whole
    upload to be refused. One within the limit still gets the 100."""
    with served(dashboard_settings(tmp_path, max_upload_bytes=4096)) as (base, _):
        for kind in (FORM, "multipart/form-data; boundary=XX"):
            with connect(base) as sock:
                sock.sendall(post("/workbench", b"", "Expect: 100-continue",
                                  f"Content-Length: {1 << 30}", kind=kind))  # fmt: skip
                first = head_of(sock)
                answer = first + response_of(sock)
            assert first.startswith(b"HTTP/1.1 413") and b"Connection: close" in answer, first
        with connect(base) as sock:
            sock.sendall(post("/workbench", b"", "Expect: 100-continue", "Content-Length: 6",
                              "Connection: close"))  # fmt: skip
            assert head_of(sock) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"text=x")
            assert response_of(sock).startswith(b"HTTP/1.1 403")  # no CSRF token


def _part(name: str, value: bytes = b"", *headers: str) -> bytes:
    head = "".join(f"{header}\r\n" for header in headers)
    return (f'--B\r\nContent-Disposition: form-data; name="{name}"\r\n{head}\r\n'.encode()
            + value + b"\r\n")


def test_a_form_of_many_parts_is_refused_at_once_and_the_server_answers_others(
    tmp_path: Path,
) -> None:
    """The parts of a workbench form are counted, not their names: 90,000 empty parts all named
    ``text`` (4.8 MB, under ``max_upload_bytes``) were all read, the server busy for 30 s and
    others waiting, to be answered 403 at the end. Now the part past the form's is refused 400
    before the rest of the body (94 % of it) is sent."""
    sent = 5_000  # 270 kB: a part's reading looks up to 64 KiB ahead for its boundary
    body = _part("text") * 90_000 + b"--B--\r\n"
    with served(dashboard_settings(tmp_path)) as (base, _):
        with connect(base) as sock:
            sock.sendall(post("/workbench", b"", f"Content-Length: {len(body)}",
                              "Cookie: koprik_csrf=" + "x" * 40,
                              kind="multipart/form-data; boundary=B"))  # fmt: skip
            sock.sendall(_part("text") * sent)  # and no more: the answer comes before the rest
            answer = head_of(sock)
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 400"), answer
        assert f"more than {workbench.FORM_PARTS} parts".encode() in answer
        with connect(base) as sock:
            sock.sendall(b"GET /workbench HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert response_of(sock).startswith(b"HTTP/1.1 200")


def test_part_headers_count_against_the_upload_budget(tmp_path: Path) -> None:
    """A body without Content-Length (chunked) is counted as it arrives, its boundaries and
    part headers too: only the parts' bodies were, so empty parts with long headers were
    read whatever their size."""
    padding = "X-Padding: " + "p" * 3000
    body = b"".join(_part(name, b"", padding) for name in ("csrf", "from", "to")) + b"--B--\r\n"
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    with (served(dashboard_settings(tmp_path, max_upload_bytes=4096)) as (base, _),
          connect(base) as sock):
        sock.sendall(post("/workbench", chunked, "Transfer-Encoding: chunked",
                          "Connection: close", "Cookie: koprik_csrf=" + "x" * 40,
                          kind="multipart/form-data; boundary=B"))  # fmt: skip
        answer = response_of(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]

"""The OAI-PMH provider through the real aiohttp application, on SQLite and on PostgreSQL.

Every response is validated in one pass against the official schemas (envelope and payloads,
through :func:`protocols.oaipmh.schema.response_schema`). The tests follow the official OAI-PMH
validator's sequence: Identify, ListSets, ListIdentifiers, ListMetadataFormats (also per
identifier), GetRecord, ListRecords with ``from``, the deliberately bad requests (by GET and by
POST), mixed granularity, ``until`` before earliestDatestamp, and resumption-token consistency.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import subprocess
import threading
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import pytest
import yarl
from aiohttp.test_utils import TestClient
from lxml import etree
from pymarc import Field, Record, Subfield

from catalog import Catalog, Provenance
from catalog.demo import demo_records
from catalog.renditions import FORMATS
from config import DatabaseSettings, LimitSettings, Settings
from protocols.oaipmh import format_datestamp
from protocols.oaipmh.schema import response_schema
from provider import oai_verbs
from provider.app import init_app
from provider.oai import FORM, RESPONDER, STYLESHEET_FILE, choose_encoding
from provider.oai_verbs import OaiResponder
from tests.conftest import DATA

SCHEMA = response_schema(DATA / "schemas")
PARSER = etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=False)
NS = {
    "o": "http://www.openarchives.org/OAI/2.0/",
    "id": "http://www.openarchives.org/OAI/2.0/oai-identifier",
    "prov": "http://www.openarchives.org/OAI/2.0/provenance",
}
PREFIX = "oai:natlib.uz:"
RECORDS = 45
PAGE = 10
BASE_TIME = 1_600_000_000
"""Datestamps of the test collection: batch ``i`` is written at ``BASE_TIME + 3600 * i``."""
DELETED = "demo0000007"

Client = TestClient  # type: ignore[type-arg]
Oai = Callable[..., Awaitable[etree._Element]]


def fill(catalog: Catalog, count: int = RECORDS, batches: int = 3) -> None:
    """``count`` demo records in ``batches`` commits an hour apart, then one deletion."""
    records = list(demo_records(count, seed=5))
    size = -(-count // batches)
    for batch in range(batches):
        with catalog.writer() as writer:
            writer.now = BASE_TIME + 3600 * batch
            for record in records[batch * size : (batch + 1) * size]:
                writer.put(record)
    with catalog.writer() as writer:
        writer.now = BASE_TIME + 3600 * batches
        writer.delete(DELETED)


def validated(body: bytes) -> etree._Element:
    root = etree.fromstring(body, PARSER)
    if not SCHEMA.validate(root):
        raise AssertionError(f"invalid response: {SCHEMA.error_log}\n{body[:2000]!r}")
    return root


def _with_page_size(settings: Settings) -> Settings:
    return dataclasses.replace(settings, oai=dataclasses.replace(settings.oai, page_size=PAGE))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def filled_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings of one filled test collection per engine, shared by the read-only tests.

    (conftest's ``catalog_url`` makes a new database per test; filling one per test would make
    this module several times slower, so the read-only tests share one per engine.)
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('oai') / 'catalog.sqlite3'}"
    else:
        from sqlalchemy import text

        name = "oai" + uuid.uuid4().hex[:12]
        with request.getfixturevalue("_postgres_admin").connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        url = f"{request.getfixturevalue('postgres_server')}/{name}"
    settings = _with_page_size(dataclasses.replace(Settings(), database=DatabaseSettings(url=url)))
    catalog = Catalog.open(settings)
    fill(catalog)
    catalog.close()
    return settings


@pytest.fixture
def oai_settings(settings: Settings) -> Settings:
    """Settings of a fresh, empty catalogue (from conftest's ``catalog_url``)."""
    return _with_page_size(settings)


@pytest.fixture
def shared_catalog(filled_settings: Settings) -> Iterator[Catalog]:
    catalog = Catalog.open(filled_settings)
    yield catalog
    catalog.close()


@pytest.fixture
async def client(aiohttp_client: Any, filled_settings: Settings, shared_catalog: Catalog) -> Client:
    """A client of the app over the shared filled collection (tests must not write to it)."""
    return await aiohttp_client(init_app(filled_settings, shared_catalog))


@pytest.fixture
async def fresh_client(aiohttp_client: Any, oai_settings: Settings, catalog: Catalog) -> Client:
    """A client of the app over a collection of its own, which the test may change."""
    await asyncio.to_thread(fill, catalog)
    return await aiohttp_client(init_app(oai_settings, catalog))


def _sender(client: Client, method: str) -> Oai:
    async def send(*pairs: tuple[str, str], **arguments: str) -> etree._Element:
        params = [*pairs, *arguments.items()]
        if method == "GET":
            response = await client.get("/oai", params=params)
        else:
            response = await client.post("/oai", data=params)
        assert response.status == 200
        assert response.content_type == "text/xml"
        return validated(await response.read())

    return send


@pytest.fixture
def oai(client: Client) -> Oai:
    """Send an OAI-PMH request by GET; check HTTP 200 and validity; return the root element."""
    return _sender(client, "GET")


@pytest.fixture(params=["GET", "POST"])
def oai_both(request: pytest.FixtureRequest, client: Client) -> Oai:
    """Like ``oai``, by GET and then by POST (a urlencoded form)."""
    return _sender(client, request.param)


@pytest.fixture
def fresh_oai(fresh_client: Client) -> Oai:
    return _sender(fresh_client, "GET")


def error_code(root: etree._Element) -> str | None:
    codes = root.xpath("o:error/@code", namespaces=NS)
    return codes[0] if codes else None


def identifiers(root: etree._Element) -> list[str]:
    return root.xpath("//o:header/o:identifier/text()", namespaces=NS)


async def harvest(oai: Oai, verb: str, **arguments: str) -> tuple[list[str], list[etree._Element]]:
    """Every identifier of a list, following tokens; also each page's resumptionToken."""
    seen: list[str] = []
    tokens: list[etree._Element] = []
    root = await oai(verb=verb, **arguments)
    while True:
        assert error_code(root) is None, etree.tostring(root)
        seen += identifiers(root)
        token = root.find(f"o:{verb}/o:resumptionToken", NS)
        if token is None or not token.text:
            if token is not None:
                tokens.append(token)
            return seen, tokens
        tokens.append(token)
        root = await oai(verb=verb, resumptionToken=token.text)


# -- Identify, ListSets, ListMetadataFormats ------------------------------------------------


async def test_identify(oai_both: Oai, filled_settings: Settings) -> None:
    root = await oai_both(verb="Identify")
    identify = root.find("o:Identify", NS)
    assert identify is not None
    assert identify.findtext("o:baseURL", namespaces=NS) == filled_settings.repository.base_url
    assert identify.findtext("o:protocolVersion", namespaces=NS) == "2.0"
    assert identify.findtext("o:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    assert identify.findtext("o:deletedRecord", namespaces=NS) == "persistent"
    assert identify.findtext("o:earliestDatestamp", namespaces=NS) == format_datestamp(BASE_TIME)
    assert identify.findall("o:adminEmail", NS)
    assert [c.text for c in identify.findall("o:compression", NS)] == ["gzip", "deflate"]
    descriptions = identify.findall("o:description/id:oai-identifier", NS)
    assert len(descriptions) == 1
    repository = descriptions[0].findtext("id:repositoryIdentifier", namespaces=NS)
    assert repository is not None and "." in repository
    assert f"oai:{repository}:" == PREFIX
    sample = descriptions[0].findtext("id:sampleIdentifier", namespaces=NS)
    assert sample == PREFIX + "demo0000001"


async def test_list_sets_are_hierarchical(oai_both: Oai, shared_catalog: Catalog) -> None:
    root = await oai_both(verb="ListSets")
    specs = root.xpath("o:ListSets/o:set/o:setSpec/text()", namespaces=NS)
    assert specs == [spec for spec, _ in shared_catalog.list_sets()]
    assert {"lang", "lang:uzb", "type", "type:book"} <= set(specs)
    assert all(spec.split(":")[0] in specs for spec in specs)


async def test_list_metadata_formats(oai_both: Oai) -> None:
    root = await oai_both(verb="ListMetadataFormats")
    prefixes = root.xpath("//o:metadataPrefix/text()", namespaces=NS)
    assert prefixes == ["oai_dc", "marc21", "mods"]
    namespaces = root.xpath("//o:metadataNamespace/text()", namespaces=NS)
    assert "http://www.openarchives.org/OAI/2.0/oai_dc/" in namespaces


async def test_list_metadata_formats_per_identifier(oai: Oai) -> None:
    for local_id in ("demo0000001", DELETED):
        root = await oai(verb="ListMetadataFormats", identifier=PREFIX + local_id)
        assert "oai_dc" in root.xpath("//o:metadataPrefix/text()", namespaces=NS)
        assert root.find("o:request", NS).get("identifier") == PREFIX + local_id


# -- GetRecord -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "root_tag"),
    [
        ("oai_dc", "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc"),
        ("marc21", "{http://www.loc.gov/MARC21/slim}record"),
        ("mods", "{http://www.loc.gov/mods/v3}mods"),
    ],
)
async def test_get_record_in_each_format(oai: Oai, prefix: str, root_tag: str) -> None:
    root = await oai(verb="GetRecord", identifier=PREFIX + "demo0000002", metadataPrefix=prefix)
    record = root.find("o:GetRecord/o:record", NS)
    assert record is not None
    assert record.findtext("o:header/o:identifier", namespaces=NS) == PREFIX + "demo0000002"
    assert record.findtext("o:header/o:datestamp", namespaces=NS) == format_datestamp(BASE_TIME)
    assert [child.tag for child in record.find("o:metadata", NS)] == [root_tag]


async def test_deleted_record_is_a_header_with_status(oai: Oai) -> None:
    root = await oai(verb="GetRecord", identifier=PREFIX + DELETED, metadataPrefix="marc21")
    record = root.find("o:GetRecord/o:record", NS)
    assert record.find("o:header", NS).get("status") == "deleted"
    assert record.find("o:metadata", NS) is None
    assert record.findtext("o:header/o:datestamp", namespaces=NS) == format_datestamp(
        BASE_TIME + 3 * 3600
    )


# -- lists -----------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["ListIdentifiers", "ListRecords"])
async def test_paging_is_complete_and_cursors_are_consistent(
    oai_both: Oai, shared_catalog: Catalog, verb: str
) -> None:
    seen, tokens = await harvest(oai_both, verb, metadataPrefix="oai_dc")
    entries = shared_catalog.list_entries("oai_dc", limit=10_000)
    expected = [PREFIX + e.local_id for e in entries]
    assert seen == expected and len(set(seen)) == RECORDS
    assert len(tokens) == -(-RECORDS // PAGE)
    for page, token in enumerate(tokens):
        assert int(token.get("cursor")) == page * PAGE
        assert int(token.get("completeListSize")) == RECORDS
        final = page == len(tokens) - 1
        assert bool(token.text) is not final
        assert (token.get("expirationDate") is None) is final


async def test_a_list_longer_than_the_count_limit_goes_without_its_size(
    aiohttp_client: Any, filled_settings: Settings, shared_catalog: Catalog
) -> None:
    """Counting stops at ``oai.max_list_count``: a longer list is paged in full, its tokens
    without completeListSize (optional in the schema); a list within the limit keeps it."""
    settings = dataclasses.replace(
        filled_settings, oai=dataclasses.replace(filled_settings.oai, max_list_count=RECORDS - 1)
    )
    oai = _sender(await aiohttp_client(init_app(settings, shared_catalog)), "GET")
    seen, tokens = await harvest(oai, "ListIdentifiers", metadataPrefix="oai_dc")
    assert len(seen) == len(set(seen)) == RECORDS
    assert len(tokens) == -(-RECORDS // PAGE)
    assert [token.get("completeListSize") for token in tokens] == [None] * len(tokens)
    assert [int(token.get("cursor")) for token in tokens] == list(range(0, RECORDS, PAGE))
    seen, tokens = await harvest(
        oai, "ListIdentifiers", metadataPrefix="oai_dc", set="lang:uzb"
    )
    assert len(seen) < RECORDS - 1 and len(tokens) > 1
    assert {int(token.get("completeListSize")) for token in tokens} == {len(seen)}


async def test_short_list_has_no_token(oai: Oai) -> None:
    root = await oai(verb="ListIdentifiers", metadataPrefix="oai_dc", set="type:map")
    assert error_code(root) is None  # the demo sample (seed 5) holds maps, fewer than a page
    assert 0 < len(identifiers(root)) <= PAGE
    assert root.find("o:ListIdentifiers/o:resumptionToken", NS) is None


async def test_list_records_from_includes_the_expected_record(oai_both: Oai) -> None:
    got = await oai_both(
        verb="GetRecord", identifier=PREFIX + "demo0000040", metadataPrefix="oai_dc"
    )
    datestamp = got.findtext("o:GetRecord/o:record/o:header/o:datestamp", namespaces=NS)
    seen, _ = await harvest(
        oai_both, "ListRecords", metadataPrefix="oai_dc", **{"from": datestamp}
    )
    assert PREFIX + "demo0000040" in seen
    assert PREFIX + "demo0000001" not in seen


async def test_from_and_until_are_inclusive_at_both_granularities(oai: Oai) -> None:
    second = format_datestamp(BASE_TIME + 3600)
    seen, _ = await harvest(
        oai, "ListIdentifiers", metadataPrefix="oai_dc", **{"from": second, "until": second}
    )
    assert seen == [PREFIX + f"demo{n:07d}" for n in range(16, 31) if f"demo{n:07d}" != DELETED]
    day = second[:10]
    seen_by_day, _ = await harvest(
        oai, "ListIdentifiers", metadataPrefix="oai_dc", **{"from": day, "until": day}
    )
    assert len(seen_by_day) == RECORDS


async def test_hierarchical_sets(oai: Oai, shared_catalog: Catalog) -> None:
    parent, _ = await harvest(oai, "ListIdentifiers", metadataPrefix="oai_dc", set="lang")
    children: list[str] = []
    for spec, _ in shared_catalog.list_sets():
        if spec.startswith("lang:"):
            ids, _ = await harvest(oai, "ListIdentifiers", metadataPrefix="oai_dc", set=spec)
            children += ids
    assert sorted(parent) == sorted(set(children))
    uzbek, _ = await harvest(oai, "ListRecords", metadataPrefix="marc21", set="lang:uzb")
    assert uzbek and set(uzbek) <= set(parent)


async def test_deletions_are_listed_in_every_format(oai: Oai) -> None:
    for prefix in ("oai_dc", "marc21", "mods"):
        since = format_datestamp(BASE_TIME + 3 * 3600)
        root = await oai(verb="ListRecords", metadataPrefix=prefix, **{"from": since})
        headers = root.findall("o:ListRecords/o:record/o:header", NS)
        assert [(h.findtext("o:identifier", namespaces=NS), h.get("status")) for h in headers] == [
            (PREFIX + DELETED, "deleted")
        ]


# -- the validator's bad requests --------------------------------------------------------------

BAD_REQUESTS = [
    ([], "badVerb"),
    ([("verb", "junk")], "badVerb"),
    ([("verb", "Identify"), ("verb", "Identify")], "badVerb"),
    ([("verb", "GetRecord"), ("metadataPrefix", "oai_dc")], "badArgument"),
    ([("verb", "GetRecord"), ("identifier", PREFIX + "demo0000001")], "badArgument"),
    (
        [("verb", "GetRecord"), ("identifier", 'invalid"id'), ("metadataPrefix", "oai_dc")],
        "idDoesNotExist",
    ),
    ([("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc"), ("from", "junk")], "badArgument"),
    ([("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc"), ("until", "junk")], "badArgument"),
    ([("verb", "ListRecords"), ("resumptionToken", "junk")], "badResumptionToken"),
    (
        [("verb", "ListRecords"), ("resumptionToken", "junk"), ("until", "2002-02-06")],
        "badArgument",
    ),
    ([("verb", "ListRecords")], "badArgument"),
    ([("verb", "ListSets"), ("resumptionToken", "junk")], "badResumptionToken"),
    ([("verb", "ListMetadataFormats"), ("identifier", PREFIX + "nosuch")], "idDoesNotExist"),
    # Illegal identifiers, which the schema's anyURI cannot hold: not echoed in <request>.
    ([("verb", "ListMetadataFormats"), ("identifier", "2026-12-01T16:34:48Z")], "idDoesNotExist"),
    ([("verb", "ListMetadataFormats"), ("identifier", ":x")], "idDoesNotExist"),
    ([("verb", "GetRecord"), ("identifier", "1:x"), ("metadataPrefix", "oai_dc")],
     "idDoesNotExist"),
    ([("verb", "GetRecord"), ("identifier", PREFIX + "%zz"), ("metadataPrefix", "oai_dc")],
     "idDoesNotExist"),
    ([("verb", "GetRecord"), ("identifier", "http://[x/1"), ("metadataPrefix", "oai_dc")],
     "idDoesNotExist"),
    ([("verb", "ListMetadataFormats"), ("identifier", PREFIX + "a\x00b")], "idDoesNotExist"),
    (
        [("verb", "GetRecord"), ("identifier", PREFIX + "%00"), ("metadataPrefix", "oai_dc")],
        "idDoesNotExist",
    ),
    ([("verb", "ListRecords"), ("metadataPrefix", "nosuch")], "cannotDisseminateFormat"),
    (
        [("verb", "GetRecord"), ("identifier", PREFIX + "demo0000001"), ("metadataPrefix", "x")],
        "cannotDisseminateFormat",
    ),
    ([("verb", "Identify"), ("identifier", PREFIX + "demo0000001")], "badArgument"),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("metadataPrefix", "oai_dc")],
        "badArgument",
    ),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("from", "2002-02-05"),
         ("until", "2002-02-06T05:35:00Z")],
        "badArgument",
    ),
]


@pytest.mark.parametrize(("pairs", "code"), BAD_REQUESTS, ids=lambda v: str(v)[:60])
async def test_bad_requests(oai_both: Oai, pairs: list[tuple[str, str]], code: str) -> None:
    root = await oai_both(*pairs)
    assert error_code(root) == code
    request = root.find("o:request", NS)
    if code in ("badVerb", "badArgument"):
        assert dict(request.attrib) == {}
    else:
        assert request.get("verb") == dict(pairs)["verb"]


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        (PREFIX + "a\x01b", f"no record {PREFIX}a\\x01b"),
        (PREFIX + "a\tb\x85", f"no record {PREFIX}a\\tb\\x85"),
        ("x\x1b[2Jy", "x\\x1b[2Jy is not an identifier of this repository"),
    ],
)
@pytest.mark.parametrize("verb", ["GetRecord", "ListMetadataFormats"])
async def test_an_unknown_identifier_is_named_with_its_control_characters_escaped(
    oai: Oai, verb: str, identifier: str, message: str
) -> None:
    """idDoesNotExist named an identifier with its control characters dropped (XML 1.0 cannot
    hold most of them), so not the identifier asked for: they are escaped, as Python writes
    them."""
    pairs = [("verb", verb), ("identifier", identifier)]
    if verb == "GetRecord":
        pairs.append(("metadataPrefix", "oai_dc"))
    root = await oai(*pairs)
    assert error_code(root) == "idDoesNotExist"
    assert root.findtext("o:error", namespaces=NS) == message
    # <request> echoes the identifier asked for, or none (it echoed "a\x01b" as "ab")
    assert root.find("o:request", NS).get("identifier") in (identifier, None)


async def test_dates_in_other_digits_are_bad_arguments_never_echoed(oai_both: Oai) -> None:
    root = await oai_both(verb="ListRecords", metadataPrefix="oai_dc", **{"from": "٢٠٢٠-01-01"})
    assert error_code(root) == "badArgument"
    assert "٢" not in etree.tostring(root, encoding="unicode")


@pytest.mark.parametrize(
    ("form", "code", "message"),
    [
        # Навоий in windows-1251, %-escaped: it was read as U+FFFD and answered idDoesNotExist
        (f"verb=GetRecord&metadataPrefix=oai_dc&identifier={PREFIX}%CD%E0%E2%EE%E8%E9".encode(),
         "badArgument", "argument 'identifier' is not UTF-8"),
        (b"verb=ListRecords&metadataPrefix=oai_dc&set=lang:%A2%E7%E1", "badArgument",
         "argument 'set' is not UTF-8"),
        (b"verb=ListRecords&metadataPrefix=oai_dc&s%E9t=x", "badArgument",
         "argument 's\ufffdt' is not UTF-8"),
        (b"verb=Identify%FF", "badVerb", "the verb 'Identify\ufffd' is not UTF-8"),
        # without a legal verb, the verb is what is wrong
        (b"identifier=%FF", "badVerb", "the verb argument is missing"),
        (b"verb=Foo&x=%FF", "badVerb", "'Foo' is not an OAI-PMH verb"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_argument_not_in_utf_8_is_refused_by_name(
    client: Client, method: str, form: bytes, code: str, message: str
) -> None:
    if method == "GET":
        response = await client.get(yarl.URL("/oai?" + form.decode(), encoded=True))
    else:
        response = await client.post("/oai", data=form, headers={"Content-Type": FORM})
    root = validated(await response.read())
    assert error_code(root) == code
    assert root.findtext("o:error", namespaces=NS) == message
    assert dict(root.find("o:request", NS).attrib) == {}


async def test_until_a_year_before_earliest_datestamp_matches_nothing(oai_both: Oai) -> None:
    root = await oai_both(
        verb="ListRecords", metadataPrefix="oai_dc", until=format_datestamp(BASE_TIME - 366 * 86400)
    )
    assert error_code(root) == "noRecordsMatch"


async def test_unknown_set_matches_nothing(oai: Oai) -> None:
    root = await oai(verb="ListIdentifiers", metadataPrefix="oai_dc", set="lang:zzz")
    assert error_code(root) == "noRecordsMatch"


# -- identifiers, provenance and forbidden characters ----------------------------------------


def _record(control: str, title: str) -> Record:
    record = Record(force_utf8=True)
    record.leader = record.leader[:6] + "am" + record.leader[8:]
    record.add_field(Field(tag="001", data=control))
    record.add_field(
        Field(tag="245", indicators=["0", "0"], subfields=[Subfield("a", title)])  # type: ignore[arg-type]
    )
    return record


def test_records_over_the_size_limit_are_not_served(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    """Each is logged once, however often a harvester meets it."""
    oai_verbs._OVERSIZE.forget()  # (said already by a run of this test in this process)
    with catalog.writer() as writer:  # two too big (a page of them), then two that fit
        for control, title in [("big1", "x" * 5000), ("big2", "y" * 5000),
                               ("small1", "Xamsa"), ("small2", "Navoiy")]:  # fmt: skip
            writer.put(_record(control, title))
    limited = dataclasses.replace(
        settings,
        oai=dataclasses.replace(settings.oai, page_size=2),
        limits=LimitSettings(max_record_bytes=3000),
    )
    responder = OaiResponder(limited, catalog)

    def ask(**arguments: str) -> etree._Element:
        return validated(responder.respond(list(arguments.items())))

    listed = ask(verb="ListRecords", metadataPrefix="marc21")
    assert identifiers(listed) == [PREFIX + "small1", PREFIX + "small2"]
    assert error_code(ask(verb="GetRecord", metadataPrefix="marc21",
                          identifier=PREFIX + "big1")) == "cannotDisseminateFormat"  # fmt: skip
    assert identifiers(ask(verb="GetRecord", metadataPrefix="marc21",
                           identifier=PREFIX + "small1")) == [PREFIX + "small1"]  # fmt: skip
    # A harvester listing identifiers, then asking for each, is told only of records served
    headers = ask(verb="ListIdentifiers", metadataPrefix="marc21")
    assert identifiers(headers) == [PREFIX + "small1", PREFIX + "small2"]
    assert error_code(ask(verb="ListMetadataFormats",
                          identifier=PREFIX + "big1")) == "noMetadataFormats"  # fmt: skip
    formats = ask(verb="ListMetadataFormats", identifier=PREFIX + "small1")
    assert [e.text for e in formats.iterfind(".//o:metadataPrefix", NS)] == list(FORMATS)
    ask(verb="ListRecords", metadataPrefix="marc21")
    said = [r.getMessage() for r in caplog.records if "max_record_bytes" in r.getMessage()]
    assert [line.split(" bytes ")[0].split(" rendition of ")[0] for line in sorted(said)] == [
        "record big1: its marc21", "record big2: its marc21"]
    assert all(line.endswith("over limits.max_record_bytes (3000); not served") for line in said)


def _record_pages(responder: OaiResponder) -> Iterator[tuple[etree._Element, bytes]]:
    """Each page of ListRecords (marc21) as ``responder`` answers it, validated, and its bytes,
    following its resumption tokens to the end."""
    arguments = [("verb", "ListRecords"), ("metadataPrefix", "marc21")]
    while True:
        document = responder.respond(arguments)
        root = validated(document)
        yield root, document
        token = root.findtext("o:ListRecords/o:resumptionToken", namespaces=NS)
        if not token:
            return
        arguments = [("verb", "ListRecords"), ("resumptionToken", token)]


def test_list_records_pages_end_before_the_page_byte_limit(
    settings: Settings, catalog: Catalog
) -> None:
    """The whole response is counted: each record's header and wrapping too (a page of 5,000
    MODS records was 1.3 MB past the bound), and the response's own (PAGE_ENVELOPE)."""
    with catalog.writer() as writer:
        for number in range(30):
            writer.put(_record(f"r{number:02}", "z" * (600 + 80 * number)))
    bound = 16 * 1024  # the least it may be: room for 12 KB of records
    limited = dataclasses.replace(
        settings, oai=dataclasses.replace(settings.oai, page_size=50, max_page_bytes=bound)
    )
    pages: list[list[str]] = []
    for root, document in _record_pages(OaiResponder(limited, catalog)):
        pages.append(identifiers(root))
        assert len(document) <= bound, (len(pages), len(document))
    assert [i for page in pages for i in page] == [f"{PREFIX}r{n:02}" for n in range(30)]
    assert len(pages) > 3 and all(len(page) > 1 for page in pages[:-1])  # the bytes ended each


def test_a_record_larger_than_a_page_is_a_page_of_its_own_and_the_list_goes_on(
    settings: Settings, catalog: Catalog
) -> None:
    """The catalogue stops reading at the first record past ``max_page_bytes``; when that was
    a page's first record, the page said nothing followed and the list ended after it."""
    with catalog.writer() as writer:
        for number in range(4):
            record = _record(f"r{number}", "z" * 9000)  # each over the 16 KB page
            for note in ("y" * 9000, "x" * 9000):
                record.add_field(Field(tag="500", indicators=[" ", " "],
                                       subfields=[Subfield("a", note)]))  # type: ignore[arg-type]
            writer.put(record)
    limited = dataclasses.replace(settings, oai=dataclasses.replace(settings.oai,
                                                                    max_page_bytes=16 * 1024))
    pages = [identifiers(root) for root, _ in _record_pages(OaiResponder(limited, catalog))]
    assert pages == [[f"{PREFIX}r{n}"] for n in range(4)]


async def test_odd_local_identifiers_round_trip(fresh_oai: Oai, catalog: Catalog) -> None:
    local_id = 'x%y/é"&<z'
    with catalog.writer() as writer:
        writer.put(_record("odd", "Odd"), local_id=local_id)
    identifier = PREFIX + "x%25y/%C3%A9%22&%3Cz"
    listed, _ = await harvest(fresh_oai, "ListIdentifiers", metadataPrefix="oai_dc")
    assert identifier in listed
    got = await fresh_oai(verb="GetRecord", identifier=identifier, metadataPrefix="oai_dc")
    assert error_code(got) is None
    assert identifiers(got) == [identifier]


async def test_harvested_records_carry_provenance(fresh_oai: Oai, catalog: Catalog) -> None:
    provenance = Provenance(
        source="partner",
        base_url="https://partner.example.org/oai",
        identifier="oai:partner.example.org:77",
        datestamp="2020-01-02T03:04:05Z",
        metadata_namespace="http://www.loc.gov/MARC21/slim",
    )
    with catalog.writer() as writer:
        writer.put(_record("p77", "Harvested"), provenance=provenance)
    local_id = "partner:oai:partner.example.org:77"
    root = await fresh_oai(
        verb="GetRecord", identifier=PREFIX + local_id, metadataPrefix="oai_dc"
    )
    origin = root.find("o:GetRecord/o:record/o:about/prov:provenance/prov:originDescription", NS)
    assert origin is not None and origin.get("altered") == "true"
    assert origin.findtext("prov:identifier", namespaces=NS) == provenance.identifier
    assert origin.findtext("prov:baseURL", namespaces=NS) == provenance.base_url
    assert origin.findtext("prov:datestamp", namespaces=NS) == provenance.datestamp


# -- HTTP: compression, overload, POST, stylesheet --------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("gzip", "gzip"),
        ("deflate, gzip;q=0.5", "deflate"),
        ("gzip;q=0, deflate", "deflate"),
        ("br, *;q=0.1", "gzip"),
        ("identity", None),
        ("*;q=0", None),
    ],
)
def test_choose_encoding(header: str, expected: str | None) -> None:
    assert choose_encoding(header) == expected


@pytest.mark.parametrize(("encoding", "decompress"), [("gzip", gzip.decompress),
                                                      ("deflate", zlib.decompress)])
async def test_compressed_responses(
    aiohttp_client: Any, client: Client, encoding: str, decompress: Callable[[bytes], bytes]
) -> None:
    raw = await aiohttp_client(client.server, auto_decompress=False)
    response = await raw.get(
        "/oai",
        params={"verb": "ListRecords", "metadataPrefix": "marc21"},
        headers={"Accept-Encoding": encoding},
    )
    assert response.headers["Content-Encoding"] == encoding
    body = decompress(await response.read())
    assert len(identifiers(validated(body))) == PAGE


async def test_more_concurrent_lists_than_allowed_get_503(
    aiohttp_client: Any, filled_settings: Settings, shared_catalog: Catalog
) -> None:
    settings = dataclasses.replace(
        filled_settings, oai=dataclasses.replace(filled_settings.oai, max_concurrent_lists=1)
    )
    app = init_app(settings, shared_catalog)
    responder = app[RESPONDER]
    release, entered = threading.Event(), threading.Event()
    respond = responder.respond

    def slow_respond(pairs: list[tuple[str, str]], now: int | None = None) -> bytes:
        entered.set()
        release.wait(10)
        return respond(pairs, now)

    responder.respond = slow_respond  # type: ignore[method-assign]
    client = await aiohttp_client(app)
    params = {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
    first = asyncio.ensure_future(client.get("/oai", params=params))
    await asyncio.to_thread(entered.wait, 10)
    second = await client.get("/oai", params=params)
    assert second.status == 503
    assert second.headers["Retry-After"] == str(settings.oai.retry_after)
    release.set()
    assert (await first).status == 200
    again = await client.get("/oai", params=params)
    assert again.status == 200


async def test_list_pages_are_built_one_at_a_time_on_sqlite_and_side_by_side_on_postgresql(
    client: Client, filled_settings: Settings
) -> None:
    """On SQLite, page building threads would only trade the GIL row by row, so one thread builds
    the pages in turn; on PostgreSQL each admitted page has a thread (they wait for the server).
    The first page waits (up to 2 s) for a second one to start being built beside it."""
    responder = client.app[RESPONDER]
    respond = responder.respond
    lock, second_started = threading.Lock(), threading.Event()
    building, most = 0, 0

    def watched_respond(pairs: list[tuple[str, str]], now: int | None = None) -> bytes:
        nonlocal building, most
        with lock:
            building += 1
            most = max(most, building)
            first = building == 1
        if first:
            second_started.wait(2)
        else:
            second_started.set()
        try:
            return respond(pairs, now)
        finally:
            with lock:
                building -= 1

    responder.respond = watched_respond  # type: ignore[method-assign]
    params = {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
    answers = await asyncio.gather(*(client.get("/oai", params=params) for _ in range(2)))
    assert [answer.status for answer in answers] == [200, 200]
    assert most == (1 if filled_settings.database.url.startswith("sqlite") else 2)


async def test_post_must_be_a_form(client: Client) -> None:
    response = await client.post("/oai", data=b"verb=Identify",
                                 headers={"Content-Type": "text/plain"})
    assert response.status == 415


async def test_stylesheet_renders_a_response(client: Client, tmp_path: Path) -> None:
    sheet = await client.get("/static/oai2.xsl")
    assert sheet.status == 200 and sheet.content_type == "text/xsl"
    (tmp_path / "oai2.xsl").write_bytes(await sheet.read())
    page = await client.get("/oai", params={"verb": "ListRecords", "metadataPrefix": "oai_dc"})
    (tmp_path / "page.xml").write_bytes(await page.read())
    html = subprocess.run(
        ["xsltproc", "--nonet", str(tmp_path / "oai2.xsl"), str(tmp_path / "page.xml")],
        check=True, capture_output=True, text=True,
    ).stdout
    assert "<title>OAI-PMH ListRecords</title>" in html
    assert PREFIX + "demo0000001" in html
    assert "Next page" in html


def test_stylesheet_links_encode_identifiers_and_tokens(tmp_path: Path) -> None:
    identifier = PREFIX + "a&b%20c+d#e=f;g?h"
    (tmp_path / "page.xml").write_text(
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        '<request verb="ListIdentifiers">x</request><ListIdentifiers>'
        f"<header><identifier>{escape(identifier)}</identifier>"
        "<datestamp>2020-01-01T00:00:00Z</datestamp></header>"
        '<resumptionToken cursor="0" completeListSize="9">a+b/c=</resumptionToken>'
        "</ListIdentifiers></OAI-PMH>"
    )
    html = subprocess.run(
        ["xsltproc", "--nonet", str(STYLESHEET_FILE), str(tmp_path / "page.xml")],
        check=True, capture_output=True, text=True,
    ).stdout
    links = [parse_qs(urlsplit(href).query) for href in etree.HTML(html).xpath("//a/@href")]
    get_record = {"verb": ["GetRecord"], "metadataPrefix": ["oai_dc"], "identifier": [identifier]}
    assert get_record in links
    assert {"verb": ["ListIdentifiers"], "resumptionToken": ["a+b/c="]} in links


def test_identify_omits_an_oai_identifier_description_it_cannot_make_valid(
    filled_settings: Settings, shared_catalog: Catalog
) -> None:
    repository = dataclasses.replace(filled_settings.repository, identifier_prefix="oai:nodot:")
    settings = dataclasses.replace(filled_settings, repository=repository)
    root = validated(OaiResponder(settings, shared_catalog).respond([("verb", "Identify")]))
    assert root.find("o:Identify/o:description", NS) is None

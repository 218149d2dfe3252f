"""An OAI-PMH harvester for the provider's tests: each response read with entities and network
off and checked against the official schema before a test looks at it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lxml import etree

from catalog import Catalog
from config import Settings
from protocols.oaipmh.schema import response_schema
from provider.app import init_app
from tests.conftest import DATA

SCHEMA = response_schema(DATA / "schemas")
PARSER = etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=False)

Ask = Callable[..., Awaitable[etree._Element]]
"""``await ask(verb="ListRecords", ...)``: the response's root element, schema-valid."""


async def checked_oai(aiohttp_client: Any, settings: Settings, catalog: Catalog) -> Ask:
    """An ``ask`` of ``/oai`` on the provider serving ``catalog`` by ``settings``."""
    client = await aiohttp_client(init_app(settings, catalog))

    async def ask(**params: str) -> etree._Element:
        response = await client.get("/oai", params=params)
        root = etree.fromstring(await response.read(), PARSER)
        assert SCHEMA.validate(root), SCHEMA.error_log
        return root

    return ask

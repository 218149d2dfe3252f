"""The OAI token key: random per catalogue, stable, shared by every node on the catalogue."""

import dataclasses

from catalog import Catalog
from catalog.secrets import stored_secret
from config import DatabaseSettings, Settings
from provider.oai_verbs import token_secret


def test_a_catalogue_makes_its_key_once(catalog, settings):
    first = stored_secret(catalog.engine, "oai-resumption-token")
    assert len(first) == 32
    other_node = Catalog.open(settings)
    try:
        assert stored_secret(other_node.engine, "oai-resumption-token") == first
        assert token_secret(settings, other_node) == first
    finally:
        other_node.close()
    assert stored_secret(catalog.engine, "another") != first


def test_two_catalogues_with_the_default_settings_do_not_share_a_key(tmp_path):
    keys = []
    for name in ("a", "b"):
        settings = dataclasses.replace(
            Settings(), database=DatabaseSettings(url=f"sqlite:///{tmp_path / name}.sqlite3")
        )
        opened = Catalog.open(settings)
        keys.append(token_secret(settings, opened))
        opened.close()
    assert keys[0] != keys[1]


def test_a_configured_key_wins(catalog, settings):
    oai = dataclasses.replace(settings.oai, token_secret="from koprik.toml")
    assert token_secret(dataclasses.replace(settings, oai=oai), catalog) == b"from koprik.toml"
